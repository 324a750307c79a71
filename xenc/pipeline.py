"""The use cases that commands map onto 1:1: build_index, search, score_pairs_stream, evaluate.

These compose the stages; they parse no arguments and print nothing (progress goes through a
callback). ``xenc.search(...)`` in Python and ``xenc search`` in a shell give the same records.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xenc.background import loaded
from xenc.config import (
    INDEX_RETRIEVERS,
    ChunkParams,
    HNSWParams,
    SearchParams,
    parse_retrievers,
    text_kind,
)
from xenc.errors import UsageError, param
from xenc.fusion import effective_fusion
from xenc.index import store
from xenc.index.bm25 import BM25Params
from xenc.index.reader import Index
from xenc.index.tokenize import TokenizerSpec
from xenc.io.corpus import CorpusFields, CorpusSkips
from xenc.progress import Callback
from xenc.records import Candidate, Query, Result, as_queries
from xenc.reranking.stage import Budget, Scored, check_reranker, rerank
from xenc.retrieval.base import encode_queries
from xenc.retrieval.stage import first_stage, resolve_params, retriever, warm_up

if TYPE_CHECKING:
    from xenc.engines.ray_runtime import RayOptions


def build_index(
    corpus: str | os.PathLike[str],
    index_dir: str | os.PathLike[str],
    *,
    fields: CorpusFields = CorpusFields(),
    chunk: ChunkParams = ChunkParams(),
    encoder: str | None = None,
    batch_size: int = 64,
    device: str | None = None,
    tokenizer: TokenizerSpec = TokenizerSpec(),
    bm25: BM25Params = BM25Params(),
    hnsw_params: HNSWParams = HNSWParams(),
    limit: int | None = None,
    progress: Callback | None = None,
    update: bool = False,
    delete_missing: bool = False,
    wait: float = 0.0,
    skips: CorpusSkips | None = None,
    retrievers: str | Sequence[str] | None = None,
    ray: RayOptions | None = None,
    notify: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Build an index directory from a JSONL corpus (a path or ``-``); return its manifest.

    ``retrievers`` says what the index holds: ``("bm25", "dense")`` (``None``, the default)
    or ``("bm25",)`` (also ``"bm25"`` or ``"bm25,dense"``). A BM25-only index has no
    embeddings, graph or query encoder, and its build never loads the bi-encoder (nor
    imports torch): ``encoder`` then only names whose tokenizer cuts the passages, so they
    are the passages a full build would make.

    The index is written as a new generation and published atomically when complete; on any
    error an existing index at ``index_dir`` is untouched (see :mod:`xenc.index.store`).

    With ``update``, an existing index is brought up to date instead
    (:func:`xenc.index.update.update_index`): chunking, tokenizer, BM25, HNSW and encoder
    settings come from its manifest and ``chunk``, ``tokenizer``, ``bm25`` and ``hnsw_params`` are
    ignored; ``fields`` are used unless left at their defaults. Where there is no index yet,
    ``update`` builds one; an update keeps the index's retrievers (``retrievers``, if given,
    must be the same). ``wait`` is how long to wait for another writer's lock.
    ``skips`` (a :class:`xenc.io.corpus.CorpusSkips`) chooses whether invalid records are skipped
    and collects what was; records with neither title nor text are always skipped.
    With ``ray`` (:class:`xenc.engines.ray_runtime.RayOptions`), the passages to embed are
    embedded on Ray (connected on the first one; ``notify`` gets its one-line messages); the
    index is the same.
    """
    from xenc.index.build import Params, build
    from xenc.index.update import update_index
    from xenc.models.encoder import Encoder, chunk_tokenizer

    if delete_missing and not update:
        raise UsageError(f"{param('delete_missing')} only works with {param('update')}")
    chosen = None if retrievers is None else parse_retrievers(retrievers)
    with _ray_sink(ray, notify, device) as sink:
        target = Path(index_dir)
        if update and target.is_dir() and store.live_generation(target) is not None:
            return update_index(
                corpus, target, delete_missing=delete_missing,
                fields=None if fields == CorpusFields() else fields, encoder=encoder,
                batch_size=batch_size, device=device, limit=limit, wait=wait,
                progress=progress, skips=skips, retrievers=chosen, sink=sink,
            )
        params = Params(chunk, tokenizer, bm25, hnsw_params, chosen or INDEX_RETRIEVERS)
        if not params.dense:
            return build(corpus, target, params, None, chunker=chunk_tokenizer(encoder),
                         fields=fields, limit=limit, wait=wait, progress=progress, skips=skips)
        model = Encoder(encoder, device=device, batch_size=batch_size)
        return build(corpus, target, params, model, sink=sink, fields=fields, limit=limit,
                     wait=wait, progress=progress, skips=skips)


@contextmanager
def _ray_sink(
    ray: RayOptions | None, notify: Callable[[str], None] | None, device: str | None
) -> Iterator[Any]:
    """The Ray embedding sink for ``ray`` (None without), closed with the build."""
    if ray is None:
        yield None
        return
    from xenc.engines.ray_jobs import RayEmbedSink
    from xenc.engines.ray_runtime import RaySession, require_ray

    require_ray()
    with RaySession(ray, notify) as session:
        yield RayEmbedSink(session, device)


@dataclass(frozen=True)
class QueryRun:
    """Everything one query produced: candidates, reranked list, and time spent in each stage."""

    query: Query
    candidates: list[Candidate]
    ranked: list[Scored]
    first_stage_ms: float
    rerank_ms: float
    fusion: str | None = None  # the fusion that made the scores; None without a reranker

    @property
    def reranked(self) -> int:
        """How many candidates the cross-encoder scored (all but budget fallbacks)."""
        return sum(1 for s in self.ranked if s.reranked)


