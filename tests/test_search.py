"""First stage and reranking, checked against independent computations."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import write_jsonl
from rank_bm25 import BM25Okapi

from xenc.config import SearchParams
from xenc.errors import UsageError
from xenc.index.tokenize import Tokenizer
from xenc.pipeline import build_index, open_index, search
from xenc.records import Query
from xenc.reranking.stage import rerank
from xenc.retrieval.bm25 import bm25_candidates
from xenc.retrieval.dense import dense_candidates
from xenc.retrieval.hybrid import fuse
from xenc.retrieval.stage import first_stage

DOCS = [
    ("d1", "Sourdough", "A sourdough starter needs regular feeding with flour and water."),
    ("d2", "", "Knife sharpening uses a whetstone held at a steady angle."),
    ("d3", "Bread", "Bread dough rises because yeast makes carbon dioxide; flour matters."),
    ("d4", "Stars", "A red giant star has exhausted the hydrogen in its core."),
    ("d5", "Feeding", "Feed the starter flour and water daily; discard half before feeding."),
    ("d6", "", "Whetstones come in coarse and fine grits for sharpening knives."),
    ("d7", "Comets", "Comets are icy bodies that grow tails near the sun."),
    ("d8", "Flour", "Whole wheat flour absorbs more water than white flour."),
]


def trec_sorted(ids, score):
    """trec_eval's order: score descending, then document id descending."""
    return sorted(sorted(ids, reverse=True), key=score, reverse=True)


@pytest.fixture(scope="module")
def small_index(tmp_path_factory, tiny_encoder_dir):
    path = write_jsonl(tmp_path_factory.mktemp("small") / "corpus.jsonl",
                       ({"id": i, "title": t, "text": x} for i, t, x in DOCS))
    target = path.parent / "idx"
    build_index(path, target, encoder=str(tiny_encoder_dir))
    index = open_index(target)
    assert index.num_passages == len(DOCS)  # every document is one passage here
    yield index
    index.close()


def passages():
    return [f"{t}\n{x}" if t else x for _, t, x in DOCS]


@pytest.mark.parametrize("query", ["sourdough starter flour", "sharpening knives whetstone",
                                   "flour flour water", "hydrogen star"])
def test_bm25_equals_rank_bm25(small_index, query):
    tok = Tokenizer()
    reference = BM25Okapi([tok(p) for p in passages()]).get_scores(tok(query))
    cands = bm25_candidates(small_index, query, 10)
    got = {c.doc_id: c.score for c in cands}
    ids = [d[0] for d in DOCS]
    expected = {ids[i]: s for i, s in enumerate(reference) if any(
        t in tok(passages()[i]) for t in tok(query))}
    assert got.keys() == expected.keys()
    for doc_id, score in got.items():
        assert score == pytest.approx(expected[doc_id], abs=1e-6)
    assert [c.doc_id for c in cands] == trec_sorted(got, got.__getitem__)
    assert [c.rank for c in cands] == list(range(1, len(cands) + 1))


def test_stopword_only_query_finds_nothing(small_index):
    assert bm25_candidates(small_index, "the of and", 5) == []


def test_dense_equals_brute_force(small_index):
    vectors = small_index.encoder.encode(passages())
    query = small_index.encoder.encode(["feeding a sourdough starter"])[0]
    sims = vectors @ query
    ids = [d[0] for d in DOCS]
    expected = sorted(range(len(ids)), key=lambda i: (-sims[i], ids[i]))[:5]
    for exact in (True, False):
        cands = dense_candidates(small_index, query, 5, exact=exact)
        assert [c.doc_id for c in cands] == [ids[i] for i in expected]
        np.testing.assert_allclose([c.score for c in cands], sims[expected], atol=1e-5)


def test_hybrid_is_reciprocal_rank_fusion(small_index):
    text = "sourdough flour water"
    params = SearchParams(retriever="hybrid", candidates=6, k=6)
    lexical = bm25_candidates(small_index, text, 6)
    dense = dense_candidates(small_index, small_index.encoder.encode([text])[0], 6)
    expected: dict[str, float] = {}
    for ranking in (lexical, dense):
        for c in ranking:
            expected[c.doc_id] = expected.get(c.doc_id, 0) + 1 / (60 + c.rank)
    got = first_stage(small_index, text, params)
    assert [c.doc_id for c in got] == trec_sorted(expected, expected.__getitem__)[:6]
    assert [c.score for c in got] == pytest.approx(
        sorted(expected.values(), reverse=True)[:6])
    assert fuse([lexical], 3, 60)[0].doc_id == lexical[0].doc_id


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


def test_search_results_and_k(small_index, tiny_reranker):
    params = SearchParams(retriever="hybrid", candidates=5, k=3)
    results = list(search(small_index, [Query("a", "knife whetstone"), Query("b", "comet tail")],
                          params, tiny_reranker, with_text=True))
    assert [(r.qid, r.rank) for r in results] == [("a", 1), ("a", 2), ("a", 3),
                                                  ("b", 1), ("b", 2), ("b", 3)]
    texts = {d[0]: d[2] for d in DOCS}
    assert all(r.text == texts[r.doc_id] for r in results)
    record = results[0].to_dict()
    assert set(record) == {"qid", "query", "rank", "doc_id", "score", "rerank_score",
                           "first_stage_rank", "first_stage_score", "reranked", "fusion",
                           "title", "text"}
    assert type(record["score"]) is float


def test_multi_label_reranker_is_refused(small_index, tiny_nli_dir):
    from xenc.models.cross_encoder import CrossEncoder

    with pytest.raises(UsageError, match="3 labels"):
        model = CrossEncoder(str(tiny_nli_dir))
        list(search(small_index, [Query("a", "x")], SearchParams(), model))


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


def test_search_with_budget_says_how_many_were_reranked(small_index, tiny_reranker):
    params = SearchParams(retriever="hybrid", candidates=6, k=6, budget_ms=1e6)
    results = list(search(small_index, [Query("a", "knife whetstone")], params, tiny_reranker))
    assert {r.to_dict()["reranked_count"] for r in results} == {6}
    plain = list(search(small_index, [Query("a", "knife whetstone")],
                        SearchParams(retriever="hybrid", candidates=6, k=6), tiny_reranker))
    assert "reranked_count" not in plain[0].to_dict()
    assert [r.doc_id for r in results] == [r.doc_id for r in plain]


def test_search_params_are_validated_once():
    """SearchParams checks itself; from Python the messages name its fields, not flags."""
    assert SearchParams(candidates=5, k=10).candidates == 10
    assert SearchParams(candidates=50, k=10).candidates == 50
    with pytest.raises(UsageError, match=r"^retriever must be one of bm25, dense, hybrid, not 'x'"):
        SearchParams(retriever="x")
    with pytest.raises(UsageError, match=r"^aggregate must be one of max, first, sum, not 'mean'$"):
        SearchParams(aggregate="mean")


def test_every_retriever_is_registered_once_with_what_it_needs():
    from xenc.config import NEEDS
    from xenc.config import RETRIEVERS as NAMES
    from xenc.errors import UsageError
    from xenc.retrieval.stage import RETRIEVERS, retriever

    assert tuple(RETRIEVERS) == NAMES and set(NEEDS) == set(NAMES)
    assert [r.name for r in RETRIEVERS.values() if r.needs_vector] == ["dense", "hybrid"]
    assert [r.name for r in RETRIEVERS.values() if r.lexical_only] == ["bm25"]
    with pytest.raises(UsageError, match=r"^retriever must be one of bm25, dense, hybrid, "
                                         r"not 'splade'$"):
        retriever("splade")
