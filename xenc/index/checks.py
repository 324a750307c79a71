"""Cheap consistency checks run when an index is opened or a part of it is first loaded.

They read little (headers, a sample of embedding rows, one vectorized pass over small arrays)
and turn a corrupted file into an :class:`~xenc.errors.IndexFormatError` naming it, instead of
a traceback or silently wrong results. They are not hashes: ``xenc verify`` reads every byte
and is the only check that catches every flipped byte (see docs/index-format.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from xenc.errors import IndexFormatError

CORRUPT = "the index is corrupted; run `xenc verify` or re-run `xenc index`"
SAMPLE_ROWS = 1024


def check_postings(arrays: dict[str, np.ndarray], names: dict[str, str]) -> None:
    """BM25 postings: row ids in range, term frequencies >= 1 that add up, per row, to the
    row's length, finite idf. One vectorized pass; catches any one changed value in
    ``rows``, ``tf`` or ``doc_len``, and most changes of several.

    "Add up per row" is checked by two checksums rather than a per-row sum (which needs two
    8-byte copies of the postings: ~25 ms and 70 MB a process at 100K passages, against
    ~7 ms and none): the frequencies' total, and their total weighted by row number + 1,
    must equal the lengths' (weighted the same way). Moving a frequency to another row, or
    changing one, changes the second; only changes that cancel in both go unseen, and those
    ``xenc verify`` finds.
    """
    rows, tf, doc_len = arrays["rows"], arrays["tf"], arrays["doc_len"]
    if len(rows) and (int(rows.min()) < 0 or int(rows.max()) >= len(doc_len)):
        raise IndexFormatError(f"{names['rows']}: a row id is out of range "
                               f"(0..{len(doc_len) - 1}); {CORRUPT}")
    if len(tf) and int(tf.min()) < 1:
        raise IndexFormatError(f"{names['tf']}: a term frequency is below 1; {CORRUPT}")
    if _checksums(tf, rows) != _checksums(doc_len, np.arange(len(doc_len), dtype=np.int64)):
        raise IndexFormatError(f"{names['tf']}: term frequencies do not add up to the "
                               f"lengths in {names['doc_len']}; {CORRUPT}")
    if not np.all(np.isfinite(arrays["idf"])):
        raise IndexFormatError(f"{names['idf']}: a weight is not finite; {CORRUPT}")


def _checksums(weights: np.ndarray, rows: np.ndarray) -> tuple[int, int]:
    """``(sum(weights), sum(weights * (rows + 1)))`` in int64 (wrapping alike on both sides
    of a comparison), without an int64 copy of either array."""
    if not len(weights):
        return 0, 0
    total = int(np.sum(weights, dtype=np.int64))
    return total, int(np.einsum("i,i->", weights, rows, dtype=np.int64)) + total


def check_embeddings(path: Path, matrix: np.ndarray) -> None:
    """Up to 1024 evenly spaced rows (first and last included) must be finite unit vectors
    (or zero: an encoder may give that for an all-padding input).

    A sample, so it reads a few pages, not the file: a flipped byte in an unsampled row, or in
    a low mantissa bit, is only caught by ``xenc verify``.
    """
    if not len(matrix):
        return
    picks = np.unique(np.linspace(0, len(matrix) - 1, min(len(matrix), SAMPLE_ROWS)).astype(int))
    sample = np.asarray(matrix[picks], dtype=np.float64)
    norms = np.linalg.norm(sample, axis=1)
    if not np.all(np.isfinite(sample)) or not np.all(
            (np.abs(norms - 1.0) < 1e-3) | (norms == 0.0)):
        raise IndexFormatError(f"{path}: embedding rows are not unit vectors; {CORRUPT}")


def maps_in_order(chunk_doc: np.ndarray, docs: int) -> bool:
    """Passage rows go to documents 0, 0, 1, 2, 2, ... docs-1: start at 0, end at the last
    document, never step back or skip one. One vectorized pass (4 bytes a passage)."""
    if int(chunk_doc[0]) != 0 or int(chunk_doc[-1]) != docs - 1:
        return False
    steps = np.diff(chunk_doc)
    return bool(np.all((steps == 0) | (steps == 1)))
