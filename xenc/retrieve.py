"""The first stage: turns a query into document candidates from an opened index.

Passages are scored by BM25 and/or by cosine similarity of bi-encoder embeddings, pooled to
documents by their best passage, and (for ``hybrid``) fused by reciprocal rank fusion:
``score(d) = Σ 1 / (rrf_k + rank_r(d))`` over the two rankings (:func:`xenc.fusion.rrf`, the
one RRF, which ``--fusion rrf`` uses too). Every ranking is sorted by
score, ties by document id descending (trec_eval's order, :func:`xenc.records.trec_order`),
so ties never depend on dictionary or thread order and trec_eval agrees with ``xenc eval``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from xenc.config import SearchParams
from xenc.errors import UsageError, param
from xenc.fusion import rrf
from xenc.index import hnsw
from xenc.index.reader import Index
from xenc.records import Candidate, trec_order

RowHits = list[tuple[int, float]]


def pool_rows(index: Index, hits: RowHits, limit: int) -> list[Candidate]:
    """Pool passage hits to documents by their best passage; keep every matching row."""
    best: dict[str, float] = {}
    rows: dict[str, list[int]] = {}
    seqs = [int(index.chunk_doc[row]) for row, _ in hits]
    ids = index.docstore.ids_of(seqs)  # only the hit documents' rows are read
    for (row, score), seq in zip(hits, seqs, strict=True):
        doc_id = ids[seq]
        if doc_id not in best:
            best[doc_id] = score
            rows[doc_id] = []
        rows[doc_id].append(row)
    ranked = trec_order(best, best.__getitem__, str)[:limit]
    return [Candidate(d, best[d], i + 1, tuple(rows[d])) for i, d in enumerate(ranked)]


def _deepen(search: Callable[[int], RowHits], index: Index, n: int) -> list[Candidate]:
    """Ask for more passages until ``n`` distinct documents are found or all are seen."""
    depth = n
    while True:
        hits = search(depth)
        cands = pool_rows(index, hits, n)
        if len(cands) >= n or len(hits) < depth or depth >= index.num_passages:
            return cands
        depth *= 4


def indexed_terms(index: Index, text: str) -> list[str]:
    """The query's BM25 tokens that occur in the index (none: BM25 can match nothing)."""
    return [t for t in index.tokenizer(text) if t in index.bm25.term_ids]


def bm25_candidates(index: Index, text: str, n: int) -> list[Candidate]:
    tokens = index.tokenizer(text)
    if not tokens:
        return []
    return _deepen(lambda depth: index.bm25.top_k(tokens, depth), index, n)


def dense_candidates(
    index: Index, vector: np.ndarray, n: int, *, exact: bool = False
) -> list[Candidate]:
    ef = index.hnsw_params.ef_search
    graph = None if exact else index.graph

    def search(depth: int) -> RowHits:
        return hnsw.search(graph, index.embeddings, vector, depth, ef=ef, exact=exact)

    return _deepen(search, index, n)


def fuse(rankings: list[list[Candidate]], n: int, rrf_k: int) -> list[Candidate]:
    """Reciprocal rank fusion of document rankings; passage rows merged, best first."""
    scores = rrf(([(c.doc_id, c.rank) for c in ranking] for ranking in rankings), rrf_k)
    rows: dict[str, list[int]] = {}
    for ranking in rankings:
        for cand in ranking:
            merged = rows.setdefault(cand.doc_id, [])
            merged.extend(r for r in cand.rows if r not in merged)
    ranked = trec_order(scores, scores.__getitem__, str)[:n]
    return [Candidate(d, scores[d], i + 1, tuple(rows[d])) for i, d in enumerate(ranked)]


def encode_queries(index: Index, texts: list[str]) -> np.ndarray:
    return index.encoder.encode(texts)


def resolve_params(index: Index, params: SearchParams) -> SearchParams:
    """``params`` with the retriever decided for ``index`` (what it holds, unless told).

    Raises:
        UsageError: The retriever needs a part the index was built without.
    """
    return params.for_index(index.retrievers, index.directory)


@dataclass(frozen=True)
class Retriever:
    """A first-stage retriever: what it needs and how it finds a query's candidates.

    A new retriever is one ``find`` function and one entry in :data:`RETRIEVERS` (its name
    also goes in :data:`xenc.config.RETRIEVERS`, which the parameter checks read, and
    :data:`xenc.config.NEEDS`, the parts of an index it needs).
    """

    name: str
    needs_vector: bool  # the query's embedding by the index's encoder
    lexical_only: bool  # finds nothing for a query none of whose terms is indexed
    find: Callable[[Index, str, np.ndarray | None, SearchParams], list[Candidate]]


def _bm25(index: Index, text: str, vector: np.ndarray | None,
          params: SearchParams) -> list[Candidate]:
    return bm25_candidates(index, text, params.candidates)


def _dense(index: Index, text: str, vector: np.ndarray | None,
           params: SearchParams) -> list[Candidate]:
    assert vector is not None  # first_stage encodes the query for a retriever that needs it
    return dense_candidates(index, vector, params.candidates, exact=params.exact)


def _hybrid(index: Index, text: str, vector: np.ndarray | None,
            params: SearchParams) -> list[Candidate]:
    n = params.candidates
    return fuse([bm25_candidates(index, text, n), _dense(index, text, vector, params)], n,
                params.rrf_k)


RETRIEVERS = {r.name: r for r in (
    Retriever("bm25", needs_vector=False, lexical_only=True, find=_bm25),
    Retriever("dense", needs_vector=True, lexical_only=False, find=_dense),
    Retriever("hybrid", needs_vector=True, lexical_only=False, find=_hybrid),
)}


def retriever(name: str | None) -> Retriever:
    """The registered retriever ``name`` (a resolved :attr:`SearchParams.retriever`)."""
    if name not in RETRIEVERS:
        raise UsageError(f"{param('retriever')} must be one of {', '.join(RETRIEVERS)}, "
                         f"not {name!r}")
    return RETRIEVERS[name]


def first_stage(
    index: Index, text: str, params: SearchParams, vector: np.ndarray | None = None
) -> list[Candidate]:
    """Candidates for one query. ``vector`` (its embedding) is computed here when the
    retriever needs one and none is given.

    ``params`` were validated when made (:class:`xenc.config.SearchParams`) and are resolved
    against the index here (:func:`resolve_params`): the retriever is registered, and the
    index holds what it needs.
    """
    params = resolve_params(index, params)
    chosen = retriever(params.retriever)
    if chosen.needs_vector and vector is None:
        vector = encode_queries(index, [text])[0]
    return chosen.find(index, text, vector, params)
