"""Queries as JSONL, TSV (id<TAB>text) or plain text lines; detected or chosen."""

from __future__ import annotations

import orjson
import pytest
from typer.testing import CliRunner

from xenc.cli.app import app
from xenc.errors import InputError, UsageError
from xenc.io.corpus import detect_query_format, read_queries


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_detection():
    assert detect_query_format(b' {"id": 1, "text": "x"}') == "jsonl"
    assert detect_query_format(b"q1\tmoon phases") == "tsv"
    assert detect_query_format(b"moon phases") == "text"


def test_tsv_and_text_and_jsonl_read_the_same(tmp_path):
    tsv = write(tmp_path, "q.tsv", "q1\tmoon phases \r\n\nq2\tsharpen a knife\twith a stone\n")
    assert [(q.id, q.text) for q in read_queries(tsv, fmt="auto")] == [
        ("q1", "moon phases"), ("q2", "sharpen a knife\twith a stone")]
    text = write(tmp_path, "q.txt", "moon phases\n\nsharpen a knife\n")
    assert [(q.id, q.text) for q in read_queries(text, fmt="auto")] == [
        ("1", "moon phases"), ("3", "sharpen a knife")]
    # forced: a TSV file read as text keeps the whole line
    assert [q.text for q in read_queries(tsv, fmt="text")][0] == "q1\tmoon phases"


@pytest.mark.parametrize(("text", "fmt", "reason"), [
    ("q1\tmoon\nno tab here\n", "auto", "q.in:2: expected id<TAB>text"),
    ("q1\tmoon\nq1\tagain\n", "auto", 'q.in:2: duplicate query id "q1" (line 1)'),
    ("q1\t  \n", "tsv", "q.in:1: empty text in id<TAB>text"),
    ("moon\n", "jsonl", "q.in:1: invalid JSON"),
    ("moon\n", None, "q.in:1: invalid JSON"),  # the library default is jsonl
])
def test_bad_lines_name_file_and_line(tmp_path, text, fmt, reason):
    path = write(tmp_path, "q.in", text)
    with pytest.raises(InputError) as err:
        list(read_queries(path, fmt=fmt) if fmt else read_queries(path))
    assert str(err.value).startswith(f"{tmp_path}/{reason}")


def test_unknown_format_is_usage():
    # Python names its own argument; the CLI names its flag (test below)
    with pytest.raises(UsageError, match="^fmt must be one of auto, jsonl, tsv"):
        list(read_queries("-", fmt="csv"))


def test_search_reads_tsv_from_stdin_and_text_files(sample_index, tmp_path):
    base = ["search", "--index-dir", str(sample_index), "--retriever", "bm25", "--no-rerank",
            "-k", "2"]
    tsv = CliRunner().invoke(app, [*base, "--queries", "-"],
                             input="q7\tphases of the moon\nq9\tsourdough starter\n")
    assert tsv.exit_code == 0, tsv.stderr
    lines = [orjson.loads(line) for line in tsv.stdout.splitlines()]
    assert [r["qid"] for r in lines] == ["q7", "q7", "q9", "q9"]
    path = write(tmp_path, "q.txt", "phases of the moon\nsourdough starter\n")
    text = CliRunner().invoke(app, [*base, "--queries", str(path), "--queries-format", "text"])
    got = [orjson.loads(line) for line in text.stdout.splitlines()]
    assert [r["doc_id"] for r in got] == [r["doc_id"] for r in lines]
    assert [r["qid"] for r in got] == ["1", "1", "2", "2"]
    bad = CliRunner().invoke(app, [*base, "--queries", str(path), "--queries-format", "csv"])
    assert bad.exit_code == 2 and "--queries-format must be one of" in bad.stderr
