"""Building the index directory: contents, manifest, atomicity, determinism."""

from __future__ import annotations

import hashlib
import sqlite3

import numpy as np
import orjson
import pytest
from conftest import SAMPLE

from xenc.config import ChunkParams
from xenc.errors import IndexFormatError, IndexNotFoundError, InputError, UsageError
from xenc.pipeline import build_index, open_index


def sample_docs():
    """The sample's documents: every record but the one with neither title nor text."""
    rows = [orjson.loads(line) for line in (SAMPLE / "corpus.jsonl").read_bytes().splitlines()]
    return [r for r in rows if r.get("title") or r["text"]]


def live(index_dir):
    """The generation directory that CURRENT names (format 2 layout)."""
    return index_dir / (index_dir / "CURRENT").read_text().strip()


def snapshot(index_dir):
    return {str(p.relative_to(index_dir)): p.read_bytes()
            for p in sorted(index_dir.rglob("*")) if p.is_file() and p.name != ".lock"}


def test_manifest_records_everything(sample_index, tiny_encoder_dir):
    manifest = orjson.loads((sample_index / "manifest.json").read_bytes())
    docs = sample_docs()
    assert manifest["format"] == "xenc-index" and manifest["format_version"] == 2
    assert manifest["counts"]["documents"] == len(docs)
    assert manifest["counts"]["passages"] > len(docs)  # long documents were split
    assert manifest["chunking"] == {"chunk_tokens": 128, "stride": 16}
    assert manifest["bm25"]["k1"] == 1.5 and manifest["bm25"]["b"] == 0.75
    assert manifest["tokenizer"]["stemmer"] == "porter"
    assert manifest["hnsw"]["space"] == "cosine"
    assert manifest["encoder"]["path"] == str(tiny_encoder_dir)
    assert manifest["encoder"]["dim"] == 32
    assert len(manifest["corpus"]["sha256"]) == 64
    for name, info in manifest["files"].items():
        data = (live(sample_index) / name).read_bytes()
        assert info == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert set(manifest["files"]) >= {"docs.sqlite", "embeddings.npy", "hnsw.bin", "chunk_doc.npy"}


def test_store_holds_documents_and_passages(sample_index):
    docs = {d["id"]: d for d in sample_docs()}
    db = sqlite3.connect(live(sample_index) / "docs.sqlite")
    rows = db.execute("SELECT id, title, text, metadata FROM docs ORDER BY seq").fetchall()
    assert [r[0] for r in rows] == list(docs)
    for doc_id, title, text, meta in rows:
        assert text == docs[doc_id]["text"]
        assert title == docs[doc_id].get("title", "").strip()
        extra = {k: v for k, v in docs[doc_id].items() if k not in {"id", "text", "title"}}
        assert orjson.loads(meta) == extra
    # Passages tile each document: first starts at 0, last ends at its length, overlaps.
    for seq, (_, _, text, _) in enumerate(rows):
        spans = db.execute(
            "SELECT start, end FROM chunks WHERE doc_seq = ? ORDER BY chunk_no", (seq,)
        ).fetchall()
        assert spans[0][0] == 0 and spans[-1][1] == len(text)
        assert all(b2 > a2 and a2 < b1 for (_, b1), (a2, b2) in zip(spans, spans[1:], strict=False))


def test_embeddings_are_unit_vectors(opened):
    vectors = np.load(opened.files / "embeddings.npy", allow_pickle=False)
    assert vectors.shape == (opened.num_passages, 32) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_same_input_same_bytes(tmp_path, tiny_encoder_dir, sample_index):
    other = tmp_path / "again"
    build_index(SAMPLE / "corpus.jsonl", other, encoder=str(tiny_encoder_dir),
                chunk=ChunkParams(128, 16))
    a = orjson.loads((sample_index / "manifest.json").read_bytes())
    b = orjson.loads((other / "manifest.json").read_bytes())
    assert a["files"] == b["files"]  # every file, byte for byte
    assert {k: v for k, v in a.items() if k != "created_at"} == {
        k: v for k, v in b.items() if k != "created_at"
    }


def _corpus(tmp_path, lines):
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_bad_input_leaves_old_index_untouched(tmp_path, tiny_encoder_dir):
    target = tmp_path / "idx"
    good = _corpus(tmp_path, ['{"id": "a", "text": "alpha beta"}', '{"id": "b", "text": "gamma"}'])
    build_index(good, target, encoder=str(tiny_encoder_dir))
    before = snapshot(target)
    bad = _corpus(tmp_path, ['{"id": "a", "text": "x"}', '{"id": "a", "text": "y"}'])
    with pytest.raises(InputError, match=r"c.jsonl:2: duplicate id \"a\""):
        build_index(bad, target, encoder=str(tiny_encoder_dir))
    assert snapshot(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.jsonl", "idx"]  # no temp dirs


def test_empty_corpus_is_an_error_and_writes_nothing(tmp_path, tiny_encoder_dir):
    empty = _corpus(tmp_path, [""])
    with pytest.raises(InputError, match="c.jsonl: no documents"):
        build_index(empty, tmp_path / "idx", encoder=str(tiny_encoder_dir))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.jsonl"]


def test_refuses_to_replace_a_directory_that_is_not_an_index(tmp_path, tiny_encoder_dir):
    target = tmp_path / "mine"
    target.mkdir()
    (target / "important.txt").write_text("keep")
    good = _corpus(tmp_path, ['{"id": "a", "text": "alpha"}'])
    with pytest.raises(UsageError, match="not an xenc index; refusing to replace it"):
        build_index(good, target, encoder=str(tiny_encoder_dir))
    assert (target / "important.txt").read_text() == "keep"


def test_open_errors(tmp_path, sample_index):
    with pytest.raises(IndexNotFoundError, match="no index at"):
        open_index(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(IndexNotFoundError, match="holds no manifest.json"):
        open_index(tmp_path / "empty")
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(sample_index, copy)
    gen = live(copy)
    manifest = orjson.loads((gen / "manifest.json").read_bytes())
    manifest["format_version"] = 99
    (gen / "manifest.json").write_bytes(orjson.dumps(manifest))
    with pytest.raises(IndexFormatError, match="format version 99.*re-run `xenc index`"):
        open_index(copy)
    manifest["format_version"] = 2
    (gen / "manifest.json").write_bytes(orjson.dumps(manifest))
    with open(gen / "embeddings.npy", "ab") as fh:
        fh.write(b"x")
    with pytest.raises(IndexFormatError, match="embeddings.npy: size differs"):
        open_index(copy)
    shutil.copy(live(sample_index) / "embeddings.npy", gen / "embeddings.npy")
    (gen / "hnsw.bin").unlink()
    with pytest.raises(IndexFormatError, match="hnsw.bin: missing"):
        open_index(copy)
