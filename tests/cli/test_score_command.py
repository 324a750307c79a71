"""The `xenc score` command through Typer's CliRunner: lines kept in order, labels, errors."""

from __future__ import annotations

import orjson
import pytest
from conftest import parse_jsonl

from xenc.cli.app import app

PAIRS = [
    {"query": "how to feed a starter", "document": "Feed it flour and water.", "n": 1},
    {"text_a": "a red giant", "text_b": "stars late in life", "n": 2},
    {"sentence1": "A man plays guitar.", "sentence2": "Someone plays music.", "n": 3},
]


@pytest.mark.parametrize("via", ["file", "stdin"])
def test_score_keeps_lines_and_order(runner, tmp_path, tiny_reranker_dir, tiny_reranker, via):
    data = "".join(orjson.dumps(p).decode() + "\n" for p in PAIRS)
    path = tmp_path / "pairs.jsonl"
    path.write_text(data)
    args = ["score", str(path) if via == "file" else "-", "--reranker", str(tiny_reranker_dir)]
    result = runner.invoke(app, args, input=data if via == "stdin" else None)
    assert result.exit_code == 0, result.stderr
    records = parse_jsonl(result.stdout)
    assert [r["n"] for r in records] == [1, 2, 3]
    texts = [tuple(v for k, v in p.items() if k != "n") for p in PAIRS]
    expected = tiny_reranker.predict(texts)
    assert [r["score"] for r in records] == pytest.approx([float(x) for x in expected], abs=1e-6)
    assert all(set(r) == set(p) | {"score"} for r, p in zip(records, PAIRS, strict=True))


def test_score_multi_label(runner, tiny_nli_dir):
    data = '{"sentence1": "A dog runs.", "sentence2": "An animal moves."}\n'
    result = runner.invoke(app, ["score", "-", "--reranker", str(tiny_nli_dir)], input=data)
    assert result.exit_code == 0, result.stderr
    (record,) = parse_jsonl(result.stdout)
    assert set(record["scores"]) == {"contradiction", "entailment", "neutral"}
    assert sum(record["scores"].values()) == pytest.approx(1.0, abs=1e-5)
    assert record["label"] == max(record["scores"], key=record["scores"].get)


def test_score_bad_line_and_skip_invalid(runner, tmp_path, tiny_reranker_dir):
    data = ('{"query": "q", "document": "d"}\n{"query": "only"}\n'
            '{"query": "q", "document": 3}\nnot json\n{"query": "q2", "document": "d2"}\n')
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["score", "-", "--reranker", str(tiny_reranker_dir),
                                 "-o", str(out)], input=data)
    assert result.exit_code == 1
    assert result.stderr == 'Error: <stdin>:2: has "query" but no "document"\n'
    assert not out.exists() and list(tmp_path.iterdir()) == []
    result = runner.invoke(app, ["score", "-", "--reranker", str(tiny_reranker_dir),
                                 "--skip-invalid"], input=data)
    assert result.exit_code == 0
    assert [r["query"] for r in parse_jsonl(result.stdout)] == ["q", "q2"]
    assert "skipped <stdin>:2:" in result.stderr and "skipped <stdin>:3:" in result.stderr
    assert "skipped <stdin>:4: invalid JSON" in result.stderr
    assert "3 invalid lines skipped" in result.stderr


def test_score_truncation_summary(runner, tiny_reranker_dir):
    long_doc = " ".join(["word"] * 300)
    data = orjson.dumps({"query": "q", "document": long_doc}).decode() + "\n"
    data += '{"query": "q", "document": "short"}\n'
    result = runner.invoke(app, ["score", "-", "--reranker", str(tiny_reranker_dir),
                                 "--max-length", "64"], input=data)
    assert result.exit_code == 0, result.stderr
    assert "scored 2 pairs; 1 truncated to 64 tokens" in result.stderr


def test_score_activation_option(runner, tiny_reranker_dir):
    data = '{"query": "q", "document": "d"}\n'
    raw = runner.invoke(app, ["score", "-", "--reranker", str(tiny_reranker_dir),
                              "--activation", "none"], input=data)
    sig = runner.invoke(app, ["score", "-", "--reranker", str(tiny_reranker_dir)], input=data)
    logit = parse_jsonl(raw.stdout)[0]["score"]
    import math

    expected = 1 / (1 + math.exp(-logit))
    assert parse_jsonl(sig.stdout)[0]["score"] == pytest.approx(expected, abs=1e-6)
    bad = runner.invoke(app, ["score", "-", "--reranker", str(tiny_reranker_dir),
                              "--activation", "relu"], input=data)
    assert bad.exit_code == 2 and "relu" in bad.stderr


def test_score_without_reranker(runner, no_default_reranker):
    result = runner.invoke(app, ["score", "-"], input="")
    assert result.exit_code == 2 and "no reranker chosen" in result.stderr


def test_pickle_weights_refused_unless_trusted(runner, tmp_path):
    from tinymodels import make_tiny_cross_encoder, to_pickle_weights

    model = to_pickle_weights(make_tiny_cross_encoder(tmp_path / "ce"))
    data = '{"query": "q", "document": "d"}\n'
    refused = runner.invoke(app, ["score", "-", "--reranker", str(model)], input=data)
    assert refused.exit_code == 1
    assert "pickle weights" in refused.stderr and "--trust-pickle-weights" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and refused.stdout == ""
    trusted = runner.invoke(app, ["score", "-", "--reranker", str(model),
                                  "--trust-pickle-weights"], input=data)
    assert trusted.exit_code == 0, trusted.stderr
    assert "score" in parse_jsonl(trusted.stdout)[0]


def test_score_without_reranker_names_options_score_has(runner, no_default_reranker):
    result = runner.invoke(app, ["score", "-"], input="")
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: no reranker chosen: pass --reranker NAME|PATH (a Hugging Face cross-encoder "
        "directory or hub id) or set XENC_RERANKER\n")
    assert "--no-rerank" not in result.stderr
