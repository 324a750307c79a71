"""Mining training pairs from an index: qrels positives, first-stage hard negatives.

For each query with at least one judged-relevant document (grade >= 1):

* every relevant document is a positive (label 1);
* per positive, ``negatives`` hard negatives are drawn from the first stage's top ``depth``
  candidates, after skipping the top ``skip_top`` and removing every judged-relevant document
  (documents judged 0 stay: they are known negatives);
* per positive, ``random_negatives`` documents are drawn from the rest of the corpus.

The text of a document is its best passage for the query (``Chunk.passage()``: title, then
the passage): the first stage's best-matching passage for candidates, else the first passage.
Draws use a generator seeded by ``seed`` and the query id, so a run is reproducible query by
query whatever the query order.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from xenc.config import SearchParams
from xenc.errors import UsageError
from xenc.index.reader import Index
from xenc.pipeline import first_stage_lists
from xenc.qrels import Qrels
from xenc.records import Candidate, Query

log = logging.getLogger("xenc")
ENCODE_BATCH = 64


@dataclass(frozen=True)
class MineParams:
    """How pairs are mined (``xenc mine`` / ``xenc train --index-dir``)."""

    retriever: str = "hybrid"
    depth: int = 50
    negatives: int = 4
    random_negatives: int = 1
    skip_top: int = 0
    seed: int = 42

    def check(self) -> MineParams:
        """Return self, or raise UsageError for a bad value."""
        self.search_params()  # the retriever is checked where every search parameter is
        if self.depth < 1:
            raise UsageError(f"--mine-depth must be at least 1, got {self.depth}")
        for name in ("negatives", "random_negatives", "skip_top"):
            if getattr(self, name) < 0:
                flag = name.replace("_", "-")
                raise UsageError(f"--{flag} must be 0 or more, got {getattr(self, name)}")
        if self.skip_top >= self.depth:
            raise UsageError("--skip-top must be smaller than --mine-depth")
        return self

    def search_params(self) -> SearchParams:
        """The first stage mining runs: ``depth`` candidates from ``retriever``."""
        return SearchParams(retriever=self.retriever, candidates=self.depth, k=self.depth)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _rng(seed: int, qid: str) -> np.random.Generator:
    key = int.from_bytes(hashlib.sha256(qid.encode("utf-8")).digest()[:8], "little")
    return np.random.default_rng([seed, key])


def _draw(rng: np.random.Generator, pool: list[Any], n: int) -> list[Any]:
    if n <= 0 or not pool:
        return []
    picks = rng.choice(len(pool), size=min(n, len(pool)), replace=False)
    return [pool[int(i)] for i in sorted(picks)]


def _candidate_lists(
    index: Index, queries: list[Query], params: MineParams
) -> Iterator[tuple[Query, list[Candidate]]]:
    return first_stage_lists(index, queries, params.search_params(), batch_size=ENCODE_BATCH)


def _passages(index: Index, doc_rows: dict[str, int]) -> dict[str, str]:
    chunks = index.docstore.chunks(doc_rows.values())
    return {doc_id: chunks[row].passage() for doc_id, row in doc_rows.items()}


def _query_pairs(
    index: Index, query: Query, cands: list[Candidate], judged: dict[str, int], params: MineParams
) -> list[dict[str, Any]]:
    known = index.docstore.seq_of
    positives = sorted(d for d, g in judged.items() if g >= 1 and d in known)
    relevant = {d for d, g in judged.items() if g >= 1}
    ranks = {c.doc_id: c.rank for c in cands}
    best_row = {c.doc_id: c.rows[0] for c in cands if c.rows}
    pool = [c.doc_id for c in cands[params.skip_top :] if c.doc_id not in relevant]
    rng = _rng(params.seed, query.id)
    plan: list[tuple[str, str]] = []
    for pos in positives:
        plan.append((pos, "positive"))
        plan.extend((d, "hard") for d in _draw(rng, pool, params.negatives))
        if params.random_negatives:
            others = _random_pool(index, relevant, rng, params.random_negatives)
            plan.extend((d, "random") for d in others)
    rows = {d: best_row[d] for d, _ in plan if d in best_row}
    rows.update(index.docstore.first_rows(d for d, _ in plan if d not in best_row))
    texts = _passages(index, rows)
    return [
        {
            "query": query.text,
            "document": texts[doc_id],
            "label": 1 if kind == "positive" else 0,
            "qid": query.id,
            "doc_id": doc_id,
            "kind": kind,
            "first_stage_rank": ranks.get(doc_id),
        }
        for doc_id, kind in plan
    ]


def _random_pool(
    index: Index, relevant: set[str], rng: np.random.Generator, n: int
) -> list[str]:
    """``n`` random documents that are not judged relevant (rejection sampling)."""
    ids = index.docstore.doc_ids
    if len(ids) <= len(relevant):
        return []
    picked: list[str] = []
    for _ in range(50 * n):
        doc_id = ids[int(rng.integers(len(ids)))]
        if doc_id not in relevant and doc_id not in picked:
            picked.append(doc_id)
            if len(picked) == n:
                break
    return picked


def mine(
    index: Index, queries: Iterable[Query], qrels: Qrels, params: MineParams = MineParams()
) -> Iterator[dict[str, Any]]:
    """Yield mined pairs, query by query (in input order), each positive then its negatives.

    Records: ``query``, ``document``, ``label`` (1 or 0), ``qid``, ``doc_id``, ``kind``
    (``"positive"``, ``"hard"`` or ``"random"``) and ``first_stage_rank`` (``None`` when the
    document is not among the first stage's top ``depth``).

    Raises:
        UsageError: bad parameters.
    """
    params.check()
    todo = [q for q in queries if any(g >= 1 for g in qrels.get(q.id, {}).values())]
    skipped = 0
    for query, cands in _candidate_lists(index, todo, params):
        records = _query_pairs(index, query, cands, qrels[query.id], params)
        if not records:
            skipped += 1
        yield from records
    if skipped:
        log.warning("%d queries skipped: none of their relevant documents is indexed", skipped)
