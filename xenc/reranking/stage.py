"""The rerank stage: first-stage candidates → cross-encoder scores → reranked documents.

For each candidate document the cross-encoder reads ``(query, passage)`` pairs, where the
passage is the title followed by one chunk. Which passages are read depends on ``aggregate``:

* ``max`` — the document's best first-stage passages (up to ``passages_per_doc``), score = max;
* ``sum`` — the same passages, score = their sum;
* ``first`` — only passage 0 (the document's opening), score = its score.

Documents are then sorted by score, ties by document id descending (trec_eval's order).
Candidates beyond ``limit`` (when only a prefix is reranked) keep their first-stage order
below the reranked ones.

With a :class:`Budget`, candidates are reranked in first-stage order, in batches sized to
the time left, while the next batch is expected to finish within the budget; the rest keep
their first-stage order below the reranked ones (the fallback a latency-bound service needs).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from xenc.errors import UsageError, param
from xenc.fusion import fuse_scores
from xenc.records import Candidate, Chunk, trec_order

if TYPE_CHECKING:
    from xenc.models.reranker import Reranker


class Passages(Protocol):
    """All the rerank stage reads from an index: passage text by row.

    :class:`xenc.index.store.DocStore` (``Index.docstore``) is one.
    """

    def first_rows(self, doc_ids: Iterable[str]) -> dict[str, int]:
        """The row of each document's first passage."""
        ...

    def chunks(self, rows: Iterable[int]) -> dict[int, Chunk]:
        """The passages at ``rows``."""
        ...


@dataclass(frozen=True)
class Scored:
    """A candidate with its final score; ``reranked`` is False for first-stage fallbacks.

    ``rerank_score`` is the reranker's own score (before fusion; ``None`` when not reranked),
    ``row`` the passage that decided it (the best one read; ``None`` when not reranked).
    """

    candidate: Candidate
    score: float
    reranked: bool
    rerank_score: float | None = None
    row: int | None = None


