"""The `xenc index` command through Typer's CliRunner: stdout data, stderr messages, exit codes."""

from __future__ import annotations

import orjson
import pytest

from xenc.cli.app import app


@pytest.mark.parametrize("via", ["file", "stdin"])
def test_index_from_file_or_stdin(runner, tmp_path, tiny_encoder_dir, via):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"id": "a", "text": "alpha beta"}\n{"_id": "b", "text": "gamma"}\n')
    arg = str(corpus) if via == "file" else "-"
    result = runner.invoke(
        app, ["index", arg, "--index-dir", str(tmp_path / "idx"), "--encoder",
              str(tiny_encoder_dir)],
        input=corpus.read_text() if via == "stdin" else None,
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert "indexed 2 documents (2 passages)" in result.stderr
    manifest = orjson.loads((tmp_path / "idx" / "manifest.json").read_bytes())
    assert manifest["corpus"]["source"] == (str(corpus) if via == "file" else "<stdin>")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "<stdin>:2: invalid JSON"),
        ('{"id": "a", "text": "dup"}', '<stdin>:2: duplicate id "a" (first seen on line 1)'),
        ('{"text": "no id"}', '<stdin>:2: missing id field "id" or "_id"'),
    ],
)
def test_index_bad_line(runner, tmp_path, tiny_encoder_dir, line, message):
    data = '{"id": "a", "text": "alpha"}\n' + line + "\n"
    result = runner.invoke(app, ["index", "-", "--index-dir", str(tmp_path / "idx"),
                                 "--encoder", str(tiny_encoder_dir)], input=data)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {message}")
    assert len(result.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_index_usage_errors(runner, tmp_path):
    result = runner.invoke(app, ["index", "x.jsonl", "--index-dir", str(tmp_path / "i"),
                                 "--chunk-tokens", "64", "--chunk-stride", "40"])
    assert result.exit_code == 2
    assert "Error: --chunk-stride must be between 0 and half of --chunk-tokens" in result.stderr
    result = runner.invoke(app, ["index", "x.jsonl"])
    assert result.exit_code == 2 and "--index-dir" in result.stderr


def test_index_missing_corpus(runner, tmp_path, tiny_encoder_dir):
    result = runner.invoke(app, ["index", str(tmp_path / "nope.jsonl"), "--index-dir",
                                 str(tmp_path / "i"), "--encoder", str(tiny_encoder_dir)])
    assert result.exit_code == 1
    assert result.stderr == f"Error: {tmp_path / 'nope.jsonl'}: no such file\n"
