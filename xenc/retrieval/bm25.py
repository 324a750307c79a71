"""BM25: passages scored by the index's BM25 over its tokenizer's terms."""

from __future__ import annotations

import numpy as np

from xenc.config import SearchParams
from xenc.index.reader import Index
from xenc.records import Candidate
from xenc.retrieval.base import Retriever, deepen


def indexed_terms(index: Index, text: str) -> list[str]:
    """The query's BM25 tokens that occur in the index (none: BM25 can match nothing)."""
    return [t for t in index.tokenizer(text) if t in index.bm25.term_ids]


def bm25_candidates(index: Index, text: str, n: int) -> list[Candidate]:
    tokens = index.tokenizer(text)
    if not tokens:
        return []
    return deepen(lambda depth: index.bm25.top_k(tokens, depth), index, n)


def find(index: Index, text: str, vector: np.ndarray | None,
          params: SearchParams) -> list[Candidate]:
    return bm25_candidates(index, text, params.candidates)


RETRIEVER = Retriever("bm25", needs_vector=False, lexical_only=True, find=find)
