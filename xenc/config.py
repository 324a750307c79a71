"""Defaults in one place, and the environment variables that override them.

Order of precedence everywhere: command-line flag > environment variable > index manifest >
the defaults below. The CLI declares ``envvar=`` with the names here; the library takes plain
arguments and falls back to these defaults.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

ENV_ENCODER = "XENC_ENCODER"
ENV_RERANKER = "XENC_RERANKER"
ENV_INDEX_DIR = "XENC_INDEX_DIR"
ENV_DEVICE = "XENC_DEVICE"
ENV_BATCH_SIZE = "XENC_BATCH_SIZE"
ENV_BACKEND = "XENC_BACKEND"

RETRIEVERS = ("bm25", "dense", "hybrid")
AGGREGATES = ("max", "first", "sum")
ACTIVATIONS = ("none", "sigmoid", "softmax")
OUTPUT_FORMATS = ("jsonl", "trec", "table")


@dataclass(frozen=True)
class ChunkParams:
    """Passages are windows of ``chunk_tokens`` encoder tokens overlapping by ``stride``."""

    chunk_tokens: int = 256
    stride: int = 32

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class HNSWParams:
    """hnswlib parameters. One build thread by default so the graph is reproducible."""

    space: str = "cosine"
    M: int = 16
    ef_construction: int = 200
    ef_search: int = 128
    seed: int = 100
    threads: int = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SearchParams:
    """What ``search`` and ``eval`` do with one query."""

    retriever: str = "hybrid"
    candidates: int = 100
    k: int = 10
    rrf_k: int = 60
    aggregate: str = "max"
    passages_per_doc: int = 3
    exact: bool = False
    budget_ms: float | None = None
