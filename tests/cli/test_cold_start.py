"""Issue 12: the query path imports neither torch nor transformers where checked ONNX exports
exist, loads hnswlib only for dense/hybrid over many queries (one query searches the graph in
place), and `xenc --help` imports nothing heavy.

Each search runs ``xenc.cli.main`` in a child ``python -c`` that prints ``sorted(sys.modules)``
to stderr after the command, so the assertion is about the very process that searched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from conftest import ROOT, SAMPLE

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

HEAVY = ("torch", "transformers")
CHILD = """
import sys
from xenc.cli import main
sys.argv = ["xenc", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
sys.stderr.write("\\nMODULES " + " ".join(sorted(sys.modules)) + "\\n")
sys.exit(code)
"""


def run_child(*args: str) -> tuple[int, str, set[str]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True,
                          text=True, env=env, timeout=300)
    stderr, _, modules = proc.stderr.rpartition("MODULES ")
    return proc.returncode, proc.stdout + stderr, {m.split(".")[0] for m in modules.split()}


@pytest.fixture(scope="module")
def exported_reranker(tmp_path_factory) -> Path:
    """A tiny cross-encoder exported with `xenc export` (checked, recorded)."""
    from tinymodels import make_tiny_cross_encoder

    directory = make_tiny_cross_encoder(tmp_path_factory.mktemp("cold") / "ce")
    proc = subprocess.run([sys.executable, "-m", "xenc", "export", str(directory)],
                          capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    record = json.loads((directory / "onnx-export.json").read_text())
    assert record["checked"] and record["tokenizer"]["matches_transformers"]
    return directory


def test_help_imports_nothing_heavy():
    code, out, modules = run_child("--help")
    assert code == 0, out
    assert not modules & {"torch", "transformers", "hnswlib", "onnxruntime", "numpy",
                          "tokenizers"}


@pytest.mark.parametrize("retriever", ["bm25", "hybrid"])
def test_search_imports_neither_torch_nor_transformers(sample_index, retriever):
    code, out, modules = run_child("search", "sourdough starter", "--index-dir",
                                   str(sample_index), "--retriever", retriever, "--no-rerank")
    assert code == 0, out
    assert not modules & set(HEAVY), out
    assert "hnswlib" not in modules  # one query: hnsw.bin is memory-mapped, searched in place


def test_many_queries_load_the_graph_with_hnswlib(sample_index, tmp_path):
    queries = tmp_path / "q.txt"
    queries.write_text("sourdough starter\ntelescope\n")
    for retriever, loads in (("hybrid", True), ("bm25", False)):
        code, out, modules = run_child("search", "--queries", str(queries), "--index-dir",
                                       str(sample_index), "--retriever", retriever,
                                       "--no-rerank")
        assert code == 0, out
        assert ("hnswlib" in modules) == loads and not modules & set(HEAVY)


@pytest.mark.parametrize("retriever", ["bm25", "hybrid"])
def test_reranked_search_imports_neither(sample_index, exported_reranker, retriever):
    code, out, modules = run_child("search", "sourdough starter", "--index-dir",
                                   str(sample_index), "--retriever", retriever,
                                   "--reranker", str(exported_reranker), "-k", "3")
    assert code == 0, out
    assert not modules & set(HEAVY), out
    assert {"onnxruntime", "tokenizers"} <= modules
    lines = [orjson.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert len(lines) == 3 and all(r["reranked"] for r in lines)


def test_backend_torch_loads_torch(sample_index, exported_reranker):
    code, out, modules = run_child("search", "sourdough starter", "--index-dir",
                                   str(sample_index), "--reranker", str(exported_reranker),
                                   "--backend", "torch", "-k", "3")
    assert code == 0, out
    assert {"torch", "transformers"} <= modules


def test_onnx_and_torch_search_agree(sample_index, exported_reranker):
    """The default (ONNX) and --backend torch: same documents in the same order, scores
    within 1e-4, from the shell, over every sample query."""
    from typer.testing import CliRunner

    from xenc.cli.app import app

    args = ["search", "--queries", str(SAMPLE / "queries.jsonl"), "--index-dir",
            str(sample_index), "--reranker", str(exported_reranker), "-k", "5",
            "--candidates", "20"]
    runner = CliRunner()
    auto, torch_run = runner.invoke(app, args), runner.invoke(app, [*args, "--backend", "torch"])
    assert auto.exit_code == 0 and torch_run.exit_code == 0, auto.stderr + torch_run.stderr
    got = [orjson.loads(x) for x in auto.stdout.splitlines()]
    want = [orjson.loads(x) for x in torch_run.stdout.splitlines()]
    assert [(r["qid"], r["doc_id"]) for r in got] == [(r["qid"], r["doc_id"]) for r in want]
    for a, b in zip(got, want, strict=True):
        assert a["score"] == pytest.approx(b["score"], abs=1e-4)
        assert a["first_stage_rank"] == b["first_stage_rank"]


def test_index_without_export_falls_back_to_torch(sample_index, tmp_path):
    """An index made before issue 12 (no query_encoder record) still searches, via torch;
    --backend onnx on it is a one-line error naming the fix."""
    import shutil

    from xenc.index import store

    copy = tmp_path / "old"
    shutil.copytree(sample_index, copy, symlinks=True)
    generation = store.live_generation(copy)
    manifest = json.loads((generation / "manifest.json").read_text())
    record = manifest.pop("query_encoder")
    for name in (record["file"], record["data"], record["tokenizer"]):
        (generation / name).unlink()
        manifest["files"].pop(name)
    (generation / "manifest.json").write_text(json.dumps(manifest))
    code, out, modules = run_child("search", "sourdough", "--index-dir", str(copy), "-k", "2",
                                   "--no-rerank")
    assert code == 0, out
    assert "torch" in modules
    code, out, _ = run_child("search", "sourdough", "--index-dir", str(copy), "--no-rerank",
                             "--backend", "onnx")
    assert code == 1
    assert "has no checked ONNX query encoder" in out and "xenc index --update" in out
