"""LISA (Library and Information Science Abstracts), Glasgow distribution.

Documents are spread over ``LISA0.001`` … ``LISA5.850``; each record is::

    Document  123
    TITLE LINES
    (a blank or all-space line)
    ABSTRACT LINES
    ********************************************

Queries (``LISA.QUE``) are a number on its own line, then text lines, the last ending with
``#``. Judgments are ``LISARJ.NUM`` (see :func:`~xenc.datasets.judgments.read_lisa_judgments`);
``LISA.REL`` is a different, smaller judgment set and is not used.

Quirks of the published files, handled here: ``LISA1.501`` repeats documents 1998–2000 and
2001 also opens ``LISA2.001`` (6,003 records, 5,999 ids; the repeats are identical and
:func:`~xenc.datasets.convert` keeps the first), and one stretch of abstract text after a
separator has no ``Document`` header; such orphan text is skipped with a logged warning.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from xenc.datasets._text import squash
from xenc.errors import InputError
from xenc.io.files import text_lines

logger = logging.getLogger("xenc.datasets")

_HEADER = re.compile(r"^Document\s+(\S+)\s*$")
_SEPARATOR = re.compile(r"^\s*\*{5,}\s*$")
_QUERY_ID = re.compile(r"^\s*([0-9]+)\s*$")
#: Document files: ``LISA<digit>.<3 digits>``.
DOC_FILE = re.compile(r"^lisa[0-9]+\.[0-9]{3}$")


def _lisa_record(lines: list[str], doc_id: str) -> dict[str, Any]:
    """Split a record's lines at the first blank line into title and abstract."""
    blank = next((i for i, line in enumerate(lines) if not line.strip()), None)
    if blank is None:
        title, text = "", squash(" ".join(lines))
    else:
        title, text = squash(" ".join(lines[:blank])), squash(" ".join(lines[blank:]))
    doc: dict[str, Any] = {"id": doc_id}
    if title and text:
        doc["title"] = title
    doc["text"] = text or title
    return doc


def read_lisa_file(path: str | Path) -> Iterator[dict[str, Any]]:
    """Stream ``{"id", "title", "text"}`` documents from one LISA document file.

    Raises:
        InputError: a record without any text (``path:line`` of its header).
    """
    source = str(path)
    doc_id: str | None = None
    start = 0
    lines: list[str] = []
    orphan: int | None = None
    for line_no, line in text_lines(path, blank=True, latin1=True):
        header = _HEADER.match(line)
        if header:
            if doc_id is not None:
                yield _checked(lines, source, start, doc_id)
            doc_id, start, lines, orphan = header.group(1), line_no, [], None
        elif _SEPARATOR.match(line):
            if doc_id is not None:
                yield _checked(lines, source, start, doc_id)
            doc_id, lines = None, []
        elif doc_id is not None:
            if lines or line.strip():
                lines.append(line)
        elif line.strip() and orphan is None:
            orphan = line_no
            logger.warning("%s:%d: text outside any 'Document N' record skipped", source, line_no)
    if doc_id is not None:
        yield _checked(lines, source, start, doc_id)


def _checked(lines: list[str], source: str, line_no: int, doc_id: str) -> dict[str, Any]:
    doc = _lisa_record(lines, doc_id)
    if not doc["text"]:
        raise InputError(source, line_no, f"document {doc_id} has no text")
    return doc


def read_lisa_docs(paths: Iterable[str | Path]) -> Iterator[dict[str, Any]]:
    """Stream documents from several LISA files, in the order given (duplicates included)."""
    for path in paths:
        yield from read_lisa_file(path)


def read_lisa_queries(path: str | Path) -> Iterator[dict[str, Any]]:
    """Stream ``{"id", "text"}`` queries from ``LISA.QUE`` (the closing ``#`` removed).

    Raises:
        InputError: text before the first query number, or a query never closed by ``#``.
    """
    source = str(path)
    qid: str | None = None
    start = 0
    lines: list[str] = []
    for line_no, line in text_lines(path, blank=True, latin1=True):
        if qid is None:
            match = _QUERY_ID.match(line)
            if match:
                qid, start, lines = match.group(1), line_no, []
            elif line.strip():
                raise InputError(source, line_no, "expected a query number")
            continue
        stripped = line.rstrip()
        if stripped.endswith("#"):
            lines.append(stripped[:-1])
            yield {"id": qid, "text": squash(" ".join(lines))}
            qid = None
        else:
            lines.append(line)
    if qid is not None:
        raise InputError(source, start, f"query {qid} is not closed by '#'")
