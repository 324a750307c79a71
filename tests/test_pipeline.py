"""Search as a use case (xenc.pipeline): both stages composed into records, k, budgets, and
the parameters checked once."""

from __future__ import annotations

import pytest
from conftest import SMALL_DOCS as DOCS

from xenc.config import SearchParams
from xenc.errors import UsageError
from xenc.pipeline import search
from xenc.records import Query


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
