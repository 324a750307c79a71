"""Text pairs: what ``xenc score`` scores and ``xenc train`` learns from, one object a line.

Accepted field pairs, first match wins: ``query``/``document``, ``text_a``/``text_b``,
``sentence1``/``sentence2``, and ``query``/``text``, the fields of ``xenc search --with-text``
records (``search | score`` chains): there a non-empty ``title`` goes before the text, on its
own line, as the reranker read it in the search.

A path ending in ``.parquet`` or ``.pq`` is read as Parquet (with pyarrow): each row is an
object, its row number the line number, null values absent.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from xenc.errors import InputError, UsageError
from xenc.io.files import open_input, source_name
from xenc.io.jsonl import read_jsonl

PARQUET_SUFFIXES = (".parquet", ".pq")

PAIR_FIELDS = (("query", "document"), ("text_a", "text_b"), ("sentence1", "sentence2"))
SEARCH_PAIR = ("query", "text")  # a record of `xenc search --with-text`


def _search_pair(obj: dict[str, Any], where: tuple[str, int]) -> tuple[str, str] | None:
    """The pair of a search record (query, title + text), or None for another object."""
    if "document" in obj or "query" not in obj:
        return None
    if "text" not in obj:
        if "doc_id" in obj and "rank" in obj:
            raise InputError(*where, 'a search record without "text": give xenc search '
                             "--with-text passage (or document)")
        return None
    for name in SEARCH_PAIR:
        if not isinstance(obj[name], str):
            raise InputError(*where, f'field "{name}" must be a string')
    title, text = obj.get("title"), obj["text"]
    if isinstance(title, str) and title:  # as Chunk.passage() gave it to the reranker
        text = f"{title}\n{text}" if text.strip() else title
    return obj["query"], text


def pair_of(obj: dict[str, Any], where: tuple[str, int]) -> tuple[str, str]:
    """Extract the two texts of one input object, or raise InputError naming the line."""
    found = _search_pair(obj, where)
    if found is not None:
        return found
    for a, b in PAIR_FIELDS:
        if a in obj or b in obj:
            for name in (a, b):
                if name not in obj:
                    raise InputError(*where, f'has "{a if name == b else b}" but no "{name}"')
                if not isinstance(obj[name], str):
                    raise InputError(*where, f'field "{name}" must be a string')
            return obj[a], obj[b]
    names = ", ".join(f"{a}/{b}" for a, b in (*PAIR_FIELDS, SEARCH_PAIR))
    raise InputError(*where, f"no text pair: expected one of {names}")


def is_parquet(source: str | os.PathLike[str]) -> bool:
    return str(source).lower().endswith(PARQUET_SUFFIXES)


def read_parquet(source: str | os.PathLike[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(row_no, object)`` for each row of a Parquet file (1-based; nulls left out)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise UsageError("reading Parquet needs pyarrow: pip install 'xenc[ray]'") from None
    with open_input(source) as fh:
        try:
            batches = pq.ParquetFile(fh).iter_batches(batch_size=4096)
            row_no = 0
            for batch in batches:
                for row in batch.to_pylist():
                    row_no += 1
                    yield row_no, {k: v for k, v in row.items() if v is not None}
        except (pa.ArrowException, OSError) as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise InputError(source_name(source), None, f"not a readable Parquet file: {reason}") \
                from None


class PairLine(NamedTuple):
    """One line of a pair file: where it is, its object, and its two texts."""

    where: tuple[str, int]
    obj: dict[str, Any]
    texts: tuple[str, str]


def read_pairs(
    source: str | os.PathLike[str], on_error: Callable[[InputError], None] | None = None
) -> Iterator[PairLine]:
    """The one reader of pair files: each valid line of JSONL (a path or ``-``) or Parquet.

    ``xenc score`` scores the texts and writes the object back; ``xenc train`` reads its
    labels (:func:`xenc.training.data.read_labeled_pairs`).

    Raises:
        InputError: A missing file, or a bad line or pair (``FILE:LINE``), unless ``on_error``
            takes it (and the line is skipped).
    """
    name = source_name(source)
    rows = read_parquet(source) if is_parquet(source) else read_jsonl(source, on_error=on_error)
    for line_no, obj in rows:
        where = (name, line_no)
        try:
            texts = pair_of(obj, where)
        except InputError as exc:
            if on_error is None:
                raise
            on_error(exc)
            continue
        yield PairLine(where, obj, texts)
