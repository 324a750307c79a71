"""Small helpers shared by the dataset readers: whitespace, markup, file lookup.

Their lines are read by :func:`xenc.io.files.text_lines` (every line, Latin-1 where a line is
not UTF-8: old test collections predate it).
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from xenc.errors import InputError, UsageError

_TAG = re.compile(r"<[^<>]+>")  # no "<" inside: one scan per "<", never quadratic


def squash(text: str) -> str:
    """Join line-wrapped text: every run of whitespace becomes one space, ends stripped."""
    return " ".join(text.split())


def strip_markup(text: str) -> str:
    """Remove SGML/HTML tags, decode entities (``&amp;`` → ``&``) and squash whitespace."""
    return squash(html.unescape(_TAG.sub(" ", text)))


def find_file(folder: Path, *names: str) -> Path | None:
    """The first file in ``folder`` whose name equals one of ``names``, ignoring case."""
    if not folder.is_dir():
        return None
    by_name = {entry.name.lower(): entry for entry in folder.iterdir() if entry.is_file()}
    for name in names:
        hit = by_name.get(name.lower())
        if hit is not None:
            return hit
    return None


def require_file(folder: Path, *names: str) -> Path:
    """Like :func:`find_file`, but a missing file is an :class:`InputError` naming it."""
    hit = find_file(folder, *names)
    if hit is None:
        raise InputError(str(folder / names[0]), None, "no such file")
    return hit


def match_files(folder: Path, pattern: re.Pattern[str]) -> list[Path]:
    """Files directly in ``folder`` whose lower-cased name matches ``pattern``, sorted."""
    if not folder.is_dir():
        return []
    return sorted(
        entry
        for entry in folder.iterdir()
        if entry.is_file() and pattern.search(entry.name.lower())
    )


def only_one(folder: Path, pattern: re.Pattern[str], what: str) -> Path:
    """The single file matching ``pattern``; none or several is an error naming them.

    Raises:
        InputError: no file matches.
        UsageError: several files match (the folder is ambiguous).
    """
    hits = match_files(folder, pattern)
    if not hits:
        raise InputError(str(folder), None, f"no {what} file found")
    if len(hits) > 1:
        names = ", ".join(hit.name for hit in hits)
        raise UsageError(f"{folder}: several {what} files ({names}); cannot tell which to use")
    return hits[0]
