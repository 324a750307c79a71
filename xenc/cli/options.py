"""Pieces shared by the command modules: the error → exit-code mapping and common options.

:func:`handle_errors` is the one place where library exceptions become exit codes: 1 for bad
data, models or indexes, 2 for bad usage, 130 for Ctrl-C; a closed stdout ends the process
quietly by SIGPIPE, as it ends ``cat`` or ``grep``. It is
also where library messages get flag names: the library names a parameter ``budget_ms``,
the CLI spells it ``--budget-ms`` (:func:`flag`, :func:`xenc.errors.spelled`).
"""

from __future__ import annotations

import functools
import inspect
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from xenc.cli.process import Terminated, os_error
from xenc.cli.rerankers import RerankerLoader, reranking_note
from xenc.config import (
    ENV_BACKEND,
    ENV_BATCH_SIZE,
    ENV_DEVICE,
    ENV_INDEX_DIR,
    ENV_RERANKER,
    RRF_K,
)
from xenc.errors import UsageError, XencError, spelled
from xenc.models.safety import trusting_remote_code

__all__ = ["RerankerLoader", "reranking_note"]  # re-exported for the command modules

# Library parameters whose flag is not ``--`` + the name with dashes.
FLAGS = {"stride": "--chunk-stride", "k1": "--bm25-k1", "b": "--bm25-b", "dev_file": "--dev",
         "fmt": "--format"}
MINE_FLAGS = {"retriever": "--mine-retriever", "depth": "--mine-depth",
              "positives": "--max-positives"}


def flag(name: str) -> str:
    """The flag of a library parameter: ``budget_ms`` → ``--budget-ms``."""
    return FLAGS.get(name) or "--" + name.replace("_", "-")


def make_subapp() -> typer.Typer:
    """A Typer app for a module of commands; its commands are merged into :mod:`xenc.cli.app`."""
    return typer.Typer(rich_markup_mode=None, pretty_exceptions_enable=False, add_completion=False)


def fail(message: str, code: int) -> typer.Exit:
    sys.stderr.write(f"Error: {message}\n")
    sys.stderr.flush()
    return typer.Exit(code)


def _quiet_broken_pipe() -> typer.Exit:
    """End as ``cat``, ``grep`` and ``seq`` do when the reader of their output goes away
    (``xenc search … | head``): killed by SIGPIPE, quietly (status 141 in a shell)."""
    # Python would complain again when flushing stdout at exit: point it at /dev/null.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.stderr.flush()
    if hasattr(signal, "SIGPIPE"):  # Python ignores SIGPIPE; the tools die of it
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGPIPE)
    return typer.Exit(1)  # where there is no SIGPIPE (Windows)


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Map library exceptions to one stderr line and an exit code (the only place that does):
    ``XencError`` → its code, any other ``OSError`` → ``Error: PATH: reason`` and 1, SIGTERM →
    143, Ctrl-C → 130."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with spelled(flag):
                return fn(*args, **kwargs)
        except XencError as exc:
            raise fail(str(exc), exc.exit_code) from None
        except BrokenPipeError:
            raise _quiet_broken_pipe() from None
        except OSError as exc:
            raise fail(os_error(exc), 1) from None
        except Terminated:
            raise fail("terminated", 143) from None
        except KeyboardInterrupt:
            raise fail("interrupted", 130) from None
        except MemoryError:
            raise fail("out of memory", 1) from None

    return wrapper


# Options shared by several commands -------------------------------------------------------

IndexDir = Annotated[
    Path,
    typer.Option("--index-dir", envvar=ENV_INDEX_DIR, help="Index directory.", show_default=False),
]
Device = Annotated[
    str | None,
    typer.Option("--device", envvar=ENV_DEVICE, help="cpu, cuda, cuda:N or auto (default cpu)."),
]
Reranker = Annotated[
    str | None,
    typer.Option(
        "--reranker",
        envvar=ENV_RERANKER,
        help="Cross-encoder: a Hugging Face model directory or hub id.",
    ),
]
NoRerank = Annotated[bool, typer.Option("--no-rerank", help="First stage only.")]
Backend = Annotated[
    str,
    typer.Option(
        "--backend",
        envvar=ENV_BACKEND,
        help=("Model runtime: auto (ONNX where a checked export exists, else torch), torch, "
              "onnx or onnx-int8 (CPU; files from `xenc export` and `xenc index`)."),
    ),
]
Dtype = Annotated[str, typer.Option(
    "--dtype", help="Reranker dtype: float32, or float16/bfloat16 on a CUDA device (causal-LM "
    "rerankers then keep their weights in it; cross-encoders autocast).")]
