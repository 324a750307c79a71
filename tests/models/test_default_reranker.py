"""The reranker shipped inside xenc (``xenc/assets/reranker``): how it is found and loaded.

No trained model ships yet (issue 3: it needs the GPU), so these tests put a tiny cross-encoder
where the package keeps it, and check everything a shipped model goes through: resolution by
default and by alias, ``xenc search`` reranking without ``--reranker``, ``xenc models``, and
half-precision weights (how it ships, to stay under 50 MB) computed in float32.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import orjson
import pytest
from typer.testing import CliRunner

import xenc.models.resolve
from xenc import CrossEncoder
from xenc.cli.app import app
from xenc.errors import ModelError, UsageError
from xenc.models.resolve import DEFAULT_RERANKER, default_reranker_dir, resolve_model

PAIRS = [("star light", "the star gives light"), ("cold river", "warm bird song in a tree")]


@pytest.fixture()
def shipped(monkeypatch, tiny_reranker_dir) -> Path:
    """A tiny cross-encoder in the place of the shipped one."""
    monkeypatch.setattr(xenc.models.resolve, "default_reranker_dir", lambda: tiny_reranker_dir)
    return tiny_reranker_dir


def test_the_package_place_is_xenc_assets_reranker(monkeypatch, tmp_path) -> None:
    import importlib.resources

    root = tmp_path / "xenc"
    monkeypatch.setattr(importlib.resources, "files", lambda package: root)
    assert default_reranker_dir() is None  # nothing there
    (root / "assets" / "reranker").mkdir(parents=True)
    assert default_reranker_dir() is None  # a folder without a model is not one
    (root / "assets" / "reranker" / "config.json").write_text("{}")
    assert default_reranker_dir() == root / "assets" / "reranker"


@pytest.mark.parametrize("name", [None, "", " ", "default", "xenc-reranker", DEFAULT_RERANKER])
def test_default_and_aliases_resolve_to_it(shipped: Path, name: str | None) -> None:
    resolved = resolve_model(name, kind="reranker")
    assert (resolved.name, resolved.path, resolved.source) == (
        DEFAULT_RERANKER, str(shipped), "bundled")


def test_it_is_no_encoder(shipped: Path) -> None:
    with pytest.raises(UsageError, match="xenc-reranker is a cross-encoder, not a bi-encoder"):
        resolve_model("xenc-reranker", kind="encoder")
    assert resolve_model(None, kind="encoder").name == "all-MiniLM-L6-v2"


def test_alias_without_a_shipped_model(no_default_reranker) -> None:
    with pytest.raises(ModelError, match="installed without its default reranker"):
        resolve_model("default", kind="reranker")


def test_search_and_score_rerank_with_it_by_default(shipped: Path, sample_index: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["search", "what causes a lunar eclipse", "--index-dir",
                                 str(sample_index), "--candidates", "10", "-k", "3"])
    assert result.exit_code == 0, result.stderr
    rows = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [r["rank"] for r in rows] == [1, 2, 3] and all(r["reranked"] for r in rows)
    explicit = runner.invoke(app, ["search", "what causes a lunar eclipse", "--index-dir",
                                   str(sample_index), "--candidates", "10", "-k", "3",
                                   "--reranker", str(shipped)])
    assert explicit.stdout == result.stdout
    lines = "".join(orjson.dumps({"query": q, "document": d}).decode() + "\n" for q, d in PAIRS)
    scored = runner.invoke(app, ["score", "-"], input=lines)
    assert scored.exit_code == 0, scored.stderr
    assert len(scored.stdout.splitlines()) == 2


def test_models_command_describes_it(shipped: Path) -> None:
    result = CliRunner().invoke(app, ["models"])
    assert result.exit_code == 0, result.stderr
    reranker = [orjson.loads(line) for line in result.stdout.splitlines()][1]
    assert (reranker["name"], reranker["source"], reranker["chosen_by"]) == (
        DEFAULT_RERANKER, "bundled", "default")
    assert reranker["path"] == str(shipped) and reranker["layers"] == 2


def test_half_precision_weights_compute_in_float32(tiny_reranker_dir: Path, tmp_path) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification

    half = tmp_path / "half"
    shutil.copytree(tiny_reranker_dir, half)
    AutoModelForSequenceClassification.from_pretrained(half).half().save_pretrained(half)
    full, loaded = CrossEncoder(str(tiny_reranker_dir)), CrossEncoder(str(half))
    assert {p.dtype for p in loaded.model.parameters()} == {torch.float32}
    assert np.allclose(loaded.predict(PAIRS), full.predict(PAIRS), atol=1e-2)
