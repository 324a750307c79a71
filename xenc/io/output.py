"""Writing results: JSONL records, TREC run lines, plain tables, and the eval report.

Records are written as produced and flushed per line on stdout, so a pipeline sees results
of the first query before the last one is searched. Files given with ``--output`` are written
atomically (see :func:`xenc.io.files.atomic_output`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import IO, Any

import orjson

from xenc.config import OUTPUT_FORMATS
from xenc.errors import UsageError, param
from xenc.io.files import atomic_output
from xenc.io.jsonl import JsonlWriter
from xenc.io.runs import trec_run_line
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


def printable(text: str) -> str:
    """``text`` with control characters escaped (a tab as ``\\t``, a newline as ``\\n``), so
    an id or title can never break a table row into several lines or shift its columns."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


def _cells(r: Result) -> dict[str, str]:
    return {"qid": printable(str(r.qid)), "rank": str(r.rank), "doc_id": printable(r.doc_id),
            "score": f"{r.score:.4f}", "first_stage_rank": str(r.first_stage_rank),
            "title": printable(cut(r.title, WIDTHS["title"])),
            "text": printable(cut(r.text or "", WIDTHS["text"]))}


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


def check_format(fmt: str) -> str:
    """``fmt`` if results can be written in it (``jsonl``, ``trec``, ``table``).

    Raises:
        UsageError: Another format (``--format`` on the command line).
    """
    if fmt not in OUTPUT_FORMATS:
        raise UsageError(f"{param('fmt')} must be one of {', '.join(OUTPUT_FORMATS)}, "
                         f"not {fmt!r}")
    return fmt


def write_results(
    results: Iterable[Result], fmt: str, output: str | os.PathLike[str] | None,
    *, tag: str = "xenc",
) -> int:
    """Write search results as ``jsonl``, ``trec`` (run tag ``tag``) or ``table``; return the
    count written."""
    check_format(fmt)  # before the output file is opened: nothing is written
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


def _p(value: float | None) -> str:
    if value is None:
        return "-"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _significance_line(first: dict[str, float], reranked: dict[str, float],
                       p_values: dict[str, float], queries: int) -> str:
    """Which changes a paired t-test over the queries tells apart from noise (p < 0.05)."""
    changed = [k for k, p in p_values.items()
               if p < 0.05 and k in reranked and reranked[k] != first.get(k)]
    verdict = ("significant: " + ", ".join(
        f"{k} {'up' if reranked[k] > first[k] else 'down'}" for k in changed)
        if changed else "no change is significant (reranking is neutral on these queries)")
    return (f"p: paired t-test over {queries} queries, reranked vs first stage; "
            f"at p < 0.05 {verdict}")


def report_table(report: dict[str, Any]) -> str:
    """The human summary of an eval report (written to stderr): each metric for the first
    stage and after reranking side by side, with the change reranking made."""
    first, reranked = report["first_stage"], report.get("reranked") or {}
    p_values = report.get("p_value") or {}
    keys = list(first)
    lines = [f"{'metric':<12} {'first stage':>12} {'reranked':>12} {'change':>9}"
             + (f" {'p':>7}" if p_values else "")]
    lines += [f"{k:<12} {_fmt(first[k]):>12} {_fmt(reranked.get(k)):>12} "
              f"{_change(first[k], reranked.get(k)):>9}"
              + (f" {_p(p_values.get(k)):>7}" if p_values else "") for k in keys]
    if p_values:
        lines.append(_significance_line(first, reranked, p_values, report["queries"]))
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


def comparison_table(report: dict[str, Any]) -> str:
    """The human summary of a comparison (:func:`xenc.evaluation.comparison.compare`), for stderr.

    One row per run: each metric's mean and, for the runs compared, the delta against the
    baseline, with ``*`` where it is significant; then each comparison's corrected p-value
    and wins-ties-losses per query.
    """
    metrics, base = report["metrics"], report["baseline"]
    found = {(r["run"], r["metric"]): r for r in report["comparisons"]}

    def mean_cell(run: str, metric: str, mean: float) -> str:
        row = found.get((run, metric))
        if row is None:
            return f"{mean:.4f}"
        return f"{mean:.4f} {row['delta']:+.4f}{'*' if row['significant'] else ''}"

    rows = [["run", *metrics, ""]]
    for run in report["runs"]:
        tail = "(baseline)" if run["name"] == base else ""
        if run["missing"]:
            tail += (" " if tail else "") + (f"{run['missing']} of {report['queries']} "
                                             "queries missing, counted as 0")
        rows.append([run["name"], *(mean_cell(run["name"], m, run["means"][m])
                                    for m in metrics), tail])
    notes = []
    if report["comparisons"]:
        how = {"t": "paired t-test", "randomization":
               f"paired randomization test, {report.get('trials')} trials, seed "
               f"{report.get('seed')}"}[report["test"]]
        runs = len(report["runs"]) - 1
        notes.append(f"* p < {report['alpha']:g} ({how}, {report['correction']} correction "
                     f"across {runs} compared run{'s' * (runs != 1)}); {report['queries']} "
                     "queries; below: corrected p, wins-ties-losses per query")
        rows.append(["p, W-T-L", *metrics, ""])
        for run in report["runs"]:
            if run["name"] != base:
                cells = [found[(run["name"], m)] for m in metrics]
                rows.append([run["name"], *(f"{r['p_corrected']:.2g} {r['wins']}-{r['ties']}-"
                                            f"{r['losses']}" for r in cells), ""])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    if notes:
        lines.insert(len(report["runs"]) + 1, notes[0])
    gate = report.get("gate")
    if gate is not None:
        verdict = "passed" if gate["passed"] else f"FAILED ({len(gate['failures'])} drops)"
        lines.append(f"gate (max drop {gate['max_drop']:g}): {verdict}")
    return "\n".join(lines) + "\n"


def write_comparison(
    comparison: Any, output: str | os.PathLike[str] | None,
    per_query: str | os.PathLike[str] | None = None,
) -> None:
    """A :class:`xenc.evaluation.comparison.Comparison`: its table to stderr, its report as JSON
    to stdout or ``output``, and its per-query records as JSONL to ``per_query`` (atomically)."""
    sys.stderr.write(comparison_table(comparison.report))
    sys.stderr.flush()
    if per_query is not None:
        with atomic_output(per_query) as stream:
            writer = JsonlWriter(stream, flush=False)
            for record in comparison.per_query:
                writer.write(record)
    with atomic_output(output) as stream:
        stream.write(orjson.dumps(comparison.report, option=orjson.OPT_INDENT_2))
        stream.write(b"\n")
