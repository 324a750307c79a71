"""score_stream: lazy, bounded, order-keeping."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import write_jsonl

from xenc.errors import InputError
from xenc.io.pairs import pair_of
from xenc.reranking.scoring import score_stream


class CountingModel:
    """A stand-in cross-encoder (the model is a dependency here, not the unit under test):
    scores a pair by the length of its document and records every batch it is given."""

    num_labels = 1
    labels = ["LABEL_0"]

    def __init__(self) -> None:
        self.calls: list[int] = []

    def predict(self, pairs):
        return self.score(pairs).scores

    def score(self, pairs):
        from xenc.models.runtime import Scored

        self.calls.append(len(pairs))
        return Scored(np.array([[float(len(d))] for _, d in pairs], dtype=np.float32),
                      sum(len(d) > 5 for _, d in pairs))


def write_pairs(tmp_path, n):
    rows = ({"query": "q", "document": "x" * (i % 7), "i": i} for i in range(n))
    return write_jsonl(tmp_path / "pairs.jsonl", rows)


def test_streams_in_blocks_and_keeps_order(tmp_path):
    model = CountingModel()
    stream = score_stream(write_pairs(tmp_path, 10), model, block_size=4)
    first = next(stream)
    assert model.calls == [4]  # only the first block has been read and scored
    rest = list(stream)
    assert model.calls == [4, 4, 2]
    records = [first, *rest]
    assert [r["i"] for r in records] == list(range(10))
    assert [r["score"] for r in records] == [float(i % 7) for i in range(10)]


def test_each_blocks_truncation_count_is_handed_on(tmp_path):
    model = CountingModel()
    counts: list[int] = []
    list(score_stream(write_pairs(tmp_path, 10), model, block_size=4, on_truncated=counts.append))
    assert counts == [0, 1, 0]  # only i = 6 (6 characters, "cut" here), in the second block


def test_memory_is_bounded_by_the_block(tmp_path):
    model = CountingModel()
    for _ in score_stream(write_pairs(tmp_path, 5000), model, block_size=256):
        pass
    assert max(model.calls) == 256 and sum(model.calls) == 5000


@pytest.mark.parametrize(
    ("obj", "reason"),
    [
        ({"text_a": "a"}, 'has "text_a" but no "text_b"'),
        ({"document": "d"}, 'has "document" but no "query"'),
        ({"query": 1, "document": "d"}, 'field "query" must be a string'),
        ({"foo": "bar"}, "no text pair: expected one of query/document, text_a/text_b, "
                         "sentence1/sentence2, query/text"),
    ],
)
def test_pair_errors(obj, reason):
    with pytest.raises(InputError) as err:
        pair_of(obj, ("f.jsonl", 3))
    assert str(err.value) == f"f.jsonl:3: {reason}"
