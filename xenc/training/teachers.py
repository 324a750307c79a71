"""Teachers for distillation: what writes ``teacher_score`` into mined pairs.

A teacher SPEC is one component or a weighted sum of components, ``+``-separated, each
optionally prefixed by ``WEIGHT*``::

    bm25                       the index's BM25 score of the passage
    dense                      cosine of the query and passage embeddings (the index's encoder)
    splade:DIR                 a SPLADE / masked-LM model: rep = max over tokens of
                               log(1 + relu(logits)), score = dot(rep(query), rep(passage))
    DIR | HUB_ID | default     any cross-encoder xenc can load (its raw logit)
    0.6*splade:DIR+0.4*bm25    a combination

Normalisation (per query): each component's scores over the passages scored for one query
(the query's mined pairs: positives, hard and random negatives) are standardised to mean 0
and standard deviation 1 (all equal → all 0), and the combination is the weighted sum of the
standardised components. A single component is standardised too, so ``teacher_score`` is
always on the same scale whatever the teacher: margins in units of the query's spread, which
is what ``--loss margin-mse`` and ``--loss mse`` then learn.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from xenc.errors import UsageError
from xenc.models.splade import SpladeScorer

KINDS = ("bm25", "dense", "splade", "cross-encoder")


@dataclass(frozen=True)
class Component:
    """One term of a teacher SPEC: ``weight * kind[:path]``."""

    kind: str
    weight: float = 1.0
    path: str | None = None

    def label(self) -> str:
        name = self.kind if self.path is None else f"{self.kind}:{self.path}"
        if self.kind == "cross-encoder":
            name = str(self.path)
        return name if self.weight == 1.0 else f"{self.weight:g}*{name}"


def parse_spec(spec: str) -> list[Component]:
    """Parse a teacher SPEC into its components.

    Raises:
        UsageError: an empty SPEC, a bad weight, or a component named twice.
    """
    if not spec or not spec.strip():
        raise UsageError("the teacher is empty: give e.g. bm25, splade:DIR or a cross-encoder")
    out: list[Component] = []
    for raw in spec.split("+"):
        term = raw.strip()
        weight = 1.0
        head, star, rest = term.partition("*")
        if star:
            try:
                weight = float(head)
            except ValueError:
                raise UsageError(f"teacher weight {head!r} is not a number in {spec!r}") from None
            if not math.isfinite(weight) or weight <= 0:
                raise UsageError(f"teacher weight {head!r} must be positive in {spec!r}")
            term = rest.strip()
        if not term:
            raise UsageError(f"empty teacher component in {spec!r}")
        if term in ("bm25", "dense"):
            comp = Component(term, weight)
        elif term.startswith("splade:"):
            if not term[7:]:
                raise UsageError("splade: needs a model directory, as in splade:DIR")
            comp = Component("splade", weight, term[7:])
        else:
            comp = Component("cross-encoder", weight, term)
        if any((c.kind, c.path) == (comp.kind, comp.path) for c in out):
            raise UsageError(f"teacher component {term!r} named twice in {spec!r}")
        out.append(comp)
    return out


def standardise(scores: np.ndarray) -> np.ndarray:
    """Mean 0, standard deviation 1 (population); constant scores become zeros."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0:
        return scores
    std = float(scores.std())
    if not std > 1e-12:
        return np.zeros_like(scores)
    return (scores - scores.mean()) / std


class Teacher:
    """Scores ``(query, passages)`` with every component of a SPEC, combined per query.

    ``index`` (an open :class:`xenc.index.reader.Index`) is needed for ``bm25`` and ``dense``,
    which score the stored passage rows; the other kinds read the passage texts.
    """

    def __init__(self, spec: str, index: Any = None, *, max_length: int = 256) -> None:
        self.spec = spec
        self.components = parse_spec(spec)
        self.index = index
        self.max_length = max_length
        needs_index = [c.kind for c in self.components if c.kind in ("bm25", "dense")]
        if needs_index and index is None:
            raise UsageError(f"teacher {needs_index[0]} needs an index")
        self._scorers: dict[int, Any] = {}

    def _scorer(self, i: int, comp: Component) -> Any:
        if i not in self._scorers:
            if comp.kind == "splade":
                self._scorers[i] = SpladeScorer(str(comp.path), max_length=self.max_length)
            else:
                from xenc.models.reranker import load_reranker

                self._scorers[i] = load_reranker(comp.path, max_length=self.max_length,
                                                 activation="none")
        return self._scorers[i]

    def _raw(self, i: int, comp: Component, query: str, texts: list[str],
             rows: list[int], vector: np.ndarray | None) -> np.ndarray:
        if comp.kind == "bm25":
            tokens = self.index.tokenizer(query)
            if not tokens:
                return np.zeros(len(rows))
            return np.asarray(self.index.bm25.scores(tokens), dtype=np.float64)[rows]
        if comp.kind == "dense":
            if vector is None:
                vector = self.index.encoder.encode([query])[0]
            vector = np.asarray(vector, dtype=np.float64)
            emb = np.asarray(self.index.embeddings[rows], dtype=np.float64)
            norms = np.linalg.norm(emb, axis=1) * max(np.linalg.norm(vector), 1e-12)
            return emb @ vector / np.maximum(norms, 1e-12)
        scorer = self._scorer(i, comp)
        if comp.kind == "splade":
            return scorer.score(query, texts)
        logits = scorer.predict([(query, t) for t in texts])
        return np.asarray(logits, dtype=np.float64).reshape(len(texts), -1)[:, 0]

    def components_scores(
        self, query: str, texts: Sequence[str], rows: Sequence[int] = (),
        vector: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """Each component's per-query standardised scores, by component label (unweighted)."""
        texts, rows = list(texts), [int(r) for r in rows]
        return {
            Component(c.kind, 1.0, c.path).label(): standardise(
                self._raw(i, c, query, texts, rows, vector))
            for i, c in enumerate(self.components)
        }

    def score(
        self, query: str, texts: Sequence[str], rows: Sequence[int] = (),
        vector: np.ndarray | None = None,
    ) -> np.ndarray:
        """The combined, per-query standardised teacher scores of the passages.

        Args:
            query: The query text.
            texts: The passages as the student will read them.
            rows: Their passage rows in ``index`` (for bm25 and dense).
            vector: The query's embedding by the index's encoder, if already computed.
        """
        parts = self.components_scores(query, texts, rows, vector)
        total = np.zeros(len(texts))
        for comp, scores in zip(self.components, parts.values(), strict=True):
            total += comp.weight * scores
        return total

    def describe(self) -> str:
        return " + ".join(c.label() for c in self.components)
