"""TREC SGML documents and topics.

Documents: ``<DOC> <DOCNO>id</DOCNO> ... </DOC>``. When a document has ``<TEXT>`` elements
their contents are its text and the first ``<TITLE>``/``<HEADLINE>``/``<HEAD>``/``<HL>`` its
title; otherwise (Vaswani) everything but the ``DOCNO`` is the text. Tags are removed,
entities decoded and whitespace squashed.

Topics: ``<top> ... </top>`` blocks whose fields start at ``<num>``, ``<title>``, ``<desc>``,
``<narr>`` and end at their closing tag or the next tag, so both the classic layout
(``<num> Number: 301`` with no closing tags) and the closed one found in Vaswani
(``<num>1</num><title>`` ... ``</title>``) read the same.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from xenc.datasets._text import strip_markup
from xenc.errors import InputError
from xenc.io.files import text_lines

_FLAGS = re.IGNORECASE | re.DOTALL
_DOCNO = re.compile(r"<DOCNO>(.*?)</DOCNO>", _FLAGS)
_TEXT = re.compile(r"<TEXT\b[^<>]*>(.*?)</TEXT>", _FLAGS)
_TITLE = re.compile(r"<(TITLE|HEADLINE|HEAD|HL)\b[^<>]*>(.*?)</\1>", _FLAGS)
_TAG = re.compile(r"<(/?)([A-Za-z]+)\b[^<>]*>")
# Lazy ``(.*?)</X>`` searches stop at the last closing tag (see _last_end): an opening that is
# never closed then costs no scan to the end of the text, so hostile markup is not quadratic.
_DOCNO_END = re.compile(r"</DOCNO>", re.IGNORECASE)
_TEXT_END = re.compile(r"</TEXT>", re.IGNORECASE)
_TITLE_END = re.compile(r"</(TITLE|HEADLINE|HEAD|HL)>", re.IGNORECASE)
_PREFIX = re.compile(r"^(number|topic|description|narrative)\s*:\s*", re.IGNORECASE)


def _blocks(path: str | Path, tag: str) -> Iterator[tuple[int, str]]:
    """Yield ``(start_line, body)`` for each ``<tag> ... </tag>`` block of a file.

    Raises:
        InputError: text outside a block, a block opened inside another, or one never closed.
    """
    source = str(path)
    opening = re.compile(rf"<{tag}(?:\s[^<>]*)?>", re.IGNORECASE)
    closing = re.compile(rf"</{tag}>", re.IGNORECASE)
    body: list[str] | None = None
    start = 0
    for line_no, line in text_lines(path, blank=True, latin1=True):
        rest = line
        while rest.strip():
            if body is None:
                match = opening.search(rest)
                if match is None or rest[: match.start()].strip():
                    raise InputError(source, line_no, f"text outside <{tag}> ... </{tag}>")
                body, start, rest = [], line_no, rest[match.end() :]
                continue
            match = closing.search(rest)
            inner = opening.search(rest)
            if inner is not None and (match is None or inner.start() < match.start()):
                raise InputError(source, line_no, f"<{tag}> inside the one opened on line {start}")
            if match is None:
                body.append(rest)
                break
            body.append(rest[: match.start()])
            yield start, "\n".join(body)
            body, rest = None, rest[match.end() :]
    if body is not None:
        raise InputError(source, start, f"<{tag}> opened here is never closed")


def _last_end(closing: re.Pattern[str], text: str) -> int:
    """The end of the last match of ``closing`` in ``text``, 0 when there is none."""
    end = 0
    for match in closing.finditer(text):
        end = match.end()
    return end


def _trec_document(body: str, source: str, line_no: int) -> dict[str, Any]:
    docno = _DOCNO.search(body, 0, _last_end(_DOCNO_END, body))
    doc_id = strip_markup(docno.group(1)) if docno is not None else ""
    if docno is None or not doc_id or len(doc_id.split()) != 1:
        raise InputError(source, line_no, "document without a one-word <DOCNO>")
    rest = body[: docno.start()] + body[docno.end() :]
    title_match = _TITLE.search(rest, 0, _last_end(_TITLE_END, rest))
    title = strip_markup(title_match.group(2)) if title_match else ""
    texts = [strip_markup(m.group(1)) for m in _TEXT.finditer(rest, 0, _last_end(_TEXT_END, rest))]
    if texts:
        text = " ".join(t for t in texts if t)
    else:
        if title_match:
            rest = rest[: title_match.start()] + rest[title_match.end() :]
        text = strip_markup(rest)
    doc: dict[str, Any] = {"id": doc_id}
    if title and text:
        doc["title"] = title
    doc["text"] = text or title
    return doc


def read_trec_docs(path: str | Path) -> Iterator[dict[str, Any]]:
    """Stream ``{"id", "title"?, "text"}`` documents from a TREC SGML file.

    Raises:
        InputError: ``path:line`` for a ``<DOC>`` without a ``<DOCNO>``, never closed, opened
            inside another, or text outside any ``<DOC>``.
    """
    source = str(path)
    for line_no, body in _blocks(path, "DOC"):
        yield _trec_document(body, source, line_no)


def _topic_fields(body: str) -> dict[str, str]:
    """Field name (lower case) → squashed text, splitting the block at every tag."""
    parts: dict[str, list[str]] = {}
    current: str | None = None
    position = 0
    for match in _TAG.finditer(body):
        if current is not None:
            parts[current].append(body[position : match.start()])
        current = None if match.group(1) else match.group(2).lower()
        if current is not None:
            parts.setdefault(current, [])
        position = match.end()
    if current is not None:
        parts[current].append(body[position:])
    return {name: _PREFIX.sub("", strip_markup(" ".join(texts))) for name, texts in parts.items()}


def read_trec_topics(path: str | Path) -> Iterator[dict[str, Any]]:
    """Stream TREC topics as ``{"id", "text", "description"?, "narrative"?}``.

    ``text`` is the ``<title>`` (the ``<desc>`` when the title is empty); ``Number:``,
    ``Topic:``, ``Description:`` and ``Narrative:`` prefixes are removed.

    Raises:
        InputError: ``path:line`` for a topic without ``<num>`` or without any text.
    """
    source = str(path)
    for line_no, body in _blocks(path, "top"):
        fields = _topic_fields(body)
        qid = fields.get("num", "")
        if not qid or len(qid.split()) != 1:
            raise InputError(source, line_no, "topic without a one-word <num>")
        text = fields.get("title") or fields.get("desc", "")
        if not text:
            raise InputError(source, line_no, f"topic {qid} has no <title> or <desc> text")
        topic: dict[str, Any] = {"id": qid, "text": text}
        for tag, name in (("desc", "description"), ("narr", "narrative")):
            if fields.get(tag):
                topic[name] = fields[tag]
        yield topic
