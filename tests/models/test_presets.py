"""Named rerankers: ``--reranker qwen3-0.6b`` is the hub id, from the cache first, failing fast
offline; ``xenc models --presets`` lists each with size, licence and sourced quality."""

from __future__ import annotations

import orjson
import pytest
from test_hub_offline import DEAD, make_hub_cache, no_hub, run  # noqa: F401 - the fixture
from tinyrerankers import make_tiny_causal_reranker

from xenc.cli.app import app
from xenc.models.presets import PRESETS, preset_hub_id


def test_presets_list_sourced_records(runner):
    result = runner.invoke(app, ["models", "--presets"])
    assert result.exit_code == 0, result.stderr
    records = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [r["preset"] for r in records] == list(PRESETS)
    assert {"minilm-l6", "bge-v2-m3", "qwen3-0.6b"} <= {r["preset"] for r in records}
    for r in records:
        assert r["hub_id"].count("/") == 1 and r["params"] and r["licence"] and r["source"]
        assert r["family"] in ("causal-lm", "sequence-classification")
        if r["quality"] != "not published":
            assert r["benchmark"] != "-" and r["first_stage"]
    qwen = next(r for r in records if r["preset"] == "qwen3-0.6b")
    assert (qwen["hub_id"], qwen["quality"]) == ("Qwen/Qwen3-Reranker-0.6B", "65.80")
    assert qwen["first_stage"] == "top-100 candidates of Qwen3-Embedding-0.6B"


def test_preset_names_are_case_insensitive():
    assert preset_hub_id("Qwen3-0.6B") == "Qwen/Qwen3-Reranker-0.6B"
    assert preset_hub_id("MiniLM-L6") == "cross-encoder/ms-marco-MiniLM-L6-v2"
    assert preset_hub_id("no-such-preset") is None


def test_preset_loads_from_the_cache_and_fails_fast_without_it(no_hub, tmp_path):  # noqa: F811
    model = make_tiny_causal_reranker(tmp_path / "qwen3", "qwen3")
    make_hub_cache(no_hub, "Qwen/Qwen3-Reranker-0.6B", model)
    pair = '{"query": "hot water", "document": "the sea is cold"}\n'
    scored = run("score", "-", "--reranker", "qwen3-0.6b", stdin=pair)
    assert scored.returncode == 0, scored.stderr
    assert 0.0 < orjson.loads(scored.stdout)["score"] < 1.0
    missing = run("score", "-", "--reranker", "bge-v2-m3", stdin=pair)
    assert missing.returncode == 1 and missing.stdout == ""
    assert missing.stderr.count("\n") == 1
    assert "model BAAI/bge-reranker-v2-m3 is not in the local Hugging Face cache" in (
        missing.stderr)
    assert f"the hub ({DEAD}) cannot be reached" in missing.stderr


@pytest.mark.parametrize("name", ["minilm-l6", "qwen3-0.6b"])
def test_preset_offline_names_the_download(runner, name):
    pairs = '{"query": "q", "document": "d"}\n'
    result = runner.invoke(app, ["score", "-", "--reranker", name], input=pairs)
    assert result.exit_code == 1
    assert f"hf download {PRESETS[name].hub_id}" in result.stderr
