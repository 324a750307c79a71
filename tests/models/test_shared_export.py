"""Indexes share one checked ONNX query encoder by content key, and stay self-contained (#27)."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import SAMPLE

from xenc.config import ChunkParams
from xenc.index import store
from xenc.index.verify import verify
from xenc.models.shared_export import SUBDIR

FILES = ("query_encoder.onnx", "query_encoder.onnx.data", "query_tokenizer.json")


@pytest.fixture()
def corpus(tmp_path):
    lines = (SAMPLE / "corpus.jsonl").read_text().splitlines()
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n".join(lines[:3]) + "\n")
    return path


def build(corpus, target, encoder_dir):
    from xenc.pipeline import build_index

    return build_index(corpus, target, encoder=str(encoder_dir),
                       chunk=ChunkParams(chunk_tokens=64, stride=8))


def inode(index_dir, name):
    return (store.live_generation(index_dir) / name).stat().st_ino


def search_ids(index_dir):
    from xenc.searcher import Searcher

    with Searcher(index_dir) as searcher:
        assert type(searcher.index.encoder).__name__ == "OnnxQueryEncoder"
        return [r.to_dict() for r in searcher.search("moon", retriever="dense", k=3)]


def test_second_index_links_the_shared_export(tmp_path, corpus, tiny_encoder_dir, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("XENC_CACHE_DIR", str(cache))
    first = build(corpus, tmp_path / "a", tiny_encoder_dir)
    second = build(corpus, tmp_path / "b", tiny_encoder_dir)
    assert first["query_encoder"] == second["query_encoder"]
    assert first["query_encoder"]["check"]["passed"]
    (entry,) = (cache / SUBDIR).iterdir()
    for name in FILES:  # one file on disk, three names
        assert inode(tmp_path / "a", name) == inode(tmp_path / "b", name)
        assert inode(tmp_path / "b", name) == (entry / name).stat().st_ino
    assert verify(tmp_path / "a") == [] and verify(tmp_path / "b") == []
    want = search_ids(tmp_path / "a")
    shutil.rmtree(cache)  # the index holds its own files: nothing needs the cache
    assert search_ids(tmp_path / "b") == want
    assert verify(tmp_path / "b") == []


def test_a_damaged_shared_export_is_exported_again(tmp_path, corpus, tiny_encoder_dir,
                                                   monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("XENC_CACHE_DIR", str(cache))
    build(corpus, tmp_path / "a", tiny_encoder_dir)
    (entry,) = (cache / SUBDIR).iterdir()
    data = entry / "query_encoder.onnx.data"
    damaged = bytearray(data.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    replacement = entry / "damaged"
    replacement.write_bytes(bytes(damaged))
    replacement.replace(data)  # a new file: index "a" keeps its own intact copy
    build(corpus, tmp_path / "b", tiny_encoder_dir)
    assert verify(tmp_path / "a") == [] and verify(tmp_path / "b") == []
    saved = json.loads((entry / "record.json").read_text())
    assert inode(tmp_path / "b", "query_encoder.onnx.data") == data.stat().st_ino
    assert saved["record"]["check"]["passed"]


def test_sharing_off(tmp_path, corpus, tiny_encoder_dir, monkeypatch):
    monkeypatch.setenv("XENC_CACHE_DIR", "off")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    build(corpus, tmp_path / "a", tiny_encoder_dir)
    build(corpus, tmp_path / "b", tiny_encoder_dir)
    assert inode(tmp_path / "a", "query_encoder.onnx") != inode(tmp_path / "b",
                                                                  "query_encoder.onnx")
    assert not (tmp_path / "home").exists()


def test_default_cache_root_follows_xdg(tmp_path, monkeypatch):
    from xenc.models.shared_export import cache_root

    monkeypatch.delenv("XENC_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "xenc"
    monkeypatch.setenv("XENC_CACHE_DIR", str(tmp_path / "mine"))
    assert cache_root() == tmp_path / "mine"
    monkeypatch.setenv("XENC_CACHE_DIR", "off")
    assert cache_root() is None
