"""Paired significance tests on per-query values, and multiple-testing corrections.

* ``t``: the two-sided paired Student t-test, exactly :func:`scipy.stats.ttest_rel` (scipy is
  imported here only, when a t-test runs). Where every paired difference is 0 scipy gives
  ``nan``; so does a single query. Both are reported as p = 1.0: no evidence of a difference.
* ``randomization``: the paired (sign-flip) randomization test, two-sided. Each of ``trials``
  trials swaps the two systems' values on each query with probability 1/2, which flips the
  sign of that query's difference; p = (1 + trials whose mean difference is at least as far
  from 0 as the observed one) / (1 + trials). numpy's ``default_rng(seed)`` draws the swaps,
  so a seed gives the same p every time.
* Corrections across the ``m`` comparisons of one metric: ``bonferroni`` multiplies each p by
  ``m``; ``holm`` (Holm–Bonferroni) multiplies the ``i``-th smallest by ``m - i + 1`` and
  keeps the adjusted values in the order of the raw ones (a running maximum); both cap at 1.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np

from xenc.errors import UsageError, param

TESTS = ("t", "randomization")
CORRECTIONS = ("none", "holm", "bonferroni")
_CHUNK = 1 << 20  # sign draws per block of trials (8 MB of int8 at most)


def check_choice(name: str, value: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise UsageError(f"{param(name)} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def paired_t(
    values: Sequence[float] | np.ndarray, baseline: Sequence[float] | np.ndarray
) -> float:
    """The two-sided p-value of :func:`scipy.stats.ttest_rel` (``values`` against
    ``baseline``); 1.0 where scipy gives ``nan`` (no difference at all, or one query)."""
    from scipy.stats import ttest_rel

    a = np.asarray(values, dtype=np.float64)
    b = np.asarray(baseline, dtype=np.float64)
    if a.size < 2 or np.array_equal(a, b):
        return 1.0
    with warnings.catch_warnings():  # scipy warns of near-equal data: the p stands, as is
        warnings.simplefilter("ignore", RuntimeWarning)
        p = float(ttest_rel(a, b).pvalue)
    return 1.0 if math.isnan(p) else p


def randomization(
    values: Sequence[float] | np.ndarray, baseline: Sequence[float] | np.ndarray, *,
    trials: int, seed: int,
) -> float:
    """The two-sided p-value of the paired sign-flip randomization test (see module doc)."""
    if trials < 1:
        raise UsageError(f"{param('trials')} must be at least 1, got {trials}")
    diff = np.asarray(values, dtype=np.float64) - np.asarray(baseline, dtype=np.float64)
    n = diff.size
    if n == 0:
        return 1.0
    observed = abs(float(diff.mean()))
    # a trial ties the observed difference within rounding: count it (as scipy does)
    threshold = observed - 1e-12 * max(1.0, observed)
    rng = np.random.default_rng(seed)
    extreme = 0
    done = 0
    per_block = max(1, _CHUNK // n)
    while done < trials:
        size = min(per_block, trials - done)
        signs = rng.integers(0, 2, size=(size, n), dtype=np.int8) * 2 - 1
        means = np.abs(signs @ diff) / n
        extreme += int(np.count_nonzero(means >= threshold))
        done += size
    return (extreme + 1) / (trials + 1)


def correct(p_values: Sequence[float], method: str) -> list[float]:
    """Adjust the p-values of comparisons made together (see module doc), same order."""
    check_choice("correction", method, CORRECTIONS)
    m = len(p_values)
    if method == "none" or m == 0:
        return [float(p) for p in p_values]
    if method == "bonferroni":
        return [min(1.0, float(p) * m) for p in p_values]
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, float(p_values[i]) * (m - rank)))
        adjusted[i] = running
    return adjusted
