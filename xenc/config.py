"""Defaults in one place, and the environment variables that override them.

Order of precedence everywhere: command-line flag > environment variable > index manifest >
the defaults below. The CLI declares ``envvar=`` with the names here; the library takes plain
arguments and falls back to these defaults.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from xenc.errors import UsageError, param

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
    """What ``search`` and ``eval`` do with one query; the one place these are validated.

    ``candidates`` below ``k`` is raised to ``k`` (the first stage must find at least the
    ``k`` results asked for), from Python as on the command line.

    ``fusion`` (``none``, ``rrf`` or ``linear:W``, see :mod:`xenc.fusion`) combines the
    reranker's scores with the first-stage ranking; ``None`` means the reranker's own default
    (``xenc_fusion`` in its config), else ``none``.

    Raises:
        UsageError: An unknown ``retriever``, ``aggregate`` or ``fusion``.
    """

    retriever: str = "hybrid"
    candidates: int = 100
    k: int = 10
    rrf_k: int = 60
    aggregate: str = "max"
    passages_per_doc: int = 3
    exact: bool = False
    budget_ms: float | None = None
    fusion: str | None = None

    def __post_init__(self) -> None:
        _check_choice("retriever", self.retriever, RETRIEVERS)
        if self.fusion is not None:
            parse_fusion(self.fusion)
        _check_choice("aggregate", self.aggregate, AGGREGATES)
        if self.candidates < self.k:
            object.__setattr__(self, "candidates", self.k)


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise UsageError(f"{param(name)} must be one of {', '.join(choices)}, not {value!r}")


def parse_fusion(spec: str) -> tuple[str, float | None]:
    """``("none"|"rrf"|"linear", weight)`` from a fusion spec.

    Raises:
        UsageError: an unknown fusion or a weight outside [0, 1].
    """
    text = (spec or "").strip().lower()
    if text in ("none", "rrf"):
        return text, None
    if text.startswith("linear:"):
        try:
            weight = float(text[7:])
        except ValueError:
            weight = math.nan
        if not 0.0 <= weight <= 1.0:
            raise UsageError(f"fusion {spec!r}: the weight of linear:W must be in [0, 1]")
        return "linear", weight
    raise UsageError(f"unknown fusion {spec!r}: choose none, rrf or linear:W")
