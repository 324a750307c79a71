"""JSONL: one JSON object a line, parsed with a location on error, written a record a line.

Lines come from :func:`xenc.io.files.iter_lines` (paths or ``-``, compressed or not, blank lines
skipped); a bad line raises :class:`~xenc.errors.InputError` naming the source and line.
Writers flush after each record by default, so a pipeline sees the first result at once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import IO, Any

import orjson

from xenc.errors import InputError
from xenc.io.files import iter_lines, source_name

MAX_DEPTH = 128
"""The deepest nesting of objects/arrays accepted on a JSONL line (the line's object is level
1). orjson reads up to 1024 levels but writes at most 254, so a deeper record could be read but
never stored or written back."""


def nesting_depth(value: Any) -> int:
    """How deeply objects/arrays nest in ``value`` (a scalar is 0, ``[]`` is 1); no recursion."""
    depth = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        elif not isinstance(item, list):
            continue
        depth = max(depth, level)
        stack.extend((child, level + 1) for child in item)
    return depth


def _too_deep(source: str, line_no: int) -> InputError:
    return InputError(source, line_no, f"nested deeper than {MAX_DEPTH} levels")


def _csv_hint(line: bytes) -> str:
    """A hint for a line that is not JSON but reads like comma-separated values."""
    if b"," not in line or line.lstrip().startswith((b"{", b"[")):
        return ""
    return ("; this looks like CSV: xenc reads JSONL, one JSON object a line "
            '(such as {"id": "1", "text": "..."})')


def parse_object(line: bytes, source: str, line_no: int) -> dict[str, Any]:
    """Parse one JSONL line into a dict, or raise InputError naming ``source:line_no``."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc):
            raise _too_deep(source, line_no) from None
        reason = str(exc).split(":")[0] if "utf-8" in str(exc).lower() else str(exc)
        raise InputError(source, line_no, f"invalid JSON ({reason}){_csv_hint(line)}") from None
    if not isinstance(obj, dict):
        raise InputError(source, line_no, f"expected a JSON object, got {type(obj).__name__}")
    # Counting brackets is cheap and bounds the depth, so flat lines skip the walk.
    if line.count(b"[") + line.count(b"{") > MAX_DEPTH and nesting_depth(obj) > MAX_DEPTH:
        raise _too_deep(source, line_no)
    return obj


def read_jsonl(
    source: str | os.PathLike[str],
    *,
    on_error: Callable[[InputError], None] | None = None,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Lazily read JSON objects from a JSONL path or ``-``.

    Args:
        source: A file path, or ``-`` for standard input.
        on_error: If given, called with each bad line's error instead of raising, and the
            line is skipped (``--skip-invalid``).

    Yields:
        ``(line_no, object)`` pairs, line numbers counting every physical line from 1.

    Raises:
        InputError: a missing file or, without ``on_error``, the first bad line.
    """
    name = source_name(source)
    for line_no, line in iter_lines(source):
        try:
            yield line_no, parse_object(line, name, line_no)
        except InputError as exc:
            if on_error is None:
                raise
            on_error(exc)


def dumps(record: dict[str, Any]) -> bytes:
    """One JSONL line (with its newline). numpy scalars are serialized as plain numbers."""
    return orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE)


class JsonlWriter:
    """Write records as JSONL to a binary stream, flushing after each one by default."""

    def __init__(self, stream: IO[bytes], *, flush: bool = True) -> None:
        self._stream = stream
        self._flush = flush
        self.count = 0

    def write(self, record: dict[str, Any]) -> None:
        self._stream.write(dumps(record))
        self.count += 1
        if self._flush:
            self._stream.flush()
