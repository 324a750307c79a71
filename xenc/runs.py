"""Reading a system's ranked results for ``xenc eval --run NAME=FILE``: TREC runs or JSONL.

Two forms are read, told apart by the first non-blank line (``{`` starts JSONL):

* a TREC run, ``qid Q0 docid rank score tag`` (read by :func:`xenc.qrels.read_trec_run`);
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
from collections.abc import Mapping, Sequence
from typing import Any

from xenc.errors import InputError, UsageError
from xenc.formats import iter_lines, parse_object
from xenc.qrels import Run, read_trec_run
from xenc.records import trec_order

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
        first = seen.setdefault((qid, doc_id), line_no)
        if first != line_no:
            raise InputError(
                source, line_no, f"query {qid!r} lists document {doc_id!r} again (line {first})"
            )
        run.setdefault(qid, []).append((doc_id, float(score)))
    return run


def as_run(name: str, value: RunLike) -> tuple[Run, str | None]:
    """A run given to :func:`xenc.comparison.compare` and where it came from (its path, if any).

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
