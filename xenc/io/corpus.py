"""Stage 0: raw JSONL rows → validated :class:`Document` and :class:`Query` records.

Field names are mapped once here (``--id-field``, ``--text-field``, ``--title-field``); no later
stage touches raw dicts. Every problem is an :class:`InputError` naming the source and line.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from xenc.errors import InputError, UsageError, param
from xenc.io.files import decode, iter_lines, source_name
from xenc.io.jsonl import parse_object, read_jsonl
from xenc.records import Document, Query

ID_FIELDS = ("id", "_id")  # the id, else BEIR's _id: docs/formats.md


@dataclass(frozen=True)
class CorpusFields:
    """Which fields of a corpus line hold the id (default ``id``, else ``_id``), text, title."""

    id_field: str | None = None
    text_field: str = "text"
    title_field: str = "title"


MAX_RECORDED = 1000  # skipped ids/lines kept in the manifest; the counts are always exact


@dataclass
class CorpusSkips:
    """What reading a corpus skipped: empty records, and invalid lines with ``skip_invalid``.

    A record with neither title nor text is not a document: it is skipped (never an error).
    Structural problems (invalid JSON, a missing or duplicate id, wrong types) are errors
    unless ``skip_invalid`` is set, in which case they are skipped and counted here.
    ``warn`` receives one line per skip (the CLI prints it on stderr).
    """

    skip_invalid: bool = False
    warn: Callable[[str], None] | None = None
    empty: int = 0
    empty_ids: list[str] = field(default_factory=list)
    invalid: int = 0
    invalid_lines: list[int] = field(default_factory=list)

    def skip_empty(self, where: tuple[str, int], doc_id: str) -> None:
        self.empty += 1
        if len(self.empty_ids) < MAX_RECORDED:
            self.empty_ids.append(doc_id)
        if self.warn:
            self.warn(f"{where[0]}:{where[1]}: skipped \"{doc_id}\": no title and no text")

    def skip_error(self, exc: InputError) -> None:
        if not self.skip_invalid:
            raise exc
        self.invalid += 1
        if len(self.invalid_lines) < MAX_RECORDED and exc.line is not None:
            self.invalid_lines.append(exc.line)
        if self.warn:
            self.warn(f"skipped {exc}")

    @property
    def total(self) -> int:
        return self.empty + self.invalid

    def to_dict(self) -> dict[str, Any]:
        """The manifest's ``skipped`` entry."""
        return {"empty": self.empty, "empty_ids": list(self.empty_ids),
                "invalid": self.invalid, "invalid_lines": list(self.invalid_lines)}

    def summary(self) -> str:
        """``", 2 skipped (1 empty, 1 invalid)"``, or ``""`` when nothing was skipped."""
        if not self.total:
            return ""
        return f", {self.total} skipped ({self.empty} empty, {self.invalid} invalid)"


def record_id(
    obj: dict[str, Any], where: tuple[str, int], id_field: str | None = None
) -> tuple[str, str]:
    """``(field_name, id)`` of a record: ``id_field``, else the one rule of every reader of
    ids (corpus, queries, BEIR files, ``xenc delete --ids``): ``id``, else ``_id``.

    Ids may be strings or integers (made strings, surrounding spaces removed), never empty.

    Raises:
        InputError: ``where``: a missing, empty or mistyped id.
    """
    candidates = (id_field,) if id_field else ID_FIELDS
    for name in candidates:
        if name in obj and obj[name] is not None:
            value = obj[name]
            if isinstance(value, bool) or not isinstance(value, str | int):
                raise InputError(*where, f'field "{name}" must be a string or an integer')
            text = str(value).strip()
            if not text:
                raise InputError(*where, f'field "{name}" is empty')
            return name, text
    wanted = " or ".join(f'"{n}"' for n in candidates)
    raise InputError(*where, f"missing id field {wanted}")


def _pick_text(obj: dict[str, Any], field: str, where: tuple[str, int], *, required: bool) -> str:
    value = obj.get(field)
    if value is None:
        if required:
            raise InputError(*where, f'missing text field "{field}"')
        return ""
    if not isinstance(value, str):
        raise InputError(*where, f'field "{field}" must be a string, got {type(value).__name__}')
    if "\x00" in value:
        raise InputError(*where, f'field "{field}" contains a NUL character')
    if required and not value.strip():
        raise InputError(*where, f'field "{field}" is empty')
    return value


def _is_empty(doc: Document) -> bool:
    return not doc.text.strip() and not doc.title


