"""Retrieval metrics with trec_eval semantics, and latency summaries.

The numbers equal trec_eval's (as exposed by ``pytrec_eval``) for a run whose scores fall
strictly with rank:

* ``ndcg@k`` is ``ndcg_cut_k``: gain = the grade (linear), negative grades count as 0,
  discount ``log2(rank + 1)``; the ideal ranking is built from ALL judged grades of the query
  (not only the retrieved ones), cut at ``k``.
* ``recall@k`` is ``recall_k``: relevant retrieved in the top ``k`` / all relevant.
* ``mrr@k`` is ``recip_rank`` on the run cut to ``k``: 1 / rank of the first relevant.
* ``map`` is ``map`` over the whole run: the mean, over ALL relevant documents, of the
  precision at the rank of each one retrieved (unretrieved relevant ones add 0).
* ``precision@k`` is ``P_k``: relevant retrieved in the top ``k`` / ``k`` (``k`` even when
  fewer are retrieved).
* ``judged@k`` is ir_measures' ``Judged@k`` (not a trec_eval measure): the share of the top
  ``k`` that has a judgment of any grade, over ``min(k, retrieved)``; 0 for an empty list.

A document is relevant when its grade is >= 1 (:func:`xenc.io.qrels.is_relevant`, the one rule);
grade 0, negative grades and unjudged documents are non-relevant.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from xenc.errors import InputError, UsageError
from xenc.io.qrels import Qrels, has_relevant, is_relevant

_RUN_SOURCE = "<run>"


def _check_cutoffs(name: str, values: Iterable[int]) -> tuple[int, ...]:
    cutoffs = tuple(values)
    for k in cutoffs:
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise UsageError(f"{name} cutoffs must be positive integers, got {k!r}")
    return tuple(int(k) for k in cutoffs)


def _ideal_dcg(grades: Iterable[int], cutoffs: Sequence[int], discount: np.ndarray) -> list[float]:
    """The DCG of the best ranking of all judged ``grades``, cut at each of ``cutoffs``.

    ``discount`` covers ranks 1..max(cutoffs).
    """
    gains = np.sort(np.array([g for g in grades if g > 0], dtype=np.float64))[::-1]
    ideal = []
    for k in cutoffs:
        n = min(k, gains.size)
        ideal.append(float(np.dot(gains[:n], discount[:n])))
    return ideal


@dataclass(frozen=True)
class _Plan:
    """Validated cutoffs and the rank discounts shared by every query."""

    ndcg: tuple[int, ...]
    recall: tuple[int, ...]
    mrr: tuple[int, ...]
    map_: bool
    discount: np.ndarray  # 1 / log2(rank + 1) for ranks 1..max(ndcg)
    precision: tuple[int, ...] = ()
    judged: tuple[int, ...] = ()


def score_run(
    run: Mapping[str, Sequence[str]],
    qrels: Qrels,
    *,
    ndcg_k: Iterable[int] = (10,),
    recall_k: Iterable[int] = (10, 100),
    mrr_k: Iterable[int] = (10,),
    map_: bool = True,
    precision_k: Iterable[int] = (),
    judged_k: Iterable[int] = (),
) -> dict[str, dict[str, float]]:
    """Score a ranked run against qrels, per query, with trec_eval semantics.

    Which queries count: those in ``qrels`` with at least one relevant (grade >= 1)
    document. A counted query missing from ``run`` (or with an empty list) scores 0 on every
    metric, like ``trec_eval -c``. Queries in ``run`` but not counted are ignored. (Plain
    trec_eval would also report, and average in, judged queries with no relevant document as
    0 when they are in the run; here they are left out.)

    Args:
        run: query id → document ids in RANK order (best first); the order is taken as is,
            nothing is re-sorted. A document may appear once per query.
        qrels: query id → document id → grade.
        ndcg_k: cutoffs for ``ndcg@k``.
        recall_k: cutoffs for ``recall@k``.
        mrr_k: cutoffs for ``mrr@k``.
        map_: whether to compute ``map`` (over the whole list).
        precision_k: cutoffs for ``precision@k``.
        judged_k: cutoffs for ``judged@k``.

    Returns:
        Query id → metric name (``"ndcg@10"``, ``"recall@100"``, ``"mrr@10"``, ``"map"``,
        ``"precision@5"``, ``"judged@10"``) → value, for each counted query in ``qrels``
        order.

    Raises:
        UsageError: a cutoff is not a positive integer.
        InputError: a run lists the same document twice for one query.
    """
    ndcg = _check_cutoffs("ndcg", ndcg_k)
    recall = _check_cutoffs("recall", recall_k)
    mrr = _check_cutoffs("mrr", mrr_k)
    ranks = np.arange(1, max(ndcg, default=0) + 1, dtype=np.float64)
    plan = _Plan(
        ndcg=ndcg,
        recall=recall,
        mrr=mrr,
        map_=map_,
        discount=1.0 / np.log2(ranks + 1.0),
        precision=_check_cutoffs("precision", precision_k),
        judged=_check_cutoffs("judged", judged_k),
    )
    per_query: dict[str, dict[str, float]] = {}
    for qid, judged in qrels.items():
        if has_relevant(judged):
            per_query[qid] = _score_query(qid, run.get(qid, ()), judged, plan)
    return per_query


def _score_query(
    qid: str, docs: Sequence[str], judged: Mapping[str, int], plan: _Plan
) -> dict[str, float]:
    """All metrics of one query with at least one relevant document.

    Work is linear in the run (one C-level dict build) plus the judged documents: only the
    judged documents are looked up, never every retrieved one.
    """
    position = dict(zip(docs, range(len(docs)), strict=True))  # doc id → 0-based rank
    if len(position) != len(docs):
        raise InputError(_RUN_SOURCE, None, f"query {qid!r} lists a document twice")
    num_rel = 0
    hit_list: list[int] = []  # 0-based ranks of the retrieved relevant documents
    gain_at: list[tuple[int, float]] = []  # (0-based rank, gain) of retrieved positive grades
    for doc_id, grade in judged.items():
        relevant = is_relevant(grade)
        num_rel += relevant
        rank = position.get(doc_id) if grade > 0 else None  # negative grades gain 0
        if rank is not None:
            gain_at.append((rank, float(grade)))
            if relevant:
                hit_list.append(rank)
    hits = np.sort(np.array(hit_list, dtype=np.int64))
    scores: dict[str, float] = {}
    if plan.ndcg:
        ideal = _ideal_dcg(judged.values(), plan.ndcg, plan.discount)
        gain_at.sort()
        ranks = np.array([r for r, _ in gain_at], dtype=np.int64)
        gains = np.array([g for _, g in gain_at], dtype=np.float64)
        for k, best in zip(plan.ndcg, ideal, strict=True):
            n = int(np.searchsorted(ranks, k))  # the gains ranked inside the top k
            scores[f"ndcg@{k}"] = float(np.dot(gains[:n], plan.discount[ranks[:n]])) / best
    for k in plan.recall:
        scores[f"recall@{k}"] = int(np.searchsorted(hits, k)) / num_rel
    first = int(hits[0]) + 1 if hits.size else 0  # 1-based rank of the first relevant
    for k in plan.mrr:
        scores[f"mrr@{k}"] = 1.0 / first if 0 < first <= k else 0.0
    if plan.map_:
        precisions = np.arange(1, hits.size + 1, dtype=np.float64) / (hits + 1.0)
        scores["map"] = float(precisions.sum()) / num_rel
    for k in plan.precision:
        scores[f"precision@{k}"] = int(np.searchsorted(hits, k)) / k
    if plan.judged:
        found = np.sort(np.array([r for d in judged if (r := position.get(d)) is not None],
                                 dtype=np.int64))
        for k in plan.judged:
            depth = min(k, len(docs))
            scores[f"judged@{k}"] = int(np.searchsorted(found, depth)) / depth if depth else 0.0
    return scores


def mean_over_queries(per_query: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """The mean over queries of each metric, keys sorted.

    A metric missing from some queries is averaged over the queries that have it. An empty
    input gives ``{}``: whether no counted query is an error is the caller's decision.
    """
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for scores in per_query.values():
        for name, value in scores.items():
            sums[name] = sums.get(name, 0.0) + float(value)
            counts[name] = counts.get(name, 0) + 1
    return {name: sums[name] / counts[name] for name in sorted(sums)}


def latency_summary(ms: Sequence[float]) -> dict[str, float]:
    """Median, 95th percentile (linear interpolation) and mean of latencies in milliseconds.

    An empty sequence gives zeros.
    """
    values = np.asarray(ms, dtype=np.float64)
    if values.size == 0:
        return {"p50": 0.0, "p95": 0.0, "mean": 0.0}
    p50, p95 = np.percentile(values, [50.0, 95.0])
    return {"p50": float(p50), "p95": float(p95), "mean": float(values.mean())}
