"""Dense: passages scored by the cosine similarity of bi-encoder embeddings (HNSW, or exact)."""

from __future__ import annotations

import numpy as np

from xenc.config import SearchParams
from xenc.index import hnsw
from xenc.index.reader import Index
from xenc.records import Candidate
from xenc.retrieval.base import Retriever, RowHits, deepen


def dense_candidates(
    index: Index, vector: np.ndarray, n: int, *, exact: bool = False
) -> list[Candidate]:
    ef = index.hnsw_params.ef_search
    graph = None if exact else index.graph

    def search(depth: int) -> RowHits:
        return hnsw.search(graph, index.embeddings, vector, depth, ef=ef, exact=exact)

    return deepen(search, index, n)


def find(index: Index, text: str, vector: np.ndarray | None,
         params: SearchParams) -> list[Candidate]:
    assert vector is not None  # first_stage encodes the query for a retriever that needs it
    return dense_candidates(index, vector, params.candidates, exact=params.exact)


RETRIEVER = Retriever("dense", needs_vector=True, lexical_only=False, find=find)
