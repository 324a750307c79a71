"""Mining training pairs from an index: qrels positives, first-stage hard negatives.

For each query with at least one judged-relevant document (grade >= 1):

* every relevant document is a positive (label 1), or with ``positives`` at most that many
  per query, the highest grades first (a seeded draw among equal grades);
* per positive, ``negatives`` hard negatives are drawn from the first stage's top ``depth``
  candidates, after skipping the top ``skip_top`` and removing every judged-relevant document
  (documents judged 0 stay: they are known negatives);
* per positive, ``random_negatives`` documents are drawn from the rest of the corpus.

The text of a document is its best passage for the query (``Chunk.passage()``: title, then
the passage): the first stage's best-matching passage for candidates, else the first passage.
Draws use a generator seeded by ``seed`` and the query id, so a run is reproducible query by
query whatever the query order.

With ``teacher`` (a SPEC, see :mod:`xenc.training.teachers`) each pair also gets a
``teacher_score``: the teacher's score of that passage, standardised over the query's mined
passages, for ``xenc train --loss margin-mse`` or ``--loss mse``; a teacher of several
components also writes each one's standardised score in ``teacher_components``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from xenc.config import SearchParams, check_number
from xenc.errors import UsageError, param
from xenc.index.reader import Index
from xenc.io.qrels import Qrels, has_relevant, is_relevant
from xenc.pipeline import first_stage_lists
from xenc.records import Candidate, Query

log = logging.getLogger("xenc")
ENCODE_BATCH = 64


@dataclass(frozen=True)
class MineParams:
    """How pairs are mined (``xenc mine`` / ``xenc train --index-dir``). ``retriever``
    ``None``: what the index holds (hybrid, or bm25 on an index without dense)."""

    retriever: str | None = None
    depth: int = 50
    negatives: int = 4
    random_negatives: int = 1
    skip_top: int = 0
    seed: int = 42
    teacher: str | None = None
    positives: int | None = None

    def __post_init__(self) -> None:
        check_number("depth", self.depth, minimum=1, integer=True)
        for name in ("negatives", "random_negatives", "skip_top"):
            check_number(name, getattr(self, name), minimum=0, integer=True)
        check_number("seed", self.seed, minimum=0, integer=True)
        if self.skip_top >= self.depth:
            raise UsageError(f"{param('skip_top')} must be smaller than {param('depth')} "
                             f"({self.depth}), not {self.skip_top!r}")
        if self.positives is not None:
            check_number("positives", self.positives, minimum=1, integer=True)
        self.search_params()  # the retriever is checked where every search parameter is
        if self.teacher is not None:
            from xenc.training.teachers import parse_spec

            parse_spec(self.teacher)

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
) -> Iterator[tuple[Query, list[Candidate], np.ndarray | None]]:
    return first_stage_lists(index, queries, params.search_params(), batch_size=ENCODE_BATCH,
                             with_vectors=True)


def _passages(index: Index, doc_rows: dict[str, int]) -> dict[str, str]:
    chunks = index.docstore.chunks(doc_rows.values())
    return {doc_id: chunks[row].passage() for doc_id, row in doc_rows.items()}


def _positives(
    judged: dict[str, int], known: Any, params: MineParams, rng: np.random.Generator
) -> list[str]:
    """The query's indexed relevant documents; at most ``params.positives`` of them, the
    highest grades first (a seeded draw among equal grades)."""
    positives = sorted(d for d, g in judged.items() if is_relevant(g) and d in known)
    if params.positives is None or len(positives) <= params.positives:
        return positives
    order = rng.permutation(len(positives))
    ranked = sorted(range(len(positives)), key=lambda i: (-judged[positives[i]], order[i]))
    return sorted(positives[i] for i in ranked[: params.positives])


def _query_pairs(
    index: Index, query: Query, cands: list[Candidate], judged: dict[str, int],
    params: MineParams, teacher: Any = None, vector: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    rng = _rng(params.seed, query.id)
    positives = _positives(judged, index.docstore.seq_of, params, rng)
    relevant = {d for d, g in judged.items() if is_relevant(g)}
    ranks = {c.doc_id: c.rank for c in cands}
    best_row = {c.doc_id: c.rows[0] for c in cands if c.rows}
    pool = [c.doc_id for c in cands[params.skip_top :] if c.doc_id not in relevant]
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
    records = [
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
    if teacher is not None and records:
        _add_teacher_scores(records, teacher, query, texts, rows, vector)
    return records


def _add_teacher_scores(
    records: list[dict[str, Any]], teacher: Any, query: Query, texts: dict[str, str],
    rows: dict[str, int], vector: np.ndarray | None,
) -> None:
    """``teacher_score`` (and ``teacher_components``) of each record, scored once per passage."""
    distinct = sorted(rows)
    parts = teacher.components_scores(query.text, [texts[d] for d in distinct],
                                      [rows[d] for d in distinct], vector)
    total = sum(c.weight * s for c, s in zip(teacher.components, parts.values(), strict=True))
    position = {d: i for i, d in enumerate(distinct)}
    for record in records:
        i = position[record["doc_id"]]
        record["teacher_score"] = round(float(total[i]), 6)
        if len(parts) > 1:
            record["teacher_components"] = {k: round(float(v[i]), 6) for k, v in parts.items()}


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
    (``"positive"``, ``"hard"`` or ``"random"``), ``first_stage_rank`` (``None`` when the
    document is not among the first stage's top ``depth``) and, with ``params.teacher``,
    ``teacher_score`` (and ``teacher_components`` for a teacher of several components).

    Raises:
        UsageError: bad parameters.
    """
    resolved = params.search_params().for_index(index.retrievers, index.directory)
    params = replace(params, retriever=resolved.retriever)
    teacher = None
    if params.teacher is not None:
        from xenc.training.teachers import Teacher

        teacher = Teacher(params.teacher, index)
    todo = [q for q in queries if has_relevant(qrels.get(q.id, {}))]
    skipped = 0
    for query, cands, vector in _candidate_lists(index, todo, params):
        records = _query_pairs(index, query, cands, qrels[query.id], params, teacher, vector)
        if not records:
            skipped += 1
        yield from records
    if skipped:
        log.warning("%d queries skipped: none of their relevant documents is indexed", skipped)
