"""``xenc eval --plot FILE``: the picture for choosing how many candidates to rerank (with
``--sweep``), and per-query deltas of compared runs (with ``--run``).

Quality (NDCG@10 and recall@10 after reranking) against K on the left axis, with the first
stage's NDCG@10 as the no-rerank baseline and a point at the full candidate depth; rerank
latency p50/p95 against K on the right axis. The title names the reranker, the retriever and
the collection. matplotlib is an optional extra (``xenc[plot]``) and is
imported only here, only when a plot is asked for.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from xenc.errors import UsageError, param

PLOT_SUFFIXES = (".png", ".svg")


def check_plot_path(path: str | os.PathLike[str]) -> Path:
    """The plot path, if its suffix is one matplotlib writes here and matplotlib is installed.

    Raises:
        UsageError: Another suffix, or matplotlib missing (with the command that installs it).
    """
    target = Path(path)
    if target.suffix.lower() not in PLOT_SUFFIXES:
        raise UsageError(f"{param('plot', 'path')} must end in .png or .svg, not "
                         f"{target.name!r}")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError("plotting needs matplotlib: pip install 'xenc[plot]' "
                         "(or pip install matplotlib)") from None
    return target


def _save(fig: Any, target: Path) -> Path:
    """Write ``fig`` to ``target`` through a temporary file and a rename, with no timestamps
    in its metadata, and close it."""
    from matplotlib import pyplot as plt

    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        metadata = {"Date": None} if target.suffix.lower() == ".svg" else {"Software": None}
        fig.savefig(tmp, format=target.suffix.lower()[1:], metadata=metadata)
        os.replace(tmp, target)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
    return target


def collection_name(index_dir: str | None) -> str:
    """What a plot calls the collection: the index directory's name, or its parent's when the
    index is named generically (``runs/cisi/index`` → ``cisi``)."""
    path = Path(index_dir or "")
    name = path.name
    return path.parent.name or name if name.lower() in ("index", "idx", "") else name


def sweep_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The sweep's rows by depth, with a point at the full candidate depth (the eval's own
    reranked run, every candidate reranked) when the sweep does not reach it."""
    rows = sorted(report.get("sweep") or [], key=lambda row: row["candidates"])
    full = (report.get("params") or {}).get("candidates")
    reranked, latency = report.get("reranked"), (report.get("latency_ms") or {}).get("rerank")
    if rows and full and reranked and latency and rows[-1]["candidates"] < full:
        rows.append({"candidates": full, **reranked, "latency_ms": {"rerank": latency}})
    return rows


def title(report: dict[str, Any]) -> str:
    """``NDCG@10 against K: <reranker> over <retriever> on <collection> (N queries)``."""
    reranker = (report.get("reranker") or {}).get("name") or "reranker"
    if "/" in reranker and Path(reranker).name:
        reranker = Path(reranker).name  # a local directory: its name, not the whole path
    params = report.get("params") or {}
    return (f"{reranker} over {params.get('retriever', '?')} on "
            f"{collection_name(params.get('index'))} ({report.get('queries', '?')} queries)")


def sweep_figure(report: dict[str, Any]) -> Any:
    """The sweep's matplotlib Figure: quality against K (log axis, plain numbers) with the
    first stage's NDCG@10 as a dashed baseline, rerank latency on the right axis."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator

    rows = sweep_rows(report)
    if not rows:
        raise UsageError(f"{param('plot', 'the sweep plot')} draws the {param('sweep')} "
                         f"results: give {param('sweep')} too")
    ks = [row["candidates"] for row in rows]
    fig, quality = plt.subplots(figsize=(7, 4.2), dpi=100)
    for key, style in (("ndcg@10", "o-"), ("recall@10", "s-")):
        quality.plot(ks, [row[key] for row in rows], style, label=key.upper())
    baseline = (report.get("first_stage") or {}).get("ndcg@10")
    if baseline is not None:
        quality.axhline(baseline, color="tab:blue", linestyle=":", linewidth=1.2,
                        label="NDCG@10 no rerank")
    quality.set_xlabel("K (candidates reranked)")
    quality.set_ylabel("quality after reranking")
    quality.set_xscale("log")
    # plain numbers at the depths measured, and no minor labels such as 3×10¹
    quality.xaxis.set_major_locator(FixedLocator(ks))
    quality.xaxis.set_major_formatter(FixedFormatter([str(k) for k in ks]))
    quality.xaxis.set_minor_locator(NullLocator())
    latency = quality.twinx()
    for key, style in (("p50", "^--"), ("p95", "v--")):
        latency.plot(ks, [row["latency_ms"]["rerank"][key] for row in rows], style,
                     color="grey" if key == "p50" else "black", label=f"rerank {key} ms")
    latency.set_ylabel("rerank latency per query (ms)")
    handles = quality.get_legend_handles_labels()
    more = latency.get_legend_handles_labels()
    quality.legend(handles[0] + more[0], handles[1] + more[1], loc="lower right", fontsize=8)
    quality.set_title(title(report), fontsize=10)
    fig.tight_layout()
    return fig


def plot_sweep(report: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Draw ``report["sweep"]`` (from :func:`xenc.evaluation.pipelines.evaluate`) into ``path``
    (:func:`sweep_figure`).

    The file is written atomically (a temporary file, then a rename) and is deterministic
    for a given report (no timestamps in the SVG/PNG metadata).
    """
    target = check_plot_path(path)
    return _save(sweep_figure(report), target)


def plot_deltas(comparison: Any, path: str | os.PathLike[str]) -> Path:
    """Draw each compared run's per-query delta against the baseline, sorted, into ``path``.

    One panel per run (rows) and metric (columns) of a
    :class:`xenc.evaluation.comparison.Comparison`: a bar per query, from the run's worst loss
    to its best win, so where it wins and where it loses shows at a glance. Written atomically
    and deterministically, as :func:`plot_sweep`.
    """
    target = check_plot_path(path)
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    report = comparison.report
    base, chosen = report["baseline"], report["metrics"]
    others = [run["name"] for run in report["runs"] if run["name"] != base]
    if not others:
        raise UsageError(f"{param('plot', 'the comparison plot')} draws runs against the "
                         "baseline: give at least two runs")
    rows = {(r["run"], r["metric"]): r for r in report["comparisons"]}
    deltas: dict[tuple[str, str], list[float]] = {}
    for record in comparison.per_query:
        if record["run"] != base:
            deltas.setdefault((record["run"], record["metric"]), []).append(record["delta"])
    fig, axes = plt.subplots(len(others), len(chosen), squeeze=False, sharey="col",
                             figsize=(2.6 * len(chosen) + 0.8, 1.9 * len(others) + 0.8), dpi=80)
    for i, name in enumerate(others):
        for j, metric in enumerate(chosen):
            ax = axes[i][j]
            values = sorted(deltas[(name, metric)])
            colors = ["#2a7" if v > 0 else "#c33" if v < 0 else "#999" for v in values]
            ax.bar(range(len(values)), values, width=1.0, color=colors, linewidth=0)
            ax.axhline(0.0, color="black", linewidth=0.6)
            row = rows[(name, metric)]
            mark = "*" if row["significant"] else ""
            ax.set_title(f"{name}: {metric} {row['delta']:+.3f}{mark}", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.set_xticks([])
            if j == 0:
                ax.set_ylabel(f"Δ vs {base}", fontsize=8)
    fig.suptitle(f"per-query delta against {base}, sorted ({report['queries']} queries; "
                 f"* p < {report['alpha']:g}, {report['correction']})", fontsize=9)
    fig.tight_layout()
    return _save(fig, target)
