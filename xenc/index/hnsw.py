"""The dense index: hnswlib (cosine) over passage embeddings, plus exact search.

:func:`load` reads the graph with hnswlib, for processes that ask many queries;
:func:`map_graph` searches it in place (:mod:`xenc.index.hnsw_file`), for a process that
asks one and should not pay for reading the whole file first. Both give the same rows, and
:func:`search` scores them from the embeddings, so both give the same numbers too.

hnswlib needs ``space`` and ``dim`` before ``load_index``; both come from the manifest. The
graph is built with one thread by default (``HNSWParams.threads``) and a fixed seed, so the
same embeddings give the same file. ``search`` falls back to exact inner products when asked
(``exact=True``) or when the index is too small for HNSW to be worth it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from xenc.config import HNSWParams
from xenc.errors import IndexFormatError

HNSW_FILE = "hnsw.bin"
EMBEDDINGS_FILE = "embeddings.npy"


def build(vectors: np.ndarray, params: HNSWParams) -> Any:
    """Build an hnswlib index over unit vectors; row ``i`` gets label ``i``."""
    import hnswlib

    n, dim = vectors.shape
    index = hnswlib.Index(space=params.space, dim=dim)
    index.init_index(
        max_elements=max(n, 1),
        M=params.M,
        ef_construction=params.ef_construction,
        random_seed=params.seed,
    )
    if n:
        index.add_items(vectors, np.arange(n), num_threads=params.threads)
    index.set_ef(params.ef_search)
    return index


def save(index: Any, directory: Path) -> list[str]:
    index.save_index(str(directory / HNSW_FILE))
    return [HNSW_FILE]


def load(directory: Path, dim: int, count: int, params: HNSWParams) -> Any:
    """Load the graph written by :func:`save`, checking it holds ``count`` items."""
    import hnswlib

    path = _graph_path(directory)
    index = hnswlib.Index(space=params.space, dim=dim)
    try:
        index.load_index(str(path), max_elements=max(count, 1))
    except (RuntimeError, ValueError) as exc:
        raise IndexFormatError(f"{path}: cannot be loaded ({exc})") from None
    return _checked(index, path, count, params)


def map_graph(directory: Path, dim: int, count: int, params: HNSWParams) -> Any:
    """The graph of :func:`save`, memory-mapped and searched in place: ready in milliseconds
    where :func:`load` takes 0.2 s per 100K passages. Falls back to :func:`load` for a file
    the in-place reader does not understand (another space, another layout)."""
    from xenc.index.hnsw_file import GraphFile, GraphFileError

    path = _graph_path(directory)

    def fallback() -> Any:
        return load(directory, dim, count, params)

    try:
        graph = GraphFile(path, space=params.space, dim=dim, fallback=fallback)
    except (GraphFileError, OSError, ValueError):
        return fallback()
    return _checked(graph, path, count, params)


def _graph_path(directory: Path) -> Path:
    path = directory / HNSW_FILE
    if not path.is_file():
        raise IndexFormatError(f"{path}: missing; re-run `xenc index`")
    return path


def _checked(graph: Any, path: Path, count: int, params: HNSWParams) -> Any:
    """``graph`` (either kind) with ``ef_search`` set, once it holds ``count`` vectors."""
    if graph.get_current_count() != count:
        raise IndexFormatError(
            f"{path}: holds {graph.get_current_count()} vectors, the manifest says {count}"
        )
    graph.set_ef(params.ef_search)
    return graph


def search(
    index: Any | None,
    embeddings: np.ndarray,
    query: np.ndarray,
    k: int,
    *,
    ef: int,
    exact: bool = False,
) -> list[tuple[int, float]]:
    """Top-``k`` rows by cosine similarity: ``(row, similarity)``, best first, ties by row.

    The graph (either kind) chooses the rows; their similarities are computed here from
    ``embeddings``, as the exact search computes them.
    """
    n = embeddings.shape[0]
    k = min(k, n)
    if k <= 0:
        return []
    if exact or index is None:
        return _exact(embeddings, query, k)
    index.set_ef(max(ef, k))
    try:
        labels, _ = index.knn_query(query.reshape(1, -1), k=k)
    except RuntimeError:  # the graph could not return k items (k close to the index size)
        return _exact(embeddings, query, k)
    rows = labels[0].astype(np.int64)
    sims = np.asarray(embeddings[rows] @ query.astype(np.float32))
    return sorted(((int(r), float(s)) for r, s in zip(rows, sims, strict=True)),
                  key=lambda p: (-p[1], p[0]))


def _exact(embeddings: np.ndarray, query: np.ndarray, k: int) -> list[tuple[int, float]]:
    sims = np.asarray(embeddings @ query.astype(np.float32))
    n = sims.shape[0]
    top = np.argpartition(-sims, k - 1)[:k] if k < n else np.arange(n)
    order = sorted(top.tolist(), key=lambda r: (-float(sims[r]), r))
    return [(r, float(sims[r])) for r in order]
