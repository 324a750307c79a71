"""The :class:`Collection` handle that every dataset reader returns."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xenc.io.qrels import Qrels


@dataclass(frozen=True)
class Collection:
    """A test collection opened lazily: each stream re-reads its files when called.

    Attributes:
        name: The collection's name (its folder's name).
        fmt: The format it was read as (one of ``DATASET_FORMATS`` other than ``auto``).
        docs: Streams corpus objects ``{"id", "title"?, "text", ...metadata}``.
        queries: Streams ``{"id", "text", ...}`` query objects.
        qrels: Reads the judgments: query id → document id → integer grade.
        judged_queries_only: Keep only the queries that have judgments (BEIR splits).
        files: The source files, for messages.
    """

    name: str
    fmt: str
    docs: Callable[[], Iterator[dict[str, Any]]]
    queries: Callable[[], Iterator[dict[str, Any]]]
    qrels: Callable[[], Qrels]
    judged_queries_only: bool = False
    files: tuple[Path, ...] = ()
