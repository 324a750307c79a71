"""Files in and out: inputs opened by path or ``-``, read a line at a time; atomic outputs.

Every input is a path or ``-`` (standard input). Lines are yielded as ``(line_no, line)`` with
1-based line numbers; a UTF-8 BOM and CRLF line ends are accepted, and a missing, unreadable or
corrupt input raises :class:`~xenc.errors.InputError` naming the source (and line). Input
compressed with gzip, bzip2, xz or zstd is decompressed as it is read, whatever its name: the
format is told by its first bytes (zstd needs the ``zstandard`` package, ``xenc[zstd]``).
Output files are written through :func:`atomic_output`, so a failed run never leaves a
truncated file.
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from xenc.errors import InputError

STDIN_NAME = "<stdin>"
IS_A_DIRECTORY = "is a directory, expected a file"
NOT_UTF8 = "not valid UTF-8"


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
        raise InputError(str(source), None, IS_A_DIRECTORY)
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        raise InputError(str(source), None, "no such file") from None
    except OSError as exc:
        raise InputError(str(source), None, f"cannot read: {exc.strerror or exc}") from None
    with fh:
        yield _decompressing(fh, str(source))


def _all_lines(source: str | os.PathLike[str]) -> Iterator[tuple[int, bytes]]:
    """Every line, blank ones included, without its line end (and the first without a BOM)."""
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
            yield line_no, line


def iter_lines(source: str | os.PathLike[str]) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line_no, line)`` for each non-blank line, without line ends or a leading BOM.

    The one line reader: JSONL, queries, qrels, runs, pairs and the test collections all read
    through it (:func:`text_lines` decodes), so a missing, unreadable or corrupt input is one
    error whatever the file.

    Raises:
        InputError: The source is missing, or its compressed data is corrupt or cut short.
    """
    for line_no, line in _all_lines(source):
        if line.strip():
            yield line_no, line


def decode(line: bytes, source: str, line_no: int) -> str:
    """A line's UTF-8 text.

    Raises:
        InputError: ``source:line_no: not valid UTF-8``.
    """
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(source, line_no, NOT_UTF8) from None


def text_lines(
    source: str | os.PathLike[str], *, blank: bool = False, latin1: bool = False
) -> Iterator[tuple[int, str]]:
    """Yield ``(line_no, text)`` for each line that is not blank (every line with ``blank``),
    read by :func:`iter_lines`' rules and decoded as UTF-8.

    Args:
        source: A path, or ``-`` for standard input.
        blank: Yield blank lines too (readers of formats where a blank line means something).
        latin1: Decode a line that is not UTF-8 as Latin-1 instead of failing (old test
            collections predate UTF-8).

    Raises:
        InputError: As :func:`iter_lines`; a line that is not UTF-8 (without ``latin1``).
    """
    name = source_name(source)
    for line_no, raw in _all_lines(source):
        if latin1:
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                line = raw.decode("latin-1")
        else:
            line = decode(raw, name, line_no)
        if blank or line.strip():
            yield line_no, line


def count_lines(source: str, limit: int | None = None) -> int | None:
    """Non-blank lines of a file (at most ``limit``), for a progress total; ``None`` for stdin
    (``-``), a compressed file (its lines are counted as they are read), or when it cannot be
    read (the command itself will then say why)."""
    if source == "-":
        return None
    try:
        with open(source, "rb") as fh:
            if compression_of(fh.peek(8)[:8]):
                return None
            count = sum(1 for line in fh if line.strip())
    except OSError:
        return None
    return count if limit is None else min(count, limit)


def stream_sha256(fh: IO[bytes]) -> str:
    """The sha256 (hex) of what is left to read of a binary stream, read a MiB at a time."""
    digest = hashlib.sha256()
    for block in iter(lambda: fh.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The sha256 (hex) of a file's bytes: the one file hash of xenc (index files, model
    weights and tokenizers, training data)."""
    with open(path, "rb") as fh:
        return stream_sha256(fh)


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
