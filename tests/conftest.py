from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
# Tests never share query encoders through the developer's ~/.cache/xenc (session fixtures
# included); tests/test_shared_export.py turns sharing on in a directory of its own.
os.environ["XENC_CACHE_DIR"] = "off"


def jsonl_bytes(rows: Iterable[Any]) -> bytes:
    """``rows`` as JSONL: one compact orjson object a line, each ending in ``\\n``."""
    return b"".join(orjson.dumps(row) + b"\n" for row in rows)


def write_jsonl(path: Path, rows: Iterable[Any]) -> Path:
    """Write ``rows`` to ``path`` as JSONL (:func:`jsonl_bytes`); return ``path``."""
    path.write_bytes(jsonl_bytes(rows))
    return path


def parse_jsonl(text: str | bytes) -> list[Any]:
    """The objects of JSONL output (every line must parse)."""
    return [orjson.loads(line) for line in text.splitlines()]


@pytest.fixture()
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch):
    """No test sees the developer's xenc settings, and nothing reaches a model hub."""
    for name in list(os.environ):
        if name.startswith("XENC_"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("XENC_CACHE_DIR", "off")


@pytest.fixture()
def no_default_reranker(monkeypatch):
    """An xenc installed without its shipped reranker (the "no reranker chosen" path)."""
    import xenc.models.resolve

    monkeypatch.setattr(xenc.models.resolve, "default_reranker_dir", lambda: None)


@pytest.fixture(scope="session")
def bundled_model_dir() -> Path:
    from xenc.models.resolve import resolve_model

    return Path(resolve_model(None, kind="encoder").path)


@pytest.fixture(scope="session")
def bundled_tokenizer(bundled_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(bundled_model_dir)


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory) -> Path:
    from tinymodels import make_tiny_encoder

    return make_tiny_encoder(tmp_path_factory.mktemp("models") / "encoder")


@pytest.fixture(scope="session")
def tiny_reranker_dir(tmp_path_factory) -> Path:
    from tinymodels import make_tiny_cross_encoder

    return make_tiny_cross_encoder(tmp_path_factory.mktemp("models") / "reranker")


@pytest.fixture(scope="session")
def tiny_nli_dir(tmp_path_factory) -> Path:
    from tinymodels import make_tiny_cross_encoder

    labels = {0: "contradiction", 1: "entailment", 2: "neutral"}
    return make_tiny_cross_encoder(tmp_path_factory.mktemp("models") / "nli", 3, labels)


@pytest.fixture(scope="session")
def tiny_reranker(tiny_reranker_dir):
    from xenc.models.cross_encoder import CrossEncoder

    return CrossEncoder(str(tiny_reranker_dir), batch_size=8)


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory, tiny_encoder_dir) -> Path:
    """data/sample indexed once per session with the tiny encoder (small passages)."""
    from xenc.config import ChunkParams
    from xenc.pipeline import build_index

    target = tmp_path_factory.mktemp("indexes") / "sample"
    build_index(
        SAMPLE / "corpus.jsonl", target, encoder=str(tiny_encoder_dir),
        chunk=ChunkParams(chunk_tokens=128, stride=16),
    )
    return target


@pytest.fixture()
def opened(sample_index):
    from xenc.pipeline import open_index

    index = open_index(sample_index)
    yield index
    index.close()
