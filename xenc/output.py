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

TABLE_COLUMNS = ("qid", "rank", "doc_id", "score", "first_stage_rank", "title", "text")
TABLE_HEADERS = {"first_stage_rank": "FIRST"}
RIGHT = {"rank", "score", "first_stage_rank"}  # numbers align right
WIDTHS = {"title": 60, "text": 80}  # longer values are cut, ending in an ellipsis


def cut(value: str, width: int) -> str:
    """``value`` on one line (whitespace runs made one space), at most ``width`` characters:
    a longer one is cut and ends in ``…``."""
    value = " ".join(value.split())
    return value if len(value) <= width else value[: width - 1].rstrip() + "\u2026"


def _cells(r: Result) -> dict[str, str]:
    return {"qid": str(r.qid), "rank": str(r.rank), "doc_id": r.doc_id,
            "score": f"{r.score:.4f}", "first_stage_rank": str(r.first_stage_rank),
            "title": cut(r.title, WIDTHS["title"]),
            "text": cut(r.text or "", WIDTHS["text"])}


def _table(results: Iterable[Result], stream: IO[bytes]) -> int:
    """A plain table whose columns fit their widest value (so results are read first).

    TITLE is left out when no result has a title, TEXT unless results carry text
    (``--with-text``)."""
    results = list(results)
    rows = [_cells(r) for r in results]
    columns = [c for c in TABLE_COLUMNS
               if (c != "title" or any(r.title for r in results))
               and (c != "text" or any(r.text is not None for r in results))]
    heads = {c: TABLE_HEADERS.get(c, c.upper()) for c in columns}
    widths = {c: max([len(heads[c])] + [len(row[c]) for row in rows]) for c in columns}

    def line(cells: dict[str, str]) -> bytes:
        parts = [cells[c].rjust(widths[c]) if c in RIGHT else cells[c].ljust(widths[c])
                 for c in columns]
        return "  ".join(parts).rstrip().encode() + b"\n"

    stream.write(line(heads))
    for row in rows:
        stream.write(line(row))
    stream.flush()
    return len(rows)


def plain_table(heads: list[str], rows: list[list[str]]) -> str:
    """Columns padded to their widest value, two spaces apart, no trailing spaces."""
    widths = [max(len(str(v)) for v in column) for column in zip(heads, *rows, strict=True)]
    return "".join("  ".join(str(v).ljust(w) for v, w in zip(line, widths, strict=True)).rstrip()
                   + "\n" for line in [heads, *rows])


def models_table(records: list[dict[str, Any]]) -> str:
    """``xenc models`` for a person: one line a model (role, name, source, what chose it,
    size, details), a model that is not there described in words."""
    rows = []
    for r in records:
        if r.get("name") is None:
            rows.append([r["role"], "-", "-", r.get("chosen_by", ""), "-",
                         cut(r.get("message", ""), 100)])
            continue
        details = [f"{r['layers']} layers" if r.get("layers") else "",
                   f"dim {r['dim']}" if r.get("dim") else "",
                   f"labels {','.join(r['labels'])}" if r.get("labels") else "",
                   f"fusion {r['fusion']}" if r.get("fusion") else "",
                   f"query encoder {r['query_encoder']}" if r.get("query_encoder") else ""]
        card = r.get("training") or {}
        if card.get("best") is not None:
            details.append(f"dev {card.get('metric')} {card['best']:.4f}")
        size = r.get("size_mb")
        rows.append([r["role"], cut(str(r["name"]), 60), str(r.get("source", "")),
                     r.get("chosen_by", ""), "-" if size is None else f"{size:g}",
                     ", ".join(d for d in details if d)])
    return plain_table(["ROLE", "NAME", "SOURCE", "CHOSEN BY", "SIZE MB", "DETAILS"], rows)


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


def report_table(report: dict[str, Any]) -> str:
    """The human summary of an eval report (written to stderr)."""
    first, reranked = report["first_stage"], report.get("reranked") or {}
    keys = list(first)
    lines = [f"{'metric':<12} {'first stage':>12} {'reranked':>12}"]
    lines += [f"{k:<12} {_fmt(first[k]):>12} {_fmt(reranked.get(k)):>12}" for k in keys]
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
