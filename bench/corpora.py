"""Deterministic benchmark corpora and queries built from the shared test collections.

Passages: windows of real text. The documents of NFCorpus, CISI, MEDLINE, CACM, LISA,
Vaswani and the BEIR slices in ``beir_sampled/`` (title + text, split on whitespace, in that
fixed order) form one word stream of about 3.5 million words. Passage ``i`` is ``L`` consecutive
words of that stream from a uniformly drawn start, ``L`` uniform in [60, 120]; a window may run
from the end of one document into the next, as windows over a concatenated corpus do. Draws
are made per block of ``BLOCK`` passages with ``numpy.random.default_rng([seed, block])``, so
passage ``i`` depends only on the seed and ``i``: the first 10K passages of the 1M corpus are
the 10K corpus. Generation streams to a file, one passage a line, holding only the word
stream (a few hundred MB) in memory.

Queries: the judged NFCorpus test queries (323), the CISI (112) and CACM (64) queries, shuffled
with the seed; the first ``n`` that keep at least one token are used.

Caveat: the vocabulary is that of the word stream (a few hundred thousand surface words), so
a 1M-passage corpus built this way has fewer distinct terms than 1M passages of fresh text,
while the document frequency of common terms, which drives query cost, grows with the corpus
as it does in real collections.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("XENC_SHARED_DATASETS", ROOT.parent / "shared" / "datasets"))
COLLECTIONS = ("nfcorpus", "cisi", "medline", "cacm", "lisa", "vaswani")
BEIR_SLICES = ("climate-fever", "dbpedia-entity", "fever", "fiqa", "hotpotqa", "nq", "quora")
BLOCK = 10_000
MIN_WORDS, MAX_WORDS = 60, 120


def _documents(shared: Path) -> Iterator[str]:
    import contextlib
    import io

    from xenc.datasets import open_collection

    folders = [shared / name for name in COLLECTIONS]
    folders += [shared / "beir_sampled" / name for name in BEIR_SLICES]
    for folder in folders:
        with contextlib.redirect_stderr(io.StringIO()):  # reader warnings on stray lines
            for doc in open_collection(folder).docs():
                yield f"{doc.get('title') or ''} {doc.get('text') or ''}"


def word_stream(shared: Path = SHARED) -> list[str]:
    """All words of the source documents, in a fixed order."""
    words: list[str] = []
    for text in _documents(shared):
        words += text.split()
    return words


def passages(words: list[str], count: int, seed: int) -> Iterator[str]:
    """The first ``count`` passages for ``seed`` (see the module docstring)."""
    top = len(words) - MAX_WORDS
    for block in range((count + BLOCK - 1) // BLOCK):
        rng = np.random.default_rng([seed, block])
        starts = rng.integers(0, top, size=BLOCK).tolist()
        lengths = rng.integers(MIN_WORDS, MAX_WORDS + 1, size=BLOCK).tolist()
        for start, length in zip(starts[: count - block * BLOCK], lengths, strict=False):
            yield " ".join(words[start : start + length])


def queries(shared: Path = SHARED) -> list[tuple[str, str]]:
    """``(id, text)`` of the benchmark's query pool, in a fixed order (not yet shuffled)."""
    from xenc.datasets import open_collection

    with open(shared / "nfcorpus" / "qrels" / "test.tsv", encoding="utf-8", newline="") as fh:
        rows = csv.reader(fh, delimiter="\t")
        next(rows)
        judged = {row[0] for row in rows if row}
    pool = [
        (f"nfcorpus/{q['id']}", q["text"])
        for q in open_collection(shared / "nfcorpus").queries()
        if q["id"] in judged
    ]
    for name in ("cisi", "cacm"):
        pool += [(f"{name}/{q['id']}", q["text"]) for q in open_collection(shared / name).queries()]
    return pool


def write_corpus(path: Path, count: int, seed: int, words: list[str] | None = None) -> None:
    """Write ``count`` passages, one a line, to ``path`` (atomically)."""
    words = words if words is not None else word_stream()
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for text in passages(words, count, seed):
            fh.write(text.replace("\n", " ") + "\n")
    tmp.replace(path)
