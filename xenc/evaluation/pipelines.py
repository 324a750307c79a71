"""``xenc eval``: quality of the first stage and of reranking, latency, and a sweep over K.

First-stage recall is measured at the candidate depth (``recall@<candidates>``, and the fixed
``recall@100``), so the recall ceiling of reranking sits beside the reranked NDCG. Metrics
follow trec_eval (see :mod:`xenc.evaluation.metrics`); averages are over the judged queries
that have at least one relevant document, a judged query missing from the query file counting as 0.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from xenc.background import loaded
from xenc.config import SearchParams
from xenc.errors import UsageError, param
from xenc.evaluation import metrics
from xenc.evaluation.significance import paired_t
from xenc.fusion import effective_fusion
from xenc.index.reader import Index
from xenc.io.corpus import load_queries
from xenc.io.qrels import Qrels, has_relevant, read_qrels
from xenc.io.runs import Run
from xenc.pipeline import QueryRun, run_queries
from xenc.progress import set_total
from xenc.records import Query
from xenc.retrieval.stage import resolve_params, retriever

if TYPE_CHECKING:
    from xenc.models.reranker import Reranker

Progress = Callable[[int], None]


def _metric_args(candidates: int) -> dict[str, Any]:
    return {
        "ndcg_k": (10,),
        "recall_k": tuple(sorted({10, 100, candidates})),
        "mrr_k": (10,),
        "map_": True,
    }


def _quality(run: dict[str, list[str]], qrels: Qrels, candidates: int) -> dict[str, float]:
    return metrics.mean_over_queries(_per_query(run, qrels, candidates))


def _per_query(
    run: dict[str, list[str]], qrels: Qrels, candidates: int
) -> dict[str, dict[str, float]]:
    return metrics.score_run(run, qrels, **_metric_args(candidates))


def paired_p_values(
    first: dict[str, dict[str, float]], reranked: dict[str, dict[str, float]]
) -> dict[str, float]:
    """Each metric's two-sided paired t-test p-value
    (:func:`xenc.evaluation.significance.paired_t`), reranked against the first stage, over
    the queries both have a value for, keys sorted."""
    names = sorted({name for scores in first.values() for name in scores})
    out = {}
    for name in names:
        qids = [q for q in first if name in first[q] and name in reranked.get(q, {})]
        out[name] = paired_t([reranked[q][name] for q in qids], [first[q][name] for q in qids])
    return out


def judged_queries(
    queries_source: str | os.PathLike[str], qrels: Qrels, fmt: str = "jsonl"
) -> list[Query]:
    """The queries that have at least one relevant judgment, in file order."""
    relevant = {q for q, docs in qrels.items() if has_relevant(docs)}
    return [q for q in load_queries(queries_source, fmt=fmt) if q.id in relevant]


def _collect(runs, progress: Progress | None) -> list[QueryRun]:
    out = []
    for run in runs:
        out.append(run)
        if progress:
            progress(1)
    return out


def _budget_summary(budget_ms: float, runs: list[QueryRun]) -> dict[str, Any]:
    """How many candidates a time budget let each query rerank."""
    counts = sorted(r.reranked for r in runs)
    return {
        "ms": budget_ms,
        "reranked_mean": sum(counts) / len(counts),
        "reranked_min": counts[0],
        "reranked_max": counts[-1],
        "over_budget_queries": sum(1 for r in runs if r.rerank_ms > budget_ms),
    }


def _sweep(index, queries, qrels, params, reranker, depths, progress) -> list[dict[str, Any]]:
    rows = []
    for depth in depths:
        runs = _collect(run_queries(index, queries, params, reranker, rerank_depth=depth), progress)
        ranked = {r.query.id: [s.candidate.doc_id for s in r.ranked] for r in runs}
        rows.append({
            "candidates": depth,
            **_quality(ranked, qrels, params.candidates),
            "latency_ms": {"rerank": metrics.latency_summary([r.rerank_ms for r in runs])},
        })
    return rows


def provenance(index: Index, params: SearchParams, reranker: Reranker | None) -> dict[str, Any]:
    """What produced an eval report: xenc's version, the reranker (name, weights sha256,
    backend, activation), the query encoder the first stage used (``None`` for BM25), and
    the fusion applied (``None`` without a reranker). ``params`` are resolved."""
    from xenc import __version__
    from xenc.models.resolve import model_fingerprint

    out: dict[str, Any] = {"xenc_version": __version__, "reranker": None, "encoder": None,
                           "fusion": effective_fusion(params.fusion, reranker) if reranker
                           is not None else None}
    resolved = getattr(reranker, "resolved", None)
    if resolved is not None:
        out["reranker"] = {"name": resolved.name, "source": resolved.source,
                           "sha256": model_fingerprint(resolved)["sha256"],
                           "backend": getattr(reranker, "backend", None),
                           "activation": getattr(reranker, "activation", None)}
    if retriever(params.retriever).needs_vector:
        info = index.manifest.get("encoder") or {}
        out["encoder"] = {"name": info.get("name"), "sha256": info.get("sha256"),
                          "backend": "onnx" if index.onnx_queries else "torch"}
    return out


def evaluate(
    index: Index,
    queries_source: str | os.PathLike[str],
    qrels_path: str | os.PathLike[str],
    params: SearchParams = SearchParams(),
    reranker: Reranker | None = None,
    *,
    sweep: Sequence[int] = (),
    progress: Progress | None = None,
    queries_format: str = "jsonl",
) -> dict[str, Any]:
    """Evaluate the first stage and (with a reranker) reranking on judged queries.

    The report of :func:`evaluate_runs`, without the runs.
    """
    return evaluate_runs(index, queries_source, qrels_path, params, reranker, sweep=sweep,
                         progress=progress, queries_format=queries_format)[0]


def evaluate_runs(
    index: Index,
    queries_source: str | os.PathLike[str],
    qrels_path: str | os.PathLike[str],
    params: SearchParams = SearchParams(),
    reranker: Reranker | None = None,
    *,
    sweep: Sequence[int] = (),
    progress: Progress | None = None,
    queries_format: str = "jsonl",
) -> tuple[dict[str, Any], dict[str, Run]]:
    """Evaluate the first stage and (with a reranker) reranking on judged queries, and keep
    their rankings as runs (for :func:`xenc.evaluation.comparison.compare`).

    Returns:
        The report, ``{"first_stage": {...}, "reranked": {...} | None, "latency_ms": {...},
        "queries": N, "params": {...}, "sweep": [...]}`` (``sweep`` only when asked;
        ``params.retriever`` is the one used, decided by the index unless given), and the
        runs: ``{"first_stage": run, "reranked": run}`` (``reranked`` with a reranker only),
        each query id → ``[(doc_id, score), ...]`` best first.

    Raises:
        UsageError: Bad sweep depths, or a retriever the index was built without.
    """
    params = resolve_params(index, params)
    bad = [d for d in sweep if d < 1 or d > params.candidates]
    if bad:
        raise UsageError(f"{param('sweep')} depths must be between 1 and "
                         f"{param('candidates')} {params.candidates}")
    if sweep and reranker is None:
        raise UsageError(f"{param('sweep')} reranks at each depth: it needs a reranker, not "
                         f"{param('no_rerank', 'reranker=None')}")
    qrels = read_qrels(qrels_path)
    queries = judged_queries(queries_source, qrels, queries_format)
    if not queries:
        raise UsageError("no query in the queries file has a relevant judgment in the qrels")
    set_total(progress, len(queries) * (1 + len(sweep)))
    runs = _collect(run_queries(index, queries, params, reranker), progress)
    first = {r.query.id: [c.doc_id for c in r.candidates] for r in runs}
    kept: dict[str, Run] = {
        "first_stage": {r.query.id: [(c.doc_id, c.score) for c in r.candidates] for r in runs}}
    first_per_query = _per_query(first, qrels, params.candidates)
    report: dict[str, Any] = {
        "first_stage": metrics.mean_over_queries(first_per_query),
        "reranked": None,
        "p_value": None,
        "latency_ms": {
            "first_stage": metrics.latency_summary([r.first_stage_ms for r in runs]),
            "rerank": None,
        },
        "queries": len(queries),
        "judged_queries": sum(1 for docs in qrels.values() if has_relevant(docs)),
    }
    made = provenance(index, params, loaded(reranker))
    report["params"] = {**vars(params), "fusion": made["fusion"], "index": str(index.directory)}
    report.update(made)
    if reranker is not None:
        ranked = {r.query.id: [s.candidate.doc_id for s in r.ranked] for r in runs}
        ranked_per_query = _per_query(ranked, qrels, params.candidates)
        report["reranked"] = metrics.mean_over_queries(ranked_per_query)
        report["p_value"] = paired_p_values(first_per_query, ranked_per_query)
        kept["reranked"] = {
            r.query.id: [(s.candidate.doc_id, s.score) for s in r.ranked] for r in runs}
        report["latency_ms"]["rerank"] = metrics.latency_summary([r.rerank_ms for r in runs])
        if params.budget_ms is not None:
            report["budget"] = _budget_summary(params.budget_ms, runs)
    if sweep:
        report["sweep"] = _sweep(
            index, queries, qrels, replace(params), reranker, list(sweep), progress
        )
    return report, kept
