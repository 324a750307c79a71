"""Run files: a system's ranked results, as TREC runs or xenc's JSONL records.

TREC runs are six columns, ``qid Q0 docid rank score tag``: :func:`trec_run_line` is the one
place a line is written, :func:`trec_run_lines` the one place lines are checked.
:func:`read_run` (``xenc eval --run NAME=FILE``) reads either form, told apart by the first
non-blank line (``{`` starts JSONL):

* a TREC run (:func:`read_trec_run`);
* xenc's JSONL result records (``xenc search`` output): ``qid``, ``doc_id`` and ``score`` are
  read, every other field is ignored.

Either way the rank column is ignored and each query is ordered as trec_eval orders it: score
descending, ties by document id descending (:func:`xenc.records.trec_order`), so a run gives
the same numbers as trec_eval on it, and ``xenc search --format trec`` and ``--format jsonl``
output of one search give the same numbers.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from xenc.errors import InputError, UsageError
from xenc.io.files import iter_lines, source_name, text_lines
from xenc.io.jsonl import parse_object
from xenc.io.qrels import check_id
from xenc.records import trec_order

Run = dict[str, list[tuple[str, float]]]
"""Query id → ``(doc_id, score)`` pairs, best first."""

RunLike = str | os.PathLike[str] | Mapping[str, Any]
"""A run file's path, or query id → ``[(doc_id, score), ...]`` or ``{doc_id: score}``."""


def read_run(path: str | os.PathLike[str]) -> Run:
    """Read a TREC run file or a JSONL file of result records into trec_eval's order.

    Raises:
        InputError: ``FILE:LINE: reason`` for a malformed line (wrong column count, a score
            that is not a finite number, invalid JSON, a missing or mistyped field) or a
            document listed twice for one query; ``FILE: no results`` for an empty file;
            ``FILE: no such file``.
    """
    if str(path) == "-":
        raise UsageError("a run is read from a file, not from - (standard input)")
    first = next(iter_lines(path), None)
    if first is None:
        raise InputError(str(path), None, "no results")
    run = _read_jsonl(path) if first[1].lstrip().startswith(b"{") else read_trec_run(path)
    return {qid: trec_order(ranked, lambda p: p[1], lambda p: p[0]) for qid, ranked in run.items()}


def _field_id(obj: dict[str, Any], name: str, source: str, line_no: int) -> str:
    value = obj.get(name)
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
        raise InputError(source, line_no, f'expected a non-empty "{name}" (string or integer)')
    return str(value).strip()


def _listed_once(seen: dict[tuple[str, str], int], qid: str, doc_id: str, source: str,
                 line_no: int) -> None:
    """Record where ``doc_id`` is listed for ``qid``; a second listing is an error."""
    first = seen.setdefault((qid, doc_id), line_no)
    if first != line_no:
        raise InputError(
            source, line_no, f"query {qid!r} lists document {doc_id!r} again (line {first})"
        )


def _read_jsonl(path: str | os.PathLike[str]) -> Run:
    source = str(path)
    run: Run = {}
    seen: dict[tuple[str, str], int] = {}
    for line_no, line in iter_lines(path):
        obj = parse_object(line, source, line_no)
        qid = _field_id(obj, "qid", source, line_no)
        doc_id = _field_id(obj, "doc_id", source, line_no)
        score = obj.get("score")
        if isinstance(score, bool) or not isinstance(score, int | float) \
                or not math.isfinite(score):
            raise InputError(source, line_no, f'"score" {score!r} is not a finite number')
        _listed_once(seen, qid, doc_id, source, line_no)
        run.setdefault(qid, []).append((doc_id, float(score)))
    return run


def as_run(name: str, value: RunLike) -> tuple[Run, str | None]:
    """A run given to :func:`xenc.evaluation.comparison.compare`, and its path (if it came from
    a file).

    A mapping is taken as query id → ``[(doc_id, score), ...]`` or ``{doc_id: score}`` (the
    pytrec_eval and ranx form), and ordered as trec_eval does.

    Raises:
        InputError: from :func:`read_run`, or a document twice in one query of a mapping.
        UsageError: something that is neither a path nor a mapping.
    """
    if isinstance(value, str | os.PathLike):
        return read_run(value), os.fspath(value)
    if not isinstance(value, Mapping):
        raise UsageError(f"run {name!r} must be a file path or a mapping of query id to "
                         f"scored documents, not {type(value).__name__}")
    run: Run = {}
    for qid, docs in value.items():
        pairs: Sequence[tuple[str, float]] = (
            list(docs.items()) if isinstance(docs, Mapping) else list(docs))
        ids = [str(doc) for doc, _ in pairs]
        if len(set(ids)) != len(ids):
            raise InputError(f"<run {name}>", None, f"query {qid!r} lists a document twice")
        ranked = [(doc, float(score)) for doc, (_, score) in zip(ids, pairs, strict=True)]
        run[str(qid)] = trec_order(ranked, lambda p: p[1], lambda p: p[0])
    return run, None