MaxLength = Annotated[
    int | None,
    typer.Option(
        "--max-length", min=8, help="Cross-encoder input length in tokens (default: the model's)."
    ),
]
RerankBatch = Annotated[
    int,
    typer.Option(
        "--batch-size", envvar=ENV_BATCH_SIZE, min=1, help="Pairs per cross-encoder batch."
    ),
]
Retriever = Annotated[str | None, typer.Option("--retriever", show_default=False, help=(
    "bm25, dense or hybrid (RRF); default: hybrid, or bm25 on an index built without dense."))]
SkipInvalid = Annotated[bool, typer.Option(
    "--skip-invalid", help="Report invalid records (bad lines) on stderr and skip them.")]
Retrievers = Annotated[str | None, typer.Option(
    "--retrievers", show_default=False, help="What the index holds: bm25,dense (the default) or "
    "bm25 (no embeddings, the encoder never loaded). --update keeps the index's.")]
Candidates = Annotated[int, typer.Option("--candidates", help="First-stage depth.")]
Aggregate = Annotated[
    str, typer.Option("--aggregate", help="Passage scores → document score: max, first or sum.")
]
PerDoc = Annotated[
    int,
    typer.Option("--passages-per-doc", help="Passages per document read by the reranker."),
]
BudgetMs = Annotated[float | None, typer.Option(
    "--budget-ms", help=(
        "Rerank, in first-stage order, only as many candidates as fit in this many ms "
        "per query; the rest keep first-stage order."))]
Exact = Annotated[bool, typer.Option("--exact", help="Exact dense search instead of HNSW.")]
QueriesFormat = Annotated[str, typer.Option(
    "--queries-format", help="auto, jsonl, tsv (id<TAB>text) or text (one query a line).")]
RrfK = Annotated[int, typer.Option(
    "--rrf-k", help="Reciprocal rank fusion constant k (hybrid): 1/(k + rank).")]
Fusion = Annotated[str | None, typer.Option(
    "--fusion", help="none, rrf or linear:W: combine reranker scores with first-stage ranks "
    "(default: the model's own, else none).")]


Output = Annotated[
    Path | None,
    typer.Option(
        "--output", "-o", help="Write to FILE (atomically) instead of stdout.", show_default=False
    ),
]
Wait = Annotated[
    float,
    typer.Option("--wait", min=0, help="Seconds to wait for another writer's lock (default 0)."),
]
TrustPickle = Annotated[
    bool,
    typer.Option(
        "--trust-pickle-weights",
        help="Allow pickle (pytorch_model.bin) weights; they can run code when loaded.",
    ),
]
TrustRemoteCode = Annotated[bool, typer.Option(
    "--trust-remote-code", help="Allow a model that ships its own Python code (an auto_map in "
    "its config); that code runs with your permissions when the model loads.")]
Instruction = Annotated[str | None, typer.Option(
    "--instruction", help="Causal-LM rerankers: the instruction in their prompt (default: the "
    "model's own).")]
Activation = Annotated[str | None, typer.Option(
    "--activation", help="none, sigmoid or softmax (default: from the model config).")]
MineRetriever = Annotated[str | None, typer.Option("--mine-retriever", show_default=False, help=(
    "bm25, dense or hybrid; default: hybrid, or bm25 on an index built without dense."))]
MineDepth = Annotated[int, typer.Option("--mine-depth", help="First-stage depth to mine.")]
Negatives = Annotated[int, typer.Option(
    "--negatives", help="Hard negatives per positive (listwise: group size - 1).")]
