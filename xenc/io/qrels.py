"""Relevance judgments (qrels), and the one rule for what is relevant.

Two qrels forms are read, detected from the first non-blank line:

* TREC: ``qid iter docid rel``, four whitespace-separated columns (``iter`` is ignored);
* BEIR: ``query-id<TAB>corpus-id<TAB>score``, three tab-separated columns, normally under a
  header line (a first line whose score column is not a number).

Grades are integers; negative grades are allowed (trec_eval treats them as non-relevant with
zero gain). Run files are read and written by :mod:`xenc.io.runs`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from xenc.errors import InputError
from xenc.io.files import text_lines

Qrels = dict[str, dict[str, int]]
"""Query id → document id → relevance grade."""

BEIR_HEADER = ("query-id", "corpus-id", "score")
# A judged document is relevant when its grade is at least this (trec_eval's rule): grade 0
# and negative grades are not. Every count of relevant documents or of judged queries uses it.
RELEVANT_GRADE = 1
_INT = re.compile(r"[+-]?[0-9]+")
MAX_GRADE_DIGITS = 18
"""Grades have at most this many digits (they fit a signed 64-bit integer, as in trec_eval)."""
_TREC_COLUMNS = "4 whitespace-separated columns (qid iter docid rel)"
_BEIR_COLUMNS = "3 tab-separated columns (query-id corpus-id score)"


def is_relevant(grade: float) -> bool:
    """Whether a judgment grade (or a relevance pair's label) means relevant."""
    return grade >= RELEVANT_GRADE


def has_relevant(judged: Mapping[str, int]) -> bool:
    """Whether one query's judgments (doc id → grade) hold at least one relevant document."""
    return any(is_relevant(grade) for grade in judged.values())


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def parse_grade(source: str, line_no: int, text: str) -> int:
    """A judgment's integer grade (at most :data:`MAX_GRADE_DIGITS` digits).

    Raises:
        InputError: ``source:line_no: reason`` for a grade that is not such an integer.
    """
    if not _INT.fullmatch(text):
        raise InputError(source, line_no, f"relevance grade {text!r} is not an integer")
    if len(text.lstrip("+-").lstrip("0")) > MAX_GRADE_DIGITS:
        # int() refuses more than 4300 digits, and metrics turn grades into floats.
        raise InputError(source, line_no, f"relevance grade {text[:20]!r}... is out of range")
    return int(text)


def _split_beir(line: str) -> list[str]:
    """Tab-separated fields, each stripped (trailing whitespace on the line is ignored)."""
    return [field.strip() for field in line.rstrip().split("\t")]


def read_qrels(path: str | os.PathLike[str]) -> Qrels:
    """Read TREC or BEIR-TSV qrels, auto-detecting the form from the first non-blank line.

    Lines are read by :func:`xenc.io.files.text_lines`: blank lines are skipped, CRLF line
    ends and a UTF-8 BOM are accepted, compressed files are decompressed. A judgment that is
    repeated with the same grade is accepted once.

    Args:
        path: the qrels file (never ``-``: qrels are always a file, docs/formats.md).

    Returns:
        Query id → document id → integer grade, in file order.

    Raises:
        InputError: ``path:line: reason`` for the first malformed line (wrong column count,
            empty id, non-integer grade, a header line after the first line, the same
            judgment with two grades, a line that is not UTF-8); ``path: no such file``;
            ``path: no judgments``.
    """
    if str(path) == "-":  # documented: "-" is a file name here, and there is none
        raise InputError("-", None, "no such file")
    source = str(path)
    qrels: Qrels = {}
    seen: dict[tuple[str, str], int] = {}
    beir: bool | None = None
    header: tuple[str, ...] = BEIR_HEADER
    for line_no, line in text_lines(path):
        if beir is None:
            beir = _detect(source, line_no, line)
            fields = _split_beir(line)
            if beir and not _is_number(fields[2]):
                header = tuple(fields)
                continue
        if beir:
            qid, doc_id, grade_text = _beir_fields(source, line_no, line, header)
        else:
            qid, doc_id, grade_text = _trec_fields(source, line_no, line)
        grade = parse_grade(source, line_no, grade_text)
        add_judgment(qrels, seen, (source, line_no), (qid, doc_id, grade))
    if not qrels:
        raise InputError(source, None, "no judgments")
    return qrels


def _detect(source: str, line_no: int, line: str) -> bool:
    """True for BEIR TSV, False for TREC, from the first non-blank line."""
    if len(_split_beir(line)) == 3:
        return True
    if len(line.split()) == 4:
        return False
    raise InputError(
        source,
        line_no,
        f"unknown qrels format: expected {_TREC_COLUMNS} or {_BEIR_COLUMNS}",
    )


def _is_header(fields: Sequence[str], header: Sequence[str]) -> bool:
    """Whether ``fields`` repeat the file's header (or the standard BEIR one)."""
    lowered = [field.lower() for field in fields]
    return lowered in ([h.lower() for h in header], list(BEIR_HEADER))


def _beir_fields(
    source: str, line_no: int, line: str, header: Sequence[str]
) -> tuple[str, str, str]:
    fields = _split_beir(line)
    if _is_header(fields, header):
        raise InputError(source, line_no, "header line after the first line")
    if len(fields) != 3:
        raise InputError(source, line_no, f"expected {_BEIR_COLUMNS}, got {len(fields)}")
    qid, doc_id, grade = fields
    for name, value in (("query-id", qid), ("corpus-id", doc_id)):
        if not value:
            raise InputError(source, line_no, f"empty {name}")
    return qid, doc_id, grade


def _trec_fields(source: str, line_no: int, line: str) -> tuple[str, str, str]:
    fields = line.split()
    if len(fields) != 4:
        if _is_header(_split_beir(line), BEIR_HEADER):
            raise InputError(source, line_no, "header line after the first line")
        raise InputError(source, line_no, f"expected {_TREC_COLUMNS}, got {len(fields)}")
    return fields[0], fields[2], fields[3]


def add_judgment(
    qrels: Qrels,
    first: dict[tuple[str, str], int],
    where: tuple[str, int],
    judgment: tuple[str, str, int],
) -> None:
    """Record one judgment; a repeat must carry the same grade (it is then kept once).

    Raises:
        InputError: the same query/document pair judged with two different grades, naming
            the line of each.
    """
    qid, doc_id, grade = judgment
    docs = qrels.setdefault(qid, {})
    old = docs.get(doc_id)
    if old is None:
        docs[doc_id] = grade
        first[(qid, doc_id)] = where[1]
    elif old != grade:
        raise InputError(
            *where,
            f"query {qid!r} document {doc_id!r} judged {grade} here "
            f"but {old} on line {first[(qid, doc_id)]}",
        )


def check_id(source: str, kind: str, value: str) -> None:
    if not value or any(ch.isspace() for ch in value):
        raise InputError(source, None, f"cannot write {kind} {value!r}: empty or has whitespace")


def write_qrels_tsv(qrels: Mapping[str, Mapping[str, int]], path: str | Path) -> None:
    """Write qrels as BEIR TSV with a ``query-id corpus-id score`` header.

    Lines are sorted by query id then document id (code-point order), so equal qrels always
    give byte-identical files (UTF-8, ``\\n`` line ends).

    Raises:
        InputError: an id is empty or contains whitespace (the file could not be read back).
    """
    source = str(path)
    lines = ["\t".join(BEIR_HEADER)]
    for qid in sorted(qrels):
        check_id(source, "query id", qid)
        for doc_id in sorted(qrels[qid]):
            check_id(source, "document id", doc_id)
            lines.append(f"{qid}\t{doc_id}\t{int(qrels[qid][doc_id])}")
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8", newline="\n")
