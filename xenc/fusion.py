"""Fusion of the reranker's scores with the first stage's ranking (``--fusion``).

A cross-encoder that is small, or far from the domain it was trained on, can do better when
its ranking is tempered by the first stage's. For one query's reranked candidates:

* ``none``: the reranker's score alone;
* ``rrf``: reciprocal rank fusion, ``1 / (k + reranker rank) + 1 / (k + first-stage rank)``
  with ``k`` = :data:`xenc.config.RRF_K` (60; ranks from 1; reranker ties keep first-stage
  order), by :func:`rrf`, the one reciprocal rank fusion (hybrid's first stage uses it too);
* ``linear:W`` (0 ≤ W ≤ 1): ``W * s + (1 - W) * p``, where ``s`` is the reranker's score
  min-max scaled over the query's reranked candidates (all equal → 1) and ``p`` =
  ``1 - (first-stage rank - 1) / n``, a linear prior from 1 for the first candidate down to
  ``1/n`` for the ``n``-th.

A model's ``config.json`` may name the fusion it was validated with (``xenc_fusion``); search
and eval apply it unless ``--fusion`` says otherwise.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import TypeVar

from xenc.config import RRF_K, parse_fusion

K = TypeVar("K", bound=Hashable)


def rrf(rankings: Iterable[Iterable[tuple[K, int]]], k: int = RRF_K) -> dict[K, float]:
    """Reciprocal rank fusion: each key's ``Σ 1 / (k + rank)`` over the rankings holding it.

    Args:
        rankings: Each ranking as ``(key, rank)`` pairs, ranks from 1; a key at most once per
            ranking.
        k: The constant (default :data:`xenc.config.RRF_K`).

    Returns:
        The fused score of every key, in the order keys were first met; terms are added in
        ranking order, so the sums are the same floats wherever this is called. Sorting, and
        so tie order, is the caller's.
    """
    scores: dict[K, float] = {}
    for ranking in rankings:
        for key, rank in ranking:
            scores[key] = scores.get(key, 0.0) + 1.0 / (k + rank)
    return scores


def effective_fusion(fusion: str | None, reranker: object | None) -> str:
    """The fusion a search uses: the one asked for, else the reranker's own, else ``none``."""
    if fusion is not None:
        return parse_fusion(fusion)[0] if fusion.strip().lower() == "none" else fusion
    own = getattr(reranker, "fusion", None)
    return own or "none"


def fuse_scores(
    scores: Sequence[float], first_stage_ranks: Sequence[int | None], spec: str
) -> list[float]:
    """The fused score of each candidate (same order as given).

    Args:
        scores: The reranker's scores.
        first_stage_ranks: Each candidate's first-stage rank (1 = best; ``None`` = unranked,
            taken as last).
        spec: ``none``, ``rrf`` or ``linear:W``.
    """
    kind, weight = parse_fusion(spec)
    n = len(scores)
    if kind == "none" or n == 0:
        return [float(s) for s in scores]
    ranks = [n + 1 if r is None else int(r) for r in first_stage_ranks]
    if kind == "rrf":
        order = sorted(range(n), key=lambda i: (-scores[i], ranks[i]))
        fused = rrf([((i, pos + 1) for pos, i in enumerate(order)), enumerate(ranks)])
        return [fused[i] for i in range(n)]
    low, high = min(scores), max(scores)
    span = high - low
    scaled = [1.0 if span <= 0 else (s - low) / span for s in scores]
    depth = max(n, max(ranks))
    prior = [1.0 - (r - 1) / depth for r in ranks]
    assert weight is not None
    return [weight * s + (1.0 - weight) * p for s, p in zip(scaled, prior, strict=True)]
