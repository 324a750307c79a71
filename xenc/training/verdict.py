"""What a training run is worth: the warnings ``xenc train`` prints after it.

A run that measured nothing, learned from too little data, or made a model that ranks the
dev queries worse than the first stage is written all the same (it may be wanted for a test),
but never silently: each case is one sentence here, printed as ``Warning: ...`` on stderr.
"""

from __future__ import annotations

from typing import Any

# Below either, a new relevance head learns next to nothing: the README's old example (62 pairs,
# 4 steps from all-MiniLM-L6-v2) gave NDCG@10 0.020 on the sample against 0.965 for the
# first stage (issue 27). Both numbers are printed in the warning.
MIN_PAIRS = 1000
MIN_STEPS = 100


def warnings_for(
    *, metric: str, best: dict[str, Any] | None, first_stage: float | None, dev_pairs: int,
    train_pairs: int, steps: int, dev_queries: int, from_shipped: bool = False,
) -> list[str]:
    """The warnings a finished (or stopped) run deserves, most serious first.

    ``from_shipped``: the run started from xenc's shipped reranker (no advice to do so).
    """
    out = []
    value = None if best is None else best.get("metric")
    if first_stage is not None and value is not None and value <= first_stage:
        out.append(
            f"the trained model is no better than the first stage on the {dev_queries} dev "
            f"queries ({metric} {value:.4f} vs {first_stage:.4f} for the first stage alone): "
            "reranking with it would make results worse"
        )
    if not dev_pairs:
        out.append(
            "no dev set, so nothing was measured: the model may rank worse than no reranker. "
            "Hold out queries with --dev-fraction 0.2, or give --dev or --dev-queries/--dev-qrels"
        )
    if train_pairs < MIN_PAIRS or steps < MIN_STEPS:
        advice = ("Mine more pairs (xenc mine) or train more epochs" if from_shipped else
                  "Mine more pairs (xenc mine), train more epochs, or start from a trained "
                  "reranker (--base default)")
        out.append(
            f"too little data to learn from: {train_pairs} training pairs and {steps} steps "
            f"(xenc warns below {MIN_PAIRS} pairs or {MIN_STEPS} steps). {advice}"
        )
    return out
