"""Issue 12: the ONNX query encoder (parity, manifest record, verify, update), the export
record behind --backend auto, the tokenizers-only tokenizer, and xenc.Searcher."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from conftest import SAMPLE
from tinymodels import make_tiny_encoder, set_pooling

from xenc.errors import ModelError

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

TEXTS = ["how do I keep a sourdough starter alive", "", "river " * 400, "Mixed CASE text!",
         "what is a parsec", "the cat sat on the mat"]


@pytest.mark.parametrize("pooling", ["mean", "cls", "max"])
def test_query_encoder_matches_torch(tmp_path, pooling):
    from xenc.models.encoder import Encoder
    from xenc.models.onnx_encoder import OnnxQueryEncoder, export_query_encoder

    directory = make_tiny_encoder(tmp_path / "enc")
    set_pooling(directory, pooling)
    encoder = Encoder(str(directory))
    record = export_query_encoder(encoder, tmp_path)
    assert record["check"]["passed"], record
    assert record["pooling"] == pooling and record["dim"] == encoder.dim
    onnx = OnnxQueryEncoder(tmp_path, record)
    want, got = encoder.encode(TEXTS), onnx.encode(TEXTS)
    assert np.abs(want - got).max() <= 1e-4
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_fast_tokenizer_gives_transformers_ids(tiny_reranker_dir):
    from transformers import AutoTokenizer

    from xenc.models.fast_tokenizer import FastTokenizer

    hf = AutoTokenizer.from_pretrained(tiny_reranker_dir)
    fast = FastTokenizer.from_dir(tiny_reranker_dir)
    assert fast.model_max_length == hf.model_max_length
    assert fast.pad_token_id == hf.pad_token_id
    assert fast.num_special_tokens_to_add(pair=True) == hf.num_special_tokens_to_add(pair=True)
    queries = [TEXTS[0], TEXTS[1], TEXTS[4]]  # short enough for only_second
    docs = [TEXTS[2], TEXTS[3], TEXTS[5]]
    for strategy in ("longest_first", "only_second"):
        want = hf(queries, docs, truncation=strategy, max_length=64)
        got = fast(queries, docs, truncation=strategy, max_length=64)
        assert got["input_ids"] == want["input_ids"]
        assert got["token_type_ids"] == want["token_type_ids"]
    want = hf(TEXTS, padding=True, truncation=True, max_length=32)
    got = fast(TEXTS, padding=True, truncation=True, max_length=32)
    assert got["input_ids"] == want["input_ids"]
    assert got["attention_mask"] == want["attention_mask"]


def test_manifest_records_the_checked_export(sample_index):
    from xenc.index import store

    generation = store.live_generation(sample_index)
    manifest = json.loads((generation / "manifest.json").read_text())
    record = manifest["query_encoder"]
    assert record["check"]["passed"] and record["check"]["max_abs_diff"] <= 1e-4
    assert record["file"] == "query_encoder.onnx" and record["tokenizer"] in manifest["files"]
    assert manifest["files"][record["file"]]["sha256"] == record["sha256"]
    assert record["max_length"] == manifest["encoder"]["max_length"]
    # the weights live next to the graph, and the manifest's file list covers them
    data = generation / record["data"]
    assert record["data"] == "query_encoder.onnx.data" and record["data"] in manifest["files"]
    assert data.stat().st_size > 4 * (generation / record["file"]).stat().st_size
    assert not list(generation.glob("*.traced"))


def test_index_encoder_backends(sample_index):
    from xenc.pipeline import open_index

    for backend, kind in [("auto", "OnnxQueryEncoder"), ("onnx", "OnnxQueryEncoder"),
                          ("torch", "Encoder")]:
        index = open_index(sample_index, backend=backend)
        try:
            assert type(index.encoder).__name__ == kind
        finally:
            index.close()
    onnx, torch_ = open_index(sample_index), open_index(sample_index, backend="torch")
    try:
        assert np.abs(onnx.encoder.encode(TEXTS) - torch_.encoder.encode(TEXTS)).max() <= 1e-4
    finally:
        onnx.close()
        torch_.close()


def test_verify_checks_the_onnx_hash(sample_index, tmp_path):
    from xenc.index import store
    from xenc.index.verify import verify

    copy = tmp_path / "idx"
    shutil.copytree(sample_index, copy, symlinks=True)
    assert verify(copy) == []
    onnx_file = store.live_generation(copy) / "query_encoder.onnx"
    data = bytearray(onnx_file.read_bytes())
    data[-10] ^= 0xFF  # same size: only the hash can tell
    onnx_file.write_bytes(bytes(data))
    problems = verify(copy)
    assert any("query_encoder.onnx" in p and "sha256" in p for p in problems), problems
    weights = store.live_generation(copy) / "query_encoder.onnx.data"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    assert any("query_encoder.onnx.data" in p and "sha256" in p for p in verify(copy))


def test_update_keeps_the_query_encoder(tmp_path, tiny_encoder_dir):
    from xenc.config import ChunkParams
    from xenc.index import store
    from xenc.index.verify import verify
    from xenc.pipeline import build_index

    corpus = tmp_path / "corpus.jsonl"
    lines = (SAMPLE / "corpus.jsonl").read_text().splitlines()
    corpus.write_text("\n".join(lines[:6]) + "\n")
    target = tmp_path / "idx"
    first = build_index(corpus, target, encoder=str(tiny_encoder_dir),
                        chunk=ChunkParams(chunk_tokens=64, stride=8))
    corpus.write_text("\n".join(lines[:8]) + "\n")
    second = build_index(corpus, target, update=True)
    assert second["query_encoder"] == first["query_encoder"]
    generation = store.live_generation(target)
    assert (generation / "query_encoder.onnx").is_file()
    assert verify(target) == []
    # an index without one gets one at its next update
    manifest = dict(second)
    record = manifest.pop("query_encoder")
    for name in (record["file"], record["data"], record["tokenizer"]):
        (generation / name).unlink()
        manifest["files"].pop(name)
    (generation / "manifest.json").write_text(json.dumps(manifest))
    corpus.write_text("\n".join(lines[:9]) + "\n")
    third = build_index(corpus, target, update=True)
    assert third["query_encoder"]["check"]["passed"]
    assert verify(target) == []


def test_auto_backend_follows_the_export_record(tmp_path):
    from tinymodels import make_tiny_cross_encoder

    from xenc.models.cross_encoder import CrossEncoder
    from xenc.models.export import export_onnx

    directory = make_tiny_cross_encoder(tmp_path / "ce")
    assert CrossEncoder(str(directory)).backend == "torch"  # nothing exported
    export_onnx(str(directory))
    assert CrossEncoder(str(directory)).backend == "onnx"
    assert CrossEncoder(str(directory), backend="torch").backend == "torch"
    # weights rewritten after the export (retrained in place): stale, back to torch
    weights = directory / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    weights.write_bytes(bytes(data))
    assert CrossEncoder(str(directory)).backend == "torch"
    # no record (an export made before the record existed): not checked, torch
    export_onnx(str(directory))
    assert CrossEncoder(str(directory)).backend == "onnx"
    os.remove(directory / "onnx-export.json")
    assert CrossEncoder(str(directory)).backend == "torch"
    assert CrossEncoder(str(directory), backend="onnx").backend == "onnx"


def test_onnx_reranker_scores_match_torch(tmp_path):
    from tinymodels import make_tiny_cross_encoder

    from xenc.models.cross_encoder import CrossEncoder
    from xenc.models.export import export_onnx

    directory = make_tiny_cross_encoder(tmp_path / "ce", activation="none")
    export_onnx(str(directory))
    pairs = [(q, d) for q in TEXTS[:3] for d in TEXTS]
    onnx, torch_ = CrossEncoder(str(directory)), CrossEncoder(str(directory), backend="torch")
    assert onnx.backend == "onnx" and type(onnx.tokenizer).__name__ == "FastTokenizer"
    got, want = onnx.predict(pairs), torch_.predict(pairs)
    assert np.abs(got - want).max() <= 1e-4
    assert onnx.truncated == torch_.truncated


def test_onnx_backend_needs_the_cpu(tmp_path):
    from xenc.errors import UsageError
    from xenc.models.cross_encoder import CrossEncoder

    with pytest.raises((UsageError, ModelError)):
        CrossEncoder(str(tmp_path / "missing"), backend="onnx", device="cuda")


def test_searcher_keeps_models_loaded(sample_index, tiny_reranker):
    import xenc
    from xenc import Query, SearchParams, open_index, search

    with xenc.Searcher(sample_index, reranker=tiny_reranker,
                       params=SearchParams(k=3, candidates=10)) as searcher:
        one = searcher.search("sourdough starter")
        encoder = searcher.index.encoder
        many = searcher.search(["sourdough starter", "telescope"], retriever="bm25")
        assert searcher.index.encoder is encoder  # loaded once, kept
    assert [r.qid for r in one] == ["1"] * 3
    assert [r.qid for r in many] == ["1"] * 3 + ["2"] * 3
    index = open_index(sample_index)
    try:
        want = list(search(index, [Query("1", "sourdough starter")],
                           SearchParams(k=3, candidates=10), tiny_reranker))
    finally:
        index.close()
    assert [r.to_dict() for r in one] == [r.to_dict() for r in want]


def test_one_query_tuning_gives_the_same_vectors(sample_index):
    """many_queries=False (a one-query `xenc search`: no weight prepacking) changes speed
    only: the same embeddings, within float rounding."""
    from xenc.pipeline import open_index

    one, many = open_index(sample_index, many_queries=False), open_index(sample_index)
    try:
        assert not one.many_queries and many.many_queries
        a, b = one.encoder.encode(TEXTS), many.encoder.encode(TEXTS)
    finally:
        one.close()
        many.close()
    assert np.abs(a - b).max() <= 1e-5


def test_fast_tokenizer_lengths_equal_the_id_lists(bundled_model_dir):
    """CrossEncoder sorts and truncates by these counts: they must be what the ids give."""
    from xenc.models.fast_tokenizer import FastTokenizer

    tok = FastTokenizer(bundled_model_dir / "tokenizer.json")
    texts = ["", "a", "The Moon's phases: new, waxing, full.", "word " * 600, "naïve café 東京"]
    tok(texts, truncation=True, max_length=8, padding=True)  # leave settings behind on purpose
    ids = tok(texts, add_special_tokens=False)["input_ids"]
    assert tok.lengths(texts) == [len(x) for x in ids] and ids[3] and len(ids[3]) > 512
