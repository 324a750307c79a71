"""Rerank requests: a query and its documents, as ``xenc rerank`` reads them a JSON line each
(and as :func:`xenc.rerank` takes them from Python).

A request is ``{"qid"?, "query", "documents": [str | {"id", "text", "title"?, ...}],
"top_n"?}``. A document given as a string is its text; an object's fields other than id,
text and title are kept as metadata; a document's id defaults to its 0-based position and a
request's ``qid`` to its line number. A bad request is a :class:`BadRequest`, which the
reader turns into an :class:`~xenc.errors.InputError` naming ``FILE:LINE``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from xenc.errors import InputError
from xenc.io.files import source_name
from xenc.io.jsonl import read_jsonl
from xenc.records import Document

OnError = Callable[[InputError], None] | None


class BadRequest(ValueError):
    """A request or document that cannot be reranked; the caller adds where it came from."""


def _id_of(value: Any, at: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
        raise BadRequest(f'{at}"id" must be a non-empty string or an integer')
    return str(value).strip()


def _text_of(obj: dict[str, Any], name: str, at: str, *, required: bool) -> str:
    value = obj.get(name)
    if value is None:
        if required:
            raise BadRequest(f'{at}no "{name}"')
        return ""
    if not isinstance(value, str):
        raise BadRequest(f'{at}"{name}" must be a string, got {type(value).__name__}')
    return value


def as_document(item: Any, position: int) -> Document:
    """One request document (a string, or an object with ``text`` and maybe ``id``, ``title``
    and other fields, kept as metadata) as a :class:`Document`; its id defaults to its
    0-based position.

    Raises:
        BadRequest: Neither a string nor such an object.
    """
    at = f"documents[{position}]: "
    if isinstance(item, str):
        return Document(str(position), item)
    if not isinstance(item, dict):
        raise BadRequest(f"{at}must be a string or an object with \"text\", "
                         f"got {type(item).__name__}")
    doc_id = _id_of(item["id"], at) if item.get("id") is not None else str(position)
    text = _text_of(item, "text", at, required=True)
    title = _text_of(item, "title", at, required=False).strip()
    metadata = {k: v for k, v in item.items() if k not in ("id", "text", "title")}
    return Document(doc_id, text, title, metadata)


def as_documents(documents: Any) -> list[Document]:
    """The documents of a request, checked (:func:`as_document`, ids unique).

    Raises:
        BadRequest: Not a list, an empty list, a bad document or an id given twice.
    """
    if not isinstance(documents, list | tuple):
        raise BadRequest(f'"documents" must be a list, got {type(documents).__name__}')
    if not documents:
        raise BadRequest('"documents" is empty')
    docs = [d if isinstance(d, Document) else as_document(d, i) for i, d in enumerate(documents)]
    seen: dict[str, int] = {}
    for i, doc in enumerate(docs):
        first = seen.setdefault(doc.id, i)
        if first != i:
            raise BadRequest(f"documents[{i}]: id {doc.id!r} is also documents[{first}]'s")
    return docs


def check_query(query: Any) -> str:
    """The query text, or :class:`BadRequest` when it is not a non-blank string."""
    if not isinstance(query, str):
        raise BadRequest(f'"query" must be a string, got {type(query).__name__}')
    if not query.strip():
        raise BadRequest('"query" is empty')
    return query


@dataclass(frozen=True)
class Request:
    """One checked request line."""

    qid: str
    query: str
    documents: list[Document]
    top_n: int | None


def parse_request(obj: dict[str, Any], line_no: int) -> Request:
    """A request from its JSON object; its ``qid`` defaults to its line number.

    Raises:
        BadRequest: A missing or bad ``query``, ``documents``, ``qid`` or ``top_n``.
    """
    if "query" not in obj:
        raise BadRequest('no "query"')
    query = check_query(obj["query"])
    if "documents" not in obj:
        raise BadRequest('no "documents"')
    docs = as_documents(obj["documents"])
    qid = obj.get("qid")
    if qid is None:
        qid = line_no
    if isinstance(qid, bool) or not isinstance(qid, str | int) or not str(qid).strip():
        raise BadRequest('"qid" must be a non-empty string or an integer')
    top_n = obj.get("top_n")
    if top_n is not None and (isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1):
        raise BadRequest(f'"top_n" must be a positive integer, got {top_n!r}')
    return Request(str(qid).strip(), query, docs, top_n)


def read_requests(
    source: str | os.PathLike[str], *, on_error: OnError = None
) -> Iterator[Request]:
    """The checked requests of a JSONL path or ``-``, lazily, one a line.

    Raises:
        InputError: ``FILE:LINE: reason`` for a bad line or request, unless ``on_error``
            takes it (and the line is skipped).
    """
    name = source_name(source)
    for line_no, obj in read_jsonl(source, on_error=on_error):
        try:
            yield parse_request(obj, line_no)
        except BadRequest as exc:
            error = InputError(name, line_no, str(exc))
            if on_error is None:
                raise error from None
            on_error(error)
