"""The ``xenc`` command line: options in, one library call, records out; no retrieval logic.
Errors become one stderr line and an exit code in :func:`xenc.cli.options.handle_errors`."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer

from xenc import __version__
from xenc.cli import evaluate as cli_evaluate
from xenc.cli import export as cli_export
from xenc.cli import maintain as cli_maintain
from xenc.cli import reranking as cli_reranking
from xenc.cli import serve as cli_serve
from xenc.cli import train as cli_train
from xenc.cli.engine_options import engine_options
from xenc.cli.options import (
    REPLACED,
    REQUIRED,
    Device,
    IndexDir,
    Output,
    QueriesFormat,
    RerankerLoader,
    Retrievers,
    ShowProgress,
    SkipInvalid,
    Wait,
    handle_errors,
    remote_code_option,
    reranker_options,
    reranking_note,
    search_options,
)
from xenc.cli.process import run
from xenc.config import ENV_BATCH_SIZE, ENV_ENCODER, SearchParams, text_kind

if TYPE_CHECKING:
    from xenc.engines.ray_runtime import RayOptions
from xenc.errors import UsageError, XencError

app = typer.Typer(
    name="xenc",
    help="Two-stage retrieval with cross-encoder reranking: index, search, score, eval.",
    rich_markup_mode=None,
    pretty_exceptions_enable=False, add_completion=False, no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def version_callback(value: bool) -> None:
    if value:
        sys.stdout.write(f"xenc {__version__}\n")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=version_callback, is_eager=True,
                           help="Print the version and exit.")
    ] = False,
) -> None:
    """Two-stage retrieval with cross-encoder reranking: index, search, score, eval.

    Data (JSONL) goes to stdout, messages and progress to stderr.
    """


# Commands ----------------------------------------------------------------------------------


@app.command("index")
@handle_errors
@engine_options
@remote_code_option
def index_cmd(
    corpus: Annotated[str, typer.Argument(help="JSONL corpus file, or - for stdin.")],
    index_dir: IndexDir,
    id_field: Annotated[str | None, typer.Option(help="Id field (default: id, else _id).")] = None,
    text_field: Annotated[str, typer.Option(help="Text field.")] = "text",
    title_field: Annotated[str, typer.Option(help="Title field (optional in records).")] = "title",
    chunk_tokens: Annotated[int, typer.Option(help="Passage size in encoder tokens.")] = 256,
    chunk_stride: Annotated[int, typer.Option(help="Overlap between passages, tokens.")] = 32,
    encoder: Annotated[str | None, typer.Option(
        envvar=ENV_ENCODER, help="Bi-encoder (default: bundled all-MiniLM-L6-v2).")] = None,
    batch_size: Annotated[int, typer.Option(envvar=ENV_BATCH_SIZE, min=1)] = 64,
    device: Device = None,
    stemmer: Annotated[str, typer.Option(help="BM25 stemmer: porter, english or none.")] = "porter",
    bm25_k1: Annotated[float, typer.Option(
        "--bm25-k1", help="BM25 term-frequency saturation k1.")] = 1.5,
    bm25_b: Annotated[float, typer.Option(
        "--bm25-b", help="BM25 length normalization b (0 to 1).")] = 0.75,
    limit: Annotated[int | None, typer.Option(min=1, help="Index only the first N docs.")] = None,
    update: Annotated[bool, typer.Option(
        "--update", help="Update in place: only new and changed documents are embedded.")] = False,
    delete_missing: Annotated[bool, typer.Option(
        "--delete-missing", help="With --update: remove documents absent from CORPUS.")] = False,
    wait: Wait = 0.0,
    progress: ShowProgress = None,
    skip_invalid: SkipInvalid = False,
    retrievers: Retrievers = None,
    # RayOptions | None, from engine_options (--engine, --num-workers, --gpus-per-worker);
    # object here because the decorators below evaluate this annotation at import time
    ray: object = None,
) -> None:
    """Build an index directory (BM25 + HNSW over passages) from a JSONL corpus.

    Each line: {"id": ..., "text": ..., "title": ...}; other fields are kept as metadata.
    A title-only record (empty text) is indexed by its title; one with neither title nor
    text is skipped with a warning. Invalid records stop the build unless --skip-invalid.
    Each build or update writes a complete new generation of the index and switches to it
    atomically; readers never see a mix. A second writer waits --wait seconds for the lock.

    \b
    Examples:
      xenc index data/sample/corpus.jsonl --index-dir idx
      xenc index data/sample/corpus.jsonl --index-dir idx-bm25 --retrievers bm25
      xenc index data/sample/corpus.jsonl --index-dir idx --update --delete-missing --wait 600
    """
    from xenc.config import ChunkParams
    from xenc.index.bm25 import BM25Params
    from xenc.index.manifest_view import ManifestView
    from xenc.index.tokenize import TokenizerSpec
    from xenc.io.corpus import CorpusFields, CorpusSkips
    from xenc.io.files import count_lines
    from xenc.pipeline import build_index
    from xenc.progress import bar, note, wants_progress

    t0 = time.perf_counter()
    skips = CorpusSkips(skip_invalid, warn=lambda m: note(f"Warning: {m}"))
    with bar("indexing", lambda: count_lines(corpus, limit), wants_progress(progress)) as callback:
        manifest = build_index(
            corpus, index_dir, fields=CorpusFields(id_field, text_field, title_field),
            chunk=ChunkParams(chunk_tokens, chunk_stride), encoder=encoder,
            batch_size=batch_size, device=device, tokenizer=TokenizerSpec(stemmer=stemmer),
            bm25=BM25Params(k1=bm25_k1, b=bm25_b),
            limit=limit, progress=callback, update=update, delete_missing=delete_missing,
            wait=wait, skips=skips, retrievers=retrievers, notify=note,
            ray=cast("RayOptions | None", ray),
        )
    built = ManifestView.of(manifest)
    if not built.published:
        note(f"{index_dir} is up to date: nothing changed, nothing published "
             f"({built.documents} documents{skips.summary()})")
        return
    if built.onnx_refused is not None:
        note(f"query encoder not exported to ONNX ({built.onnx_refused}): searches will "
             "load it with torch")
    if (h := built.last_change) is not None:
        note(f"updated {index_dir}: {h.added} added, {h.changed} changed, "
             f"{h.deleted} deleted, {h.unchanged} unchanged{skips.summary()} "
             f"({built.documents} documents) in {time.perf_counter() - t0:.1f}s")
        return
    only = "" if built.has_encoder else ", BM25 only"
    note(f"indexed {built.documents} documents ({built.passages} passages{only})"
         f"{skips.summary()} into {index_dir} in {time.perf_counter() - t0:.1f}s")


def _queries(query: str | None, queries: str | None, fmt: str = "auto"):
    from xenc.io.corpus import load_queries
    from xenc.records import as_queries

    if query is not None and queries is None:
        if not query.strip():
            raise UsageError("QUERY is empty")
        return list(as_queries(query))
    if queries is not None and query is None:
        return load_queries(queries, fmt=fmt)
    raise UsageError("give one QUERY argument or --queries FILE|-, not both or neither")


@app.command("search")
@handle_errors
@reranker_options()
@search_options(k=True)
def search_cmd(
    query: Annotated[str | None, typer.Argument(help="The query (or use --queries).")] = None,
    index_dir: IndexDir = REQUIRED,  # required (after the optional QUERY argument)
    queries: Annotated[str | None, typer.Option(
        "--queries", help='Queries file (JSONL, TSV or text lines), or - for stdin.')] = None,
    queries_format: QueriesFormat = "auto",
    params: SearchParams = REPLACED,  # the search parameters (search_options)
    model: RerankerLoader = REPLACED,  # the cross-encoder options (reranker_options)
    fmt: Annotated[str, typer.Option("--format", help="jsonl, trec or table.")] = "jsonl",
    with_text: Annotated[str | None, typer.Option("--with-text", help=(
        "Add text: passage (the passage that matched) or document (the whole one)."))] = None,
    run_tag: Annotated[str, typer.Option(
        "--run-tag", help="Run tag (last column) of --format trec lines.")] = "xenc",
    device: Device = None,
    output: Output = None,
    progress: ShowProgress = None,
) -> None:
    """Search an index: first-stage candidates, reranked by a cross-encoder.

    \b
    Examples:
      xenc search "how do I sharpen a knife" --index-dir idx --with-text passage
      xenc search --queries data/sample/queries.jsonl --index-dir idx --format trec -o run.trec
    """
    from xenc.background import loaded
    from xenc.io.files import count_lines
    from xenc.io.output import check_format, write_results
    from xenc.pipeline import open_index, search
    from xenc.progress import bar, tracked, wants_progress
    from xenc.retrieval.stage import first_stage_without_torch, resolve_params
    from xenc.retrieval.stage import retriever as registered_retriever

    with_text = text_kind(with_text)
    check_format(fmt)
    if not run_tag or any(c.isspace() for c in run_tag):
        raise UsageError(f"--run-tag must be one word (no spaces), not {run_tag!r}")
    todo = _queries(query, queries, queries_format)
    index = open_index(index_dir, device=device, backend=model.backend,
                       many_queries=queries is not None)
    params = resolve_params(index, params)  # the retriever the index holds, unless given
    # the reranker loads while the first stage gets ready, where neither needs torch
    reranker = model.start(overlap=first_stage_without_torch(index, params))
    if registered_retriever(params.retriever).lexical_only:
        todo = _note_unmatched(index, todo)
    shown = queries is not None and wants_progress(progress)  # one query needs no bar
    lines = count_lines(queries) if shown and queries is not None else None
    with bar("searching", lines, shown) as callback:
        results = search(index, tracked(todo, callback), params, reranker, with_text=with_text)
        write_results(results, fmt, output, tag=run_tag)
    reranking_note(loaded(reranker), params.fusion)


def _note_unmatched(index, queries):  # noqa: ANN001, ANN202 - CLI glue
    """Say on stderr when BM25 cannot match a query at all (no term of it is indexed)."""
    from xenc.progress import note
    from xenc.retrieval.bm25 import indexed_terms

    hint = " (try --retriever hybrid or dense)" if "dense" in index.retrievers else ""
    for query in queries:
        if not indexed_terms(index, query.text):
            note(f"query {query.id}: no term of {query.text!r} is in the index; BM25 finds "
                 f"nothing{hint}")
        yield query


@app.command("score")
@handle_errors
@engine_options
@reranker_options(optional=False, activation=True)
def score_cmd(
    source: Annotated[str, typer.Argument(
        help="JSONL pairs file (.parquet: Parquet), or - for stdin.")] = "-",
    model: RerankerLoader = REPLACED,  # the cross-encoder options (reranker_options)
    skip_invalid: SkipInvalid = False,
    device: Device = None,
    output: Output = None,
    progress: ShowProgress = None,
    # RayOptions | None, from engine_options (--engine, --num-workers, --gpus-per-worker);
    # object here because the decorators below evaluate this annotation at import time
    ray: object = None,
) -> None:
    """Score text pairs with a cross-encoder, streaming, input order kept.

    Each line has "query" and "document" (or text_a/text_b, sentence1/sentence2) and is
    written back with "score" added ("label" and "scores" for several-label models).

    \b
    Example:
      xenc score data/sample/pairs.jsonl > scored.jsonl
      xenc score data/sample/pairs.jsonl --engine ray --num-workers 2 -o scored.jsonl
    """
    from xenc.io.files import atomic_output, count_lines
    from xenc.io.jsonl import JsonlWriter
    from xenc.progress import bar, note, tracked, wants_progress
    from xenc.reranking.scoring import score_stream

    reranker = model()
    skipped = []
    cut: list[int] = []  # pairs cut to the max length, per block

    def report(exc: XencError) -> None:
        skipped.append(exc)
        note(f"skipped {exc}")

    shown = wants_progress(progress) and ray is None  # Ray reports in lines of its own
    with atomic_output(output) as stream, bar(
            "scoring", count_lines(source) if shown else None, shown) as callback:
        writer = JsonlWriter(stream, flush=output is None)
        records = score_stream(source, reranker, on_error=report if skip_invalid else None,
                               ray=cast("RayOptions | None", ray), notify=note,
                               device=device, on_truncated=cut.append)
        for record in tracked(records, callback):
            writer.write(record)
    if sum(cut) or skipped:
        note(f"scored {writer.count} pairs; {sum(cut)} truncated to "
             f"{reranker.max_length} tokens; {len(skipped)} invalid lines skipped")


@app.command("convert")
@handle_errors
def convert_cmd(
    src: Annotated[Path, typer.Argument(help="A dataset folder (BEIR, TREC or SMART files).")],
    out_dir: Annotated[Path, typer.Argument(help="Where to write corpus/queries/qrels.")],
    fmt: Annotated[str, typer.Option("--format", help=(
        "auto, beir, trec, smart, cisi, medline, cacm, adi, lisa, vaswani; pairs: stsb, "
        "sick, mrpc or wikiqa."))] = "auto",
    split: Annotated[str, typer.Option(help="BEIR qrels split.")] = "test",
) -> None:
    """Convert a test collection to xenc's files: corpus.jsonl, queries.jsonl, qrels.tsv;
    or a sentence-pair dataset (STS-B, SICK, MRPC, WikiQA) to <split>.jsonl pair files.

    \b
    Examples:
      xenc convert data/sample/beir-mini runs/beir-mini
      xenc convert ../shared/datasets/stsbenchmark runs/stsb
    """
    from xenc.datasets.pairs import convert_dataset
    from xenc.progress import note

    summary = convert_dataset(src, out_dir, fmt=fmt, split=split)
    note(summary.describe())


# Commands defined in their own modules, merged into the top level of `xenc`.
for _module in (cli_evaluate, cli_train, cli_maintain, cli_export, cli_serve, cli_reranking):
    app.registered_commands += _module.app.registered_commands


def main() -> None:
    """Console-script entry point."""
    run(app)
