"""The rerank stage (xenc.reranking.stage), checked against the cross-encoder's own scores:
order, limits, passage aggregates, time budgets."""

from __future__ import annotations

import pytest
from conftest import SMALL_DOCS as DOCS
from conftest import small_passages as passages
from conftest import trec_sorted

from xenc.config import SearchParams
from xenc.errors import UsageError
from xenc.reranking.stage import rerank
from xenc.retrieval.stage import first_stage


def test_rerank_orders_by_cross_encoder_scores(small_index, tiny_reranker):
    query = "how to feed a starter"
    cands = first_stage(small_index, query, SearchParams(retriever="bm25", candidates=8, k=8))
    ranked = rerank(small_index.docstore, tiny_reranker, query, cands)
    texts = dict(zip([d[0] for d in DOCS], passages(), strict=True))
    direct = tiny_reranker.predict([(query, texts[c.doc_id]) for c in cands])
    pairs = dict(zip([c.doc_id for c in cands], direct, strict=True))
    expected = [(d, pairs[d]) for d in trec_sorted(pairs, pairs.__getitem__)]
    assert [s.candidate.doc_id for s in ranked] == [d for d, _ in expected]
    assert [s.score for s in ranked] == pytest.approx([float(v) for _, v in expected], abs=1e-6)
    assert all(s.reranked for s in ranked)


def test_rerank_limit_keeps_first_stage_order_for_the_rest(small_index, tiny_reranker):
    query = "flour water"
    cands = first_stage(small_index, query, SearchParams(retriever="bm25", candidates=8, k=8))
    assert len(cands) >= 4
    ranked = rerank(small_index.docstore, tiny_reranker, query, cands, limit=2)
    assert {s.candidate.doc_id for s in ranked[:2]} == {c.doc_id for c in cands[:2]}
    assert [s.candidate.doc_id for s in ranked[2:]] == [c.doc_id for c in cands[2:]]
    assert [s.reranked for s in ranked] == [True, True] + [False] * (len(cands) - 2)
    scores = [s.score for s in ranked]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("aggregate", ["max", "first", "sum"])
def test_aggregates_over_passages(opened, tiny_reranker, aggregate):
    """On the sample index (long documents split), check each aggregate against its definition."""
    query = "how often should a sourdough starter be fed"
    cands = first_stage(opened, query, SearchParams(retriever="bm25", candidates=30))
    multi = [c for c in cands if len(c.rows) > 1]
    assert multi, "the sample corpus should have long documents matching in several passages"
    ranked = rerank(opened.docstore, tiny_reranker, query, cands, aggregate=aggregate,
                    passages_per_doc=2)
    by_doc = {s.candidate.doc_id: s.score for s in ranked}
    for cand in multi[:3]:
        if aggregate == "first":
            rows = [opened.docstore.first_rows([cand.doc_id])[cand.doc_id]]
        else:
            rows = list(cand.rows[:2])
        chunks = opened.docstore.chunks(rows)
        scores = tiny_reranker.predict([(query, chunks[r].passage()) for r in rows])
        value = scores.sum() if aggregate == "sum" else scores.max()
        assert by_doc[cand.doc_id] == pytest.approx(float(value), abs=1e-6)


class _Clocked:
    """The tiny reranker with a fake clock: every pair costs ``ms_per_pair`` milliseconds."""

    def __init__(self, model, ms_per_pair: float, batch_size: int = 2):
        self.model, self.ms_per_pair, self.batch_size = model, ms_per_pair, batch_size
        self.now = 0.0
        self.calls: list[int] = []

    def clock(self) -> float:
        return self.now

    def predict(self, pairs):
        self.calls.append(len(pairs))
        self.now += self.ms_per_pair * len(pairs) / 1e3
        return self.model.predict(pairs)


def test_budget_reranks_what_fits_in_first_stage_order(small_index, tiny_reranker):
    from xenc.reranking.stage import Budget

    query = "flour water starter"
    cands = first_stage(small_index, query, SearchParams(retriever="hybrid", candidates=8, k=8))
    assert len(cands) == 8
    model = _Clocked(tiny_reranker, ms_per_pair=10.0)
    budget = Budget(50.0, clock=model.clock)
    ranked = rerank(small_index.docstore, model, query, cands, budget=budget)
    # a 1-pair probe learns the cost (10 ms); then batches of at most 2 pairs while they fit:
    # 10 + 20 = 30 ms, 30 + 20 = 50 ms <= 50; nothing more fits, so 5 candidates are reranked.
    assert model.calls == [1, 2, 2]
    assert budget.ms_per_pair == pytest.approx(10.0)
    assert [s.reranked for s in ranked] == [True] * 5 + [False] * 3
    assert {s.candidate.doc_id for s in ranked[:5]} == {c.doc_id for c in cands[:5]}
    assert [s.candidate.doc_id for s in ranked[5:]] == [c.doc_id for c in cands[5:]]
    head = rerank(small_index.docstore, tiny_reranker, query, cands, limit=5)
    assert [s.candidate.doc_id for s in ranked] == [s.candidate.doc_id for s in head]
    scores = [s.score for s in ranked]
    assert scores == sorted(scores, reverse=True)


def test_budget_sizes_batches_to_the_time_left(small_index, tiny_reranker):
    from xenc.reranking.stage import Budget

    query = "whetstone knife"
    cands = first_stage(small_index, query, SearchParams(retriever="hybrid", candidates=6, k=6))
    model = _Clocked(tiny_reranker, ms_per_pair=10.0, batch_size=4)
    budget = Budget(35.0, clock=model.clock)
    first = rerank(small_index.docstore, model, query, cands, budget=budget)
    assert model.calls == [1, 2] and sum(s.reranked for s in first) == 3  # probe, then 20 ms
    model.calls.clear()
    second = rerank(small_index.docstore, model, query, cands, budget=budget)  # cost known: 3 pairs
    assert model.calls == [3] and sum(s.reranked for s in second) == 3
    none = rerank(small_index.docstore, model, query, cands, budget=Budget(5.0, ms_per_pair=10.0))
    assert not any(s.reranked for s in none)
    assert [s.candidate.doc_id for s in none] == [c.doc_id for c in cands]
    roomy = rerank(small_index.docstore, model, query, cands, budget=Budget(1e6, clock=model.clock))
    assert all(s.reranked for s in roomy)


def test_budget_must_be_positive():
    from xenc.reranking.stage import Budget

    with pytest.raises(UsageError, match=r"^budget_ms must be a positive number of ms, not 0.0$"):
        Budget(0.0)