RandomNegatives = Annotated[int, typer.Option(
    "--random-negatives", help="Random negatives/positive.")]
SkipTop = Annotated[int, typer.Option("--skip-top", help="Candidates skipped before mining.")]
Seed = Annotated[int, typer.Option("--seed", help="Seed for every random choice.")]
Teacher = Annotated[str | None, typer.Option(
    "--teacher", help="Write teacher_score: a cross-encoder, splade:DIR, bm25, dense, or a "
    "weighted sum such as 0.7*splade:DIR+0.3*bm25 (each standardised per query).")]
MaxPositives = Annotated[int | None, typer.Option(
    "--max-positives", help="At most N positives per query (highest grades first).")]
ShowProgress = Annotated[
    bool | None,
    typer.Option(
        "--progress/--no-progress",
        help="Progress bar on stderr (default: when it is a terminal).",
        show_default=False,
    ),
]




def reranker_options(*, optional: bool = True, activation: bool = False):
    """Give a command the cross-encoder options, in place of its ``model`` parameter.

    The command gets ``model``: a function that loads the chosen cross-encoder (``None``
    with ``--no-rerank``), called where the command wants the model loaded, so that bad
    options are reported before a model is read. ``--no-rerank`` is offered when
    ``optional``, ``--activation`` when ``activation``. The command keeps its own
    ``--device``, which the loader reads too; in ``--help``, ``--backend`` follows it and
    ``--trust-pickle-weights`` comes last.
    """
    block = [_param("reranker", Reranker, None)]
    if optional:
        block.append(_param("no_rerank", NoRerank, False))
    if activation:
        block.append(_param("activation", Activation, None))
    block += [_param("instruction", Instruction, None), _param("max_length", MaxLength, None),
              _param("batch_size", RerankBatch, 32)]
    after = {"device": [_param("backend", Backend, "auto"), _param("dtype", Dtype, "float32")],
             "": [_param("trust_pickle_weights", TrustPickle, False),
                  _param("trust_remote_code", TrustRemoteCode, False)]}
    names = [p.name for p in block + after["device"] + after[""]]

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def trusted(**kwargs: Any) -> Any:  # the encoder a command loads gets the choice too
            with trusting_remote_code(kwargs["model"].options["trust_remote_code"]):
                return fn(**kwargs)

        def call(kwargs: dict[str, Any]) -> dict[str, Any]:
            opts = {name: kwargs.pop(name) for name in names}
            no_rerank = opts.pop("no_rerank", False)
            name = opts.pop("reranker")
            device = kwargs["device"]
            chosen = name if optional else _chosen(name)
            kwargs["model"] = RerankerLoader(chosen, no_rerank, device, opts)
            return kwargs

        return _replace_param(trusted, "model", block, call, after=after)

    return decorate


K = Annotated[int, typer.Option("-k", "--k", help="Results per query.")]


def search_options(*, k: bool):
    """Give a command the search parameters, in place of its ``params`` parameter: one
    :class:`~xenc.config.SearchParams` built (and so checked) from ``--retriever``,
    ``--candidates``, ``-k`` (when ``k``; else the default), ``--aggregate``,
    ``--passages-per-doc``, ``--budget-ms``, ``--fusion``, ``--exact`` and ``--rrf-k``.
    ``search`` and ``eval`` share them through this, declared once."""
    block = [_param("retriever", Retriever, None), _param("candidates", Candidates, 100)]
    if k:
        block.append(_param("k", K, 10))
    block += [_param("aggregate", Aggregate, "max"), _param("passages_per_doc", PerDoc, 3),
              _param("budget_ms", BudgetMs, None), _param("fusion", Fusion, None),
              _param("exact", Exact, False), _param("rrf_k", RrfK, RRF_K)]

    def call(kwargs: dict[str, Any]) -> dict[str, Any]:
        from xenc.config import SearchParams

        kwargs["params"] = SearchParams(**{p.name: kwargs.pop(p.name) for p in block})
        return kwargs

    return lambda fn: _replace_param(fn, "params", block, call)


