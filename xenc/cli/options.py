"""Pieces shared by the command modules: the error → exit-code mapping and common options.

:func:`handle_errors` is the one place where library exceptions become exit codes: 1 for bad
data, models or indexes, 2 for bad usage, 130 for Ctrl-C; a closed stdout exits quietly.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from xenc.config import (
    ENV_BACKEND,
    ENV_BATCH_SIZE,
    ENV_DEVICE,
    ENV_INDEX_DIR,
    ENV_RERANKER,
    SearchParams,
)
from xenc.errors import UsageError, XencError


def fail(message: str, code: int) -> typer.Exit:
    sys.stderr.write(f"Error: {message}\n")
    sys.stderr.flush()
    return typer.Exit(code)


def _quiet_broken_pipe() -> typer.Exit:
    # Python would complain again when flushing stdout at exit: point it at /dev/null.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return typer.Exit(1)


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Map library exceptions to one stderr line and an exit code (the only place that does)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except XencError as exc:
            raise fail(str(exc), exc.exit_code) from None
        except BrokenPipeError:
            raise _quiet_broken_pipe() from None
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
        help="Cross-encoder runtime: torch, onnx or onnx-int8 (CPU; files from `xenc export`).",
    ),
]
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
Retriever = Annotated[str, typer.Option("--retriever", help="bm25, dense or hybrid (RRF).")]
Candidates = Annotated[int, typer.Option("--candidates", min=1, help="First-stage depth.")]
Aggregate = Annotated[
    str, typer.Option("--aggregate", help="Passage scores → document score: max, first or sum.")
]
PerDoc = Annotated[
    int,
    typer.Option("--passages-per-doc", min=1, help="Passages per document read by the reranker."),
]
BudgetMs = Annotated[float | None, typer.Option(
    "--budget-ms", min=0.001, help=(
        "Rerank, in first-stage order, only as many candidates as fit in this many ms "
        "per query; the rest keep first-stage order."))]
Exact = Annotated[bool, typer.Option("--exact", help="Exact dense search instead of HNSW.")]
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
ShowProgress = Annotated[
    bool | None,
    typer.Option(
        "--progress/--no-progress",
        help="Progress bar on stderr (default: when it is a terminal).",
        show_default=False,
    ),
]


def search_params(
    retriever: str, candidates: int, k: int, aggregate: str, per_doc: int, exact: bool,
    budget_ms: float | None = None,
) -> SearchParams:
    from xenc.config import AGGREGATES, RETRIEVERS

    if retriever not in RETRIEVERS:
        raise UsageError(f"--retriever must be one of {', '.join(RETRIEVERS)}, not {retriever!r}")
    if aggregate not in AGGREGATES:
        raise UsageError(f"--aggregate must be one of {', '.join(AGGREGATES)}, not {aggregate!r}")
    return SearchParams(
        retriever=retriever,
        candidates=max(candidates, k),
        k=k,
        aggregate=aggregate,
        passages_per_doc=per_doc,
        exact=exact,
        budget_ms=budget_ms,
    )


def load_reranker(
    name: str | None,
    no_rerank: bool,
    *,
    device: str | None,
    batch_size: int,
    max_length: int | None,
    activation: str | None = None,
    trust_pickle_weights: bool = False,
    backend: str = "torch",
):
    """The cross-encoder to use, or None with --no-rerank (the two exclude each other)."""
    if no_rerank:
        if name and os.environ.get(ENV_RERANKER) != name:
            raise UsageError("--reranker and --no-rerank exclude each other")
        if backend != "torch" and os.environ.get(ENV_BACKEND) != backend:
            from xenc.progress import note

            note(f"--backend {backend} is ignored with --no-rerank")
        return None
    from xenc.models.cross_encoder import CrossEncoder

    return CrossEncoder(
        name,
        device=device,
        batch_size=batch_size,
        max_length=max_length,
        activation=activation,
        trust_pickle_weights=trust_pickle_weights,
        backend=backend,
    )
