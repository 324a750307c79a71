"""Sizes and hashes of an index's files: what a writer records, what a reader checks.

A writer records each file's size and sha256 in the manifest, and for files over
:data:`SMALL` bytes also a *sampled* sha256 (:func:`sampled_digest`): the hash of
:data:`SAMPLES` blocks of :data:`BLOCK` bytes spread evenly over the file, plus its last block.

Opening a generation for search (:func:`check_files` with ``hashes=True``) then checks, for
every file the manifest lists: that it is a regular file inside the generation, its size, the
full sha256 of the small ones, and the sampled sha256 of the big ones. That catches a
missing, truncated, extended, zeroed or overwritten model or array file at the cost of a few
milliseconds (reading ~256 KiB of each big file, pages the search then reads anyway); a
single changed byte in a big file is left to ``xenc verify`` and to writers, which hash every
file in full before carrying it into a new generation.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from xenc.errors import IndexFormatError
from xenc.index.contain import regular_file
from xenc.io.files import file_sha256, stream_sha256

SMALL = 1 << 20
BLOCK = 4096
SAMPLES = 64


def file_digest(path: Path) -> dict[str, Any]:
    """``{"bytes", "sha256"}`` of a file, and ``"sample_sha256"`` for one over :data:`SMALL`."""
    with open(path, "rb") as fh:
        full = stream_sha256(fh)
        size = os.fstat(fh.fileno()).st_size
        out: dict[str, Any] = {"bytes": size, "sha256": full}
        if size > SMALL:
            out["sample_sha256"] = _sampled(fh.fileno(), size)
    return out


def _sampled(fd: int, size: int) -> str:
    h = hashlib.sha256()
    step = max(size // SAMPLES, 1)
    for offset in [*range(0, size, step)][:SAMPLES] + [max(size - BLOCK, 0)]:
        h.update(os.pread(fd, BLOCK, offset))
    return h.hexdigest()


def sampled_digest(path: Path) -> str:
    """The sampled sha256 of a file (see the module docstring)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return _sampled(fd, os.fstat(fd).st_size)
    finally:
        os.close(fd)


def check_files(directory: Path, manifest: dict[str, Any], *, hashes: bool = False) -> None:
    """Every file ``manifest`` lists is a regular file in ``directory`` of the recorded size;
    with ``hashes``, also of the recorded full (small files) or sampled (big ones) sha256.

    Raises:
        IndexFormatError: A file is missing, not a regular file, or differs, naming it.
    """
    for name, info in manifest.get("files", {}).items():
        file = directory / name
        st = regular_file(file)
        if st is None:
            raise IndexFormatError(
                f"{file}: missing; the index is incomplete, re-run `xenc index`"
            )
        if st.st_size != info.get("bytes"):
            raise IndexFormatError(
                f"{file}: size differs from the manifest; the index is corrupted"
            )
        if not hashes:
            continue
        if st.st_size <= SMALL:
            same = file_sha256(file) == info.get("sha256")
        else:
            recorded = info.get("sample_sha256")
            same = recorded is None or sampled_digest(file) == recorded
        if not same:
            raise IndexFormatError(
                f"{file}: content differs from the manifest's sha256; the index is corrupted "
                "(`xenc verify` checks every byte)"
            )
