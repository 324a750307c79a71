"""The `xenc models` command through Typer's CliRunner."""

from __future__ import annotations

from conftest import parse_jsonl

from xenc.cli.app import app


def test_models_without_a_reranker_and_with_one(runner, tiny_reranker_dir, no_default_reranker):
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0, result.stderr
    records = parse_jsonl(result.stdout)
    assert [r["role"] for r in records] == ["encoder", "reranker"]
    assert records[1]["name"] is None and "--reranker" in records[1]["message"]
    chosen = runner.invoke(app, ["models", "--reranker", str(tiny_reranker_dir)])
    reranker = parse_jsonl(chosen.stdout)[1]
    assert reranker["chosen_by"] == "option" and reranker["source"] == "local"
    assert reranker["labels"] == ["LABEL_0"] and reranker["layers"] == 2
    assert "training" not in reranker and reranker["size_mb"] > 0
    missing = runner.invoke(app, ["models", "--reranker", "/no/such/dir"])
    assert missing.exit_code == 1
    assert missing.stderr == "Error: model directory not found: /no/such/dir\n"
