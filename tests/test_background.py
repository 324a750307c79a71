"""Issue 12: `xenc search` loads the reranker on a background thread while the first stage gets
ready, but only where neither side imports torch (two threads importing transformers at once
break it); results, errors and exit codes are those of loading it in the foreground."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time

import orjson
import pytest
from conftest import ROOT, SAMPLE

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny cross-encoder with a checked `xenc export`."""
    from tinymodels import make_tiny_cross_encoder

    directory = make_tiny_cross_encoder(tmp_path_factory.mktemp("bg") / "ce")
    proc = subprocess.run([sys.executable, "-m", "xenc", "export", str(directory)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return directory


def test_loading_hands_back_the_value_and_the_error():
    from xenc.background import Loading, loaded
    from xenc.errors import ModelError

    names = []

    def load():
        names.append(threading.current_thread().name)
        time.sleep(0.05)
        return "model"

    job = Loading(load)
    assert loaded(job) == "model" and job.result() == "model" and names == ["xenc-load"]
    assert loaded("plain") == "plain"

    def fail():
        raise ModelError("cannot load /x/model.onnx: broken")

    with pytest.raises(ModelError, match="cannot load /x/model.onnx"):
        Loading(fail).result()


def test_loading_keeps_the_callers_spelling():
    """Messages raised in the thread name parameters as the caller's thread does (flags)."""
    from xenc.background import Loading
    from xenc.errors import param, spelled

    with spelled(lambda name: "--" + name.replace("_", "-")):
        job = Loading(lambda: param("budget_ms"))
    assert job.result() == "--budget-ms"


def test_who_loads_without_torch(exported, tmp_path):
    from xenc.models.backend import loads_without_torch

    assert loads_without_torch(str(exported), "auto", None)
    assert loads_without_torch(str(exported), "onnx", "cpu")
    assert loads_without_torch(None, "auto", None)  # the shipped reranker has a checked export
    assert not loads_without_torch(str(exported), "torch", None)
    assert not loads_without_torch(str(exported), "auto", "cuda")
    assert not loads_without_torch(str(exported), "onnx-int8", None)
    assert not loads_without_torch(str(exported), "bogus", None)
    start = time.perf_counter()
    assert not loads_without_torch("someone/some-cross-encoder", "auto", None)  # a hub id
    assert time.perf_counter() - start < 1.0  # decided without the network
    unexported = tmp_path / "plain"
    shutil.copytree(exported, unexported)
    (unexported / "onnx-export.json").unlink()
    assert not loads_without_torch(str(unexported), "auto", None)


def test_python_api_takes_a_loading(sample_index, exported):
    from xenc.background import Loading
    from xenc.config import SearchParams
    from xenc.models.cross_encoder import CrossEncoder
    from xenc.pipeline import open_index, search

    queries = [json.loads(x)["text"] for x in (SAMPLE / "queries.jsonl").read_text().splitlines()]
    params = SearchParams(k=5, candidates=20, budget_ms=10_000)
    index = open_index(sample_index)
    try:
        want = list(search(index, queries, params, CrossEncoder(str(exported))))
        got = list(search(index, queries, params, Loading(lambda: CrossEncoder(str(exported)))))
        plain = list(search(index, queries, SearchParams(k=5, candidates=20),
                            Loading(lambda: None)))
    finally:
        index.close()
    assert got == want and all(r.reranked_count is not None for r in got)
    assert plain and all(r.reranked_count is None and not r.reranked for r in plain)


def _search(*args):
    return subprocess.run([sys.executable, "-m", "xenc", "search", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=300)


def test_a_reranker_that_fails_in_the_background_is_one_line(sample_index, exported, tmp_path):
    """The export record still matches (same sizes) but the ONNX file is garbage: the load
    fails on the background thread; the shell sees one line, exit 1, no results."""
    broken = tmp_path / "broken"
    shutil.copytree(exported, broken)
    onnx_file = broken / "model.onnx"
    onnx_file.write_bytes(b"\0" * onnx_file.stat().st_size)
    out = tmp_path / "results.jsonl"
    proc = _search("sourdough starter", "--index-dir", str(sample_index), "--reranker",
                   str(broken), "--output", str(out))
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == "" and not out.exists()
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "model.onnx" in lines[0] and "Traceback" not in proc.stderr


@pytest.mark.parametrize("backend", ["auto", "torch"])
def test_shell_results_do_not_depend_on_the_thread(sample_index, exported, backend):
    """Background (auto) or foreground (torch) loading, the same records, in order."""
    args = ["--queries", str(SAMPLE / "queries.jsonl"), "--index-dir", str(sample_index),
            "--reranker", str(exported), "-k", "4", "--candidates", "15"]
    proc = _search(*args, "--backend", backend)
    assert proc.returncode == 0, proc.stderr
    from xenc.config import SearchParams
    from xenc.models.cross_encoder import CrossEncoder
    from xenc.pipeline import open_index, search

    index = open_index(sample_index, backend=backend)
    try:
        queries = [json.loads(x)["text"]
                   for x in (SAMPLE / "queries.jsonl").read_text().splitlines()]
        want = list(search(index, queries, SearchParams(k=4, candidates=15),
                           CrossEncoder(str(exported), backend=backend)))
    finally:
        index.close()
    got = [orjson.loads(x) for x in proc.stdout.splitlines()]
    assert [(r["doc_id"], r["rank"]) for r in got] == [(r.doc_id, r.rank) for r in want]
    for a, b in zip(got, want, strict=True):
        assert a["score"] == pytest.approx(b.score, abs=1e-6)
