"""CrossEncoder.rank(query, documents, top_k), as sentence-transformers users expect."""

from __future__ import annotations

import pytest

from xenc.errors import UsageError

DOCS = ["the moon has phases", "bread needs flour", "the moon has phases", "stars at night"]


def test_rank_sorts_by_score_with_ids_and_text(tiny_reranker):
    query = "why does the moon have phases"
    scores = tiny_reranker.score_pairs([(query, d) for d in DOCS])
    ranked = tiny_reranker.rank(query, DOCS)
    assert [r["score"] for r in ranked] == sorted(scores, reverse=True)
    assert all(type(r["score"]) is float for r in ranked)
    assert all(r["text"] == DOCS[r["corpus_id"]] for r in ranked)
    assert sorted(r["corpus_id"] for r in ranked) == [0, 1, 2, 3]
    # documents 0 and 2 are identical: tied, and ordered as trec_eval would (id descending)
    tied = [r["corpus_id"] for r in ranked if r["corpus_id"] in (0, 2)]
    assert tied == [2, 0]
    top = tiny_reranker.rank(query, DOCS, top_k=2, return_documents=False)
    assert top == [{k: v for k, v in r.items() if k != "text"} for r in ranked[:2]]


def test_rank_refuses_bad_top_k_and_multi_label(tiny_reranker, tiny_nli_dir):
    from xenc.models.cross_encoder import CrossEncoder

    with pytest.raises(UsageError, match="top_k must be at least 1, got 0"):
        tiny_reranker.rank("q", DOCS, top_k=0)
    with pytest.raises(UsageError, match="has 3 labels"):
        CrossEncoder(str(tiny_nli_dir)).rank("q", DOCS)
