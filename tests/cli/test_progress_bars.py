"""Progress bars for search --queries and score: on stderr only, total and ETA for files."""

from __future__ import annotations

import orjson
from typer.testing import CliRunner

from xenc.cli.app import app
from xenc.io.files import count_lines
from xenc.progress import tracked


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


def test_index_progress_has_the_corpus_total(tmp_path, tiny_encoder_dir):
    """The bar counts documents against the corpus's non-blank lines (issue 27: was `256/?`);
    a skipped record still counts as read, so a finished build shows a full bar."""
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"id": "a", "text": "moon"}\n\n{"id": "b", "text": "bread"}\n'
                      '{"id": "c", "text": ""}\n{"id": "d", "text": "tide"}\n')
    args = ["index", str(corpus), "--retrievers", "bm25", "--encoder", str(tiny_encoder_dir),
            "--progress"]
    result = CliRunner().invoke(app, [*args, "--index-dir", str(tmp_path / "idx")])
    assert result.exit_code == 0, result.stderr
    assert "indexing" in result.stderr and "4/4" in result.stderr and "/?" not in result.stderr
    limited = CliRunner().invoke(app, [*args, "--index-dir", str(tmp_path / "idx2"),
                                       "--limit", "2"])
    assert limited.exit_code == 0, limited.stderr
    assert "2/2" in limited.stderr


def test_eval_progress_has_the_judged_queries_total(sample_index):
    from conftest import SAMPLE

    args = ["eval", "--index-dir", str(sample_index), "--queries", str(SAMPLE / "queries.jsonl"),
            "--qrels", str(SAMPLE / "qrels.tsv"), "--retriever", "bm25", "--no-rerank",
            "--progress"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.stderr
    judged = orjson.loads(result.stdout)["queries"]
    assert "evaluating" in result.stderr and f"{judged}/{judged}" in result.stderr
    assert "/?" not in result.stderr
