"""Python API conveniences: xenc.search takes plain strings, as the shell does."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import xenc
from xenc.cli.app import app
from xenc.errors import UsageError
from xenc.records import Query

BM25 = xenc.SearchParams(retriever="bm25", k=3)


def test_search_takes_a_string_and_equals_the_shell(sample_index, opened):
    got = [r.to_dict() for r in xenc.search(opened, "phases of the moon", BM25)]
    assert [r["qid"] for r in got] == ["1", "1", "1"]
    shell = CliRunner().invoke(app, ["search", "phases of the moon", "--index-dir",
                                     str(sample_index), "--retriever", "bm25", "-k", "3",
                                     "--no-rerank"])
    import orjson

    assert got == [orjson.loads(line) for line in shell.stdout.splitlines()]


def test_search_takes_a_list_of_strings_and_queries(opened):
    texts = ["phases of the moon", "sharpen a knife"]
    by_text = [(r.qid, r.doc_id) for r in xenc.search(opened, texts, BM25)]
    by_query = [(r.qid, r.doc_id) for r in xenc.search(
        opened, [Query("1", texts[0]), Query("2", texts[1])], BM25)]
    assert by_text == by_query and {q for q, _ in by_text} == {"1", "2"}
    assert [r.qid for r in xenc.search(opened, Query("q7", texts[1]), BM25)] == ["q7"] * 3


def test_search_rejects_other_types(opened):
    with pytest.raises(UsageError, match="queries must be strings or xenc.Query, got int"):
        list(xenc.search(opened, [3], BM25))


def test_strings_become_queries_one_way():
    from xenc.records import as_queries

    assert list(as_queries("moon")) == [Query("1", "moon")]
    assert list(as_queries(["moon", Query("q7", "knife"), "sun"])) == [
        Query("1", "moon"), Query("q7", "knife"), Query("3", "sun")]
    for bad in ([3], [Query("1", None)]):  # type: ignore[arg-type]
        with pytest.raises(UsageError, match="queries must be strings or xenc.Query"):
            list(as_queries(bad))
