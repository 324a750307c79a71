"""``xenc rerank``: JSONL requests, or a TREC run with its queries and texts, reranked.

Both are read lazily (:mod:`xenc.io.requests`, :mod:`xenc.io.runs`) and reranked one request
(one query) at a time by :func:`xenc.reranking.documents.rerank_documents`, so only one
request's documents are held at once.
A bad request or run line raises :class:`~xenc.errors.InputError` naming ``FILE:LINE``, or,
with ``on_error``, is handed to it and skipped (``--skip-invalid``).

A run is read whole first (its lines are small: ids and scores), each query's documents
ordered as trec_eval orders them (score descending, ties by id descending), which gives
``first_stage_rank``; the texts of the documents it names come from a corpus (only those
documents are kept) or from an index's document store (read a query at a time).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

from xenc.errors import InputError, UsageError, param
from xenc.io.corpus import CorpusTexts, read_queries
from xenc.io.files import source_name
from xenc.io.requests import OnError, read_requests
from xenc.io.runs import RunLine, read_run_lines
from xenc.records import Document, Result
from xenc.reranking.documents import RerankOptions, rerank_documents
from xenc.reranking.stage import Budget

if TYPE_CHECKING:
    from xenc.models.reranker import Reranker


def rerank_requests(
    source: str | os.PathLike[str], model: Reranker, options: RerankOptions = RerankOptions(),
    *, on_error: OnError = None,
) -> Iterator[Result]:
    """The records of each JSONL request of ``source`` (a path or ``-``), request by request.

    A request's ``top_n`` overrides ``options.top_n``.
    """
    budget = options.budget()
    for request in read_requests(source, on_error=on_error):
        yield from rerank_documents(model, request.query, request.documents, options,
                                    qid=request.qid, top_n=request.top_n, budget=budget)


def _report(exc: InputError, on_error: OnError) -> None:
    if on_error is None:
        raise exc
    on_error(exc)


class Texts(Protocol):
    """Where a run's document texts come from: a corpus or an index's document store."""

    name: str

    def documents(self, doc_ids: list[str]) -> dict[str, Document]:
        """The documents among ``doc_ids`` that exist (the others are left out)."""
        ...


class StoreTexts:
    """Documents from an index's document store (``Index.docstore``), read as needed."""

    def __init__(self, docstore: Any, name: str) -> None:
        self._store = docstore
        self.name = name

    def documents(self, doc_ids: list[str]) -> dict[str, Document]:
        return self._store.documents(doc_ids)


def rerank_run(
    run: dict[str, list[RunLine]],
    run_name: str,
    queries: str | os.PathLike[str],
    texts: Texts,
    model: Reranker,
    options: RerankOptions = RerankOptions(),
    *,
    queries_format: str = "auto",
    on_error: OnError = None,
) -> Iterator[Result]:
    """Rerank each query of a run (:func:`xenc.io.runs.read_run_lines`), in the run's query
    order.

    ``first_stage_rank`` and ``first_stage_score`` are the run's (its rank in trec_eval's
    order, counting every line of the query). A query missing from ``queries`` is an error at
    its first run line; a document missing from ``texts`` at its own line: reported and
    skipped with ``on_error`` (the query, or the document).
    """
    texts_of = {q.id: q.text for q in read_queries(queries, fmt=queries_format,
                                                     on_error=on_error)}
    budget = options.budget()
    for qid, lines in run.items():
        if qid not in texts_of:
            first = min(r.line_no for r in lines)
            _report(InputError(run_name, first, f"query {qid!r} is not in "
                               f"{source_name(queries)}"), on_error)
            continue
        found = texts.documents([r.doc_id for r in lines])
        kept = []
        for rank, line in enumerate(lines, start=1):
            if line.doc_id in found:
                kept.append((rank, line))
            else:
                _report(InputError(run_name, line.line_no, f"document {line.doc_id!r} is not "
                                   f"in {texts.name}"), on_error)
        if kept:
            yield from _rerank_kept(model, texts_of[qid], qid, kept, found, options, budget)


def _rerank_kept(
    model: Any, query: str, qid: str, kept: list[tuple[int, RunLine]],
    found: dict[str, Document], options: RerankOptions, budget: Budget | None,
) -> list[Result]:
    return rerank_documents(
        model, query, [found[line.doc_id] for _, line in kept], options, qid=qid,
        first_stage_scores=[line.score for _, line in kept],
        first_stage_ranks=[rank for rank, _ in kept], budget=budget,
    )


def check_inputs(
    source: object, run: object, queries: object, corpus: object, index_dir: object
) -> None:
    """That the inputs of :func:`rerank_stream` go together.

    Raises:
        UsageError: A run without queries or without exactly one text source, or run options
            with requests (``source``) or without a run.
    """
    if run is None:
        if queries is not None or corpus is not None or index_dir is not None:
            raise UsageError(f"{param('queries')}, {param('corpus')} and {param('index_dir')} "
                             f"go with {param('run')}")
        return
    if source is not None:
        raise UsageError(f"give requests (FILE|-) or {param('run')}, not both")
    if queries is None or (corpus is None) == (index_dir is None):
        raise UsageError(f"{param('run')} needs {param('queries')} and one of "
                         f"{param('corpus')} or {param('index_dir')}")


def rerank_stream(
    source: str | os.PathLike[str] | None,
    model: Reranker,
    options: RerankOptions = RerankOptions(),
    *,
    run: str | os.PathLike[str] | None = None,
    queries: str | os.PathLike[str] | None = None,
    corpus: str | os.PathLike[str] | None = None,
    index_dir: str | os.PathLike[str] | None = None,
    queries_format: str = "auto",
    on_error: OnError = None,
) -> Iterator[Result]:
    """``xenc rerank``: the records of JSONL requests (``source``, default ``-``), or of a run
    with its ``queries`` and the texts of a ``corpus`` or an index (``index_dir``).

    Raises:
        UsageError: Inputs that do not go together (:func:`check_inputs`), at once.
    """
    check_inputs(source, run, queries, corpus, index_dir)
    if run is None:
        return rerank_requests("-" if source is None else source, model, options,
                               on_error=on_error)
    return _run_stream(run, queries, corpus, index_dir, model, options,
                       queries_format=queries_format, on_error=on_error)


def _run_stream(
    run: Any, queries: Any, corpus: Any, index_dir: Any, model: Reranker, options: RerankOptions,
    *, queries_format: str, on_error: OnError,
) -> Iterator[Result]:
    lines = read_run_lines(run)
    if corpus is not None:
        texts: Texts = CorpusTexts(corpus, {r.doc_id for rs in lines.values() for r in rs})
        yield from rerank_run(lines, source_name(run), queries, texts, model, options,
                              queries_format=queries_format, on_error=on_error)
        return
    from xenc.index.reader import Index

    index = Index.open(index_dir, many_queries=False)
    try:
        yield from rerank_run(lines, source_name(run), queries,
                              StoreTexts(index.docstore, str(index_dir)), model, options,
                              queries_format=queries_format, on_error=on_error)
    finally:
        index.close()
