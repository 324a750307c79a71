"""The `xenc search` command through Typer's CliRunner: records, formats, errors, and parity with
the Python API."""

from __future__ import annotations

import pytest
from conftest import parse_jsonl

from xenc.cli.app import app


def search_args(sample_index, *extra):
    return ["search", "--index-dir", str(sample_index), *extra]


@pytest.mark.parametrize("via", ["argument", "file", "stdin"])
def test_search_inputs(runner, sample_index, tmp_path, via):
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"id": "1", "text": "sourdough starter"}\n')
    extra = {"argument": ["sourdough starter"], "file": ["--queries", str(queries)],
             "stdin": ["--queries", "-"]}[via]
    result = runner.invoke(app, search_args(sample_index, *extra, "--no-rerank", "-k", "4"),
                           input=queries.read_text() if via == "stdin" else None)
    assert result.exit_code == 0, result.stderr
    records = parse_jsonl(result.stdout)
    assert [r["rank"] for r in records] == [1, 2, 3, 4]
    assert {r["qid"] for r in records} == {"1"}
    assert all(r["reranked"] is False for r in records)
    assert records[0]["score"] >= records[-1]["score"]


def test_search_matches_python_api(runner, sample_index, tiny_reranker_dir):
    from xenc.config import SearchParams
    from xenc.models.cross_encoder import CrossEncoder
    from xenc.pipeline import open_index, search
    from xenc.records import Query

    result = runner.invoke(app, search_args(sample_index, "bird migration", "--reranker",
                                            str(tiny_reranker_dir), "-k", "5",
                                            "--candidates", "20"))
    assert result.exit_code == 0, result.stderr
    index = open_index(sample_index)
    expected = [r.to_dict() for r in search(
        index, [Query("1", "bird migration")], SearchParams(candidates=20, k=5),
        CrossEncoder(str(tiny_reranker_dir)))]
    assert parse_jsonl(result.stdout) == expected
    assert all(r["reranked"] for r in expected)


@pytest.mark.parametrize("retriever", ["bm25", "hybrid"])
def test_candidates_below_k_same_from_shell_and_python(runner, sample_index, retriever):
    """--candidates 3 -k 6 on the shell and SearchParams(candidates=3, k=6) in Python both
    search 6 candidates deep (SearchParams raises candidates to k), with identical records."""
    from xenc.config import SearchParams
    from xenc.pipeline import open_index, search
    from xenc.records import Query

    params = SearchParams(retriever=retriever, candidates=3, k=6)
    assert params.candidates == 6
    result = runner.invoke(app, search_args(sample_index, "bird migration", "--no-rerank",
                                            "--retriever", retriever, "-k", "6",
                                            "--candidates", "3"))
    assert result.exit_code == 0, result.stderr
    index = open_index(sample_index)
    expected = [r.to_dict() for r in search(index, [Query("1", "bird migration")], params)]
    index.close()
    assert len(expected) == 6
    assert parse_jsonl(result.stdout) == expected


def test_search_trec_and_table(runner, sample_index):
    result = runner.invoke(app, search_args(sample_index, "telescope", "--no-rerank",
                                            "--retriever", "bm25", "--format", "trec", "-k", "3"))
    assert result.exit_code == 0, result.stderr
    lines = [line.split() for line in result.stdout.splitlines()]
    assert [(f[0], f[1], f[3], f[5]) for f in lines] == [("1", "Q0", str(i), "xenc")
                                                          for i in (1, 2, 3)]
    table = runner.invoke(app, search_args(sample_index, "telescope", "--no-rerank",
                                           "--format", "table", "-k", "2"))
    assert table.exit_code == 0 and table.stdout.splitlines()[0].startswith("QID")
    assert len(table.stdout.splitlines()) == 3


def test_search_with_text_and_output_file(runner, sample_index, tmp_path):
    out = tmp_path / "res.jsonl"
    result = runner.invoke(app, search_args(sample_index, "compost", "--no-rerank",
                                            "--with-text", "document", "-k", "2", "-o", str(out)))
    assert result.exit_code == 0 and result.stdout == ""
    records = parse_jsonl(out.read_text())
    assert len(records) == 2 and all(r["text"] for r in records)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "no reranker chosen: pass --reranker NAME|PATH (a Hugging Face cross-encoder "
             "directory or hub id) or --no-rerank"),
        (["q", "--queries", "x.jsonl", "--no-rerank"], "give one QUERY argument or --queries"),
        (["--no-rerank"], "give one QUERY argument or --queries"),
        (["q", "--no-rerank", "--retriever", "fuzzy"], "--retriever must be one of bm25, dense"),
        (["q", "--no-rerank", "--format", "xml"], "--format must be one of jsonl, trec, table"),
        (["q", "--no-rerank", "--aggregate", "mean"], "--aggregate must be one of max"),
        (["q", "--reranker", "x", "--no-rerank"], "--reranker and --no-rerank exclude"),
    ],
)
def test_search_usage_errors(runner, sample_index, extra, message, no_default_reranker):
    args = search_args(sample_index, *extra) if extra else search_args(sample_index, "q")
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ") and message in result.stderr
    assert result.stdout == ""


def test_search_missing_index(runner, tmp_path):
    result = runner.invoke(app, ["search", "q", "--index-dir", str(tmp_path / "none"),
                                 "--no-rerank"])
    assert result.exit_code == 1
    assert result.stderr == f"Error: no index at {tmp_path / 'none'}: run `xenc index` first\n"


def test_search_bad_queries_line(runner, sample_index):
    result = runner.invoke(app, search_args(sample_index, "--queries", "-", "--no-rerank"),
                           input='{"id": "1", "text": "ok"}\n{"id": "2"}\n')
    assert result.exit_code == 1
    assert 'Error: <stdin>:2: missing text field "text"' in result.stderr


def test_index_dir_from_environment(runner, sample_index, monkeypatch):
    monkeypatch.setenv("XENC_INDEX_DIR", str(sample_index))
    result = runner.invoke(app, ["search", "rain", "--no-rerank", "-k", "1"])
    assert result.exit_code == 0, result.stderr
    assert len(parse_jsonl(result.stdout)) == 1


def test_bm25_query_with_no_indexed_term_says_so(runner, sample_index):
    args = ["search", "--index-dir", str(sample_index), "--retriever", "bm25", "--no-rerank"]
    result = runner.invoke(app, [*args, "?!..."])
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == ("query 1: no term of '?!...' is in the index; BM25 finds nothing "
                             "(try --retriever hybrid or dense)\n")
    found = runner.invoke(app, [*args, "moon phases"])
    assert found.stdout and found.stderr == ""
