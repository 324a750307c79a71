"""The `xenc convert` command through Typer's CliRunner."""

from __future__ import annotations

from conftest import parse_jsonl

from xenc.cli.app import app


def test_convert_beir_folder(runner, tmp_path):
    src = tmp_path / "beir"
    (src / "qrels").mkdir(parents=True)
    (src / "corpus.jsonl").write_text(
        '{"_id": "d1", "title": "T", "text": "one"}\n{"_id": "d2", "text": "two"}\n')
    (src / "queries.jsonl").write_text('{"_id": "q1", "text": "first"}\n')
    (src / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td2\t1\n")
    result = runner.invoke(app, ["convert", str(src), str(tmp_path / "out")])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    out = tmp_path / "out"
    assert parse_jsonl((out / "corpus.jsonl").read_text()) == [
        {"id": "d1", "title": "T", "text": "one"}, {"id": "d2", "text": "two"}]
    assert parse_jsonl((out / "queries.jsonl").read_text()) == [{"id": "q1", "text": "first"}]
    assert (out / "qrels.tsv").read_text() == "query-id\tcorpus-id\tscore\nq1\td2\t1\n"
    bad = runner.invoke(app, ["convert", str(src), str(tmp_path / "o2"), "--format", "xml"])
    assert bad.exit_code == 2 and bad.stderr.startswith("Error: ")
