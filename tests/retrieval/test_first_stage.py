"""The first stage (xenc.retrieval), checked against independent computations: BM25 against
rank_bm25, dense against brute force, hybrid against reciprocal rank fusion by hand."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SMALL_DOCS as DOCS
from conftest import small_passages as passages
from conftest import trec_sorted
from rank_bm25 import BM25Okapi

from xenc.config import SearchParams
from xenc.index.tokenize import Tokenizer
from xenc.retrieval.bm25 import bm25_candidates
from xenc.retrieval.dense import dense_candidates
from xenc.retrieval.hybrid import fuse
from xenc.retrieval.stage import first_stage


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
