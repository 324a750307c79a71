"""A hub id on a machine that cannot reach the hub: the cache first, else a fast one-line error.

The hub is made unreachable with ``HF_ENDPOINT=http://127.0.0.1:9`` (nothing listens on the
discard port, so connecting is refused at once) and ``HF_HUB_OFFLINE`` unset, as on a user's
machine with no network; the Hugging Face cache is made in the test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from tinymodels import make_tiny_cross_encoder

import xenc.models.hub as hub
import xenc.models.resolve as resolve
from xenc.errors import ModelError

ROOT = Path(__file__).resolve().parents[2]
DEAD = "http://127.0.0.1:9"
CACHED, MISSING = "xenc-test/tiny-ce", "xenc-test/not-downloaded"


def make_hub_cache(hf_home: Path, repo_id: str, model_dir: Path) -> Path:
    """Lay ``model_dir`` out as huggingface_hub's cache holds a downloaded ``repo_id``."""
    repo = hf_home / "hub" / ("models--" + repo_id.replace("/", "--"))
    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = repo / "snapshots" / commit
    shutil.copytree(model_dir, snapshot)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    return snapshot


@pytest.fixture()
def no_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No HF_HUB_OFFLINE, a dead endpoint, an HF cache in tmp_path holding ``CACHED``."""
    hf_home = tmp_path / "hf"
    make_hub_cache(hf_home, CACHED, make_tiny_cross_encoder(tmp_path / "ce"))
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", DEAD)
    monkeypatch.setenv("HF_HOME", str(hf_home))
    monkeypatch.setattr(hub, "_REACHABLE", set())
    monkeypatch.setattr(hub, "_UNREACHABLE", set())
    return hf_home


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XENC_")}
    return subprocess.run(
        [sys.executable, "-m", "xenc", *args], input=stdin, capture_output=True, text=True,
        env={**env, "PYTHONPATH": str(ROOT)}, timeout=120, check=False,
    )


def test_probe_finds_a_dead_endpoint_and_it_counts_as_offline(no_hub) -> None:
    assert not resolve.hub_offline()
    assert resolve.hub_reachable() is False
    assert resolve.hub_offline()  # remembered: nothing retries it in this process


def test_not_cached_fails_with_the_way_to_get_it(no_hub) -> None:
    with pytest.raises(ModelError) as err:
        resolve.resolve_model(MISSING, kind="reranker")
    message = str(err.value)
    assert f"the hub ({DEAD}) cannot be reached" in message
    assert f"hf download {MISSING}" in message and "local model directory" in message
    assert "HF_HUB_OFFLINE=1" in message and "\n" not in message


def test_cached_model_resolves_from_the_cache(no_hub, monkeypatch, caplog) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(no_hub / "hub"))  # read at import
    resolved = resolve.resolve_model(CACHED, kind="reranker")
    assert resolved.is_hub and resolve.hub_offline()  # loads will not try the hub
    assert f"the hub ({DEAD}) cannot be reached: using the cached {CACHED}" in caplog.text


def test_cli_models_and_score_use_the_cache_and_fail_fast_without_it(no_hub) -> None:
    shown = run("models", "--reranker", CACHED)
    assert shown.returncode == 0, shown.stderr
    records = [orjson.loads(line) for line in shown.stdout.splitlines()]
    assert any(r.get("name") == CACHED and r.get("source") == "hub" for r in records), records
    pair = '{"query": "a query", "document": "a document"}\n'
    scored = run("score", "-", "--reranker", CACHED, stdin=pair)
    assert scored.returncode == 0, scored.stderr
    assert isinstance(orjson.loads(scored.stdout)["score"], float)
    missing = run("score", "-", "--reranker", MISSING, stdin=pair)
    assert missing.returncode == 1 and missing.stdout == ""
    assert missing.stderr.count("\n") == 1 and "Retrying" not in missing.stderr
    assert missing.stderr.startswith("Error: ") and "cannot be reached" in missing.stderr
