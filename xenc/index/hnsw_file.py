"""An hnswlib graph searched where it lies: ``hnsw.bin`` memory-mapped, nothing loaded.

``hnswlib.Index.load_index`` reads the whole file (the graph and a copy of every vector,
~170 MB for 100K passages) and checks it link list by link list before the first query can
run: 0.2-0.3 s at 100K passages and growing with the index. A process that asks one query
reads a few hundred nodes of it. :class:`GraphFile` maps the file and runs hnswlib's own
search (``searchKnn``: greedy descent through the upper levels, then the best-first search
of level 0 with ``ef`` candidates) in numpy and Python, so it touches only the pages of the
nodes it visits.

It follows hnswlib step by step, down to the order in which its ``std::priority_queue`` (a
libstdc++ binary heap) breaks ties between equal distances and the order in which its
AVX-512 kernel sums an inner product (:func:`inner_products`), so on the machines pip
builds that kernel for it computes the same distances to the bit, visits the same nodes and
returns the same rows. Elsewhere a distance may differ in its last bit, which can change a
result only where two distances agree to within float rounding. The scores xenc reports are
recomputed from ``embeddings.npy`` either way (:func:`xenc.index.hnsw.search`), so both
paths print the same numbers.

The file layout is hnswlib's ``saveIndex`` (0.6 to 0.8): a 96-byte header, then per element
its level-0 block (link count, ``maxM0`` neighbour ids, the vector, the 8-byte label), then
per element a 4-byte size and its upper-level link lists. This reader was checked against
hnswlib 0.8 (the tests compare its results with ``knn_query`` row for row), so xenc requires
``hnswlib>=0.8,<0.9`` (pyproject.toml): a newer hnswlib, with perhaps another layout or search
order, is taken only after the reader is checked against it again. A file whose header does
not fit this layout is handed to hnswlib (:func:`xenc.index.hnsw.map_graph`).
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from xenc.errors import IndexFormatError
from xenc.index.checks import CORRUPT

HEADER = struct.Struct("<QQQQQQiIQQQdQ")  # hnswlib saveIndex, in order
DELETED = 0x10000  # hnswlib's DELETE_MARK, in the third byte of the level-0 count word
SPACES = ("cosine", "ip")  # 1 - inner product; queries normalised for "cosine"


class GraphFileError(ValueError):
    """The file is not a graph this reader understands; the caller loads it with hnswlib."""


class GraphFile:
    """hnswlib's search over a memory-mapped ``hnsw.bin``, with hnswlib's method names.

    ``fallback`` loads the file with hnswlib; it is used, once, if the search meets an
    element marked deleted (xenc never deletes, but another writer of the file might).

    Not thread-safe, like hnswlib's index: ``ef`` (:meth:`set_ef`) is shared by every query
    that follows, so a caller that sets it per query searches from one thread at a time.
    """

    def __init__(
        self, path: Path, *, space: str, dim: int, fallback: Callable[[], Any] | None = None
    ) -> None:
        if space not in SPACES:
            raise GraphFileError(f"space {space!r} is not searched in place")
        with open(path, "rb") as fh:
            size = fh.seek(0, 2)
            if size < HEADER.size:
                raise GraphFileError("shorter than hnswlib's header")
            self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        (offset0, _max, count, per_element, label_offset, data_offset, max_level, entry,
         max_m, max_m0, _m, _mult, _efc) = HEADER.unpack_from(self._map, 0)
        links0 = 4 + 4 * max_m0
        if (offset0, data_offset, label_offset, per_element) != (
            0, links0, links0 + 4 * dim, links0 + 4 * dim + 8
        ):
            raise GraphFileError(f"layout is not hnswlib's for dim {dim}")
        if count and not 0 <= entry < count or max_level < 0 or max_m0 >= 1 << 16:
            raise GraphFileError("entry point or levels out of range")
        body = HEADER.size + count * per_element
        if size < body + 4 * count:
            raise GraphFileError("shorter than its elements")
        self.path, self.count, self.space = path, count, space
        self._entry, self._max_level = entry, max_level
        self._words_per_level = 1 + max_m
        level0 = np.frombuffer(self._map, dtype=np.uint8, count=count * per_element,
                               offset=HEADER.size).reshape(count, per_element)
        self._links0 = level0[:, :links0].view(np.uint32)
        self._vectors = level0[:, data_offset:label_offset].view(np.float32)
        self._labels = level0[:, label_offset:].view(np.uint64)[:, 0]
        self._upper = np.frombuffer(self._map, dtype=np.uint32, offset=body)
        self._starts = _upper_starts(self._upper, count, self._words_per_level, max_level)
        self._fallback = fallback
        self._loaded: Any | None = None
        self.ef = 10

    # hnswlib's names, so :func:`xenc.index.hnsw.search` takes either.
    def set_ef(self, ef: int) -> None:
        self.ef = int(ef)

    def get_current_count(self) -> int:
        return self.count

    def knn_query(self, queries: np.ndarray, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Labels and distances (``1 - inner product``), ``(len(queries), k)`` each, nearest
        first. Raises ``RuntimeError`` where the graph yields fewer than ``k``, as hnswlib."""
        if self._loaded is not None:
            return self._loaded.knn_query(queries, k=k)
        labels = np.empty((len(queries), k), dtype=np.uint64)
        distances = np.empty((len(queries), k), dtype=np.float32)
        for i, query in enumerate(np.asarray(queries, dtype=np.float32)):
            try:
                found = self._search(query, k)
            except _Deleted:
                if self._fallback is None:
                    raise RuntimeError("the graph holds deleted elements") from None
                self._loaded = self._fallback()
                self._loaded.set_ef(self.ef)
                return self._loaded.knn_query(queries, k=k)
            if len(found) < k:
                raise RuntimeError("the graph returned fewer than k items")
            # hnswlib hands its result over in a priority_queue of (distance, label) pairs:
            # nearest first, equal distances by label.
            ranked = sorted((dist, int(self._labels[node])) for dist, node in found)
            for j, (dist, label) in enumerate(ranked):
                labels[i, j], distances[i, j] = label, dist
        return labels, distances

    def _distances(self, query: np.ndarray, nodes: Any) -> np.ndarray:
        return np.float32(1.0) - inner_products(self._vectors[nodes], query)

    def _neighbours(self, node: int, level: int) -> np.ndarray:
        if level == 0:
            row = self._links0[node]
            head = int(row[0])
            if head & DELETED:
                raise _Deleted
            around = row[1 : 1 + (head & 0xFFFF)]
        else:
            start, levels = self._starts.get(node, (0, 0))
            if level > levels:
                raise IndexFormatError(f"{self.path}: links to an element above its level; "
                                       f"{CORRUPT}")
            start += (level - 1) * self._words_per_level
            around = self._upper[start + 1 : start + 1 + (int(self._upper[start]) & 0xFFFF)]
        if len(around) and int(around.max()) >= self.count:
            raise IndexFormatError(f"{self.path}: links to an element it does not hold; {CORRUPT}")
        return around

    def _search(self, query: np.ndarray, k: int) -> list[tuple[float, int]]:
        """hnswlib ``searchKnn`` (bare-bone: no deletions, no filter): the ``k`` nearest
        ``(distance, element)`` pairs, in no order."""
        if not self.count:
            return []
        if self.space == "cosine":
            norm = np.sqrt(np.cumsum(query * query, dtype=np.float32)[-1])  # in order, as C
            query = query * (np.float32(1.0) / (norm + np.float32(1e-30)))
        node = self._entry
        best = float(self._distances(query, [node])[0])
        for level in range(self._max_level, 0, -1):
            changed = True
            while changed:
                changed = False
                around = self._neighbours(node, level)
                if len(around):
                    dists = self._distances(query, around)
                    i = int(np.argmin(dists))  # the first of equal minima, as hnswlib's scan
                    if float(dists[i]) < best:
                        best, node, changed = float(dists[i]), int(around[i]), True
        top = self._search_level0(query, node, best, max(self.ef, k))
        while len(top) > k:
            _pop(top)
        return top


    def _search_level0(
        self, query: np.ndarray, entry: int, dist: float, ef: int
    ) -> list[tuple[float, int]]:
        """hnswlib ``searchBaseLayerST<bare_bone_search=true>`` from ``entry``, at ``dist``
        from the query; the list returned is its max-heap of the ``ef`` nearest."""
        visited = np.zeros(self.count, dtype=bool)
        lower = dist
        top: list[tuple[float, int]] = [(dist, entry)]
        candidates: list[tuple[float, int]] = [(-dist, entry)]
        visited[entry] = True
        while candidates:
            negative, node = candidates[0]
            if -negative > lower:
                break
            _pop(candidates)
            around = self._neighbours(node, 0)
            fresh = around[~visited[around]]
            if len(fresh) > 1 and len(np.unique(fresh)) < len(fresh):  # repeated: first only
                fresh = fresh[np.sort(np.unique(fresh, return_index=True)[1])]
            if not len(fresh):
                continue
            if np.any(self._links0[fresh, 0] & DELETED):  # hnswlib would leave them out
                raise _Deleted
            visited[fresh] = True
            for dist, cand in zip(self._distances(query, fresh).tolist(), fresh.tolist(),
                                  strict=True):
                if len(top) < ef or lower > dist:
                    _push(candidates, (-dist, cand))
                    _push(top, (dist, cand))
                    while len(top) > ef:
                        _pop(top)
                    lower = top[0][0]
        return top


