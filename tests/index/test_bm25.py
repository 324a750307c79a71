"""Tests for xenc.index.bm25: scores equal to rank_bm25.BM25Okapi, top-k order, save/load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from xenc.errors import IndexFormatError
from xenc.index.bm25 import BM25_FILES, BM25Index, BM25Params

HAND = [
    ["the", "cat", "sat", "on", "the", "mat"],
    ["dog", "chased", "the", "cat"],
    [],
    ["cat", "cat", "cat"],
    ["a", "bird", "on", "a", "wire"],
    ["mat", "dog"],
]


def random_corpus(seed: int, rows: int, vocab: int, max_len: int) -> list[list[str]]:
    """Zipf-ish random corpus with some zero-length rows and very common terms."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, vocab + 1)
    weights /= weights.sum()
    lengths = rng.integers(0, max_len + 1, size=rows)
    return [[f"w{t}" for t in rng.choice(vocab, size=n, p=weights)] for n in lengths]


def random_queries(seed: int, vocab: int, count: int) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    queries = [
        [f"w{t}" for t in rng.integers(0, vocab, size=rng.integers(1, 6))] for _ in range(count)
    ]
    queries += [["w0", "w0", "w1"], ["w0"], ["unknown", "w3"], ["unknown"], ["w2", "w2", "w2"]]
    return queries


def expected_top_k(scores: np.ndarray, matched: np.ndarray, k: int) -> list[tuple[int, float]]:
    rows = [int(r) for r in np.flatnonzero(matched)]
    rows.sort(key=lambda r: (-scores[r], r))
    return [(r, float(scores[r])) for r in rows[:k]]


def matched_rows(corpus: list[list[str]], query: list[str]) -> np.ndarray:
    terms = set(query)
    return np.array([bool(terms.intersection(doc)) for doc in corpus], dtype=bool)


CORPORA = [
    ("hand", HAND, [["cat"], ["the", "cat", "cat"], ["dog", "mat", "zebra"], ["zebra"], []]),
    ("small", random_corpus(1, 40, 12, 8), random_queries(11, 14, 20)),
    ("zipf", random_corpus(2, 300, 200, 30), random_queries(12, 210, 30)),
    ("dense", random_corpus(3, 200, 5, 6), random_queries(13, 6, 20)),
]
PARAMS = [BM25Params(), BM25Params(k1=1.2, b=0.5, epsilon=0.1), BM25Params(k1=0.9, b=0.95)]


def corpus_ids() -> list[str]:
    return [name for name, _, _ in CORPORA]


@pytest.mark.parametrize(("name", "corpus", "queries"), CORPORA, ids=corpus_ids())
@pytest.mark.parametrize("params", PARAMS)
def test_scores_match_rank_bm25(
    name: str, corpus: list[list[str]], queries: list[list[str]], params: BM25Params
) -> None:
    reference = BM25Okapi(corpus, k1=params.k1, b=params.b, epsilon=params.epsilon)
    index = BM25Index.build(iter(corpus), params)
    assert index.num_rows == len(corpus)
    assert index.vocab_size == len(reference.idf)
    for term, idf in reference.idf.items():
        assert index.idf[index.term_ids[term]] == pytest.approx(idf, abs=1e-12)
    for query in queries:
        got = index.scores(query)
        assert got.dtype == np.float64 and got.shape == (len(corpus),)
        expected = reference.get_scores(query)
        np.testing.assert_allclose(got, expected, atol=1e-6, rtol=0)
        np.testing.assert_array_equal(got, expected)  # same operations, same order: bit-exact


def test_build_in_many_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = random_corpus(5, 120, 40, 15)
    whole = BM25Index.build(corpus)
    monkeypatch.setattr("xenc.index.bm25._PostingsBuilder.CHUNK_ROWS", 7)
    chunked = BM25Index.build(iter(corpus))
    assert chunked.vocab == whole.vocab
    for attr in ("indptr", "rows", "tf", "doc_len", "idf"):
        np.testing.assert_array_equal(getattr(chunked, attr), getattr(whole, attr))
    reference = BM25Okapi(corpus)
    for query in random_queries(15, 45, 10):
        np.testing.assert_allclose(
            chunked.scores(query), reference.get_scores(query), atol=1e-6, rtol=0
        )


def test_negative_idf_uses_epsilon() -> None:
    corpus = random_corpus(3, 200, 5, 6)
    reference = BM25Okapi(corpus)
    assert any(reference.get_scores(["w0"]) != 0)
    index = BM25Index.build(corpus)
    eps = 0.25 * reference.average_idf
    common = [t for t, n in reference_doc_freq(corpus).items() if n > len(corpus) / 2]
    assert common, "the corpus should have a term in more than half the rows"
    for term in common:
        assert index.idf[index.term_ids[term]] == pytest.approx(eps)


def reference_doc_freq(corpus: list[list[str]]) -> dict[str, int]:
    freq: dict[str, int] = {}
    for doc in corpus:
        for term in set(doc):
            freq[term] = freq.get(term, 0) + 1
    return freq


@pytest.mark.parametrize(("name", "corpus", "queries"), CORPORA, ids=corpus_ids())
@pytest.mark.parametrize("k", [1, 3, 10, 1000])
def test_top_k_matches_reference_ranking(
    name: str, corpus: list[list[str]], queries: list[list[str]], k: int
) -> None:
    reference = BM25Okapi(corpus)
    index = BM25Index.build(corpus)
    for query in queries:
        expected = expected_top_k(reference.get_scores(query), matched_rows(corpus, query), k)
        got = index.top_k(query, k)
        assert [r for r, _ in got] == [r for r, _ in expected]
        np.testing.assert_allclose([s for _, s in got], [s for _, s in expected], atol=1e-6)


