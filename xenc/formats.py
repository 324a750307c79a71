"""JSONL in and out: lazy readers that fail with a location, writers that flush per record.

Every input is a path or ``-`` (standard input). Readers yield ``(line_no, object)`` with
1-based line numbers, skip blank lines, accept a UTF-8 BOM and CRLF line ends, and raise
:class:`~xenc.errors.InputError` naming the source and line for anything else. Input
compressed with gzip, bzip2, xz or zstd is decompressed as it is read, whatever its name: the
format is told by its first bytes (zstd needs the ``zstandard`` package, ``xenc[zstd]``).
Output files are written through :func:`atomic_output`, so a failed run never leaves a
truncated file.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import orjson

from xenc.errors import InputError

STDIN_NAME = "<stdin>"

MAX_DEPTH = 128
"""The deepest nesting of objects/arrays accepted on a JSONL line (the line's object is level
1). orjson reads up to 1024 levels but writes at most 254, so a deeper record could be read but
never stored or written back."""


def source_name(source: str | os.PathLike[str]) -> str:
    """The name used in error messages: the path as given, or ``<stdin>`` for ``-``."""
    return STDIN_NAME if str(source) == "-" else str(source)


# The first bytes of each compressed format read transparently (``file(1)``'s magic numbers).
MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"),
         (b"\x28\xb5\x2f\xfd", "zstd"))


def compression_of(head: bytes) -> str | None:
    """The compression whose magic bytes ``head`` starts with, or ``None``."""
    return next((name for magic, name in MAGIC if head.startswith(magic)), None)


class Decompressed(io.BufferedReader):
    """The decompressed bytes of a compressed input (an error while reading is bad data)."""


def _decompressing(fh: IO[bytes], name: str) -> IO[bytes]:
    """``fh`` itself, or a reader of its decompressed bytes when it starts with a magic."""
    if not hasattr(fh, "peek"):  # an in-memory stream (tests): buffered, so it can be peeked
        # typeshed's IO[bytes] lacks readinto, which BufferedReader needs and BytesIO has
        fh = io.BufferedReader(fh)  # type: ignore[type-var]
    kind = compression_of(fh.peek(8)[:8])
    if kind is None:
        return fh
    if kind == "gzip":
        import gzip

        return Decompressed(gzip.GzipFile(fileobj=fh, mode="rb"))
    if kind == "bzip2":
        import bz2

        return Decompressed(bz2.BZ2File(fh))
    if kind == "xz":
        import lzma

        return Decompressed(lzma.LZMAFile(fh))
    try:
        import zstandard
    except ImportError:
        raise InputError(name, None, "is zstd-compressed: reading it needs the zstandard "
                         "package (pip install zstandard, or xenc[zstd])") from None
    return Decompressed(zstandard.ZstdDecompressor().stream_reader(fh))


@contextmanager
def open_input(source: str | os.PathLike[str]) -> Iterator[IO[bytes]]:
    """Open a path (or ``-`` for stdin) for binary reading, with a one-line error if missing;
    compressed input (gzip, bzip2, xz, zstd, told by its first bytes) is decompressed."""
    if str(source) == "-":
        yield _decompressing(sys.stdin.buffer, STDIN_NAME)
        return
    path = Path(source)
    if path.is_dir():
        raise InputError(str(source), None, "is a directory, expected a file")
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        raise InputError(str(source), None, "no such file") from None
    except OSError as exc:
        raise InputError(str(source), None, f"cannot read: {exc.strerror}") from None
    with fh:
        yield _decompressing(fh, str(source))


def iter_lines(source: str | os.PathLike[str]) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line_no, line)`` for each non-blank line, without line ends or a leading BOM.

    Raises:
        InputError: The source is missing, or its compressed data is corrupt or cut short.
    """
    with open_input(source) as fh:
        lines = iter(fh)
        line_no = 0
        while True:
            try:
                raw = next(lines)
            except StopIteration:
                return
            except Exception as exc:  # noqa: BLE001 - corrupt data, of any compression
                if not isinstance(fh, Decompressed):
                    raise
                reason = " ".join(str(exc).split()) or type(exc).__name__
                raise InputError(source_name(source), line_no + 1,
                                 f"cannot decompress: {reason}") from None
            line_no += 1
            line = raw.rstrip(b"\r\n")
            if line_no == 1 and line.startswith(b"\xef\xbb\xbf"):
                line = line[3:]
            if line.strip():
                yield line_no, line


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


def umask_mode(base: int = 0o666) -> int:
    """``base`` less the process umask: the mode a plain ``open()`` gives a new file (``0o777``
    for a directory). Temporary files are made 0600; what they become is given this mode."""
    mask = os.umask(0o022)
    os.umask(mask)
    return base & ~mask


@contextmanager
def atomic_output(path: str | os.PathLike[str] | None) -> Iterator[IO[bytes]]:
    """Yield a binary stream for ``path`` (stdout when ``None`` or ``-``).

    A file is written to a temporary sibling and renamed over ``path`` only when the block
    finishes without an exception; on failure the temporary file is removed and any existing
    file at ``path`` is left untouched. The file gets the mode of the one it replaces, else
    the umask's (:func:`umask_mode`), as a shell's ``>`` would give it.
    """
    if path is None or str(path) == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    target = Path(path)
    if not target.parent.is_dir():
        raise InputError(str(path), None, "its directory does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, target.stat().st_mode & 0o7777 if target.is_file() else umask_mode())
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def writable_directory(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` if needed and prove a file can be written in it, before a long job.

    Raises:
        XencError: ``PATH: reason`` (a read-only mount, no permission, a full disk, a file
            in the way).
    """
    from xenc.errors import XencError

    target = Path(path)
    try:
        target.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".xenc-probe-", dir=target)
        try:
            os.write(fd, b"x")
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        where = exc.filename if exc.filename is not None else target
        raise XencError(f"{os.fsdecode(where)}: {exc.strerror or exc}") from None
    return target
