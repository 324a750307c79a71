"""Comparing systems on the same judged queries: ``xenc eval --run NAME=FILE`` and
:func:`compare`.

Each run is measured per query with trec_eval's definitions (:mod:`xenc.evaluation.metrics`),
under the metric names of ir_measures (``nDCG@10``, ``R@100``, ``RR@10``, ``RR``, ``AP``, ``P@5``,
``Judged@10``). Every run except the baseline is then compared with the baseline, per metric:
mean, delta, a paired significance test (:mod:`xenc.evaluation.significance`) corrected across the
compared runs, and wins, ties and losses per query. The queries are those of the qrels with at
least one relevant judgment; a run without one of them scores 0 on it, and the report lists
it. ``max_drop`` makes a gate: a run significantly worse than the baseline by more than that
on any metric fails it.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xenc.errors import UsageError, param
from xenc.evaluation import metrics as trec
from xenc.evaluation.significance import (
    CORRECTIONS,
    TESTS,
    check_choice,
    correct,
    paired_t,
    randomization,
)
from xenc.io.qrels import Qrels, has_relevant, read_qrels
from xenc.io.runs import Run, RunLike, as_run

DEFAULT_METRICS = ("nDCG@10", "RR@10", "R@100", "AP")
DEFAULT_TRIALS = 10_000
DEFAULT_SEED = 42
TIE = 1e-12  # per-query values closer than this are a tie
_NAMES = {"ndcg": "nDCG", "r": "R", "recall": "R", "rr": "RR", "mrr": "RR", "ap": "AP",
          "map": "AP", "p": "P", "precision": "P", "judged": "Judged"}
_CUT = {"nDCG": True, "R": True, "RR": None, "AP": False, "P": True, "Judged": True}
_KEY = {"nDCG": "ndcg", "R": "recall", "RR": "mrr", "P": "precision", "Judged": "judged"}
_NO_CUT = 2**62  # RR without a cutoff: the whole list
_METRIC = re.compile(r"([A-Za-z]+)(?:@([0-9]+))?")
SUPPORTED = "nDCG@k, R@k, RR, RR@k, AP, P@k, Judged@k"


def parse_metrics(names: str | Iterable[str]) -> list[str]:
    """Metric names as ir_measures writes them, checked and deduplicated, in the order given.

    A string is split on commas. Case is not significant, and xenc's own names are accepted
    too (``ndcg@10``, ``recall@100``, ``mrr@10``, ``map``, ``precision@5``).

    Raises:
        UsageError: naming every name that is not one of ``nDCG@k, R@k, RR, RR@k, AP, P@k,
            Judged@k`` (k a positive integer).
    """
    items = names.split(",") if isinstance(names, str) else list(names)
    out: list[str] = []
    bad: list[str] = []
    for item in (str(i).strip() for i in items):
        match = _METRIC.fullmatch(item)
        family = _NAMES.get(match.group(1).lower()) if match else None
        cut = match.group(2) if match else None
        needs = _CUT.get(family or "")
        if family is None or (needs is True and cut is None) or (needs is False and cut) \
                or (cut is not None and int(cut) < 1):
            bad.append(item or "''")
            continue
        name = family if cut is None else f"{family}@{int(cut)}"
        if name not in out:
            out.append(name)
    if bad or not out:
        raise UsageError(f"unknown metric {', '.join(bad) or '(none given)'}: {param('metrics')} "
                         f"takes {SUPPORTED} (k a positive integer), comma-separated")
    return out


def _evaluate_args(names: Sequence[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """:func:`xenc.evaluation.metrics.score_run`'s arguments for ``names``, and name → key."""
    args: dict[str, Any] = {"ndcg_k": [], "recall_k": [], "mrr_k": [], "map_": False,
                            "precision_k": [], "judged_k": []}
    keys: dict[str, str] = {}
    for name in names:
        family, _, cut = name.partition("@")
        if family == "AP":
            args["map_"] = True
            keys[name] = "map"
            continue
        k = int(cut) if cut else _NO_CUT
        args[f"{_KEY[family]}_k"].append(k)
        keys[name] = f"{_KEY[family]}@{k}"
    return args, keys


