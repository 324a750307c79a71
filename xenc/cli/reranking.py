"""``xenc rerank``: rerank what the user already has (merged into :mod:`xenc.cli.app`).

A thin command over :func:`xenc.reranking.streams.rerank_stream`: JSONL requests, or a TREC run
with its queries and texts, in; the records of ``xenc search`` out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from xenc.cli.options import (
    REPLACED,
    Aggregate,
    BudgetMs,
    Device,
    Output,
    PerDoc,
    QueriesFormat,
    RerankerLoader,
    SkipInvalid,
    handle_errors,
    make_subapp,
    reranker_options,
)
from xenc.errors import UsageError, XencError

app = make_subapp()

RerankFusion = Annotated[str | None, typer.Option(
    "--fusion", help="none (the default: the model's order, never the model's own fusion), "
    "rrf or linear:W: combine the reranker's scores with the input order.")]


@app.command("rerank")
@handle_errors
@reranker_options(optional=False)
def rerank_cmd(
    source: Annotated[str | None, typer.Argument(
        help="JSONL requests, or - for stdin (the default, unless --run).")] = None,
    model: RerankerLoader = REPLACED,  # the cross-encoder options (reranker_options)
    run: Annotated[str | None, typer.Option(
        "--run", help="Rerank a TREC run (qid Q0 docid rank score tag) instead.")] = None,
    queries: Annotated[str | None, typer.Option(
        "--queries", help="With --run: the queries (JSONL, TSV or text lines).")] = None,
    queries_format: QueriesFormat = "auto",
    corpus: Annotated[str | None, typer.Option(
        "--corpus", help="With --run: the documents' texts, a JSONL corpus.")] = None,
    index_dir: Annotated[Path | None, typer.Option(
        "--index-dir", show_default=False,
        help="With --run: the documents' texts, from this index's store.")] = None,
    top_n: Annotated[int | None, typer.Option(
        "--top-n", min=1, help="Records per request (a request's top_n wins; default all).")
    ] = None,
    aggregate: Aggregate = "max",
    passages_per_doc: PerDoc = 3,
    budget_ms: BudgetMs = None,
    fusion: RerankFusion = None,
    fmt: Annotated[str, typer.Option("--format", help="jsonl, trec or table.")] = "jsonl",
    with_text: Annotated[bool, typer.Option("--with-text", help="Include document text.")] = False,
    run_tag: Annotated[str, typer.Option(
        "--run-tag", help="Run tag (last column) of --format trec lines.")] = "xenc",
    skip_invalid: SkipInvalid = False,
    device: Device = None,
    output: Output = None,
) -> None:
    """Rerank documents you already have: one JSON request a line, or a TREC run.

    Each request: {"qid"?, "query", "documents": [str | {"id", "text", "title"?, ...}],
    "top_n"?}. Out come the records of `xenc search`, best first, with "index" (the
    document's position in the request); the input order is the first stage.

    \b
    Examples:
      echo '{"query": "knife care", "documents": ["Hone it.", "Bake it."]}' | xenc rerank
      xenc rerank --run run.trec --queries data/sample/queries.jsonl \\
        --corpus data/sample/corpus.jsonl --format trec
    """
    from xenc.io.output import check_format, write_results
    from xenc.progress import note
    from xenc.reranking.documents import RerankOptions
    from xenc.reranking.streams import check_inputs, rerank_stream

    check_format(fmt)
    if not run_tag or any(c.isspace() for c in run_tag):
        raise UsageError(f"--run-tag must be one word (no spaces), not {run_tag!r}")
    options = RerankOptions(top_n, aggregate, passages_per_doc, fusion, with_text, budget_ms)
    check_inputs(source, run, queries, corpus, index_dir)  # before the model loads
    skipped: list[XencError] = []

    def report(exc: XencError) -> None:
        skipped.append(exc)
        note(f"skipped {exc}")

    reranker = model()
    records = rerank_stream(source, reranker, options, run=run, queries=queries,
                            corpus=corpus, index_dir=index_dir, queries_format=queries_format,
                            on_error=report if skip_invalid else None)
    count = write_results(records, fmt, output, tag=run_tag)
    resolved = getattr(reranker, "resolved", None)
    note(f"reranked with {getattr(resolved, 'name', 'the reranker')}, fusion "
         f"{options.fusion_spec}: {count} records"
         + (f"; {len(skipped)} invalid lines skipped" if skipped else ""))
