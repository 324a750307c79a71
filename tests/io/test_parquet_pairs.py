"""``xenc score`` reads Parquet pairs (pyarrow) in process, with the JSONL path's checks."""

from __future__ import annotations

import pytest
from conftest import parse_jsonl, write_jsonl

from xenc.cli.app import app

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def test_parquet_pairs_score_like_jsonl(tmp_path, runner, tiny_reranker_dir):
    rows = [{"id": i, "query": f"q{i}", "document": f"document {i} " * (i + 1)}
            for i in range(5)]
    jsonl = write_jsonl(tmp_path / "p.jsonl", rows)
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "p.parquet")
    a = runner.invoke(app, ["score", str(jsonl), "--reranker", str(tiny_reranker_dir)])
    b = runner.invoke(app, ["score", str(tmp_path / "p.parquet"), "--reranker",
                            str(tiny_reranker_dir)])
    assert a.exit_code == b.exit_code == 0, b.stderr
    assert parse_jsonl(a.stdout) == parse_jsonl(b.stdout)


def test_bad_parquet_rows_and_files_are_one_line_errors(tmp_path, runner, tiny_reranker_dir):
    rows = [{"query": "a", "document": "b"}, {"query": "c", "document": None}]
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    result = runner.invoke(app, ["score", str(path), "--reranker", str(tiny_reranker_dir)])
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == f'Error: {path}:2: has "query" but no "document"'
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet at all")
    result = runner.invoke(app, ["score", str(broken), "--reranker", str(tiny_reranker_dir)])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {broken}: not a readable Parquet file")
    assert len(result.stderr.splitlines()) == 1