def inner_products(rows: np.ndarray, query: np.ndarray) -> np.ndarray:
    """``rows @ query`` in float32, summed in the order of hnswlib's AVX-512 kernel (what
    pip builds for this machine's CPUs): 16 lanes of fused multiply-adds along the vector,
    then ``_mm512_reduce_add_ps``'s halving tree. Where hnswlib runs another kernel, this
    still gives every row the same rounding, so equal vectors get equal distances.

    A float64 product of two float32 numbers is exact, so adding it to the float32 sum in
    float64 and rounding once is the fused multiply-add.
    """
    n, dim = rows.shape
    wide = dim - dim % 16
    products = rows[:, :wide].astype(np.float64) * query[:wide].astype(np.float64)
    steps = products.reshape(n, wide // 16, 16).transpose(1, 0, 2).copy()
    wide_sum, lanes = np.zeros((n, 16)), np.zeros((n, 16), dtype=np.float32)
    for step in steps:  # in place: a few numpy calls a step, for a dozen rows
        np.add(wide_sum, step, out=wide_sum)
        lanes[...] = wide_sum  # the one rounding of the fused multiply-add
        wide_sum[...] = lanes
    half = lanes[:, 8:] + lanes[:, :8]
    quarter = half[:, 4:] + half[:, :4]
    pair = quarter[:, :2] + quarter[:, 2:]
    total = pair[:, 0] + pair[:, 1]
    if wide < dim:  # hnswlib's residual loop: one float32 sum, in order
        tail = np.zeros(n, dtype=np.float32)
        for column in range(wide, dim):
            tail = tail + (rows[:, column] * query[column]).astype(np.float32)
        total = total + tail
    return total


class _Deleted(Exception):
    """An element marked deleted was met: hnswlib's non-bare-bone search is needed."""


# libstdc++'s std::push_heap / std::pop_heap with hnswlib's CompareByFirst (a max-heap on
# the first item only), so that equal distances leave the heap in hnswlib's order.
def _push(heap: list[tuple[float, int]], item: tuple[float, int]) -> None:
    heap.append(item)
    _sift_up(heap, len(heap) - 1, item)


def _sift_up(heap: list[tuple[float, int]], hole: int, item: tuple[float, int]) -> None:
    parent = (hole - 1) // 2
    while hole > 0 and heap[parent][0] < item[0]:
        heap[hole] = heap[parent]
        hole = parent
        parent = (hole - 1) // 2
    heap[hole] = item


def _pop(heap: list[tuple[float, int]]) -> tuple[float, int]:
    first = heap[0]
    last = heap.pop()
    n = len(heap)
    if n:
        hole = child = 0
        while child < (n - 1) // 2:
            child = 2 * (child + 1)
            if heap[child][0] < heap[child - 1][0]:
                child -= 1
            heap[hole] = heap[child]
            hole = child
        if n % 2 == 0 and child == (n - 2) // 2:
            child = 2 * (child + 1)
            heap[hole] = heap[child - 1]
            hole = child - 1
        _sift_up(heap, hole, last)
    return first


def _upper_starts(
    words: np.ndarray, count: int, per_level: int, max_level: int
) -> dict[int, tuple[int, int]]:
    """Where each element with upper levels has its link lists (in 4-byte words after level
    0), and how many levels it has.

    Each element has a size word (bytes of link lists that follow; 0 for most); the lists
    follow it. Runs of zero words are elements without upper levels, so the walk jumps from
    one non-zero size word to the next and visits only the elements that have upper levels.

    Raises:
        GraphFileError: The sizes do not walk to the end of the file in ``count`` steps.
    """
    nonzero = np.flatnonzero(words)
    search, end = nonzero.searchsorted, len(nonzero)
    starts: dict[int, tuple[int, int]] = {}
    element = position = 0
    bytes_per_level = 4 * per_level
    while element < count:
        i = int(search(position))
        nxt = int(nonzero[i]) if i < end else position + count - element
        if nxt - position >= count - element:  # the rest have no upper levels
            position += count - element
            element = count
            break
        element += nxt - position
        size = int(words[nxt])
        if size % bytes_per_level or size // bytes_per_level > max_level:
            raise GraphFileError("an upper-level link list has an impossible size")
        starts[element] = (nxt + 1, size // bytes_per_level)
        position = nxt + 1 + size // 4
        element += 1
    if position != len(words):
        raise GraphFileError("link lists do not end where the file does")
    return starts
