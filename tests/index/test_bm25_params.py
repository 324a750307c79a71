"""--bm25-k1 / --bm25-b at index time: recorded in the manifest, used by every search."""

from __future__ import annotations

import orjson
import pytest
from typer.testing import CliRunner

from xenc.cli.app import app
from xenc.pipeline import open_index
from xenc.retrieval.bm25 import bm25_candidates

DOCS = [{"id": f"d{i}", "text": t} for i, t in enumerate([
    "river boat river sea", "the boat on the long long river past the mill and the farm",
    "stars and the moon", "boat"])]


def test_bm25_parameters_are_recorded_and_used(tmp_path, tiny_encoder_dir):
    rank_bm25 = pytest.importorskip("rank_bm25")
    corpus = tmp_path / "c.jsonl"
    corpus.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in DOCS))
    result = CliRunner().invoke(app, ["index", str(corpus), "--index-dir", str(tmp_path / "idx"),
                                      "--encoder", str(tiny_encoder_dir), "--bm25-k1", "0.9",
                                      "--bm25-b", "0.4"])
    assert result.exit_code == 0, result.stderr
    manifest = orjson.loads((tmp_path / "idx" / "manifest.json").read_bytes())
    assert (manifest["bm25"]["k1"], manifest["bm25"]["b"]) == (0.9, 0.4)
    index = open_index(tmp_path / "idx")
    try:
        tokens = [index.tokenizer(d["text"]) for d in DOCS]
        ref = rank_bm25.BM25Okapi(tokens, k1=0.9, b=0.4).get_scores(index.tokenizer("river boat"))
        got = {c.doc_id: c.score for c in bm25_candidates(index, "river boat", 4)}
        assert got == pytest.approx({f"d{i}": s for i, s in enumerate(ref) if s}, abs=1e-9)
    finally:
        index.close()
    bad = CliRunner().invoke(app, ["index", str(corpus), "--index-dir", str(tmp_path / "x"),
                                   "--bm25-b", "1.5"])
    assert bad.exit_code == 2 and "--bm25-b" in bad.stderr
