"""What every retriever shares: the :class:`Retriever` record, and passages pooled to documents.

Passages are scored by each retriever and pooled to documents by their best passage. Every
ranking is sorted by score, ties by document id descending (trec_eval's order,
:func:`xenc.records.trec_order`), so ties never depend on dictionary or thread order and
trec_eval agrees with ``xenc eval``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from xenc.config import SearchParams
from xenc.index.reader import Index
from xenc.records import Candidate, trec_order

RowHits = list[tuple[int, float]]


@dataclass(frozen=True)
class Retriever:
    """A first-stage retriever: what it needs and how it finds a query's candidates.

    A new retriever is one module in :mod:`xenc.retrieval` that makes one of these, and one
    entry in :data:`xenc.retrieval.stage.RETRIEVERS` (its name also goes in
    :data:`xenc.config.RETRIEVERS`, which the parameter checks read, and
    :data:`xenc.config.NEEDS`, the parts of an index it needs).
    """

    name: str
    needs_vector: bool  # the query's embedding by the index's encoder
    lexical_only: bool  # finds nothing for a query none of whose terms is indexed
    find: Callable[[Index, str, np.ndarray | None, SearchParams], list[Candidate]]


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


def deepen(search: Callable[[int], RowHits], index: Index, n: int) -> list[Candidate]:
    """Ask for more passages until ``n`` distinct documents are found or all are seen."""
    depth = n
    while True:
        hits = search(depth)
        cands = pool_rows(index, hits, n)
        if len(cands) >= n or len(hits) < depth or depth >= index.num_passages:
            return cands
        depth *= 4


def encode_queries(index: Index, texts: list[str]) -> np.ndarray:
    """The query embeddings of ``texts`` by the index's encoder."""
    return index.encoder.encode(texts)
