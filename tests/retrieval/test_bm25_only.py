"""BM25-only indexes (``xenc index --retrievers bm25``): no embeddings, graph or query encoder,
the bi-encoder never loaded; searches default to BM25, dense and hybrid are refused in one
line; update, delete, verify and models keep and show the retrievers; shell and Python agree."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import orjson
import pytest
from conftest import ROOT, SAMPLE, parse_jsonl, write_jsonl

from xenc.cli.app import app
from xenc.config import ChunkParams, SearchParams
from xenc.errors import UsageError

DENSE_FILES = {"embeddings.npy", "hnsw.bin", "query_encoder.onnx", "query_tokenizer.json"}
CHUNK = ChunkParams(chunk_tokens=128, stride=16)  # as the session's sample_index
NO_DENSE = ("index {d} has no dense retriever{needs} (built with --retrievers bm25): use "
            "--retriever bm25, or rebuild it with --retrievers bm25,dense")
HYBRID_NEEDS = ", which --retriever hybrid needs"


@pytest.fixture(scope="module")
def bm25_index(tmp_path_factory, tiny_encoder_dir):
    """data/sample, BM25 only, cut with the tiny encoder's tokenizer (as sample_index)."""
    from xenc.pipeline import build_index

    target = tmp_path_factory.mktemp("bm25only") / "idx"
    build_index(SAMPLE / "corpus.jsonl", target, encoder=str(tiny_encoder_dir), chunk=CHUNK,
                retrievers=("bm25",))
    return target


def manifest_of(index_dir):
    return json.loads((index_dir / "manifest.json").read_text())


def generation(index_dir):
    return index_dir / (index_dir / "CURRENT").read_text().strip()


def test_files_and_manifest(bm25_index, tiny_encoder_dir):
    files = {p.name for p in generation(bm25_index).iterdir()}
    assert not files & DENSE_FILES
    assert {"docs.sqlite", "chunk_doc.npy", "bm25_idf.npy", "chunk_tokenizer.json"} <= files
    manifest = manifest_of(bm25_index)
    assert manifest["retrievers"] == ["bm25"]
    assert not {"encoder", "hnsw", "query_encoder"} & manifest.keys()
    record = manifest["chunk_tokenizer"]
    assert record["file"] == "chunk_tokenizer.json" and record["path"] == str(tiny_encoder_dir)
    assert set(manifest["files"]) == files - {"manifest.json"}


def test_full_builds_record_both_retrievers(sample_index):
    assert manifest_of(sample_index)["retrievers"] == ["bm25", "dense"]


def test_passages_are_those_of_a_full_build(bm25_index, sample_index):
    from xenc.index.store import DocStore

    spans = []
    for index_dir in (bm25_index, sample_index):
        store = DocStore(generation(index_dir))
        spans.append(store.spans())
        store.close()
    assert spans[0] == spans[1]


def test_default_retriever_is_bm25_and_matches_a_full_index(runner, bm25_index, sample_index):
    queries = str(SAMPLE / "queries.jsonl")
    only = runner.invoke(app, ["search", "--index-dir", str(bm25_index), "--queries", queries,
                               "--no-rerank", "-k", "5"])
    full = runner.invoke(app, ["search", "--index-dir", str(sample_index), "--queries", queries,
                               "--no-rerank", "-k", "5", "--retriever", "bm25"])
    assert only.exit_code == 0 and full.exit_code == 0, only.stderr + full.stderr
    assert only.stdout == full.stdout and len(parse_jsonl(only.stdout)) > 5


@pytest.mark.parametrize("command", ["search", "eval"])
@pytest.mark.parametrize("retriever", ["dense", "hybrid"])
def test_dense_and_hybrid_are_refused(runner, bm25_index, command, retriever):
    args = {"search": ["search", "moon phases"],
            "eval": ["eval", "--queries", str(SAMPLE / "queries.jsonl"),
                     "--qrels", str(SAMPLE / "qrels.tsv")]}[command]
    result = runner.invoke(app, [*args, "--index-dir", str(bm25_index), "--no-rerank",
                                 "--retriever", retriever])
    assert result.exit_code == 2
    needs = HYBRID_NEEDS if retriever == "hybrid" else ""
    assert result.stderr == f"Error: {NO_DENSE.format(d=bm25_index, needs=needs)}\n"
    assert result.stdout == ""


