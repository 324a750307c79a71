"""Hostile input to score pairs (``score_stream``): the right answer or ONE located error."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import orjson
from hostile import (
    FEW,
    SETTINGS,
    assert_located,
    collect,
    floats_equal,
    jsonl_files,
    oracle_lines,
    write,
)
from hypothesis import given
from hypothesis import strategies as st

from xenc.errors import InputError
from xenc.reranking.scoring import score_stream


class StandIn:
    """A cross-encoder stand-in: score = len(a) - len(b) / 1000, deterministic and fast."""

    num_labels = 1
    labels = ["score"]

    def predict(self, pairs):
        return np.array([[len(a) - len(b) / 1000] for a, b in pairs], dtype=np.float32)


PAIRS = (("query", "document"), ("text_a", "text_b"), ("sentence1", "sentence2"))


def expected_pairs(data: bytes) -> tuple[list[dict[str, Any]], int | None]:
    out = []
    for line_no, obj in oracle_lines(data):
        if obj is None:
            return out, line_no
        for a, b in PAIRS:
            if a in obj or b in obj:
                if not (isinstance(obj.get(a), str) and isinstance(obj.get(b), str)):
                    return out, line_no
                out.append({**obj, "score": float(np.float32(len(obj[a]) - len(obj[b]) / 1000))})
                break
        else:
            return out, line_no
    return out, None


@SETTINGS
@given(data=jsonl_files(), block=st.sampled_from([1, 3, 1024]))
def test_score_stream_matches_oracle(data, block):
    path = write(data)
    try:
        got, error = collect(score_stream(path, StandIn(), block_size=block))
        want, bad_line = expected_pairs(data)
        if bad_line is None:
            assert error is None, error
            assert len(got) == len(want) and all(map(floats_equal, want, got))
            for record in got:
                orjson.dumps(record)  # what `xenc score` writes next must not fail
        else:
            assert type(error) is InputError, error
            assert_located(error, str(path), bad_line)
            assert len(got) <= len(want)  # blocks are scored whole: fewer may come out
    finally:
        path.unlink()


@FEW
@given(data=jsonl_files())
def test_score_stream_with_tiny_cross_encoder(data, tiny_reranker):
    """The real (tiny) model: hostile texts (NUL, long, punctuation only) score or fail cleanly."""
    path = write(data)
    try:
        got, error = collect(score_stream(path, tiny_reranker, block_size=4))
        want, bad_line = expected_pairs(data)
        if bad_line is None:
            assert error is None, error
            assert len(got) == len(want)
            assert all(math.isfinite(r["score"]) for r in got)
        else:
            assert_located(error, str(path), bad_line)
    finally:
        path.unlink()