def run_queries(
    index: Index,
    queries: Iterable[Query],
    params: SearchParams,
    reranker: Any | None,
    *,
    rerank_depth: int | None = None,
) -> Iterator[QueryRun]:
    """First stage, then (with a reranker) rerank of the top ``rerank_depth`` candidates.

    With ``params.budget_ms``, each query reranks only what fits in that time budget
    (see :class:`xenc.reranking.stage.Budget`; the cost estimate is carried from query to query).
    """
    params = resolve_params(index, params)
    warm_up(index, params)
    reranker = loaded(reranker)
    check_reranker(reranker)
    fusion = effective_fusion(params.fusion, reranker)
    budget = Budget(params.budget_ms) if params.budget_ms is not None and reranker else None
    for query in queries:
        t0 = time.perf_counter()
        cands = first_stage(index, query.text, params)
        t1 = time.perf_counter()
        if reranker is None:
            ranked = [Scored(c, c.score, False) for c in cands]
        else:
            ranked = rerank(
                index.docstore, reranker, query.text, cands, aggregate=params.aggregate,
                passages_per_doc=params.passages_per_doc, limit=rerank_depth,
                budget=budget, fusion=fusion,
            )
        t2 = time.perf_counter()
        yield QueryRun(query, cands, ranked, (t1 - t0) * 1e3, (t2 - t1) * 1e3,
                       None if reranker is None else fusion)


def first_stage_lists(
    index: Index, queries: Sequence[Query], params: SearchParams, *, batch_size: int = 64,
    with_vectors: bool = False,
) -> Iterator[Any]:
    """First-stage candidates of many queries (no rerank, no timing), in query order:
    ``(query, candidates)``, or ``(query, candidates, embedding or None)`` with
    ``with_vectors`` (a distillation teacher reuses the query's embedding).

    Query embeddings are computed ``batch_size`` queries at a time, which is what a bulk job
    such as mining training pairs wants; :func:`run_queries` embeds one query at a time so
    that each query's first-stage latency is its own.
    """
    params = resolve_params(index, params)
    for start in range(0, len(queries), batch_size):
        batch = queries[start : start + batch_size]
        vectors = None
        if retriever(params.retriever).needs_vector:
            vectors = encode_queries(index, [q.text for q in batch])
        for i, query in enumerate(batch):
            vector = None if vectors is None else vectors[i]
            cands = first_stage(index, query.text, params, vector)
            yield (query, cands, vector) if with_vectors else (query, cands)


def _passages(index: Index, top: list[Scored]) -> dict[str, Any]:
    """The passage each result carries with ``with_text="passage"``: the one whose score
    made the document's (reranked), else its best first-stage passage, else its first."""
    rows = {s.candidate.doc_id: s.row if s.row is not None else
            (s.candidate.rows[0] if s.candidate.rows else None) for s in top}
    missing = [d for d, r in rows.items() if r is None]
    first = index.docstore.first_rows(missing) if missing else {}
    known = {d: r if r is not None else first[d] for d, r in rows.items()}
    chunks = index.docstore.chunks(known.values())
    return {doc_id: chunks[row] for doc_id, row in known.items()}


def search(
    index: Index,
    queries: str | Query | Iterable[str | Query],
    params: SearchParams = SearchParams(),
    reranker: Any | None = None,
    *,
    with_text: bool | str | None = None,
) -> Iterator[Result]:
    """Yield the top ``params.k`` results of each query, in query order then rank order.

    ``queries`` is one query string, a list of strings (ids ``"1"``, ``"2"``, … as with
    ``xenc search``), or :class:`~xenc.records.Query` objects. With a time budget
    (``params.budget_ms``) and a reranker, every result also says how many of the query's
    candidates were reranked (``reranked_count``). ``reranker`` may be a
    :class:`xenc.background.Loading`.
    ``with_text`` adds ``text``: ``"document"`` (or ``True``) the whole document's,
    ``"passage"`` the passage that matched (see :func:`_passages`) with its ``passage_no``.

    Raises:
        UsageError: A ``with_text`` other than those.
    """
    kind = text_kind(with_text)
    budgeted = None
    for run in run_queries(index, as_queries(queries), params, reranker):
        if budgeted is None:  # a Loading is loaded by now
            budgeted = params.budget_ms is not None and loaded(reranker) is not None
        top = run.ranked[: params.k]
        docs = index.docstore.documents(s.candidate.doc_id for s in top)
        passages = _passages(index, top) if kind == "passage" else {}
        for rank, scored in enumerate(top, start=1):
            cand = scored.candidate
            doc = docs[cand.doc_id]
            chunk = passages.get(cand.doc_id)
            text = chunk.text if chunk is not None else doc.text if kind else None
            yield Result(
                qid=run.query.id, rank=rank, doc_id=cand.doc_id, score=scored.score,
                first_stage_rank=cand.rank, first_stage_score=cand.score,
                reranked=scored.reranked, title=doc.title, text=text, metadata=doc.metadata,
                reranked_count=run.reranked if budgeted else None, query=run.query.text,
                rerank_score=scored.rerank_score, fusion=run.fusion,
                passage_no=None if chunk is None else chunk.chunk_no,
            )


def open_index(
    index_dir: str | os.PathLike[str], *, device: str | None = None, backend: str = "auto",
    many_queries: bool = True,
) -> Index:
    """Open an index for searching (see :meth:`xenc.index.reader.Index.open`)."""
    return Index.open(index_dir, device=device, backend=backend, many_queries=many_queries)

