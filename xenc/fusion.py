"""Fusion of the reranker's scores with the first stage's ranking (``--fusion``).

A cross-encoder that is small, or far from the domain it was trained on, can do better when
its ranking is tempered by the first stage's. For one query's reranked candidates:

* ``none``: the reranker's score alone;
* ``rrf``: reciprocal rank fusion, ``1 / (k + reranker rank) + 1 / (k + first-stage rank)``
  with ``k`` = 60 (ranks from 1; reranker ties keep first-stage order);
* ``linear:W`` (0 ≤ W ≤ 1): ``W * s + (1 - W) * p``, where ``s`` is the reranker's score
  min-max scaled over the query's reranked candidates (all equal → 1) and ``p`` =
  ``1 - (first-stage rank - 1) / n``, a linear prior from 1 for the first candidate down to
  ``1/n`` for the ``n``-th.

A model's ``config.json`` may name the fusion it was validated with (``xenc_fusion``); search
and eval apply it unless ``--fusion`` says otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence

from xenc.config import parse_fusion

RRF_K = 60


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
        rerank = {i: pos + 1 for pos, i in enumerate(order)}
        return [1.0 / (RRF_K + rerank[i]) + 1.0 / (RRF_K + ranks[i]) for i in range(n)]
    low, high = min(scores), max(scores)
    span = high - low
    scaled = [1.0 if span <= 0 else (s - low) / span for s in scores]
    depth = max(n, max(ranks))
    prior = [1.0 - (r - 1) / depth for r in ranks]
    assert weight is not None
    return [weight * s + (1.0 - weight) * p for s, p in zip(scaled, prior, strict=True)]
