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
# included); tests/models/test_shared_export.py turns sharing on in a directory of its own.
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


SMALL_DOCS = [  # the small index: one passage a document
    ("d1", "Sourdough", "A sourdough starter needs regular feeding with flour and water."),
    ("d2", "", "Knife sharpening uses a whetstone held at a steady angle."),
    ("d3", "Bread", "Bread dough rises because yeast makes carbon dioxide; flour matters."),
    ("d4", "Stars", "A red giant star has exhausted the hydrogen in its core."),
    ("d5", "Feeding", "Feed the starter flour and water daily; discard half before feeding."),
    ("d6", "", "Whetstones come in coarse and fine grits for sharpening knives."),
    ("d7", "Comets", "Comets are icy bodies that grow tails near the sun."),
    ("d8", "Flour", "Whole wheat flour absorbs more water than white flour."),
]


def trec_sorted(ids, score):
    """trec_eval's order: score descending, then document id descending."""
    return sorted(sorted(ids, reverse=True), key=score, reverse=True)


def small_passages() -> list[str]:
    """The passage text of each of SMALL_DOCS, as encoders and rerankers read it."""
    return [f"{t}\n{x}" if t else x for _, t, x in SMALL_DOCS]


@pytest.fixture(scope="session")
def small_index(tmp_path_factory, tiny_encoder_dir):
    """An index of SMALL_DOCS, opened: tests of the stages compute what it should return."""
    from xenc.pipeline import build_index, open_index

    path = write_jsonl(tmp_path_factory.mktemp("small") / "corpus.jsonl",
                       ({"id": i, "title": t, "text": x} for i, t, x in SMALL_DOCS))
    target = path.parent / "idx"
    build_index(path, target, encoder=str(tiny_encoder_dir))
    index = open_index(target)
    assert index.num_passages == len(SMALL_DOCS)  # every document is one passage here
    yield index
    index.close()