@dataclass
class Budget:
    """Time allowed for reranking one query, and what past batches cost.

    ``ms`` is the wall-clock limit of the rerank stage of each query (the first stage is not
    counted). ``ms_per_pair`` is a running estimate of the cost of one pair, learnt from the
    batches already run and shared across queries. Batches are sized to the time left: as
    many pairs as the estimate says fit (at most the model's batch size). While nothing has
    been measured, a small probe batch (an eighth of the batch size, at least one document)
    runs first to learn the cost, so only the very first query can exceed the budget, by
    that probe.

    Not thread-safe: :meth:`record` updates ``ms_per_pair`` after every batch. Share one
    only among calls made one after another (one thread); :func:`xenc.pipeline.run_queries`
    makes a fresh one per call.
    """

    ms: float
    ms_per_pair: float | None = None
    clock: Callable[[], float] = field(default=time.perf_counter, repr=False)

    def __post_init__(self) -> None:
        if not self.ms > 0:
            raise UsageError(f"{param('budget_ms')} must be a positive number of ms, not {self.ms}")

    def room(self, elapsed_ms: float, batch_size: int) -> int:
        """How many pairs the next batch may hold after ``elapsed_ms`` (0: stop)."""
        if self.ms_per_pair is None:  # nothing measured yet: a probe batch learns the cost
            return max(1, batch_size // 8)
        fits = int((self.ms - elapsed_ms) / self.ms_per_pair) if self.ms_per_pair > 0 else 1 << 30
        return max(0, min(batch_size, fits))

    def record(self, pairs: int, ms: float) -> None:
        """Update the per-pair cost with a batch that took ``ms`` for ``pairs`` pairs."""
        cost = ms / max(pairs, 1)
        old = self.ms_per_pair
        self.ms_per_pair = cost if old is None else 0.7 * old + 0.3 * cost


def passage_rows(
    passages: Passages, candidates: Sequence[Candidate], aggregate: str, per_doc: int
) -> list[tuple[int, ...]]:
    """The passage rows to score for each candidate, in candidate order."""
    if aggregate == "first":
        first = passages.first_rows(c.doc_id for c in candidates)
        return [(first[c.doc_id],) for c in candidates]
    out = []
    for cand in candidates:
        rows = cand.rows[:per_doc]
        if not rows:  # a candidate with no matching passage recorded: read its opening
            rows = (passages.first_rows([cand.doc_id])[cand.doc_id],)
        out.append(rows)
    return out


def rerank(
    passages: Passages,
    model: Reranker,
    query: str,
    candidates: Sequence[Candidate],
    *,
    aggregate: str = "max",
    passages_per_doc: int = 3,
    limit: int | None = None,
    budget: Budget | None = None,
    fusion: str = "none",
) -> list[Scored]:
    """Rerank ``candidates`` (all, or the first ``limit``) with a cross-encoder.

    Args:
        passages: Passage text of the index the candidates came from (``index.docstore``).
        model: A :class:`xenc.models.cross_encoder.CrossEncoder` (anything with ``predict(pairs)``).
        query: The query text.
        candidates: First-stage candidates, best first.
        aggregate: ``max``, ``first`` or ``sum`` over a document's passage scores.
        passages_per_doc: At most this many passages per document for ``max``/``sum``.
        limit: Rerank only this many leading candidates; the rest follow in first-stage order.
        budget: Rerank, in first-stage order, only what fits in this time budget.
        fusion: ``none``, ``rrf`` or ``linear:W``: combine the reranker's scores with the
            first-stage ranks of the reranked candidates (:mod:`xenc.fusion`).

    Returns:
        Every candidate once, best first.
    """
    head = list(candidates if limit is None else candidates[:limit])
    rows = passage_rows(passages, head, aggregate, passages_per_doc)
    chunks = passages.chunks(r for group in rows for r in group)
    if budget is None:
        flat = [r for group in rows for r in group]
        scores = _first_scores(model, [(query, chunks[r].passage()) for r in flat])
        by_row = {r: float(s) for r, s in zip(flat, scores, strict=True)}
    else:
        by_row = _within_budget(model, query, rows, chunks, budget)
        done = next((i for i, group in enumerate(rows) if group[0] not in by_row), len(rows))
        head, rows = head[:done], rows[:done]
    tail = list(candidates[len(head) :])
    raw, best = [], []
    for group in rows:
        parts = [by_row[r] for r in group]
        raw.append(sum(parts) if aggregate == "sum" else max(parts))
        best.append(group[parts.index(max(parts))])
    values = fuse_scores(raw, [c.rank for c in head], fusion)
    scored = [Scored(c, v, True, r, row)
              for c, v, r, row in zip(head, values, raw, best, strict=True)]
    scored = trec_order(scored, lambda s: s.score, lambda s: s.candidate.doc_id)
    if tail:
        floor = min((s.score for s in scored), default=0.0)
        scored.extend(
            Scored(c, floor - (i + 1) * 1e-6, False) for i, c in enumerate(tail)
        )
    return scored


def check_reranker(model: Any) -> None:
    """That ``model`` (if any) gives one score a pair, as ranking needs.

    Raises:
        UsageError: A model with several labels (an NLI model, say).
    """
    if model is not None and getattr(model, "num_labels", 1) != 1:
        raise UsageError(
            f"reranker has {model.num_labels} labels; search and eval need a one-score model"
        )


def first_score(score: Any) -> float:
    """The first score of one ``predict`` row: a number, or a row of per-label numbers."""
    return float(score[0] if getattr(score, "ndim", 0) or isinstance(score, list | tuple)
                 else score)


def _first_scores(model: Reranker, pairs: list[tuple[str, str]]) -> list[float]:
    """The reranker's (first) score of each pair: ``predict`` gives ``(n,)`` or ``(n, labels)``."""
    return [first_score(s) for s in model.predict(pairs)] if pairs else []


def _within_budget(model: Reranker, query: str, rows: list, chunks: dict, budget: Budget) -> dict:
    """Scores of the leading documents' passages, batch by batch, while they fit in time."""
    size = int(getattr(model, "batch_size", 32) or 32)
    probing = budget.ms_per_pair is None
    start = budget.clock()
    by_row: dict[int, float] = {}
    i = 0
    while i < len(rows):
        room = budget.room((budget.clock() - start) * 1e3, size)
        j, flat = i, list[int]()
        while j < len(rows) and len(flat) + len(rows[j]) <= room:
            flat.extend(rows[j])
            j += 1
        if not flat and probing:  # a first document longer than the probe: learn from it
            flat, j = list(rows[i]), i + 1
        if not flat:
            break
        before = budget.clock()
        scores = _first_scores(model, [(query, chunks[r].passage()) for r in flat])
        budget.record(len(flat), (budget.clock() - before) * 1e3)
        probing = False
        by_row.update((r, float(s)) for r, s in zip(flat, scores, strict=True))
        i = j
    return by_row
