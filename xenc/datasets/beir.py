"""BEIR folders: ``corpus.jsonl`` (or ``corpus/*.jsonl``), ``queries.jsonl``, ``qrels/<split>.tsv``.

Corpus lines are ``{"_id", "title", "text", ...}``; every other field is kept as is, and the
fields of BEIR's ``metadata`` object are lifted to the top level (xenc's corpus makes every
extra field metadata, so they are not nested as ``metadata.metadata`` in search results).
Body text is kept as published (only stripped), so converted data scores like the original.
Queries are ``{"_id", "text", ...}``; only id and text are kept. Ids follow xenc's one rule
(:func:`xenc.io.corpus.record_id`): ``id`` where a line has one, else ``_id``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from xenc.datasets._text import find_file
from xenc.datasets.collection import Collection
from xenc.errors import InputError, UsageError
from xenc.io.corpus import record_id
from xenc.io.files import iter_lines
from xenc.io.jsonl import MAX_DEPTH, nesting_depth, parse_object
from xenc.io.qrels import read_qrels


def _string(obj: dict[str, Any], name: str, where: tuple[str, int], *, required: bool) -> str:
    value = obj.get(name)
    if value is None:
        if required:
            raise InputError(*where, f'missing field "{name}"')
        return ""
    if not isinstance(value, str):
        raise InputError(*where, f'field "{name}" must be a string, got {type(value).__name__}')
    return value.strip()


def beir_document(obj: dict[str, Any], where: tuple[str, int]) -> dict[str, Any]:
    """Map one BEIR corpus object to xenc's corpus object (a title-only doc: title as text).

    Raises:
        InputError: a missing or empty ``_id``, a missing ``text``, a non-string title/text.
    """
    doc: dict[str, Any] = {"id": record_id(obj, where)[1]}
    title = _string(obj, "title", where, required=False)
    text = _string(obj, "text", where, required=True)
    if title and text:
        doc["title"] = title
    doc["text"] = text or title
    reserved = ("_id", "id", "title", "text")
    for key, value in obj.items():
        if key not in reserved and key != "metadata":
            doc[key] = value
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        clash = {k: v for k, v in meta.items() if k in reserved or k in doc}
        doc.update((k, v) for k, v in meta.items() if k not in clash)
        if clash:  # nothing is lost: what would overwrite a field stays under "metadata"
            doc["metadata"] = clash
    elif meta is not None:
        doc["metadata"] = meta
    return doc


def read_objects(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_no, object)`` for each non-blank JSONL line.

    Lines are parsed with orjson; a line it rejects is retried with the standard library,
    which also accepts the non-standard ``NaN``/``Infinity`` that some published files hold
    (``nq_utd/queries.jsonl`` line 22).

    Raises:
        InputError: a missing file, or a line neither parser accepts (``path:line``).
    """
    name = str(path)
    for line_no, line in iter_lines(path):
        try:
            yield line_no, parse_object(line, name, line_no)
        except InputError as exc:
            try:
                # Strict UTF-8 (json.loads on bytes would also take UTF-16 and encoded
                # surrogates); the object must be writable again (no lone surrogates).
                obj = json.loads(line.decode("utf-8"))
                orjson.dumps(obj)
            except (ValueError, TypeError, RecursionError):
                raise exc from None
            if not isinstance(obj, dict) or nesting_depth(obj) > MAX_DEPTH:
                raise exc from None
            yield line_no, obj


def read_beir_corpus(path: str | Path) -> Iterator[dict[str, Any]]:
    """Stream corpus objects from a BEIR corpus JSONL file (see :func:`beir_document`)."""
    for line_no, obj in read_objects(path):
        yield beir_document(obj, (str(path), line_no))


def read_beir_queries(path: str | Path) -> Iterator[dict[str, Any]]:
    """Stream ``{"id", "text"}`` from a BEIR queries JSONL file (``query`` accepted for text)."""
    for line_no, obj in read_objects(path):
        where = (str(path), line_no)
        field = "query" if "text" not in obj and "query" in obj else "text"
        yield {"id": record_id(obj, where)[1], "text": _string(obj, field, where, required=True)}


def beir_corpus_file(folder: Path) -> Path:
    """The corpus file of a BEIR folder.

    ``corpus.jsonl`` when present; else the one ``.jsonl`` file in ``corpus/``, or, when it
    holds several, ``corpus/human.jsonl`` or ``corpus/corpus.jsonl`` (the Cocktail layout puts
    the human-written corpus in ``corpus/human.jsonl`` next to LLM-rewritten variants).

    Raises:
        InputError: no corpus file. UsageError: several candidates and none of those names.
    """
    direct = find_file(folder, "corpus.jsonl")
    if direct is not None:
        return direct
    sub = folder / "corpus"
    candidates = sorted(p for p in sub.glob("*.jsonl") if p.is_file()) if sub.is_dir() else []
    if len(candidates) == 1:
        return candidates[0]
    preferred = find_file(sub, "human.jsonl", "corpus.jsonl")
    if preferred is not None:
        return preferred
    if not candidates:
        raise InputError(str(folder / "corpus.jsonl"), None, "no such file (nor corpus/*.jsonl)")
    names = ", ".join(p.name for p in candidates)
    raise UsageError(f"{sub}: several corpus files ({names}); cannot tell which to use")


def _qrels_file(folder: Path, split: str) -> Path:
    qrels_dir = folder / "qrels"
    path = qrels_dir / f"{split}.tsv"
    if "/" in split or "\\" in split or not path.is_file():
        found = sorted(p.stem for p in qrels_dir.glob("*.tsv")) if qrels_dir.is_dir() else []
        have = f"; splits here: {', '.join(found)}" if found else ""
        raise InputError(str(path), None, f"no such file (split {split!r}){have}")
    return path


def read_beir(folder: str | Path, split: str = "test") -> Collection:
    """Open a BEIR folder; only the queries judged in ``split`` are kept.

    Args:
        folder: The BEIR folder (``corpus.jsonl`` or ``corpus/``, ``queries.jsonl``, ``qrels/``).
        split: Which ``qrels/<split>.tsv`` to use.

    Raises:
        InputError: a missing corpus, queries or qrels file (the message names it).
    """
    root = Path(folder)
    corpus = beir_corpus_file(root)
    queries = find_file(root, "queries.jsonl")
    if queries is None:
        raise InputError(str(root / "queries.jsonl"), None, "no such file")
    qrels = _qrels_file(root, split)
    return Collection(
        name=root.resolve().name,
        fmt="beir",
        docs=partial(read_beir_corpus, corpus),
        queries=partial(read_beir_queries, queries),
        qrels=partial(read_qrels, qrels),
        judged_queries_only=True,
        files=(corpus, queries, qrels),
    )