def document_from_object(
    obj: dict[str, Any],
    where: tuple[str, int],
    *,
    id_field: str | None = None,
    text_field: str = "text",
    title_field: str = "title",
) -> Document:
    """Validate one corpus object; every field other than id/text/title becomes metadata.

    The text field must be present but may be empty (a title-only document); a document with
    neither title nor text is returned as is and skipped by :func:`read_corpus`.
    """
    id_name, doc_id = record_id(obj, where, id_field)
    if text_field not in obj or obj[text_field] is None:
        raise InputError(*where, f'missing text field "{text_field}"')
    text = _pick_text(obj, text_field, where, required=False)
    title = _pick_text(obj, title_field, where, required=False).strip()
    used = {id_name, text_field, title_field}
    if id_field is None:
        used.update(ID_FIELDS)  # "_id" beside "id" is the same id, not metadata
    metadata = {k: v for k, v in obj.items() if k not in used}
    return Document(id=doc_id, text=text, title=title, metadata=metadata)


def read_corpus(
    source: str | os.PathLike[str],
    *,
    id_field: str | None = None,
    text_field: str = "text",
    title_field: str = "title",
    limit: int | None = None,
    skips: CorpusSkips | None = None,
) -> Iterator[Document]:
    """Read a JSONL corpus lazily, rejecting duplicate ids with the line of the repeat.

    Records with neither title nor text are skipped and counted in ``skips``; with
    ``skips.skip_invalid`` so are invalid lines, which otherwise raise :class:`InputError`.

    Args:
        source: A path or ``-``.
        id_field: The id field; by default ``id``, else ``_id`` (BEIR).
        text_field: The body field.
        title_field: The optional title field.
        limit: Stop after this many documents (smoke runs).
        skips: Collects what was skipped (default: skip empty records silently, raise on
            invalid ones).
    """
    name = source_name(source)
    skips = skips if skips is not None else CorpusSkips()
    first_line: dict[str, int] = {}
    yielded = 0
    for line_no, obj in read_jsonl(source, on_error=skips.skip_error):
        where = (name, line_no)
        try:
            doc = document_from_object(
                obj, where, id_field=id_field, text_field=text_field, title_field=title_field
            )
            if doc.id in first_line:
                raise InputError(
                    *where, f'duplicate id "{doc.id}" (first seen on line {first_line[doc.id]})'
                )
        except InputError as exc:
            skips.skip_error(exc)
            continue
        first_line[doc.id] = line_no
        if _is_empty(doc):
            skips.skip_empty(where, doc.id)
            continue
        yield doc
        yielded += 1
        if limit is not None and yielded >= limit:
            return


QUERY_FORMATS = ("auto", "jsonl", "tsv", "text")
# A TSV query file's first line is a header, and skipped, when its first column is one of
# HEADER_IDS and its second one of HEADER_TEXTS (any case): `id<TAB>text`, `qid<TAB>query`, ...
HEADER_IDS = ("id", "_id", "qid", "query_id", "query-id", "queryid", "topic", "topic_id")
HEADER_TEXTS = ("text", "query", "query_text", "question", "title", "topic")
CORPUS_HINT = ("; this looks like a corpus, not queries (--queries reads one query a line: "
               "JSONL {\"id\", \"text\"}, id<TAB>text or text)")


def is_tsv_header(line: bytes) -> bool:
    """Whether a TSV query file's first line is a header (see ``HEADER_IDS``)."""
    cells = [c.strip().lower() for c in line.decode("utf-8", "replace").split("\t")]
    return len(cells) == 2 and cells[0] in HEADER_IDS and cells[1] in HEADER_TEXTS


def detect_query_format(line: bytes) -> str:
    """``jsonl`` for a line starting with ``{``, ``tsv`` for one with a tab, else ``text``."""
    if line.lstrip().startswith(b"{"):
        return "jsonl"
    return "tsv" if b"\t" in line else "text"


def _query_fields(fmt: str, line: bytes, where: tuple[str, int]) -> tuple[str, str]:
    """``(id, text)`` of one query line in format ``fmt``."""
    if fmt == "jsonl":
        obj = parse_object(line, *where)
        _, qid = record_id(obj, where)
        field = "text" if "text" in obj or "query" not in obj else "query"
        return qid, _pick_text(obj, field, where, required=True)
    decoded = decode(line, *where)
    if fmt == "text":
        return str(where[1]), decoded.strip()
    qid, tab, text = decoded.partition("\t")
    if not tab:
        raise InputError(*where, "expected id<TAB>text")
    if not qid.strip() or not text.strip():
        raise InputError(*where, f"empty {'id' if not qid.strip() else 'text'} in id<TAB>text")
    return qid.strip(), text.strip()