@dataclass(frozen=True)
class Comparison:
    """What :func:`compare` found: ``report`` is the JSON ``xenc eval --run`` writes to stdout,
    ``per_query`` the records of ``--per-query`` (one per run, query and metric)."""

    report: dict[str, Any]
    per_query: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """False when the gate (``max_drop``) found a significantly worse run."""
        gate = self.report.get("gate")
        return gate is None or bool(gate["passed"])


def _options(names: list[str], baseline: str | None, test: str, correction: str, alpha: float,
             trials: int, max_drop: float | None) -> str:
    if not names:
        raise UsageError("no run to evaluate: give at least one run")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise UsageError(f"two runs are named {dupes[0]!r}: run names must differ")
    check_choice("test", test, TESTS)
    check_choice("correction", correction, CORRECTIONS)
    if not 0.0 < alpha < 1.0:
        raise UsageError(f"{param('alpha')} must be between 0 and 1, got {alpha}")
    if trials < 1:
        raise UsageError(f"{param('trials')} must be at least 1, got {trials}")
    if max_drop is not None and (not math.isfinite(max_drop) or max_drop < 0):
        raise UsageError(f"{param('max_drop')} must be 0 or more, got {max_drop}")
    base = names[0] if baseline is None else baseline
    if base not in names:
        raise UsageError(f"{param('baseline')} {base!r} is not a run: the runs are "
                         f"{', '.join(names)}")
    if max_drop is not None and len(names) < 2:
        raise UsageError(f"{param('max_drop')} compares runs with the baseline: give at "
                         "least two runs")
    return base


def compare(
    runs: Mapping[str, RunLike],
    qrels: Qrels | str | os.PathLike[str],
    *,
    metrics: str | Iterable[str] = DEFAULT_METRICS,
    baseline: str | None = None,
    test: str = "t",
    correction: str = "holm",
    alpha: float = 0.05,
    trials: int = DEFAULT_TRIALS,
    seed: int = DEFAULT_SEED,
    max_drop: float | None = None,
) -> Comparison:
    """Measure runs on judged queries and compare each with a baseline.

    Args:
        runs: name → a run file (TREC or xenc JSONL, see :func:`xenc.io.runs.read_run`) or a
            mapping query id → ``[(doc_id, score), ...]`` or ``{doc_id: score}``; in order.
        qrels: judgments, or the path of a TREC or BEIR TSV qrels file.
        metrics: ir_measures names (:func:`parse_metrics`), a list or a comma-separated string.
        baseline: the run the others are compared with (default: the first).
        test: ``t`` (paired t-test) or ``randomization`` (paired, ``trials``, ``seed``).
        correction: ``holm``, ``bonferroni`` or ``none``, across the compared runs, per metric.
        alpha: the corrected p-value under which a difference is significant.
        max_drop: if given, the gate: it fails where a run is significantly worse than the
            baseline by more than this on some metric (``report["gate"]``).

    Returns:
        A :class:`Comparison`.

    Raises:
        UsageError: bad options or metric names, an unknown baseline, no query with a
            relevant judgment.
        InputError: a bad run or qrels file (``FILE:LINE: reason``).
    """
    names = [str(n) for n in runs]
    base = _options(names, baseline, test, correction, alpha, trials, max_drop)
    chosen = parse_metrics(metrics)
    judged = read_qrels(qrels) if isinstance(qrels, str | os.PathLike) else {
        str(q): {str(d): int(g) for d, g in docs.items()} for q, docs in qrels.items()}
    loaded = {str(n): as_run(str(n), r) for n, r in runs.items()}
    args, keys = _evaluate_args(chosen)
    queries = [q for q, docs in judged.items() if has_relevant(docs)]
    if not queries:
        raise UsageError("no query in the qrels has a relevant judgment (grade 1 or more)")
    values: dict[str, dict[str, np.ndarray]] = {}
    run_rows = []
    for name, (run, source) in loaded.items():
        scores = trec.score_run({q: [d for d, _ in ranked] for q, ranked in run.items()},
                               judged, **args)
        values[name] = {m: np.array([scores[q][keys[m]] for q in queries]) for m in chosen}
        missing = [q for q in queries if not run.get(q)]
        run_rows.append({"name": name, "source": source, "queries": len(queries) - len(missing),
                         "missing": len(missing), "missing_queries": missing,
                         "means": {m: float(values[name][m].mean()) for m in chosen}})
    stats = {"test": test, "correction": correction, "alpha": alpha,
             **({"trials": trials, "seed": seed} if test == "randomization" else {})}
    rows = _comparisons(values, base, chosen, stats)
    report: dict[str, Any] = {"baseline": base, "metrics": chosen, "queries": len(queries),
                              **stats, "runs": run_rows, "comparisons": rows}
    if max_drop is not None:
        report["gate"] = _gate(rows, max_drop, alpha)
    return Comparison(report, _per_query(values, loaded, base, chosen, queries))


