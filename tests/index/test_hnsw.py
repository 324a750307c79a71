from __future__ import annotations

import numpy as np
import pytest

from xenc.config import HNSWParams
from xenc.errors import IndexFormatError
from xenc.index import hnsw


def unit(rng, n, dim=16):
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_hnsw_matches_exact_search_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    vectors, queries = unit(rng, 500), unit(rng, 20)
    params = HNSWParams()
    graph = hnsw.build(vectors, params)
    hnsw.save(graph, tmp_path)
    loaded = hnsw.load(tmp_path, 16, 500, params)
    for q in queries:
        exact = hnsw.search(None, vectors, q, 10, ef=64, exact=True)
        sims = vectors @ q
        assert [r for r, _ in exact] == sorted(range(500), key=lambda r: (-sims[r], r))[:10]
        for g in (graph, loaded):
            approx = hnsw.search(g, vectors, q, 10, ef=64)
            assert [r for r, _ in approx] == [r for r, _ in exact]
            np.testing.assert_allclose([s for _, s in approx], [s for _, s in exact], atol=1e-5)


def test_k_larger_than_the_index(tmp_path):
    rng = np.random.default_rng(1)
    vectors = unit(rng, 3)
    graph = hnsw.build(vectors, HNSWParams())
    hits = hnsw.search(graph, vectors, vectors[0], 10, ef=8)
    assert sorted(r for r, _ in hits) == [0, 1, 2] and hits[0][0] == 0
    assert hnsw.search(graph, vectors[:0], vectors[0], 5, ef=8) == []


def test_same_vectors_same_file(tmp_path):
    rng = np.random.default_rng(2)
    vectors = unit(rng, 300)
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        hnsw.save(hnsw.build(vectors, HNSWParams()), tmp_path / name)
    assert (tmp_path / "a" / "hnsw.bin").read_bytes() == (tmp_path / "b" / "hnsw.bin").read_bytes()


def test_load_checks_the_count(tmp_path):
    vectors = unit(np.random.default_rng(3), 10)
    hnsw.save(hnsw.build(vectors, HNSWParams()), tmp_path)
    with pytest.raises(IndexFormatError, match="holds 10 vectors, the manifest says 11"):
        hnsw.load(tmp_path, 16, 11, HNSWParams())
    (tmp_path / "hnsw.bin").write_bytes(b"garbage")
    with pytest.raises(IndexFormatError, match="hnsw.bin"):
        hnsw.load(tmp_path, 16, 10, HNSWParams())
