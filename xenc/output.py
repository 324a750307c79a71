"""Writing results: JSONL records, TREC run lines, plain tables, and the eval report.

Records are written as produced and flushed per line on stdout, so a pipeline sees results
of the first query before the last one is searched. Files given with ``--output`` are written
atomically (see :func:`xenc.formats.atomic_output`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import IO, Any

import orjson

from xenc.formats import JsonlWriter, atomic_output
from xenc.qrels import trec_run_line
from xenc.records import Result

TABLE_COLUMNS = ("qid", "rank", "doc_id", "score", "first_stage_rank", "title")


TABLE_HEADERS = {"first_stage_rank": "FIRST"}
RIGHT = {"rank", "score", "first_stage_rank"}  # numbers align right


def _cells(r: Result) -> dict[str, str]:
    return {"qid": str(r.qid), "rank": str(r.rank), "doc_id": r.doc_id,
            "score": f"{r.score:.4f}", "first_stage_rank": str(r.first_stage_rank),
            "title": r.title[:60]}


def _table(results: Iterable[Result], stream: IO[bytes]) -> int:
    """A plain table whose columns fit their widest value (so results are read first)."""
    rows = [_cells(r) for r in results]
    heads = {c: TABLE_HEADERS.get(c, c.upper()) for c in TABLE_COLUMNS}
    widths = {c: max([len(heads[c])] + [len(row[c]) for row in rows]) for c in TABLE_COLUMNS}

    def line(cells: dict[str, str]) -> bytes:
        parts = [cells[c].rjust(widths[c]) if c in RIGHT else cells[c].ljust(widths[c])
                 for c in TABLE_COLUMNS]
        return "  ".join(parts).rstrip().encode() + b"\n"

    stream.write(line(heads))
    for row in rows:
        stream.write(line(row))
    stream.flush()
    return len(rows)


def write_results(
    results: Iterable[Result], fmt: str, output: str | os.PathLike[str] | None,
    *, tag: str = "xenc",
) -> int:
    """Write search results as ``jsonl``, ``trec`` (run tag ``tag``) or ``table``; return the
    count written."""
    count = 0
    with atomic_output(output) as stream:
        flush = output is None
        if fmt == "table":
            return _table(results, stream)
        writer = JsonlWriter(stream, flush=flush)
        for result in results:
            if fmt == "trec":
                # Full precision (shortest exact repr): rounding would create ties that do not
                # exist, and trec_eval re-sorts by score.
                stream.write(trec_run_line(result.qid, result.doc_id, result.rank,
                                           repr(float(result.score)), tag).encode())
                if flush:
                    stream.flush()
            else:
                writer.write(result.to_dict())
            count += 1
    return count


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _change(first: float | None, reranked: float | None) -> str:
    if first is None or reranked is None:
        return "-"
    return f"{reranked - first:+.4f}"


def report_table(report: dict[str, Any]) -> str:
    """The human summary of an eval report (written to stderr): each metric for the first
    stage and after reranking side by side, with the change reranking made."""
    first, reranked = report["first_stage"], report.get("reranked") or {}
    keys = list(first)
    lines = [f"{'metric':<12} {'first stage':>12} {'reranked':>12} {'change':>9}"]
    lines += [f"{k:<12} {_fmt(first[k]):>12} {_fmt(reranked.get(k)):>12} "
              f"{_change(first[k], reranked.get(k)):>9}" for k in keys]
    lat = report["latency_ms"]
    lines.append(f"latency ms   first stage p50 {lat['first_stage']['p50']:.1f} "
                 f"p95 {lat['first_stage']['p95']:.1f}")
    if lat.get("rerank"):
        lines.append(f"             rerank      p50 {lat['rerank']['p50']:.1f} "
                     f"p95 {lat['rerank']['p95']:.1f}")
    if report.get("budget"):
        b = report["budget"]
        lines.append(f"budget       {b['ms']:g} ms: reranked {b['reranked_mean']:.1f} candidates "
                     f"per query (min {b['reranked_min']}, max {b['reranked_max']}); "
                     f"{b['over_budget_queries']} queries over budget")
    for row in report.get("sweep", []):
        lines.append(f"sweep K={row['candidates']:<4} ndcg@10 {row['ndcg@10']:.4f}  "
                     f"rerank p50 {row['latency_ms']['rerank']['p50']:.1f} ms "
                     f"p95 {row['latency_ms']['rerank']['p95']:.1f} ms")
    lines.append(f"queries      {report['queries']}")
    return "\n".join(lines) + "\n"


def write_report(report: dict[str, Any], output: str | os.PathLike[str] | None) -> None:
    """The JSON report to stdout or ``output``; the table to stderr."""
    sys.stderr.write(report_table(report))
    sys.stderr.flush()
    with atomic_output(output) as stream:
        stream.write(orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
        stream.write(b"\n")