def _p_value(a: np.ndarray, b: np.ndarray, stats: dict[str, Any]) -> float:
    if stats["test"] == "t":
        return paired_t(a, b)
    return randomization(a, b, trials=stats["trials"], seed=stats["seed"])


def _comparisons(values: dict[str, dict[str, np.ndarray]], base: str, chosen: list[str],
                 stats: dict[str, Any]) -> list[dict[str, Any]]:
    others = [n for n in values if n != base]
    rows: list[dict[str, Any]] = []
    for metric in chosen:
        b = values[base][metric]
        raw = [_p_value(values[n][metric], b, stats) for n in others]
        for name, p, adjusted in zip(others, raw, correct(raw, stats["correction"]), strict=True):
            a = values[name][metric]
            diff = a - b
            rows.append({
                "run": name, "baseline": base, "metric": metric,
                "mean": float(a.mean()), "baseline_mean": float(b.mean()),
                "delta": float(a.mean() - b.mean()),
                "p_value": p, "p_corrected": adjusted,
                "significant": adjusted < stats["alpha"],
                "wins": int(np.count_nonzero(diff > TIE)),
                "ties": int(np.count_nonzero(np.abs(diff) <= TIE)),
                "losses": int(np.count_nonzero(diff < -TIE)),
            })
    return rows


def _gate(rows: list[dict[str, Any]], max_drop: float, alpha: float) -> dict[str, Any]:
    failures = [{k: row[k] for k in ("run", "metric", "delta", "p_corrected")}
                for row in rows if row["significant"] and row["delta"] < -max_drop]
    return {"max_drop": max_drop, "alpha": alpha, "passed": not failures, "failures": failures}


def gate_message(comparison: Comparison) -> str:
    """One line naming what failed the gate (empty when it passed)."""
    gate = comparison.report.get("gate") or {}
    if not gate.get("failures"):
        return ""
    parts = [f"{f['run']} {f['metric']} {f['delta']:+.4f} (p {f['p_corrected']:.3g})"
             for f in gate["failures"]]
    return (f"gate failed: significantly worse than {comparison.report['baseline']} by more "
            f"than {gate['max_drop']:g} (p < {gate['alpha']:g}): {'; '.join(parts)}")


def _per_query(values: dict[str, dict[str, np.ndarray]], loaded: dict[str, tuple[Run, Any]],
               base: str, chosen: list[str], queries: list[str]) -> list[dict[str, Any]]:
    out = []
    for name, by_metric in values.items():
        run = loaded[name][0]
        for i, qid in enumerate(queries):
            missing = not run.get(qid)
            for metric in chosen:
                value = float(by_metric[metric][i])
                out.append({"run": name, "qid": qid, "metric": metric, "value": value,
                            "delta": value - float(values[base][metric][i]),
                            "missing": missing})
    return out