def test_b_one_with_empty_rows_scores_zero_not_nan() -> None:
    # rank-bm25 computes 0/0 = nan for empty rows when b=1; unmatched rows score 0 here.
    index = BM25Index.build(HAND, BM25Params(b=1.0))
    scores = index.scores(["cat", "mat"])
    assert np.isfinite(scores).all() and scores[2] == 0.0
    reference = BM25Okapi(HAND, b=1.0)
    with np.errstate(invalid="ignore"):
        expected = reference.get_scores(["cat", "mat"])
    finite = np.isfinite(expected)
    np.testing.assert_allclose(scores[finite], expected[finite], atol=1e-6, rtol=0)


def test_top_k_ties_by_row_and_unmatched() -> None:
    corpus = [["x"], ["y"], ["x"], ["x"], [], ["x"]]
    index = BM25Index.build(corpus)
    assert [r for r, _ in index.top_k(["x"], 2)] == [0, 2]
    assert [r for r, _ in index.top_k(["x"], 10)] == [0, 2, 3, 5]
    assert index.top_k(["nothing"], 5) == []
    assert index.top_k([], 5) == []
    assert index.top_k(["x"], 0) == []


def test_empty_corpus_and_empty_rows() -> None:
    empty = BM25Index.build([])
    assert empty.num_rows == 0 and empty.vocab_size == 0
    assert empty.scores(["a"]).shape == (0,)
    assert empty.top_k(["a"], 5) == []
    blank = BM25Index.build([[], []])
    assert blank.num_rows == 2
    np.testing.assert_array_equal(blank.scores(["a"]), [0.0, 0.0])
    assert blank.top_k(["a"], 5) == []


def test_to_dict() -> None:
    index = BM25Index.build(HAND)
    summary = index.to_dict()
    assert summary["num_rows"] == 6 and summary["vocab_size"] == index.vocab_size
    assert summary["nnz"] == sum(len(set(doc)) for doc in HAND)
    assert summary["avgdl"] == pytest.approx(sum(map(len, HAND)) / 6)
    assert BM25Params.from_dict(summary["params"]) == BM25Params()


@pytest.mark.parametrize("mmap", [True, False])
def test_save_load_round_trip(tmp_path: Path, mmap: bool) -> None:
    corpus = random_corpus(4, 150, 80, 20)
    index = BM25Index.build(corpus)
    written = index.save(tmp_path)
    assert sorted(written) == sorted(BM25_FILES)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(written)
    loaded = BM25Index.load(tmp_path, BM25Params(), mmap=mmap)
    assert loaded.vocab == index.vocab and loaded.to_dict() == index.to_dict()
    for query in random_queries(14, 90, 15):
        np.testing.assert_array_equal(loaded.scores(query), index.scores(query))
        assert loaded.top_k(query, 7) == index.top_k(query, 7)


def test_files_load_without_pickle(tmp_path: Path) -> None:
    BM25Index.build(HAND).save(tmp_path)
    for path in tmp_path.glob("*.npy"):
        arr = np.load(path, allow_pickle=False)
        assert arr.dtype != object


def test_empty_index_round_trip(tmp_path: Path) -> None:
    BM25Index.build([]).save(tmp_path)
    loaded = BM25Index.load(tmp_path, BM25Params())
    assert loaded.num_rows == 0 and loaded.top_k(["a"], 3) == []


@pytest.mark.parametrize("name", BM25_FILES)
def test_load_rejects_missing_file(tmp_path: Path, name: str) -> None:
    BM25Index.build(HAND).save(tmp_path)
    (tmp_path / name).unlink()
    with pytest.raises(IndexFormatError, match=name):
        BM25Index.load(tmp_path, BM25Params())


@pytest.mark.parametrize("name", BM25_FILES)
@pytest.mark.parametrize("mmap", [True, False])
def test_load_rejects_truncated_file(tmp_path: Path, name: str, mmap: bool) -> None:
    BM25Index.build(HAND).save(tmp_path)
    path = tmp_path / name
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 3])
    with pytest.raises(IndexFormatError, match=name):
        BM25Index.load(tmp_path, BM25Params(), mmap=mmap)


def test_load_rejects_inconsistent_shapes(tmp_path: Path) -> None:
    BM25Index.build(HAND).save(tmp_path)
    np.save(tmp_path / "bm25_idf.npy", np.zeros(2))
    with pytest.raises(IndexFormatError, match="bm25_idf.npy"):
        BM25Index.load(tmp_path, BM25Params())
    BM25Index.build(HAND).save(tmp_path)
    np.save(tmp_path / "bm25_rows.npy", np.zeros(3, dtype=np.int64))
    with pytest.raises(IndexFormatError, match="bm25_rows.npy"):
        BM25Index.load(tmp_path, BM25Params())


def test_params_from_dict_rejects_bad_values() -> None:
    assert BM25Params.from_dict({"k1": 1, "b": 0.5}) == BM25Params(k1=1.0, b=0.5)
    with pytest.raises(IndexFormatError):
        BM25Params.from_dict({"k1": "1.5"})
    with pytest.raises(IndexFormatError):
        BM25Params.from_dict({"b": float("nan")})
