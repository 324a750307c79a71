"""Dev-set metrics used to pick the best checkpoint.

* relevance: mean NDCG@10 of reranking each dev query's pairs by the model's score
  (:mod:`xenc.evaluation.metrics`, trec_eval semantics; grades are the integer labels);
* similarity: Spearman rank correlation between scores and labels;
* nli: accuracy of the highest-scoring label.

:func:`first_stage_metric` scores the first stage the same way on the same dev pairs (by the
pairs' ``first_stage_rank``), for relevance pairs that carry it (mined pairs do): what a
trained reranker has to beat to be worth using.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from xenc.errors import UsageError
from xenc.evaluation.metrics import mean_over_queries, score_run
from xenc.io.qrels import RELEVANT_GRADE
from xenc.training.data import Pair

METRICS = {"relevance": "ndcg@10", "similarity": "spearman", "nli": "accuracy"}


def _ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks with ties given their average rank."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = np.arange(1, values.size + 1, dtype=np.float64)
    uniq, inverse = np.unique(values, return_inverse=True)
    sums = np.bincount(inverse, weights=ranks, minlength=uniq.size)
    counts = np.bincount(inverse, minlength=uniq.size)
    return (sums / counts)[inverse]


def spearman(scores: Sequence[float] | np.ndarray, labels: Sequence[float]) -> float:
    """Spearman's rho (Pearson correlation of average ranks); 0.0 when either is constant."""
    a = _ranks(np.asarray(scores, dtype=np.float64))
    b = _ranks(np.asarray(labels, dtype=np.float64))
    a, b = a - a.mean(), b - b.mean()
    denom = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denom) if denom > 0 else 0.0


def ndcg_at_10(scores: Sequence[float | None] | np.ndarray, pairs: Sequence[Pair]) -> float:
    """Mean NDCG@10 over the dev queries that have a relevant pair (repeated documents once).

    A score of ``None`` means "not retrieved": the pair is judged but left out of the ranking
    (as trec_eval counts a relevant document missing from a run).

    Raises:
        UsageError: no dev query has a pair labeled 1 or more.
    """
    run: dict[str, list[tuple[float, int]]] = {}
    qrels: dict[str, dict[str, int]] = {}
    seen: set[tuple[str, str]] = set()
    for i, (pair, score) in enumerate(zip(pairs, scores, strict=True)):
        if (pair.group, pair.document) in seen:  # a negative drawn for several positives
            continue
        seen.add((pair.group, pair.document))
        run.setdefault(pair.group, [])
        if score is not None:
            run[pair.group].append((-float(score), i))
        qrels.setdefault(pair.group, {})[str(i)] = int(pair.label)
    ranked = {g: [str(i) for _, i in sorted(hits)] for g, hits in run.items()}
    per_query = score_run(ranked, qrels, ndcg_k=(10,), recall_k=(), mrr_k=(), map_=False)
    if not per_query:
        raise UsageError(
            f"the dev set has no query with a relevant pair (label >= {RELEVANT_GRADE})")
    return mean_over_queries(per_query)["ndcg@10"]


def first_stage_metric(task: str, pairs: Sequence[Pair]) -> float | None:
    """The first stage's NDCG@10 on the dev pairs, ranked by ``first_stage_rank``; ``None``
    unless the task is relevance and some dev pair carries a rank."""
    if task != "relevance" or not any(p.first_stage_rank is not None for p in pairs):
        return None
    scores = [None if p.first_stage_rank is None else -float(p.first_stage_rank) for p in pairs]
    return ndcg_at_10(scores, pairs)


def dev_metric(task: str, outputs: np.ndarray, pairs: Sequence[Pair]) -> float:
    """The task's dev metric from model outputs (``(n, num_labels)`` logits)."""
    if task == "nli":
        predicted = outputs.argmax(axis=1)
        gold = np.array([int(p.label) for p in pairs])
        return float((predicted == gold).mean())
    if task == "similarity":
        return spearman(outputs[:, 0], [p.label for p in pairs])
    return ndcg_at_10(outputs[:, 0], pairs)