def remote_code_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Give a command ``--trust-remote-code`` (last in ``--help``): every model the command
    loads may then run code of its own (:func:`xenc.models.safety.trusting_remote_code`)."""

    @functools.wraps(fn)
    def trusted(**kwargs: Any) -> Any:
        with trusting_remote_code(kwargs.pop("trust_remote_code")):
            return fn(**kwargs)

    flag = _param("trust_remote_code", TrustRemoteCode, False)
    return _replace_param(trusted, "", [], lambda kwargs: kwargs, after={"": [flag]})


def _chosen(name: str | None) -> str | None:
    """A command without --no-rerank (score) must not suggest it when no reranker is chosen."""
    from xenc.models.resolve import default_reranker_dir

    if not (name or "").strip() and default_reranker_dir() is None:
        raise UsageError("no reranker chosen: pass --reranker NAME|PATH (a Hugging Face "
                         "cross-encoder directory or hub id) or set XENC_RERANKER")
    return name


def mining_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Give a command the mining options, in place of its ``mine`` parameter (MineParams).

    The command keeps its own ``--seed``, which mining uses too. In messages, MineParams'
    ``retriever`` and ``depth`` are ``--mine-retriever`` and ``--mine-depth``.
    """
    block = [
        _param("mine_retriever", MineRetriever, None),
        _param("mine_depth", MineDepth, 50),
        _param("negatives", Negatives, 4),
        _param("random_negatives", RandomNegatives, 1),
        _param("skip_top", SkipTop, 0),
        _param("teacher", Teacher, None),
        _param("positives", MaxPositives, None),
    ]

    def call(kwargs: dict[str, Any]) -> dict[str, Any]:
        from xenc.training import MineParams

        retriever, depth, negatives, randoms, skip, teacher, positives = (
            kwargs.pop(p.name) for p in block)
        kwargs["mine"] = MineParams(retriever, depth, negatives, randoms, skip,
                                    kwargs["seed"], teacher, positives)
        return kwargs

    return _replace_param(fn, "mine", block, call, spelling=mine_flag)


def mine_flag(name: str) -> str:
    """The flag of a parameter in a mining command: MineParams' ``retriever`` and ``depth``
    are ``--mine-retriever`` and ``--mine-depth`` there (no ``--retriever`` to confuse)."""
    return MINE_FLAGS.get(name) or flag(name)


# Defaults typed Any, so that they fit the parameter they stand in: REQUIRED is Typer's
# "required" (``...``) for an option after one with a default; REPLACED stands in for a
# parameter that a decorator above replaces with options of its own (the command never gets it).
REQUIRED: Any = ...
REPLACED: Any = ...


def _param(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default
    )


def _replace_param(
    fn: Callable[..., Any],
    placeholder: str,
    block: list[inspect.Parameter],
    call: Callable[[dict[str, Any]], dict[str, Any]],
    *,
    after: dict[str, list[inspect.Parameter]] | None = None,
    spelling: Callable[[str], str] | None = None,
) -> Callable[..., Any]:
    """``fn`` with its ``placeholder`` parameter replaced by ``block`` (for Typer), whose
    values ``call`` turns back into the placeholder's value. ``after`` places more parameters
    after a named one of ``fn`` (``""``: at the end), so ``--help`` keeps its order.
    ``spelling``, if given, is how messages name parameters while ``fn`` runs."""
    after = after or {}
    params: list[inspect.Parameter] = []
    for p in inspect.signature(fn).parameters.values():
        if p.name == placeholder:
            params += block  # its annotation may name a type imported for type checkers only
            continue
        if isinstance(p.annotation, str):  # Typer needs the annotations evaluated
            p = p.replace(annotation=eval(  # noqa: S307
                p.annotation, inspect.unwrap(fn).__globals__))
        params += [p, *after.get(p.name, [])]
    params += after.get("", [])

    @functools.wraps(fn)
    def wrapper(**kwargs: Any) -> Any:
        if spelling is None:
            return fn(**call(kwargs))
        with spelled(spelling):
            return fn(**call(kwargs))

    wrapper.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in params]
    )
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    return wrapper
