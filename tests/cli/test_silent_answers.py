"""Silent wrong answers made loud (issue 27, item 6): softmax over one label, a TSV header read
as a query, and a corpus passed as --queries searched for 240 queries before it fails."""

from __future__ import annotations

import pytest
from conftest import SAMPLE, parse_jsonl, write_jsonl

from xenc.cli.app import app
from xenc.errors import ModelError, UsageError
from xenc.io.corpus import is_tsv_header, read_queries


def test_softmax_on_a_one_label_model_is_a_usage_error(runner, tiny_reranker_dir, tmp_path):
    pairs = write_jsonl(tmp_path / "p.jsonl", [{"query": "a", "document": "b"}])
    result = runner.invoke(app, ["score", str(pairs), "--reranker", str(tiny_reranker_dir),
                                 "--activation", "softmax"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == ("Error: the model has one label: --activation softmax would score "
                             "every pair 1.0; use sigmoid (a probability) or none (the raw "
                             "logit)\n")


def test_softmax_on_one_label_from_python_and_from_a_config(tiny_reranker_dir, tmp_path):
    from tinymodels import make_tiny_cross_encoder

    from xenc.models.cross_encoder import CrossEncoder

    with pytest.raises(UsageError, match="^the model has one label: activation softmax"):
        CrossEncoder(str(tiny_reranker_dir), activation="softmax")
    own = make_tiny_cross_encoder(tmp_path / "m", activation="softmax")
    with pytest.raises(ModelError, match="its config's softmax activation"):
        CrossEncoder(str(own))
    assert CrossEncoder(str(own), activation="sigmoid").activation == "sigmoid"


@pytest.mark.parametrize("header", ["id\ttext", "query_id\tquery", "QID\tQuery", "_id\ttext",
                                    "topic_id\ttitle", " id \t text "])
def test_tsv_header_is_not_a_query(tmp_path, header):
    path = tmp_path / "q.tsv"
    path.write_text(f"{header}\n1\tbird migration\n2\tsourdough\n")
    assert is_tsv_header(header.encode())
    queries = list(read_queries(path, fmt="auto"))
    assert [(q.id, q.text) for q in queries] == [("1", "bird migration"), ("2", "sourdough")]
    assert [q.id for q in read_queries(path, fmt="tsv")] == ["1", "2"]


@pytest.mark.parametrize("line", ["1\ttext", "id\tbird migration", "id\ttext\textra", "q\tquery"])
def test_a_query_line_is_not_a_header(line):
    assert not is_tsv_header(line.encode())


def test_tsv_header_on_the_command_line(runner, sample_index, tmp_path):
    path = tmp_path / "q.tsv"
    path.write_text("query_id\tquery\n7\tbird migration\n")
    result = runner.invoke(app, ["search", "--queries", str(path), "--index-dir",
                                 str(sample_index), "--no-rerank", "-k", "2"])
    assert result.exit_code == 0, result.stderr
    assert {r["qid"] for r in parse_jsonl(result.stdout)} == {"7"}


def test_header_only_on_the_first_line(tmp_path):
    path = tmp_path / "q.tsv"
    path.write_text("1\tbird migration\nid\ttext\n")
    assert [q.id for q in read_queries(path, fmt="auto")] == ["1", "id"]


def test_corpus_as_queries_fails_before_the_first_search(runner, sample_index):
    """The sample corpus reads as 240 queries, then line 241 (an empty text) fails: nothing
    is searched, and the error says the file looks like a corpus."""
    result = runner.invoke(app, ["search", "--queries", str(SAMPLE / "corpus.jsonl"),
                                 "--index-dir", str(sample_index), "--no-rerank",
                                 "--retriever", "bm25"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        f'Error: {SAMPLE / "corpus.jsonl"}:241: field "text" is empty; this looks like a '
        'corpus, not queries (--queries reads one query a line: JSONL {"id", "text"}, '
        "id<TAB>text or text)\n")


def test_bad_query_file_fails_before_any_output(runner, sample_index, tmp_path):
    rows = [{"id": str(i), "text": "bird migration"} for i in range(5)] + [{"id": "x"}]
    path = write_jsonl(tmp_path / "q.jsonl", rows)
    result = runner.invoke(app, ["search", "--queries", str(path), "--index-dir",
                                 str(sample_index), "--no-rerank"])
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == f'Error: {path}:6: missing text field "text"\n'
