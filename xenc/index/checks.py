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
    row's length, finite idf. One vectorized pass; catches most flipped bytes in ``rows``,
    ``tf`` and ``doc_len``."""
    rows, tf, doc_len = arrays["rows"], arrays["tf"], arrays["doc_len"]
    if len(rows) and (int(rows.min()) < 0 or int(rows.max()) >= len(doc_len)):
        raise IndexFormatError(f"{names['rows']}: a row id is out of range "
                               f"(0..{len(doc_len) - 1}); {CORRUPT}")
    if len(tf) and int(tf.min()) < 1:
        raise IndexFormatError(f"{names['tf']}: a term frequency is below 1; {CORRUPT}")
    sums = np.bincount(rows, weights=tf, minlength=len(doc_len)) if len(rows) else np.zeros(
        len(doc_len))
    if not np.array_equal(sums, np.asarray(doc_len, dtype=np.float64)):
        raise IndexFormatError(f"{names['tf']}: term frequencies do not add up to the "
                               f"lengths in {names['doc_len']}; {CORRUPT}")
    if not np.all(np.isfinite(arrays["idf"])):
        raise IndexFormatError(f"{names['idf']}: a weight is not finite; {CORRUPT}")


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
