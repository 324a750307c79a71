"""SMART-format test collections (CISI, MEDLINE, ADI, CACM, ...).

A SMART file is a sequence of records. Each record starts with ``.I <id>``; its fields start
with a marker line holding only ``.<LETTER>`` (``.T`` title, ``.A`` authors, ``.W`` abstract,
``.B`` bibliographic source, ``.K`` keywords, ``.C`` categories, ``.N`` entry note, ``.X``
cross-references) and run to the next marker. A field may repeat (CISI has one ``.A`` per
author; ADI record 67 has two ``.T``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from xenc.datasets._text import squash
from xenc.errors import InputError
from xenc.io.files import text_lines

_MARKER = re.compile(r"^\.([A-Z])(?:[ \t]+(.*?))?[ \t]*$")

#: SMART field letter → corpus metadata field; fields not listed (.N, .X) are dropped.
SMART_METADATA = {"B": "source", "K": "keywords", "C": "categories"}


def read_smart_records(path: str | Path) -> Iterator[dict[str, Any]]:
    """Stream the raw records of a SMART file.

    Args:
        path: A SMART file (``CISI.ALL``, ``MED.QRY``, ``cacm.all``, ...).

    Yields:
        ``{"id": str, "source": str, "line": int, "fields": {letter: [text, ...]}}`` with one
        text per occurrence of the field, its lines joined with ``\\n`` (raw, unsquashed).
        ``line`` is the line of the record's ``.I``.

    Raises:
        InputError: ``path:line`` for a ``.I`` without a single-token id, or text before the
            first ``.I`` or before a record's first field marker.
    """
    source = str(path)
    record: dict[str, Any] | None = None
    fields: dict[str, list[list[str]]] = {}
    current: list[str] | None = None
    for line_no, line in text_lines(path, blank=True, latin1=True):
        match = _MARKER.match(line)
        if match and match.group(1) == "I":
            if record is not None:
                yield _finish(record, fields)
            record, fields, current = _start(source, line_no, match.group(2)), {}, None
        elif match and not match.group(2):
            if record is None:
                raise InputError(source, line_no, f"field .{match.group(1)} before the first .I")
            current = []
            fields.setdefault(match.group(1), []).append(current)
        elif line.strip():
            if record is None:
                raise InputError(source, line_no, "text before the first .I record")
            if current is None:
                raise InputError(
                    source, line_no, f"text in record {record['id']} before any field marker"
                )
            current.append(line)
    if record is not None:
        yield _finish(record, fields)


def _start(source: str, line_no: int, rest: str | None) -> dict[str, Any]:
    parts = (rest or "").split()
    if len(parts) != 1:
        got = f", got {rest!r}" if rest else ""
        raise InputError(source, line_no, f".I must be followed by one record id{got}")
    return {"id": parts[0], "source": source, "line": line_no}


def _finish(record: dict[str, Any], fields: dict[str, list[list[str]]]) -> dict[str, Any]:
    record["fields"] = {
        letter: ["\n".join(lines) for lines in occurrences]
        for letter, occurrences in fields.items()
    }
    return record


def _joined(parts: list[str]) -> str:
    """Squash each occurrence of a field and join them, dropping exact repeats (ADI 67)."""
    seen: list[str] = []
    for part in parts:
        text = squash(part)
        if text and text not in seen:
            seen.append(text)
    return " ".join(seen)


def smart_document(record: dict[str, Any]) -> dict[str, Any]:
    """Turn a raw SMART record into a corpus object.

    ``.T`` → ``title``, ``.W`` → ``text`` (line-wrapped text joined with single spaces),
    ``.A`` → ``authors`` (one per non-blank line, over all ``.A`` fields), ``.B`` →
    ``source``, ``.K`` → ``keywords``, ``.C`` → ``categories``; ``.N`` and ``.X`` are dropped.
    A record without ``.W`` (half of CACM) gets its title as text and no title, so that every
    document has a body.
    """
    fields: dict[str, list[str]] = record["fields"]
    title = _joined(fields.get("T", []))
    text = _joined(fields.get("W", []))
    doc: dict[str, Any] = {"id": record["id"]}
    if text and title:
        doc["title"] = title
    doc["text"] = text or title
    authors = [
        line.strip() for part in fields.get("A", []) for line in part.splitlines() if line.strip()
    ]
    if authors:
        doc["authors"] = authors
    for letter, name in SMART_METADATA.items():
        value = _joined(fields.get(letter, []))
        if value:
            doc[name] = value
    return doc


def smart_query(record: dict[str, Any]) -> dict[str, Any]:
    """Turn a raw SMART query record into ``{"id", "text"}``: the ``.W`` field (else ``.T``)."""
    fields: dict[str, list[str]] = record["fields"]
    text = _joined(fields.get("W", [])) or _joined(fields.get("T", []))
    return {"id": record["id"], "text": text}


def read_smart_docs(path: str | Path) -> Iterator[dict[str, Any]]:
    """Stream corpus objects from a SMART documents file (see :func:`smart_document`)."""
    for record in read_smart_records(path):
        yield smart_document(record)


def read_smart_queries(path: str | Path) -> Iterator[dict[str, Any]]:
    """Stream ``{"id", "text"}`` queries from a SMART queries file."""
    for record in read_smart_records(path):
        yield smart_query(record)
