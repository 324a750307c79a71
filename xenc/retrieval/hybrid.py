"""Hybrid: BM25 and dense document rankings fused by reciprocal rank fusion.

``score(d) = Σ 1 / (rrf_k + rank_r(d))`` over the two rankings (:func:`xenc.fusion.rrf`, the
one RRF, which ``--fusion rrf`` uses too).
"""

from __future__ import annotations

import numpy as np

from xenc.config import SearchParams
from xenc.fusion import rrf
from xenc.index.reader import Index
from xenc.records import Candidate, trec_order
from xenc.retrieval import dense
from xenc.retrieval.base import Retriever
from xenc.retrieval.bm25 import bm25_candidates


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


def find(index: Index, text: str, vector: np.ndarray | None,
          params: SearchParams) -> list[Candidate]:
    n = params.candidates
    return fuse([bm25_candidates(index, text, n), dense.find(index, text, vector, params)], n,
                params.rrf_k)


RETRIEVER = Retriever("hybrid", needs_vector=True, lexical_only=False, find=find)
