"""Issue 12: the HNSW graph searched in place (xenc.index.hnsw_file) finds what hnswlib finds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xenc.config import HNSWParams
from xenc.errors import IndexFormatError
from xenc.index import hnsw
from xenc.index.hnsw_file import GraphFile, GraphFileError, _pop, _push


def unit(rng, n, dim=16):
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def saved(tmp_path, vectors, params):
    graph = hnsw.build(vectors, params)
    hnsw.save(graph, tmp_path)
    return graph


@pytest.mark.parametrize("m", [4, 16])
def test_same_neighbours_as_hnswlib(tmp_path, m):
    """Several upper levels (M=4 gives many), duplicates (equal distances: ties broken by the
    same heap order), small and large ef: the same labels, nearest first, every query."""
    rng = np.random.default_rng(m)
    base = unit(rng, 1500)
    vectors = np.concatenate([base, base[:100], base[:20]])  # rows with twins and triplets
    params = HNSWParams(M=m, ef_construction=64)
    graph = saved(tmp_path, vectors, params)
    mapped = GraphFile(tmp_path / "hnsw.bin", space="cosine", dim=16)
    assert mapped.get_current_count() == len(vectors)
    assert mapped._max_level >= (3 if m == 4 else 1) and len(mapped._starts) > 0
    queries = np.concatenate([unit(rng, 40), vectors[:10], 3 * vectors[1500:1505]])
    for ef, k in ((10, 10), (64, 30), (200, 120)):
        graph.set_ef(ef)
        mapped.set_ef(ef)
        for q in queries:
            want, want_d = graph.knn_query(q.reshape(1, -1), k=k)
            got, got_d = mapped.knn_query(q.reshape(1, -1), k=k)
            assert got.tolist() == want.tolist()
            np.testing.assert_allclose(got_d, want_d, atol=1e-6)


def test_search_gives_the_same_pairs_either_way(tmp_path):
    rng = np.random.default_rng(5)
    vectors = unit(rng, 800)
    params = HNSWParams()
    saved(tmp_path, vectors, params)
    loaded = hnsw.load(tmp_path, 16, 800, params)
    mapped = hnsw.map_graph(tmp_path, 16, 800, params)
    assert isinstance(mapped, GraphFile) and mapped.ef == params.ef_search
    for q in unit(rng, 20):
        a = hnsw.search(loaded, vectors, q, 25, ef=params.ef_search)
        b = hnsw.search(mapped, vectors, q, 25, ef=params.ef_search)
        assert a == b  # rows and scores, to the bit: scores come from the embeddings
        assert [s for _, s in a] == [float(s) for s in (vectors[[r for r, _ in a]] @ q)]


def test_k_beyond_what_the_graph_returns_falls_back_to_exact(tmp_path):
    vectors = unit(np.random.default_rng(6), 3)
    saved(tmp_path, vectors, HNSWParams())
    mapped = hnsw.map_graph(tmp_path, 16, 3, HNSWParams())
    with pytest.raises(RuntimeError, match="fewer than k"):
        mapped.knn_query(vectors[:1], k=4)
    hits = hnsw.search(mapped, vectors, vectors[0], 10, ef=8)
    assert sorted(r for r, _ in hits) == [0, 1, 2] and hits[0][0] == 0


def test_deleted_elements_hand_over_to_hnswlib(tmp_path):
    rng = np.random.default_rng(7)
    vectors = unit(rng, 300)
    graph = hnsw.build(vectors, HNSWParams())
    graph.mark_deleted(int(np.argmax(vectors @ vectors[0])))  # row 0 itself
    hnsw.save(graph, tmp_path)
    calls = []

    def fallback():
        calls.append(1)
        return hnsw.load(tmp_path, 16, 300, HNSWParams())

    mapped = GraphFile(tmp_path / "hnsw.bin", space="cosine", dim=16, fallback=fallback)
    mapped.set_ef(50)
    graph.set_ef(50)
    for q in vectors[:5]:
        assert mapped.knn_query(q.reshape(1, -1), k=5)[0].tolist() == (
            graph.knn_query(q.reshape(1, -1), k=5)[0].tolist())
    assert 0 not in mapped.knn_query(vectors[:1], k=5)[0].tolist() and calls == [1]
    bare = GraphFile(tmp_path / "hnsw.bin", space="cosine", dim=16)
    with pytest.raises(RuntimeError, match="deleted"):
        bare.knn_query(vectors[:1], k=5)


def test_files_it_cannot_read(tmp_path):
    vectors = unit(np.random.default_rng(8), 50)
    saved(tmp_path, vectors, HNSWParams())
    path = tmp_path / "hnsw.bin"
    with pytest.raises(GraphFileError, match="layout"):
        GraphFile(path, space="cosine", dim=32)
    with pytest.raises(GraphFileError, match="space"):
        GraphFile(path, space="l2", dim=16)
    with pytest.raises(IndexFormatError, match="holds 50 vectors, the manifest says 51"):
        hnsw.map_graph(tmp_path, 16, 51, HNSWParams())
    data = path.read_bytes()
    broken = bytearray(data)
    broken[96 + 4 : 96 + 8] = (10**6).to_bytes(4, "little")  # element 0 links to 1,000,000
    path.write_bytes(bytes(broken))
    mapped = hnsw.map_graph(tmp_path, 16, 50, HNSWParams())
    with pytest.raises(IndexFormatError, match="links to an element it does not hold"):
        hnsw.search(mapped, vectors, vectors[0], 5, ef=50)
    path.write_bytes(data[:-4])
    with pytest.raises(GraphFileError, match="do not end"):
        GraphFile(path, space="cosine", dim=16)
    with pytest.raises(IndexFormatError, match="hnsw.bin: cannot be loaded"):
        hnsw.map_graph(tmp_path, 16, 50, HNSWParams())  # handed to hnswlib, which refuses
    path.write_bytes(b"garbage")
    with pytest.raises(IndexFormatError, match="hnsw.bin"):
        hnsw.map_graph(tmp_path, 16, 50, HNSWParams())
    path.unlink()
    with pytest.raises(IndexFormatError, match="missing"):
        hnsw.map_graph(tmp_path, 16, 50, HNSWParams())


def test_heap_breaks_ties_as_libstdcxx():
    """std::priority_queue with a compare on the first item only: equal keys leave in the
    order libstdc++'s sift-down gives them, not in insertion order. The expected orders were
    printed by a C++ program built with g++ (libstdc++) pushing the same items."""
    for keys, want in (
        ([1, 1, 1, 1, 2], [4, 2, 1, 0, 3]),
        ([1, 1, 1, 1, 2, 1, 3, 1, 1, 2, 2, 1], [6, 4, 9, 10, 2, 11, 8, 5, 7, 0, 1, 3]),
    ):
        heap: list[tuple[float, int]] = []
        for i, key in enumerate(keys):
            _push(heap, (float(key), i))
        assert [_pop(heap)[1] for _ in keys] == want and heap == []


def test_a_one_query_index_searches_in_place(sample_index):
    from xenc import Query, SearchParams, open_index, search

    one, many = open_index(sample_index, many_queries=False), open_index(sample_index)
    params = SearchParams(k=5, candidates=20, retriever="dense")
    queries = [Query("1", "sourdough starter"), Query("2", "telescope mirror")]
    try:
        assert isinstance(one.graph, GraphFile) and not isinstance(many.graph, GraphFile)
        a = [r.to_dict() for r in search(one, queries, params)]
        b = [r.to_dict() for r in search(many, queries, params)]
    finally:
        one.close()
        many.close()
    assert a == b and len(a) == 10


def test_an_upper_link_to_an_element_without_that_level_is_refused(tmp_path):
    vectors = unit(np.random.default_rng(9), 400)
    saved(tmp_path, vectors, HNSWParams(M=4))
    path = tmp_path / "hnsw.bin"
    graph = GraphFile(path, space="cosine", dim=16)
    start, levels = graph._starts[graph._entry]
    assert levels == graph._max_level >= 1
    flat = next(e for e in range(400) if e not in graph._starts)  # level 0 only
    words = 96 // 4 + 400 * (4 + 4 * 8 + 4 * 16 + 8) // 4 + start + (levels - 1) * 5
    data = np.fromfile(path, dtype=np.uint32)
    data[words] = 1  # the entry point's top list: one link, to `flat`
    data[words + 1] = flat
    data.tofile(path)
    broken = hnsw.map_graph(tmp_path, 16, 400, HNSWParams())
    with pytest.raises(IndexFormatError, match="links to an element above its level"):
        hnsw.search(broken, vectors, vectors[flat], 5, ef=20)


def test_hnswlib_is_bounded_to_the_versions_the_reader_was_checked_against():
    """The in-place reader follows hnswlib 0.8's file layout and search order; pyproject.toml
    must not admit a release it was not checked against, and the one installed is admitted."""
    import importlib.metadata
    import tomllib

    from packaging.requirements import Requirement

    root = Path(__file__).resolve().parents[2]
    deps = tomllib.loads((root / "pyproject.toml").read_text())["project"]["dependencies"]
    (req,) = [Requirement(d) for d in deps if Requirement(d).name == "hnswlib"]
    assert "0.8.0" in req.specifier and "0.9.0" not in req.specifier
    assert importlib.metadata.version("hnswlib") in req.specifier