def read_queries(
    source: str | os.PathLike[str],
    *,
    on_error: Callable[[InputError], None] | None = None,
    fmt: str = "jsonl",
) -> Iterator[Query]:
    """Read queries lazily, one a line, in one of three forms (``fmt``):

    * ``jsonl``: ``{"id", "text"}`` (also BEIR's ``_id``, or ``query`` for text);
    * ``tsv``: ``id<TAB>text`` (the TREC / MS MARCO topic form);
    * ``text``: the query text; its id is its line number.

    ``auto`` (what the CLI's ``--queries-format`` defaults to) picks the form from the first
    non-blank line (:func:`detect_query_format`); the library default stays ``jsonl``, so a
    JSONL file with a bad first line is an error, not text. Blank lines are skipped; ids must
    be unique. A TSV file's first line is skipped when it is a header (:func:`is_tsv_header`:
    ``id<TAB>text``, ``query_id<TAB>query``, ...).

    Raises:
        UsageError: An unknown ``fmt``.
        InputError: A bad line (unless ``on_error`` takes it), naming the file and line.
    """
    if fmt not in QUERY_FORMATS:
        raise UsageError(f"{param('queries_format', 'fmt')} must be one of "
                         f"{', '.join(QUERY_FORMATS)}, not {fmt!r}")
    name = source_name(source)
    seen: dict[str, int] = {}
    header_checked = False
    for line_no, line in iter_lines(source):
        where = (name, line_no)
        if fmt == "auto":
            fmt = detect_query_format(line)
        if not header_checked:
            header_checked = True
            if fmt == "tsv" and is_tsv_header(line):
                continue
        try:
            qid, text = _query_fields(fmt, line, where)
            if qid in seen:
                raise InputError(*where, f'duplicate query id "{qid}" (line {seen[qid]})')
        except InputError as exc:
            if on_error is None:
                raise
            on_error(exc)
            continue
        seen[qid] = line_no
        yield Query(id=qid, text=text)


def _looks_like_corpus(source: str | os.PathLike[str]) -> bool:
    """Whether a query file's first line reads like a corpus document: a JSON object with a
    ``title`` field, or a text of over 300 characters."""
    for _, line in iter_lines(source):
        if line.lstrip().startswith(b"{"):
            try:
                obj = parse_object(line, "", 0)
            except InputError:
                return False
            text = obj.get("text")
            return "title" in obj or (isinstance(text, str) and len(text) > 300)
        return len(line) > 300
    return False


def load_queries(source: str | os.PathLike[str], *, fmt: str = "jsonl") -> Iterator[Query]:
    """The queries of :func:`read_queries`; a file on disk is read and checked whole first,
    so that a bad line stops the run before the first search (stdin, ``-``, stays lazy).

    Raises:
        InputError: A bad line, saying so when the file looks like a corpus.
    """
    if str(source) == "-":
        return read_queries(source, fmt=fmt)
    try:
        return iter(list(read_queries(source, fmt=fmt)))
    except InputError as exc:
        if exc.line is None or not _looks_like_corpus(source):
            raise
        raise InputError(exc.source, exc.line, exc.reason + CORPUS_HINT) from None


class CorpusTexts:
    """The documents of a JSONL corpus that a run names, read once and kept.

    A document with neither title nor text (which ``xenc index`` leaves out) is kept: the run
    ranked it, so it is scored, as an empty passage.
    """

    def __init__(self, corpus: str | os.PathLike[str], wanted: set[str]) -> None:
        self.name = source_name(corpus)
        self._docs: dict[str, Document] = {}
        lines: dict[str, int] = {}
        for line_no, obj in read_jsonl(corpus):
            doc = document_from_object(obj, (self.name, line_no))
            if doc.id in lines:
                raise InputError(self.name, line_no, f'duplicate id "{doc.id}" (first seen on '
                                 f"line {lines[doc.id]})")
            lines[doc.id] = line_no
            if doc.id in wanted:
                self._docs[doc.id] = doc

    def documents(self, doc_ids: list[str]) -> dict[str, Document]:
        return {d: self._docs[d] for d in doc_ids if d in self._docs}
