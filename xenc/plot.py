"""``xenc eval --sweep … --plot FILE``: the picture for choosing how many candidates to rerank.

Quality (NDCG@10 and recall@10 after reranking) against K on the left axis, rerank latency
p50/p95 against K on the right axis. matplotlib is an optional extra (``xenc[plot]``) and is
imported only here, only when a plot is asked for.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from xenc.errors import UsageError

PLOT_SUFFIXES = (".png", ".svg")


def check_plot_path(path: str | os.PathLike[str]) -> Path:
    """The plot path, if its suffix is one matplotlib writes here and matplotlib is installed.

    Raises:
        UsageError: Another suffix, or matplotlib missing (with the command that installs it).
    """
    target = Path(path)
    if target.suffix.lower() not in PLOT_SUFFIXES:
        raise UsageError(f"--plot writes .png or .svg, not {target.name!r}")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError("--plot needs matplotlib: pip install 'xenc[plot]' "
                         "(or pip install matplotlib)") from None
    return target


def plot_sweep(report: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Draw ``report["sweep"]`` (from :func:`xenc.evaluation.evaluate`) into ``path``.

    The file is written atomically (a temporary file, then a rename) and is deterministic
    for a given report (no timestamps in the SVG/PNG metadata).
    """
    target = check_plot_path(path)
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    rows = report.get("sweep") or []
    if not rows:
        raise UsageError("--plot draws the --sweep results: give --sweep too")
    ks = [row["candidates"] for row in rows]
    fig, quality = plt.subplots(figsize=(7, 4.2), dpi=100)
    for key, style in (("ndcg@10", "o-"), ("recall@10", "s-")):
        quality.plot(ks, [row[key] for row in rows], style, label=key.upper())
    quality.set_xlabel("K (candidates reranked)")
    quality.set_ylabel("quality after reranking")
    quality.set_xscale("log")
    quality.set_xticks(ks, [str(k) for k in ks])
    latency = quality.twinx()
    for key, style in (("p50", "^--"), ("p95", "v--")):
        latency.plot(ks, [row["latency_ms"]["rerank"][key] for row in rows], style,
                     color="grey" if key == "p50" else "black", label=f"rerank {key} ms")
    latency.set_ylabel("rerank latency per query (ms)")
    handles = quality.get_legend_handles_labels()
    more = latency.get_legend_handles_labels()
    quality.legend(handles[0] + more[0], handles[1] + more[1], loc="lower right", fontsize=8)
    quality.set_title(f"xenc eval --sweep ({report.get('queries', '?')} queries)")
    fig.tight_layout()
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        metadata = {"Date": None} if target.suffix.lower() == ".svg" else {"Software": None}
        fig.savefig(tmp, format=target.suffix.lower()[1:], metadata=metadata)
        os.replace(tmp, target)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
    return target
