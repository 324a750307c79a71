"""Relevance judgments in the forms the classic collections use.

The grades and the judgments are checked and recorded as :func:`xenc.io.qrels.read_qrels`
does (:func:`~xenc.io.qrels.parse_grade`, :func:`~xenc.io.qrels.add_judgment`); the forms
differ, and are looser, because these files predate TREC's and BEIR's.

:func:`read_judgments` reads whitespace-separated lines, each classified on its own:

* 4 columns whose 2nd is ``0`` or ``Q0`` → TREC ``qid iter docid grade`` (MED.REL, Vaswani);
* 4 or more columns otherwise → SMART ``qid docid 0 0.000000`` (CISI, ADI, CACM): every
  listed pair is relevant, grade 1 (the trailing columns are always zero there);
* 3 columns → ``qid docid grade`` (a BEIR-style header line first is skipped);
* 2 columns → ``qid docid``, grade 1.

:func:`read_lisa_judgments` reads LISA's ``LISARJ.NUM``: a stream of integers ``qid count
doc_1 ... doc_count`` wrapped over lines at will.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from xenc.errors import InputError
from xenc.io.files import text_lines
from xenc.io.qrels import Qrels, add_judgment, parse_grade

_INT = re.compile(r"[+-]?[0-9]+")
_COUNT = re.compile(r"[0-9]{1,18}")


def _classify(source: str, line_no: int, fields: list[str]) -> tuple[str, str, int]:
    """``(qid, doc_id, grade)`` for one line's columns (see the module docstring)."""
    if len(fields) == 4 and fields[1] in ("0", "Q0"):
        return fields[0], fields[2], parse_grade(source, line_no, fields[3])
    if len(fields) >= 4:
        return fields[0], fields[1], 1
    if len(fields) == 3:
        return fields[0], fields[1], parse_grade(source, line_no, fields[2])
    if len(fields) == 2:
        return fields[0], fields[1], 1
    raise InputError(source, line_no, "expected at least 2 columns: query id, document id")


def read_judgments(path: str | Path) -> Qrels:
    """Read TREC, SMART or two/three-column qrels (see the module docstring).

    Returns:
        Query id → document id → integer grade, ids exactly as written.

    Raises:
        InputError: a missing file, a malformed line (``path:line``), a pair judged twice with
            different grades, or a file without judgments.
    """
    source = str(path)
    qrels: Qrels = {}
    first: dict[tuple[str, str], int] = {}
    seen_data = False
    for line_no, line in text_lines(path, blank=True, latin1=True):
        fields = line.split()
        if not fields:
            continue
        if not seen_data and len(fields) == 3 and not _INT.fullmatch(fields[2]):
            seen_data = True
            continue  # a header such as "query-id corpus-id score"
        seen_data = True
        add_judgment(qrels, first, (source, line_no), _classify(source, line_no, fields))
    if not qrels:
        raise InputError(source, None, "no judgments")
    return qrels


def _tokens(path: str | Path) -> Iterator[tuple[int, str]]:
    for line_no, line in text_lines(path, blank=True, latin1=True):
        for token in line.split():
            yield line_no, token


def read_lisa_judgments(path: str | Path) -> Qrels:
    """Read ``LISARJ.NUM``: ``qid count doc_1 ... doc_count`` repeated; every doc grade 1.

    Raises:
        InputError: a token that is not an integer, or a list cut short (``path:line``).
    """
    source = str(path)
    qrels: Qrels = {}
    first: dict[tuple[str, str], int] = {}
    tokens = _tokens(path)
    for line_no, qid in tokens:
        if not _INT.fullmatch(qid):
            raise InputError(source, line_no, f"expected a query number, got {qid!r}")
        line_no, count = next(tokens, (line_no, ""))
        if not _COUNT.fullmatch(count):  # not str.isdigit(): int("²") fails
            raise InputError(source, line_no, f"query {qid}: expected a count, got {count!r}")
        for index in range(int(count)):
            line_no, doc_id = next(tokens, (line_no, ""))
            if not _INT.fullmatch(doc_id):
                reason = f"query {qid}: document {index + 1} of {count} "
                reason += f"is {doc_id!r}, not a number" if doc_id else "is missing"
                raise InputError(source, line_no, reason)
            add_judgment(qrels, first, (source, line_no), (qid, doc_id, 1))
    if not qrels:
        raise InputError(source, None, "no judgments")
    return qrels
