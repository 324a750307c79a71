"""Progress bars for search --queries and score: on stderr only, total and ETA for files."""

from __future__ import annotations

import orjson
from typer.testing import CliRunner

from xenc.cli.app import app
from xenc.progress import count_lines, tracked


def test_count_lines_and_tracked(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text('{"id": 1, "text": "a"}\n\n{"id": 2, "text": "b"}\n')
    assert count_lines(str(path)) == 2
    assert count_lines("-") is None and count_lines(str(tmp_path / "none")) is None
    done = []
    assert list(tracked(["a", "b"], done.append)) == ["a", "b"] and done == [1, 1]


def test_search_progress_goes_to_stderr_with_a_total(sample_index, tmp_path):
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"id": "a", "text": "moon"}\n{"id": "b", "text": "bread"}\n')
    args = ["search", "--index-dir", str(sample_index), "--queries", str(queries),
            "--retriever", "bm25", "--no-rerank", "-k", "1"]
    quiet = CliRunner().invoke(app, args)
    shown = CliRunner().invoke(app, [*args, "--progress"])
    assert shown.exit_code == 0, shown.stderr
    assert shown.stdout == quiet.stdout  # data unchanged
    assert [orjson.loads(line)["qid"] for line in shown.stdout.splitlines()] == ["a", "b"]
    assert "searching" in shown.stderr and "2/2" in shown.stderr
    assert quiet.stderr == ""


def test_score_progress(tiny_reranker_dir, tmp_path):
    pairs = tmp_path / "p.jsonl"
    pairs.write_text('{"query": "a", "document": "b"}\n{"query": "c", "document": "d"}\n'
                     '{"query": "e", "document": "f"}\n')
    result = CliRunner().invoke(app, ["score", str(pairs), "--reranker", str(tiny_reranker_dir),
                                      "--progress"])
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.splitlines()) == 3
    assert "scoring" in result.stderr and "3/3" in result.stderr
