from __future__ import annotations

import pytest

from xenc.config import ChunkParams
from xenc.errors import UsageError
from xenc.index.chunking import chunk_spans, windows
from xenc.records import Document


def word_offsets(words_pieces: list[int]) -> list[tuple[int, int]]:
    """Offsets for words made of n pieces each (pieces touch, words separated by a space)."""
    out, pos = [], 0
    for pieces in words_pieces:
        for _ in range(pieces):
            out.append((pos, pos + 2))
            pos += 2
        pos += 1
    return out


def test_short_text_is_one_window():
    assert windows(word_offsets([1, 1, 1]), 8, 2) == [(0, 3)]


def test_windows_cover_everything_with_overlap():
    offsets = word_offsets([1] * 20)
    spans = windows(offsets, 8, 2)
    assert spans == [(0, 8), (6, 14), (12, 20)]


def test_windows_do_not_split_words():
    # Words of 3 pieces: a window of 8 pieces must end before a word's continuation piece.
    offsets = word_offsets([3] * 6)
    spans = windows(offsets, 8, 0)
    for a, b in spans:
        assert a % 3 == 0 and (b % 3 == 0 or b == len(offsets))
    assert spans[0][0] == 0 and spans[-1][1] == len(offsets)
    covered = set()
    for a, b in spans:
        covered.update(range(a, b))
    assert covered == set(range(len(offsets)))


def test_windows_always_progress_on_one_giant_word():
    offsets = word_offsets([30])
    spans = windows(offsets, 8, 2)
    assert spans[0] == (0, 8) and spans[-1][1] == 30
    assert all(b > a for a, b in spans)


@pytest.mark.parametrize(("tokens", "stride"), [(4, 0), (64, 32), (64, -1)])
def test_chunk_params_reject(tokens, stride):
    with pytest.raises(UsageError):
        ChunkParams(tokens, stride)


def test_chunk_spans_with_a_real_tokenizer(bundled_tokenizer):
    words = " ".join(f"word{i}" for i in range(300))
    docs = [
        Document("short", "A short text.", "Title"),
        Document("long", words, "A title of several words"),
        Document("notitle", words),
    ]
    spans = chunk_spans(docs, bundled_tokenizer, ChunkParams(64, 8))
    assert spans[0] == [(0, len("A short text."))]
    for doc, doc_spans in zip(docs[1:], spans[1:], strict=True):
        assert len(doc_spans) > 3
        assert doc_spans[0][0] == 0 and doc_spans[-1][1] == len(doc.text)
        for (_, b1), (a2, _) in zip(doc_spans, doc_spans[1:], strict=False):
            assert a2 < b1  # overlap
            assert doc.text[a2 - 1] == " "  # starts on a word boundary
        for a, b in doc_spans:
            body = len(bundled_tokenizer(doc.text[a:b], add_special_tokens=False)["input_ids"])
            title = len(bundled_tokenizer(doc.title, add_special_tokens=False)["input_ids"])
            assert body + title + 1 <= 64 or body <= 32
    # The title takes budget: the titled document needs at least as many passages.
    assert len(spans[1]) >= len(spans[2])