def trec_run_line(qid: str, doc_id: str, rank: int, score: str, tag: str = "xenc") -> str:
    """One line of a TREC run, ``qid Q0 docid rank score tag``; ``score`` comes formatted.

    The one place the run format is written: :func:`write_trec_run` and ``xenc search --format
    trec`` (:mod:`xenc.io.output`) use it, both with exact ``repr`` scores.

    Raises:
        InputError: A query or document id that is empty or holds whitespace (a space, tab
            or newline would shift or split the columns, and no TREC reader unescapes).
    """
    for what, value in (("query", qid), ("document", doc_id)):
        if not value or any(c.isspace() for c in value):
            raise InputError("--format trec", None, f"{what} id {value!r} is empty or holds "
                             "whitespace, which a TREC run cannot hold; use --format jsonl")
    return f"{qid} Q0 {doc_id} {rank} {score} {tag}\n"


def write_trec_run(
    run: Mapping[str, Sequence[tuple[str, float]]], fh: TextIO, tag: str = "xenc"
) -> None:
    """Write ``qid Q0 docid rank score tag`` lines to a TEXT file handle.

    Queries are written in the mapping's order, documents in list order with ranks from 1.
    Scores are written with ``repr`` (shortest exact form), so reading back gives the same
    floats. trec_eval ignores the rank column and re-sorts by score, so scores must not
    increase down a list; equal scores are allowed but trec_eval (and :func:`read_trec_run`)
    will order them by document id, descending.

    Raises:
        InputError: an id or the tag is empty or has whitespace, a score is not finite, or a
            score is higher than the one ranked above it.
    """
    source = str(getattr(fh, "name", "<run>"))
    check_id(source, "run tag", tag)
    for qid, ranked in run.items():
        check_id(source, "query id", qid)
        previous = math.inf
        for rank, (doc_id, raw) in enumerate(ranked, start=1):
            check_id(source, "document id", doc_id)
            score = float(raw)
            if not math.isfinite(score):
                raise InputError(source, None, f"query {qid!r} rank {rank}: score {score}")
            if score > previous:
                raise InputError(
                    source,
                    None,
                    f"query {qid!r} rank {rank}: score {score!r} is higher than the score "
                    f"{previous!r} above it (trec_eval would re-sort by score)",
                )
            previous = score
            fh.write(trec_run_line(qid, doc_id, rank, repr(score), tag))


def trec_run_lines(
    lines: Iterable[tuple[int, str]], source: str
) -> Iterator[tuple[int, str, str, float]]:
    """``(line_no, qid, doc_id, score)`` of each line of a six-column TREC run, checked.

    Raises:
        InputError: ``source:line: reason`` for a line without 6 columns, a score that is not
            a finite number, or a document listed twice for a query.
    """
    seen: dict[tuple[str, str], int] = {}
    for line_no, line in lines:
        fields = line.split()
        if len(fields) != 6:
            raise InputError(
                source,
                line_no,
                f"expected 6 whitespace-separated columns (qid Q0 docid rank score tag), "
                f"got {len(fields)}",
            )
        qid, _, doc_id, _, score_text, _ = fields
        try:
            score = float(score_text)
        except ValueError:
            score = math.nan
        if not math.isfinite(score):
            raise InputError(source, line_no, f"score {score_text!r} is not a finite number")
        _listed_once(seen, qid, doc_id, source, line_no)
        yield line_no, qid, doc_id, score


def read_trec_run(path: str | os.PathLike[str]) -> Run:
    """Read a six-column TREC run file, ordering each query as trec_eval does.

    The rank column is ignored; each query's documents are sorted by score descending, ties
    by document id DESCENDING (trec_eval's order). An empty file gives ``{}``.

    Raises:
        InputError: ``path:line: reason`` for a line without 6 columns, a score that is not a
            finite number, or a document listed twice for a query; ``path: no such file``.
    """
    run: Run = {}
    for _, qid, doc_id, score in trec_run_lines(text_lines(path), str(path)):
        run.setdefault(qid, []).append((doc_id, score))
    for ranked in run.values():
        ranked.sort(key=lambda pair: pair[0], reverse=True)
        ranked.sort(key=lambda pair: pair[1], reverse=True)
    return run


@dataclass(frozen=True)
class RunLine:
    """One line of a TREC run."""

    line_no: int
    doc_id: str
    score: float


def read_run_lines(source: str | os.PathLike[str]) -> dict[str, list[RunLine]]:
    """A six-column TREC run: query id → its lines in trec_eval's order, queries in file order.

    Raises:
        InputError: ``FILE:LINE`` of a line without six columns, a score that is not a
            finite number, or a document listed twice for a query.
    """
    name = source_name(source)
    run: dict[str, list[RunLine]] = {}
    for line_no, qid, doc_id, score in trec_run_lines(text_lines(source), name):
        run.setdefault(qid, []).append(RunLine(line_no, doc_id, score))
    return {qid: trec_order(lines, lambda r: r.score, lambda r: r.doc_id)
            for qid, lines in run.items()}