def test_python_names_parameters_as_python(bm25_index):
    from xenc.pipeline import open_index, search

    index = open_index(bm25_index)
    try:
        with pytest.raises(UsageError) as caught:
            list(search(index, "moon", SearchParams(retriever="dense")))
        assert str(caught.value) == (
            f"index {bm25_index} has no dense retriever (built with retrievers='bm25'): use "
            "retriever='bm25', or rebuild it with retrievers='bm25,dense'")
        with pytest.raises(UsageError, match="has no dense retriever"):
            index.encoder  # noqa: B018 - a teacher or caller reaching for the encoder
    finally:
        index.close()


def test_eval_reports_the_retriever_used(runner, bm25_index, sample_index):
    reports = {}
    for name, index_dir in (("bm25", bm25_index), ("full", sample_index)):
        result = runner.invoke(app, ["eval", "--index-dir", str(index_dir), "--no-rerank",
                                     "--queries", str(SAMPLE / "queries.jsonl"),
                                     "--qrels", str(SAMPLE / "qrels.tsv")])
        assert result.exit_code == 0, result.stderr
        reports[name] = orjson.loads(result.stdout)
    assert reports["bm25"]["params"]["retriever"] == "bm25"
    assert reports["full"]["params"]["retriever"] == "hybrid"


def test_shell_and_python_give_the_same_records(runner, tmp_path, tiny_encoder_dir):
    import xenc

    shell, python = tmp_path / "shell", tmp_path / "python"
    built = runner.invoke(app, ["index", str(SAMPLE / "corpus.jsonl"), "--index-dir", str(shell),
                                "--encoder", str(tiny_encoder_dir), "--retrievers", "bm25",
                                "--chunk-tokens", "128", "--chunk-stride", "16"])
    assert built.exit_code == 0, built.stderr
    assert "BM25 only" in built.stderr
    xenc.build_index(SAMPLE / "corpus.jsonl", python, encoder=str(tiny_encoder_dir),
                     chunk=CHUNK, retrievers=("bm25",))
    result = runner.invoke(app, ["search", "keeping bread fresh", "--index-dir", str(shell),
                                 "--no-rerank", "-k", "6"])
    assert result.exit_code == 0, result.stderr
    index = xenc.open_index(python)
    try:
        expected = [r.to_dict() for r in xenc.search(index, "keeping bread fresh",
                                                     SearchParams(k=6))]
    finally:
        index.close()
    assert parse_jsonl(result.stdout) == expected and len(expected) == 6
    with xenc.Searcher(python) as searcher:
        assert [r.to_dict() for r in searcher.search("keeping bread fresh", k=6)] == expected


