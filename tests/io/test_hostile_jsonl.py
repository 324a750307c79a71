"""Hostile input to the JSONL corpus and query readers: the right answer or ONE located error."""

from __future__ import annotations

import orjson
import pytest
from hostile import (
    SETTINGS,
    assert_located,
    collect,
    expected_corpus,
    expected_queries,
    jsonl_files,
    nested,
    same_docs,
    write,
)
from hypothesis import given

from xenc.errors import InputError
from xenc.io.corpus import read_corpus, read_queries
from xenc.io.jsonl import MAX_DEPTH


@SETTINGS
@given(data=jsonl_files())
def test_read_corpus_matches_oracle(data):
    path = write(data)
    try:
        got, error = collect(read_corpus(path))
        want, bad_line = expected_corpus(data)
        assert same_docs(got, want), (got, want)
        if bad_line is None:
            assert error is None, error
        else:
            assert error is not None, f"line {bad_line} accepted"
            assert type(error) is InputError
            assert_located(error, str(path), bad_line)
    finally:
        path.unlink()


@SETTINGS
@given(data=jsonl_files())
def test_read_queries_matches_oracle(data):
    path = write(data)
    try:
        got, error = collect(read_queries(path))
        want, bad_line = expected_queries(data)
        assert got == want
        if bad_line is None:
            assert error is None, error
        else:
            assert type(error) is InputError, error
            assert_located(error, str(path), bad_line)
        skipped: list[InputError] = []
        kept, error = collect(read_queries(path, on_error=skipped.append))
        assert error is None, error  # --skip-invalid style: never raises
        assert kept[: len(want)] == want
        for exc in skipped:
            assert_located(exc, str(path), exc.line)
    finally:
        path.unlink()


def test_huge_line_and_long_document(tmp_path):
    text = "word " * 1_000_000  # a 5 MB line
    path = tmp_path / "c.jsonl"
    path.write_bytes(orjson.dumps({"id": "big", "text": text}) + b"\n" + b"{" + b"x" * 5_000_000
                     + b"\n")
    docs, error = collect(read_corpus(path))
    assert [d.text for d in docs] == [text]
    assert_located(error, str(path), 2)
    assert len(str(error)) < 300  # the bad line is not echoed


def test_empty_corpus_and_only_blank_lines(tmp_path):
    for data in (b"", b"\n\n", b"\xef\xbb\xbf\r\n  \r\n"):
        path = tmp_path / "c.jsonl"
        path.write_bytes(data)
        assert list(read_corpus(path)) == [] and list(read_queries(path)) == []


def test_missing_file_and_directory(tmp_path):
    for source, reason in ((tmp_path / "none.jsonl", "no such file"), (tmp_path, "is a directory")):
        with pytest.raises(InputError) as info:
            list(read_corpus(source))
        assert str(info.value).startswith(f"{source}: {reason}")


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 254, 1024, 1025, 10_000])
def test_deep_nesting_is_one_located_error(tmp_path, depth):
    """orjson reads 1024 levels but writes only 254: deeper records are refused on reading."""
    path = tmp_path / "c.jsonl"
    path.write_bytes(b'{"id": "a", "text": "ok"}\n' + nested(depth) + b"\n")
    docs, error = collect(read_corpus(path))
    assert [d.id for d in docs] == ["a"]
    assert str(error) == f"{path}:2: nested deeper than {MAX_DEPTH} levels"
