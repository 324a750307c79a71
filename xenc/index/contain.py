"""One containment rule for every path an index names.

An index directory is data, and data can be hostile or damaged: a manifest edited by hand, a
stray ``manifest.json`` of another program, a ``.lock`` or a generation replaced by a symlink.
Every name that xenc reads from an index (the ``files`` of a manifest, the query encoder's and
chunk tokenizer's files, ``CURRENT``) must be one plain entry *directly inside* the directory
that holds it: no separator, no ``.`` or ``..``, no NUL, no symlink. Anything else makes the
index corrupted (:class:`~xenc.errors.IndexFormatError`, exit 1, one line), and no writer
ever deletes, links, copies or hashes through such a name. Writers also refuse a lock file or
a generation that is a symlink, so nothing outside the index directory is ever followed.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from xenc.errors import IndexFormatError

# The records of a manifest that name files of their generation, and the keys that do.
NAMED_FILES = {"query_encoder": ("file", "tokenizer", "data"), "chunk_tokenizer": ("file",)}


def corrupted(where: Path | str, why: str) -> IndexFormatError:
    return IndexFormatError(f"{where}: {why}; the index is corrupted")


def plain_name(name: object) -> bool:
    """Whether ``name`` is one entry of a directory: a non-empty string with no separator,
    not ``.`` or ``..``, no NUL."""
    return (isinstance(name, str) and name not in ("", ".", "..")
            and not any(c in name for c in ("/", "\\", "\0")))


def member(directory: Path, name: object, source: Path | str) -> Path:
    """``directory / name``, where ``source`` (the file that said ``name``) is blamed if
    ``name`` would leave ``directory``.

    Raises:
        IndexFormatError: ``name`` is not a plain entry name.
    """
    if not plain_name(name):
        raise corrupted(source, f"names {name!r}, which is not a file inside {directory}")
    return Path(directory) / str(name)


def regular_file(path: Path) -> os.stat_result | None:
    """``lstat(path)`` if it is a regular file (not a symlink), None if it is missing.

    Raises:
        IndexFormatError: It exists but is a symlink, a directory or another kind of file.
    """
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if not stat.S_ISREG(st.st_mode):
        kind = "a symlink" if stat.S_ISLNK(st.st_mode) else "not a regular file"
        raise corrupted(path, f"is {kind}")
    return st


def real_directory(path: Path) -> bool:
    """Whether ``path`` is a directory itself, not a symlink to one."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def check_names(manifest: Mapping[str, Any], path: Path) -> None:
    """Every file name ``manifest`` (read from ``path``) holds stays inside its directory and,
    where a record names a file, the file is one the manifest lists with a size and hash.

    Raises:
        IndexFormatError: A name leaves the directory, or a record is malformed.
    """
    files = manifest.get("files", {})
    if not isinstance(files, dict):
        raise corrupted(path, '"files" is not an object')
    for name, info in files.items():
        member(path.parent, name, path)
        if name == path.name:
            raise corrupted(path, f"lists itself ({name!r}) among its files")
        if not (isinstance(info, dict) and isinstance(info.get("bytes"), int)
                and not isinstance(info.get("bytes"), bool) and info["bytes"] >= 0
                and isinstance(info.get("sha256"), str)):
            raise corrupted(path, f"file {name!r} has no valid size and sha256")
    for key, fields in NAMED_FILES.items():
        record = manifest.get(key)
        if record is None:
            continue
        if not isinstance(record, dict):
            raise corrupted(path, f'"{key}" is not an object')
        for field in fields:
            name = record.get(field)
            if name is None:
                continue
            member(path.parent, name, path)
            if files and name not in files:
                raise corrupted(path, f'"{key}.{field}" names {name!r}, which is not listed '
                                      'among its files')