def test_build_imports_neither_torch_nor_transformers(tmp_path, tiny_encoder_dir):
    code = (
        "import sys\n"
        "from xenc.pipeline import build_index, open_index, search\n"
        f"build_index({str(SAMPLE / 'corpus.jsonl')!r}, {str(tmp_path / 'idx')!r}, "
        f"encoder={str(tiny_encoder_dir)!r}, retrievers='bm25')\n"
        f"index = open_index({str(tmp_path / 'idx')!r})\n"
        "assert list(search(index, 'moon phases'))\n"
        "print(sorted(m for m in ('torch', 'transformers', 'hnswlib', 'onnxruntime') "
        "if m in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.fixture()
def no_encoder(monkeypatch):
    """Loading the bi-encoder fails the test."""
    import xenc.models.encoder

    def refuse(*args, **kwargs):
        raise AssertionError("the bi-encoder was loaded")

    monkeypatch.setattr(xenc.models.encoder.Encoder, "__init__", refuse)


def test_update_and_delete_keep_bm25_only(runner, bm25_index, tmp_path, no_encoder):
    target = tmp_path / "idx"
    shutil.copytree(bm25_index, target, symlinks=True)
    corpus = [orjson.loads(line) for line in (SAMPLE / "corpus.jsonl").read_bytes().splitlines()]
    new = {"id": "new-001", "title": "Zeppelins", "text": "Airships float on hydrogen."}
    write_jsonl(tmp_path / "corpus.jsonl", [*corpus, new])
    updated = runner.invoke(app, ["index", str(tmp_path / "corpus.jsonl"), "--index-dir",
                                  str(target), "--update"])
    assert updated.exit_code == 0, updated.stderr
    assert "1 added" in updated.stderr
    manifest = manifest_of(target)
    assert manifest["retrievers"] == ["bm25"] and "encoder" not in manifest
    assert not {p.name for p in generation(target).iterdir()} & DENSE_FILES
    found = runner.invoke(app, ["search", "zeppelins airships", "--index-dir", str(target),
                                "--no-rerank", "-k", "1"])
    assert parse_jsonl(found.stdout)[0]["doc_id"] == "new-001"
    deleted = runner.invoke(app, ["delete", "--index-dir", str(target), "--ids", "-"],
                            input="new-001\n")
    assert deleted.exit_code == 0, deleted.stderr
    assert manifest_of(target)["retrievers"] == ["bm25"]
    assert "chunk_tokenizer.json" in manifest_of(target)["files"]
    verified = runner.invoke(app, ["verify", "--index-dir", str(target)])
    assert verified.exit_code == 0, verified.stderr
    assert verified.stderr.endswith("passages, BM25 only)\n")


def test_update_keeps_the_passages_of_a_fresh_build(bm25_index, tmp_path, tiny_encoder_dir):
    """An update cuts new documents with the kept tokenizer: the passages a fresh build of the
    final corpus makes."""
    from xenc.index.store import DocStore
    from xenc.pipeline import build_index

    rows = (SAMPLE / "corpus.jsonl").read_bytes().splitlines()
    write_jsonl(tmp_path / "half.jsonl", [orjson.loads(r) for r in rows[::2]])
    updated, fresh = tmp_path / "updated", tmp_path / "fresh"
    for target, corpus, update in ((updated, tmp_path / "half.jsonl", False),
                                   (updated, SAMPLE / "corpus.jsonl", True),
                                   (fresh, SAMPLE / "corpus.jsonl", False)):
        build_index(corpus, target, encoder=str(tiny_encoder_dir), chunk=CHUNK,
                    retrievers="bm25", update=update, delete_missing=update)
    spans = {}
    for target in (updated, fresh):
        store = DocStore(generation(target))
        spans[target] = dict(zip(store.doc_ids, store.spans(), strict=True))
        store.close()
    assert spans[updated] == spans[fresh]


def test_update_refuses_other_retrievers_or_tokenizer(runner, bm25_index, tmp_path):
    corpus = str(SAMPLE / "corpus.jsonl")
    other = runner.invoke(app, ["index", corpus, "--index-dir", str(bm25_index), "--update",
                                "--retrievers", "bm25,dense"])
    assert other.exit_code == 2
    assert other.stderr == (
        f"Error: index {bm25_index} was built with --retrievers bm25; an update keeps its "
        "retrievers: leave out --retrievers, or rebuild the index with `xenc index` (without "
        "--update)\n")
    same = runner.invoke(app, ["index", corpus, "--index-dir", str(bm25_index), "--update",
                               "--retrievers", "bm25"])
    assert same.exit_code == 0, same.stderr
    assert "nothing changed" in same.stderr
    bundled = runner.invoke(app, ["index", corpus, "--index-dir", str(bm25_index), "--update",
                                  "--encoder", "minilm"])
    assert bundled.exit_code == 2
    assert "cut its passages with the tokenizer of" in bundled.stderr


@pytest.mark.parametrize(("value", "message"), [
    ("", "--retrievers is empty: give bm25 or bm25,dense"),
    ("dense", "--retrievers must include bm25: give bm25 or bm25,dense"),
    ("bm25,splade", "--retrievers: unknown retriever 'splade': give bm25 or bm25,dense"),
])
def test_bad_retrievers_are_usage_errors(runner, tmp_path, value, message):
    result = runner.invoke(app, ["index", str(SAMPLE / "corpus.jsonl"), "--index-dir",
                                 str(tmp_path / "idx"), "--retrievers", value])
    assert result.exit_code == 2
    assert result.stderr == f"Error: {message}\n"
    assert not (tmp_path / "idx").exists()


def test_parse_retrievers():
    from xenc.config import parse_retrievers

    assert parse_retrievers(None) == ("bm25", "dense")
    assert parse_retrievers("dense, bm25") == ("bm25", "dense")
    assert parse_retrievers(["bm25"]) == ("bm25",)
    with pytest.raises(UsageError, match="^retrievers: unknown retriever 'hybrid'"):
        parse_retrievers("bm25,hybrid")


def test_models_shows_the_index_retrievers(runner, bm25_index, sample_index, tiny_encoder_dir):
    only = runner.invoke(app, ["models", "--index-dir", str(bm25_index)])
    assert only.exit_code == 0, only.stderr
    encoder, reranker = parse_jsonl(only.stdout)
    assert encoder["chosen_by"] == "index" and encoder["retrievers"] == ["bm25"]
    assert encoder["name"] is None
    assert encoder["message"].startswith(
        f"index {bm25_index} has no encoder (built with --retrievers bm25)")
    assert encoder["chunk_tokenizer"]["path"] == str(tiny_encoder_dir)
    assert reranker["role"] == "reranker"
    full = runner.invoke(app, ["models", "--index-dir", str(sample_index)])
    record = parse_jsonl(full.stdout)[0]
    assert record["retrievers"] == ["bm25", "dense"] and record["path"] == str(tiny_encoder_dir)
    assert record["query_encoder"] in ("onnx", "torch") and record["dim"] == 32


def test_an_index_without_the_field_holds_both(sample_index, tmp_path):
    """An index made before ``retrievers`` existed counts as bm25 + dense."""
    from xenc.pipeline import open_index
    from xenc.retrieval.stage import resolve_params

    target = tmp_path / "old"
    shutil.copytree(sample_index, target, symlinks=True)
    path = generation(target) / "manifest.json"
    manifest = json.loads(path.read_text())
    del manifest["retrievers"]
    path.unlink()
    path.write_text(json.dumps(manifest))
    index = open_index(target)
    try:
        assert index.retrievers == ("bm25", "dense")
        assert resolve_params(index, SearchParams()).retriever == "hybrid"
    finally:
        index.close()


def test_mining_follows_the_index(runner, bm25_index):
    args = ["mine", "--index-dir", str(bm25_index), "--queries", str(SAMPLE / "queries.jsonl"),
            "--qrels", str(SAMPLE / "qrels.tsv"), "--negatives", "1", "--random-negatives", "0"]
    mined = runner.invoke(app, args)
    assert mined.exit_code == 0, mined.stderr
    assert any(r["kind"] == "hard" for r in parse_jsonl(mined.stdout))
    dense = runner.invoke(app, [*args, "--mine-retriever", "dense"])
    assert dense.exit_code == 2
    assert dense.stderr == (
        f"Error: index {bm25_index} has no dense retriever (built with --retrievers bm25): use "
        "--mine-retriever bm25, or rebuild it with --retrievers bm25,dense\n")


def test_chunking_tokenizer_matches_transformers(bundled_tokenizer):
    """The tokenizer alone cuts the passages the encoder's fast tokenizer cuts."""
    from xenc.index.chunking import chunk_spans
    from xenc.io.corpus import read_corpus
    from xenc.models.encoder import chunk_tokenizer

    docs = list(read_corpus(SAMPLE / "corpus.jsonl"))
    tokenizer, record, _ = chunk_tokenizer(None)
    assert record["name"] == "all-MiniLM-L6-v2"
    params = ChunkParams(chunk_tokens=64, stride=8)
    assert chunk_spans(docs, tokenizer, params) == chunk_spans(docs, bundled_tokenizer, params)
