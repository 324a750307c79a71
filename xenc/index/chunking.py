"""Stage 1: documents → passages, cut by the encoder's own (fast) tokenizer.

A passage is a window of at most ``chunk_tokens`` word pieces of the body, overlapping the
previous window by ``stride`` pieces; the title is prepended to every passage when it is
encoded or reranked, so its length is taken from the window budget. Windows start and end on
word boundaries where possible, and are stored as character offsets into the body, so the
document store keeps each text once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

import numpy as np

from xenc.config import ChunkParams
from xenc.records import Document

T = TypeVar("T")

MIN_BUDGET_FRACTION = 2  # the title may take at most half of a window
# A body longer than this is tokenized a segment at a time, each cut just before a whitespace
# character (where the tokenizers of BERT, BPE and SentencePiece models all split anyway), and
# its offsets kept as one int64 array: a 20 MB document costs tens of MB, not gigabytes.
SEGMENT_CHARS = 100_000


def _touches(offsets: Sequence[tuple[int, int]], i: int) -> bool:
    """Whether piece ``i`` continues the word of piece ``i - 1`` (no gap between them)."""
    return i > 0 and offsets[i][0] == offsets[i - 1][1]


def _word_start(offsets: Sequence[tuple[int, int]], i: int, floor: int) -> int:
    """Move ``i`` back to the first piece of its word, but not below ``floor``.

    If no word boundary lies between ``floor`` and ``i`` (one giant word), ``i`` is kept.
    """
    j = i
    while j > floor and _touches(offsets, j):
        j -= 1
    return i if _touches(offsets, j) else j


def windows(offsets: Sequence[tuple[int, int]], budget: int, stride: int) -> list[tuple[int, int]]:
    """Split a token offset list into overlapping windows of at most ``budget`` tokens.

    Returns ``(first_token, end_token)`` index pairs (end exclusive) covering every token.
    """
    n = len(offsets)
    if n <= budget:
        return [(0, n)]
    spans: list[tuple[int, int]] = []
    start = 0
    while True:
        end = min(start + budget, n)
        if end < n:
            cut = _word_start(offsets, end, start + budget // 2)
            end = cut if cut > start else end
        spans.append((start, end))
        if end >= n:
            return spans
        nxt = _word_start(offsets, max(end - stride, start + 1), start + 1)
        start = nxt if nxt > start else end


def _budget(params: ChunkParams, title_tokens: int) -> int:
    """Body tokens per window: a passage with its title, [CLS] and [SEP] fits in chunk_tokens."""
    used = title_tokens + 2
    return max(params.chunk_tokens - used, params.chunk_tokens // MIN_BUDGET_FRACTION)


def chunk_spans(
    docs: Sequence[Document], tokenizer: Any, params: ChunkParams
) -> list[list[tuple[int, int]]]:
    """Character spans ``(start, end)`` of each document's passages, in order.

    Args:
        docs: Documents to split (tokenized in one batch call).
        tokenizer: A Hugging Face *fast* tokenizer (it must return offset mappings).
        params: Window size and overlap, in tokens.
    """
    if not docs:
        return []
    short = [d.text if len(d.text) <= SEGMENT_CHARS else "" for d in docs]
    bodies: list[Any] = _offsets(tokenizer, short)
    for i, doc in enumerate(docs):
        if len(doc.text) > SEGMENT_CHARS:
            bodies[i] = _long_offsets(tokenizer, doc.text)
    titles = tokenizer(
        [d.title for d in docs],
        add_special_tokens=False,
        return_attention_mask=False,
        return_token_type_ids=False,
        verbose=False,
    )["input_ids"]
    out: list[list[tuple[int, int]]] = []
    for doc, offsets, title_ids in zip(docs, bodies, titles, strict=True):
        if not len(offsets):
            out.append([(0, len(doc.text))])
            continue
        spans = windows(offsets, _budget(params, len(title_ids)), params.stride)
        chars = [(int(offsets[a][0]), int(offsets[b - 1][1])) for a, b in spans]
        # The first passage keeps any leading text, the last any trailing text.
        chars[0] = (0, chars[0][1])
        chars[-1] = (chars[-1][0], len(doc.text))
        out.append(chars)
    return out


def _offsets(tokenizer: Any, texts: list[str]) -> list[Any]:
    return list(tokenizer(
        texts,
        add_special_tokens=False,
        return_offsets_mapping=True,
        return_attention_mask=False,
        return_token_type_ids=False,
        verbose=False,
    )["offset_mapping"])


def _long_offsets(tokenizer: Any, text: str) -> np.ndarray:
    """Token offsets of a long body, tokenized in segments of at most ``SEGMENT_CHARS``."""
    parts, start = [], 0
    while start < len(text):
        end = min(start + SEGMENT_CHARS, len(text))
        if end < len(text):
            cut = max(text.rfind(c, start + 1, end) for c in " \n\t\r")
            end = cut if cut > start else end  # one giant word: cut it where it is
        found = _offsets(tokenizer, [text[start:end]])[0]
        parts.append(np.asarray(found, dtype=np.int64).reshape(-1, 2) + start)
        start = end
    return np.concatenate(parts)


def iter_batches(items: Iterator[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
