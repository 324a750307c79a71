"""BM25 with exactly rank-bm25's ``BM25Okapi`` scores, stored as numpy arrays.

Postings are kept column-wise by term (CSC): term ``t`` occurs in rows
``rows[indptr[t]:indptr[t + 1]]`` (ascending) with counts ``tf[...]``. Term ids follow the
order in which terms first occur in the corpus, which is also the order in which
rank-bm25 sums idf values, so ``idf`` (including the epsilon floor for negative values)
and every score match ``BM25Okapi`` bit for bit: weights are computed with the same
operations in the same order, and per-row contributions are added in query-token order.

Deviations, for corpora rank-bm25 cannot handle: an empty corpus (N=0) or one without a
single token scores nothing instead of dividing by zero.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from xenc.config import BM25Params
from xenc.errors import IndexFormatError
from xenc.index.checks import check_postings

ARRAY_FILES = {
    "indptr": ("bm25_indptr.npy", np.int64),
    "rows": ("bm25_rows.npy", np.int32),
    "tf": ("bm25_tf.npy", np.int32),
    "doc_len": ("bm25_doc_len.npy", np.int32),
    "idf": ("bm25_idf.npy", np.float64),
}
VOCAB_FILE = "bm25_vocab.json"
BM25_FILES = tuple(name for name, _ in ARRAY_FILES.values()) + (VOCAB_FILE,)


class _PostingsBuilder:
    """Accumulates (term, row, tf) postings, vectorized per chunk of ``CHUNK_ROWS`` rows."""

    CHUNK_ROWS = 1 << 15

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {}  # term → id, in order of first occurrence
        self._ids: list[int] = []  # term id of every token of the current chunk
        self._lens: list[int] = []  # token count of every row of the current chunk
        self._doc_len = array("i")
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def add(self, tokens: list[str]) -> None:
        """Append one row."""
        start = len(self._ids)
        try:
            self._ids += map(self.vocab.__getitem__, tokens)
        except KeyError:  # a new term: drop the ids appended so far and assign new ones
            del self._ids[start:]
            vocab, setdefault = self.vocab, self.vocab.setdefault
            self._ids += [setdefault(term, len(vocab)) for term in tokens]
        self._lens.append(len(tokens))
        if len(self._lens) >= self.CHUNK_ROWS:
            self._flush()

    def _flush(self) -> None:
        n = len(self._lens)
        if n == 0:
            return
        lens = np.asarray(self._lens, dtype=np.int64)
        key = np.asarray(self._ids, dtype=np.int64) * n
        key += np.repeat(np.arange(n, dtype=np.int64), lens)
        key, tf = np.unique(key, return_counts=True)  # sorted by term, then row
        row0 = len(self._doc_len)
        self._parts.append(
            ((key // n).astype(np.int32), (key % n + row0).astype(np.int32), tf.astype(np.int32))
        )
        self._doc_len.extend(self._lens)
        self._ids, self._lens = [], []

    def finish(self) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Return (vocab, term ids, rows, tf, doc_len); postings in row-chunk order."""
        self._flush()
        parts = self._parts or [(np.zeros(0, np.int32),) * 3]
        term, rows, tf = (np.concatenate([part[i] for part in parts]) for i in range(3))
        self._parts = []
        doc_len = np.frombuffer(self._doc_len, dtype=np.int32).copy()
        return list(self.vocab), term, rows, tf, doc_len


def compute_idf(doc_freq: np.ndarray, num_rows: int, epsilon: float) -> np.ndarray:
    """Idf per term exactly as ``rank_bm25.BM25Okapi._calc_idf``.

    Args:
        doc_freq: Number of rows containing each term, in first-occurrence order.
        num_rows: N, the number of rows.
        epsilon: Negative idf values become ``epsilon * average_idf``.

    Returns:
        float64 idf per term.
    """
    if len(doc_freq) == 0:
        return np.zeros(0, dtype=np.float64)
    uniq, inverse = np.unique(doc_freq, return_inverse=True)
    per_df = [math.log(num_rows - n + 0.5) - math.log(n + 0.5) for n in uniq.tolist()]
    idf = np.asarray(per_df, dtype=np.float64)[inverse.reshape(-1)]
    average_idf = float(np.cumsum(idf)[-1]) / len(idf)  # sequential sum, like rank-bm25
    idf[idf < 0] = epsilon * average_idf
    return idf


