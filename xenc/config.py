"""Defaults in one place, and the environment variables that override them.

Order of precedence everywhere: command-line flag > environment variable > index manifest >
the defaults below. The CLI declares ``envvar=`` with the names here; the library takes plain
arguments and falls back to these defaults.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from xenc.errors import IndexFormatError, UsageError, param, setting

ENV_ENCODER = "XENC_ENCODER"
ENV_RERANKER = "XENC_RERANKER"
ENV_INDEX_DIR = "XENC_INDEX_DIR"
ENV_DEVICE = "XENC_DEVICE"
ENV_BATCH_SIZE = "XENC_BATCH_SIZE"
ENV_BACKEND = "XENC_BACKEND"
ENV_API_KEY = "XENC_API_KEY"

RETRIEVERS = ("bm25", "dense", "hybrid")
# What an index can hold (``xenc index --retrievers``); an index made before the manifest
# recorded it holds both. ``hybrid`` is searched from both, so each retriever needs these:
INDEX_RETRIEVERS = ("bm25", "dense")
NEEDS = {"bm25": ("bm25",), "dense": ("dense",), "hybrid": ("bm25", "dense")}
AGGREGATES = ("max", "first", "sum")
ACTIVATIONS = ("none", "sigmoid", "softmax")
OUTPUT_FORMATS = ("jsonl", "trec", "table")
TEXT_KINDS = ("document", "passage")  # search --with-text
HNSW_SPACES = ("cosine", "ip", "l2")
RRF_K = 60  # reciprocal rank fusion's k, 1 / (k + rank): hybrid's rrf_k and --fusion rrf


@dataclass(frozen=True)
class ChunkParams:
    """Passages are windows of ``chunk_tokens`` encoder tokens overlapping by ``stride``."""

    chunk_tokens: int = 256
    stride: int = 32

    def __post_init__(self) -> None:
        check_number("chunk_tokens", self.chunk_tokens, minimum=8, integer=True)
        check_number("stride", self.stride, minimum=0, integer=True)
        if self.stride >= self.chunk_tokens // 2:
            raise UsageError(
                f"{param('stride')} must be between 0 and half of {param('chunk_tokens')} "
                f"({self.chunk_tokens // 2}, excluded), not {self.stride!r}")

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

    def __post_init__(self) -> None:
        _check_choice("space", self.space, HNSW_SPACES)
        check_number("M", self.M, minimum=2, integer=True)
        for name in ("ef_construction", "ef_search", "threads"):
            check_number(name, getattr(self, name), minimum=1, integer=True)
        check_number("seed", self.seed, minimum=0, integer=True)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class BM25Params:
    """BM25Okapi parameters (rank-bm25's defaults)."""

    k1: float = 1.5
    b: float = 0.75
    epsilon: float = 0.25

    def __post_init__(self) -> None:
        check_number("k1", self.k1, minimum=0)
        check_number("b", self.b, minimum=0, maximum=1)
        check_number("epsilon", self.epsilon, minimum=0)

    def to_dict(self) -> dict[str, float]:
        """The parameters as plain floats."""
        return {key: float(value) for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BM25Params:
        """Read parameters written by ``to_dict``; missing keys take the defaults.

        Raises:
            IndexFormatError: A value is not a finite number.
        """
        values: dict[str, float] = {}
        for key in ("k1", "b", "epsilon"):
            if key in data:
                value = data[key]
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise IndexFormatError(f"bm25 parameter {key}={value!r} is not a number")
                if not math.isfinite(value):
                    raise IndexFormatError(f"bm25 parameter {key}={value!r} is not finite")
                values[key] = float(value)
        try:
            return cls(**values)
        except UsageError as exc:  # a manifest's value out of range: the index is damaged
            raise IndexFormatError(f"bm25 parameters: {exc}") from None


@dataclass(frozen=True)
class SearchParams:
    """What ``search`` and ``eval`` do with one query; the one place these are validated.

    ``retriever`` ``None`` (the default) means: what the index holds, ``hybrid`` where it
    has both BM25 and dense, else ``bm25`` (see :meth:`for_index`, which every search calls
    with the opened index, so Python and the shell decide alike).

    ``candidates`` below ``k`` is raised to ``k`` (the first stage must find at least the
    ``k`` results asked for), from Python as on the command line.

    ``fusion`` (``none``, ``rrf`` or ``linear:W``, see :mod:`xenc.fusion`) combines the
    reranker's scores with the first-stage ranking; ``None`` means the reranker's own default
    (``xenc_fusion`` in its config), else ``none``.

    Raises:
        UsageError: An unknown ``retriever``, ``aggregate`` or ``fusion``.
    """

    retriever: str | None = None
    candidates: int = 100
    k: int = 10
    rrf_k: int = RRF_K
    aggregate: str = "max"
    passages_per_doc: int = 3
    exact: bool = False
    budget_ms: float | None = None
    fusion: str | None = None

    def __post_init__(self) -> None:
        if self.retriever is not None:
            _check_choice("retriever", self.retriever, RETRIEVERS)
        if self.fusion is not None:
            parse_fusion(self.fusion)
        _check_choice("aggregate", self.aggregate, AGGREGATES)
        for name in ("candidates", "k", "rrf_k", "passages_per_doc"):
            check_number(name, getattr(self, name), minimum=1, integer=True)
        if self.budget_ms is not None:
            check_number("budget_ms", self.budget_ms, above=0)
        if self.candidates < self.k:
            object.__setattr__(self, "candidates", self.k)

    def for_index(self, built: Sequence[str], where: object) -> SearchParams:
        """These parameters with the retriever decided for an index built with ``built``
        (its manifest's ``retrievers``): the one asked for, else :func:`default_retriever`.

        Raises:
            UsageError: The index lacks what the retriever needs (``where`` names it).
        """
        retriever = self.retriever or default_retriever(built)
        missing = [kind for kind in NEEDS[retriever] if kind not in built]
        if missing:
            raise UsageError(missing_retriever(where, missing[0], built, retriever))
        return self if retriever == self.retriever else replace(self, retriever=retriever)


def default_retriever(built: Sequence[str]) -> str:
    """The retriever a search uses unless told: hybrid where the index has both kinds."""
    return "hybrid" if all(k in built for k in INDEX_RETRIEVERS) else built[0]


def missing_retriever(
    where: object, kind: str, built: Sequence[str], retriever: str | None = None
) -> str:
    """The message for an index without the ``kind`` retriever: what it has, and the fix."""
    needs = f", which {setting('retriever', retriever)} needs" if (
        retriever and retriever != kind) else ""
    use = f"use {setting('retriever', default_retriever(built))}, or " if retriever else ""
    return (f"index {where} has no {kind} retriever{needs} (built with "
            f"{setting('retrievers', ','.join(built))}): {use}rebuild it with "
            f"{setting('retrievers', ','.join(INDEX_RETRIEVERS))}")


def parse_retrievers(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """What an index is built with, in canonical order, from ``"bm25,dense"`` or
    ``("bm25",)``; ``None``: both.

    Raises:
        UsageError: An empty list, an unknown kind, or a list without ``bm25`` (every index
            holds BM25 postings; more kinds may come).
    """
    if value is None:
        return INDEX_RETRIEVERS
    items = value.split(",") if isinstance(value, str) else list(value)
    if not all(isinstance(item, str) for item in items):
        raise UsageError(f"{param('retrievers')} must be names such as bm25 or dense")
    names = [item.strip() for item in items if item.strip()]
    choices = "bm25 or bm25,dense"
    if not names:
        raise UsageError(f"{param('retrievers')} is empty: give {choices}")
    for name in names:
        if name not in INDEX_RETRIEVERS:
            hint = "; hybrid is searched on an index built with bm25,dense" if (
                name == "hybrid") else ""
            raise UsageError(f"{param('retrievers')}: unknown retriever {name!r}: give "
                             f"{choices}{hint}")
    if "bm25" not in names:
        raise UsageError(f"{param('retrievers')} must include bm25: give {choices}")
    return tuple(kind for kind in INDEX_RETRIEVERS if kind in names)


def check_number(name: str, value: object, *, minimum: float | None = None,
                 above: float | None = None, maximum: float | None = None,
                 integer: bool = False) -> None:
    """A finite number (an integer with ``integer``) at least ``minimum`` / above ``above`` /
    at most ``maximum``: the one check (and the one wording) of every numeric parameter.

    Raises:
        UsageError: Not a number, not finite (``inf``, ``nan``), or out of range; one wording
            for every parameter, named as the caller spells it (:func:`xenc.errors.param`).
    """
    kind = "an integer" if integer else "a finite number"
    ok = isinstance(value, int if integer else (int, float)) and not isinstance(value, bool)
    if ok and not integer:
        ok = math.isfinite(float(value))  # type: ignore[arg-type]
    bounds = [f">= {minimum:g}" if minimum is not None else "",
              f"> {above:g}" if above is not None else "",
              f"<= {maximum:g}" if maximum is not None else ""]
    bound = " and ".join(b for b in bounds if b)
    bound = f" {bound}" if bound else ""
    if ok and minimum is not None:
        ok = value >= minimum  # type: ignore[operator]
    if ok and above is not None:
        ok = value > above  # type: ignore[operator]
    if ok and maximum is not None:
        ok = value <= maximum  # type: ignore[operator]
    if not ok:
        raise UsageError(f"{param(name)} must be {kind}{bound}, not {value!r}")


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


def text_kind(with_text: bool | str | None) -> str | None:
    """``with_text`` as ``"document"``, ``"passage"`` or ``None`` (True means document).

    Raises:
        UsageError: Another value.
    """
    if with_text is None or with_text is False:
        return None
    if with_text is True:
        return "document"
    kind = str(with_text).strip().lower()
    if kind not in TEXT_KINDS:
        raise UsageError(f"{param('with_text')} takes passage or document, not {with_text!r}")
    return kind
