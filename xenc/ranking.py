"""Stage 4: first-stage candidates → cross-encoder scores → reranked documents.

For each candidate document the cross-encoder reads ``(query, passage)`` pairs, where the
passage is the title followed by one chunk. Which passages are read depends on ``aggregate``:

* ``max`` — the document's best first-stage passages (up to ``passages_per_doc``), score = max;
* ``sum`` — the same passages, score = their sum;
* ``first`` — only passage 0 (the document's opening), score = its score.

Documents are then sorted by ``(-score, doc_id)``. Candidates beyond ``limit`` (when only a
prefix is reranked) keep their first-stage order below the reranked ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from xenc.config import AGGREGATES
from xenc.errors import UsageError
from xenc.records import Candidate
from xenc.retrieve import Index


@dataclass(frozen=True)
class Scored:
    """A candidate with its final score; ``reranked`` is False for first-stage fallbacks."""

    candidate: Candidate
    score: float
    reranked: bool


def passage_rows(index: Index, candidates: Sequence[Candidate], aggregate: str, per_doc: int):
    """The passage rows to score for each candidate, in candidate order."""
    if aggregate not in AGGREGATES:
        raise UsageError(f"unknown --aggregate {aggregate!r}: choose max, first or sum")
    if aggregate == "first":
        first = index.docstore.first_rows(c.doc_id for c in candidates)
        return [(first[c.doc_id],) for c in candidates]
    out = []
    for cand in candidates:
        rows = cand.rows[:per_doc]
        if not rows:  # a candidate with no matching passage recorded: read its opening
            rows = (index.docstore.first_rows([cand.doc_id])[cand.doc_id],)
        out.append(rows)
    return out


def rerank(
    index: Index,
    model: Any,
    query: str,
    candidates: Sequence[Candidate],
    *,
    aggregate: str = "max",
    passages_per_doc: int = 3,
    limit: int | None = None,
) -> list[Scored]:
    """Rerank ``candidates`` (all, or the first ``limit``) with a cross-encoder.

    Args:
        index: The opened index the candidates came from (passage text is read from it).
        model: A :class:`xenc.rerank.CrossEncoder` (anything with ``predict(pairs)``).
        query: The query text.
        candidates: First-stage candidates, best first.
        aggregate: ``max``, ``first`` or ``sum`` over a document's passage scores.
        passages_per_doc: At most this many passages per document for ``max``/``sum``.
        limit: Rerank only this many leading candidates; the rest follow in first-stage order.

    Returns:
        Every candidate once, best first.
    """
    head = list(candidates if limit is None else candidates[:limit])
    tail = list(candidates[len(head) :])
    rows = passage_rows(index, head, aggregate, passages_per_doc)
    chunks = index.docstore.chunks(r for group in rows for r in group)
    flat = [r for group in rows for r in group]
    scores = model.predict([(query, chunks[r].passage()) for r in flat]) if flat else []
    by_row = {r: float(s[0]) for r, s in zip(flat, scores, strict=True)}
    scored = []
    for cand, group in zip(head, rows, strict=True):
        values = [by_row[r] for r in group]
        value = sum(values) if aggregate == "sum" else max(values)
        scored.append(Scored(cand, value, True))
    scored.sort(key=lambda s: (-s.score, s.candidate.doc_id))
    if tail:
        floor = min((s.score for s in scored), default=0.0)
        scored.extend(
            Scored(c, floor - (i + 1) * 1e-6, False) for i, c in enumerate(tail)
        )
    return scored