class BM25Index:
    """A BM25 index over N rows (passages), searchable by token lists.

    Build with ``BM25Index.build`` or read with ``BM25Index.load``; the constructor takes
    the arrays as they are stored.
    """

    def __init__(
        self,
        vocab: list[str],
        indptr: np.ndarray,
        rows: np.ndarray,
        tf: np.ndarray,
        doc_len: np.ndarray,
        idf: np.ndarray,
        params: BM25Params = BM25Params(),  # noqa: B008
    ) -> None:
        self.vocab = vocab
        self.term_ids: dict[str, int] = {term: i for i, term in enumerate(vocab)}
        self.indptr = indptr
        self.rows = rows
        self.tf = tf
        self.doc_len = doc_len
        self.idf = idf
        self.params = params
        total = int(np.sum(doc_len, dtype=np.int64))
        self.avgdl = total / len(doc_len) if len(doc_len) else 0.0
        self._norms: np.ndarray | None = None

    @property
    def num_rows(self) -> int:
        """N, the number of rows (rows without tokens included)."""
        return int(self.doc_len.shape[0])

    @property
    def vocab_size(self) -> int:
        """V, the number of distinct terms."""
        return len(self.vocab)

    @property
    def nnz(self) -> int:
        """The number of (term, row) postings."""
        return int(self.rows.shape[0])

    def to_dict(self) -> dict[str, Any]:
        """A summary for the index manifest."""
        return {
            "params": self.params.to_dict(),
            "num_rows": self.num_rows,
            "vocab_size": self.vocab_size,
            "nnz": self.nnz,
            "avgdl": float(self.avgdl),
        }

    @classmethod
    def build(
        cls,
        token_lists: Iterable[list[str]],
        params: BM25Params = BM25Params(),  # noqa: B008
    ) -> BM25Index:
        """Index token lists, one per row, in one streaming pass.

        Token lists are turned into term ids and counted per chunk of rows with numpy;
        only the (term, row, count) postings are kept, ordered by term with one stable
        sort at the end.

        Args:
            token_lists: The tokens of each row, in row order (may be a generator).
            params: BM25 parameters; ``epsilon`` is applied to the stored idf.

        Returns:
            The index.
        """
        builder = _PostingsBuilder()
        for tokens in token_lists:
            builder.add(tokens)
        vocab, term, rows, tf, doc_len = builder.finish()
        order = np.argsort(term, kind="stable")  # chunks are in row order: rows stay ascending
        rows, tf = rows[order], tf[order]
        del order
        doc_freq = np.bincount(term, minlength=len(vocab))
        indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
        np.cumsum(doc_freq, out=indptr[1:])
        idf = compute_idf(doc_freq, len(doc_len), params.epsilon)
        return cls(vocab, indptr, rows, tf, doc_len, idf, params)

    def save(self, directory: Path) -> list[str]:
        """Write the arrays and the vocabulary into ``directory`` (which must exist).

        Returns:
            The names of the files written (``BM25_FILES``), nothing else is written.
        """
        directory = Path(directory)
        for attr, (name, dtype) in ARRAY_FILES.items():
            np.save(directory / name, np.ascontiguousarray(getattr(self, attr), dtype=dtype))
        (directory / VOCAB_FILE).write_bytes(orjson.dumps(self.vocab))
        return list(BM25_FILES)

    @classmethod
    def load(cls, directory: Path, params: BM25Params, mmap: bool = True) -> BM25Index:
        """Read an index written by ``save``.

        Args:
            directory: The index directory.
            params: The parameters the index was built with (from the manifest).
            mmap: Memory-map the arrays read-only instead of reading them into memory.

        Raises:
            IndexFormatError: A file is missing, unreadable or inconsistent with the others.
        """
        directory = Path(directory)
        arrays = {
            attr: _load_array(directory / name, dtype, mmap)
            for attr, (name, dtype) in ARRAY_FILES.items()
        }
        vocab = _load_vocab(directory / VOCAB_FILE)
        _check_shapes(arrays, len(vocab))
        index = cls(vocab, params=params, **arrays)
        if len(index.term_ids) != len(vocab):
            raise IndexFormatError(f"{directory / VOCAB_FILE}: BM25 vocabulary has duplicates")
        return index

    def _row_norms(self) -> np.ndarray:
        """``k1 * (1 - b + b * dl / avgdl)`` per row, computed once from ``doc_len``."""
        if self._norms is None:
            k1, b = self.params.k1, self.params.b
            dl = np.asarray(self.doc_len, dtype=np.int64)
            # Same operations, in the same order, as BM25Okapi.get_scores.
            self._norms = k1 * (1 - b + b * dl / self.avgdl) if len(dl) else dl.astype(float)
        return self._norms

    def _postings(self, query_tokens: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Rows and BM25 weights of the postings of each known query token, concatenated in
        query order (repeats kept, their weights copied from the first occurrence).

        Weights are computed in place in the output buffer with the operations of
        ``BM25Okapi.get_scores``: ``idf * (tf * (k1 + 1) / (tf + norm))``.
        """
        terms = [t for t in map(self.term_ids.get, query_tokens) if t is not None]
        indptr = self.indptr
        bounds = {t: (int(indptr[t]), int(indptr[t + 1])) for t in terms}
        total = sum(bounds[t][1] - bounds[t][0] for t in terms)
        rows = np.empty(total, dtype=np.intp)  # intp: no conversion in bincount or indexing
        weights = np.empty(total, dtype=np.float64)
        if not total:
            return rows, weights
        norms, k1_plus_1 = self._row_norms(), self.params.k1 + 1
        first: dict[int, int] = {}  # term → offset of its first copy in the buffers
        pos = 0
        for term in terms:
            start, end = bounds[term]
            size = end - start
            out_rows, out_weights = rows[pos : pos + size], weights[pos : pos + size]
            if term in first:
                at = first[term]
                out_rows[:] = rows[at : at + size]
                out_weights[:] = weights[at : at + size]
            else:
                first[term] = pos
                out_rows[:] = self.rows[start:end]
                tf = np.asarray(self.tf[start:end])
                denom = norms.take(out_rows)
                denom += tf  # tf + norm
                np.multiply(tf, k1_plus_1, out=out_weights)  # tf * (k1 + 1)
                out_weights /= denom
                out_weights *= float(self.idf[term])  # idf * weight
            pos += size
        return rows, weights

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        """BM25 score of every row, equal to ``BM25Okapi.get_scores(query_tokens)``.

        Returns:
            float64 array of shape (N,); rows without any query term score 0.
        """
        rows, weights = self._postings(query_tokens)
        if not len(rows):
            return np.zeros(self.num_rows, dtype=np.float64)
        # bincount adds weights in input order, i.e. in query-token order per row.
        return np.bincount(rows, weights=weights, minlength=self.num_rows)

    def top_k(self, query_tokens: list[str], k: int) -> list[tuple[int, float]]:
        """The best ``k`` rows that contain at least one query term.

        Returns:
            ``(row, score)`` pairs by score descending, then row ascending; at most ``k``,
            and ``[]`` when no row contains a query term or ``k <= 0``.
        """
        if k <= 0:
            return []
        rows, weights = self._postings(query_tokens)
        if not len(rows):
            return []
        if len(rows) * 8 < self.num_rows:  # few postings: work on the matched rows only
            cand, inverse = np.unique(rows, return_inverse=True)
            cand_scores = np.bincount(inverse.reshape(-1), weights=weights, minlength=len(cand))
        else:
            dense = np.bincount(rows, weights=weights, minlength=self.num_rows)
            if weights.min() > 0:  # sums of positive weights: matched rows are those > 0
                cand = np.flatnonzero(dense)
            else:  # a zero, negative or NaN weight (idf 0, odd k1/b): mark rows explicitly
                matched = np.zeros(self.num_rows, dtype=bool)
                matched[rows] = True
                cand = np.flatnonzero(matched)
            cand_scores = dense[cand]
        return _best(cand, cand_scores, k)


def _best(cand: np.ndarray, cand_scores: np.ndarray, k: int) -> list[tuple[int, float]]:
    """Top ``k`` of candidates (rows ascending) by score descending, ties by row."""
    neg = -cand_scores
    if k < len(cand):
        kth = np.partition(neg, k - 1)[k - 1]
        keep = np.flatnonzero(neg <= kth)  # every tie at the boundary, rows still ascending
        cand, neg = cand[keep], neg[keep]
    order = np.argsort(neg, kind="stable")[:k]
    return [(int(r), float(-s)) for r, s in zip(cand[order], neg[order], strict=True)]


def _load_array(path: Path, dtype: type, mmap: bool) -> np.ndarray:
    """Load one ``.npy`` file as a 1-D array of ``dtype``, or raise IndexFormatError."""
    if not path.is_file():
        raise IndexFormatError(f"{path}: missing BM25 index file")
    try:
        arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise IndexFormatError(f"{path}: unreadable BM25 index file ({exc})") from exc
    if arr.ndim != 1 or arr.dtype != np.dtype(dtype):
        raise IndexFormatError(
            f"{path}: expected a 1-D {np.dtype(dtype)} array, found {arr.ndim}-D {arr.dtype}"
        )
    return arr


def _load_vocab(path: Path) -> list[str]:
    """Load the JSON term list, or raise IndexFormatError."""
    try:
        vocab = orjson.loads(path.read_bytes())
    except FileNotFoundError as exc:
        raise IndexFormatError(f"{path}: missing BM25 index file") from exc
    except (OSError, orjson.JSONDecodeError) as exc:
        raise IndexFormatError(f"{path}: unreadable BM25 vocabulary ({exc})") from exc
    if not isinstance(vocab, list) or not all(isinstance(t, str) for t in vocab):
        raise IndexFormatError(f"{path}: BM25 vocabulary is not a JSON list of strings")
    return vocab


def _check_shapes(arrays: dict[str, np.ndarray], vocab_size: int) -> None:
    """Raise IndexFormatError unless the arrays agree with each other and the vocabulary."""
    indptr, nnz = arrays["indptr"], len(arrays["rows"])
    for attr, length in {"indptr": vocab_size + 1, "idf": vocab_size, "tf": nnz}.items():
        if len(arrays[attr]) != length:
            raise IndexFormatError(f"{ARRAY_FILES[attr][0]}: length {len(arrays[attr])}, "
                                   f"expected {length} to match the other BM25 files")
    if indptr[0] != 0 or indptr[-1] != nnz or np.any(np.diff(indptr) < 0):
        raise IndexFormatError(f"{ARRAY_FILES['indptr'][0]}: offsets do not run from 0 to {nnz}")
    check_postings(arrays, {attr: name for attr, (name, _) in ARRAY_FILES.items()})
