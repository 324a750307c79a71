"""``--engine ray`` against the in-process path, on a local Ray (2 CPUs) and tiny models.

One local Ray per module; every pipeline here starts its actors afresh (seconds each on a
2-core machine), so the tests are few and each checks several things. Skipped without Ray.
"""

from __future__ import annotations

import builtins
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import SAMPLE, parse_jsonl, write_jsonl

from xenc.cli.app import app
from xenc.config import ChunkParams, SearchParams
from xenc.engines.ray_runtime import RayOptions, RaySession
from xenc.errors import XencError
from xenc.index import store
from xenc.index.bm25 import BM25_FILES
from xenc.pipeline import build_index, open_index, search

pytestmark = pytest.mark.ray
ray = pytest.importorskip("ray")
CHUNK = ChunkParams(chunk_tokens=128, stride=16)


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             logging_level="ERROR")
    yield
    ray.shutdown()


def _live(index_dir: Path) -> Path:
    return store.live_generation(index_dir)


def _same_index(a: Path, b: Path) -> None:
    ga, gb = _live(a), _live(b)
    ma, mb = store.read_manifest(ga), store.read_manifest(gb)
    for key in ("counts", "chunking", "tokenizer", "bm25", "hnsw", "encoder", "corpus",
                "skipped", "format_version"):
        assert ma[key] == mb[key], key
    for name in BM25_FILES:
        assert (ga / name).read_bytes() == (gb / name).read_bytes(), name
    ea, eb = np.load(ga / "embeddings.npy"), np.load(gb / "embeddings.npy")
    assert ea.shape == eb.shape
    np.testing.assert_allclose(ea, eb, atol=1e-5)
    queries = [json.loads(line)["text"] for line in (SAMPLE / "queries.jsonl").open()]
    params = SearchParams(retriever="dense", k=10, candidates=10, exact=True)
    ia, ib = open_index(a), open_index(b)
    ra = [(r.qid, r.doc_id) for r in search(ia, queries, params)]
    rb = [(r.qid, r.doc_id) for r in search(ib, queries, params)]
    assert ra == rb and ra


def test_index_and_update_on_ray_equal_the_in_process_ones(tmp_path, tiny_encoder_dir):
    docs = [json.loads(line) for line in (SAMPLE / "corpus.jsonl").open()]
    corpus = write_jsonl(tmp_path / "corpus.jsonl", docs)
    messages: list[str] = []
    kw = {"encoder": str(tiny_encoder_dir), "chunk": CHUNK, "batch_size": 8}
    build_index(corpus, tmp_path / "local", **kw)
    build_index(corpus, tmp_path / "ray", **kw, ray=RayOptions(workers=2),
                notify=messages.append)
    _same_index(tmp_path / "local", tmp_path / "ray")
    passages = store.read_manifest(_live(tmp_path / "ray"))["counts"]["passages"]
    assert f"ray: {passages} rows" in messages[-1]

    # an update sends only the new and the changed documents' passages to the cluster
    docs[0] = {**docs[0], "text": docs[0]["text"] + " Changed at the end."}
    docs.append({"id": "new-001", "title": "New", "text": "A new document about the moon."})
    changed = write_jsonl(tmp_path / "corpus2.jsonl", docs)
    messages.clear()
    local = build_index(changed, tmp_path / "local", **kw, update=True)
    remote = build_index(changed, tmp_path / "ray", **kw, update=True,
                         ray=RayOptions(workers=1), notify=messages.append)
    assert local["history"][-1]["added"] == remote["history"][-1]["added"] == 1
    assert remote["history"][-1]["changed"] == 1
    _same_index(tmp_path / "local", tmp_path / "ray")
    sent = int(messages[-1].split()[1])
    assert 2 <= sent < passages

    # nothing changed: no Ray at all
    messages.clear()
    again = build_index(changed, tmp_path / "ray", **kw, update=True,
                        ray=RayOptions(workers=1), notify=messages.append)
    assert again["published"] is False and messages == []


def _pairs(tmp_path: Path) -> Path:
    rows = [json.loads(line) for line in (SAMPLE / "pairs.jsonl").open()]
    rows = [{**row, "n": i} for i in range(8) for row in rows]
    return write_jsonl(tmp_path / "pairs.jsonl", rows)


def test_score_on_ray_equals_in_process_jsonl_and_parquet(tmp_path, runner, tiny_reranker_dir):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pairs = _pairs(tmp_path)
    common = ["--reranker", str(tiny_reranker_dir), "--batch-size", "4"]
    local = runner.invoke(app, ["score", str(pairs), *common])
    assert local.exit_code == 0, local.stderr
    out = tmp_path / "scored.jsonl"
    remote = runner.invoke(app, ["score", str(pairs), *common, "--engine", "ray",
                                 "--num-workers", "2", "-o", str(out)])
    assert remote.exit_code == 0, remote.stderr
    a, b = parse_jsonl(local.stdout), parse_jsonl(out.read_text())
    assert [{k: v for k, v in r.items() if k != "score"} for r in a] == \
        [{k: v for k, v in r.items() if k != "score"} for r in b]
    np.testing.assert_allclose([r["score"] for r in a], [r["score"] for r in b], atol=1e-5)
    # only xenc's own lines (no Ray log spam); how many "rows done" lines depends on speed
    lines = remote.stderr.splitlines()
    assert lines[0].startswith("ray: local Ray") and lines[-1].startswith("scored 496 pairs")
    assert sum(" rows in " in x for x in lines) == 1
    assert all(x.startswith("ray: ") for x in lines[:-1]), lines

    rows = parse_jsonl(pairs.read_text())
    table = pa.Table.from_pylist([{k: str(v) for k, v in r.items()} for r in rows])
    pq.write_table(table, tmp_path / "pairs.parquet")
    fromparquet = runner.invoke(app, ["score", str(tmp_path / "pairs.parquet"), *common,
                                      "--engine", "ray"])
    assert fromparquet.exit_code == 0, fromparquet.stderr
    c = parse_jsonl(fromparquet.stdout)
    assert [r["n"] for r in c] == [str(r["n"]) for r in a]
    np.testing.assert_allclose([r["score"] for r in a], [r["score"] for r in c], atol=1e-5)


def test_bad_lines_on_ray_behave_as_in_process(tmp_path, runner, tiny_reranker_dir):
    lines = [{"query": "q", "document": f"d{i}"} for i in range(5)]
    lines[2] = {"query": "q"}
    bad = write_jsonl(tmp_path / "bad.jsonl", lines)
    out = tmp_path / "out.jsonl"
    common = ["--reranker", str(tiny_reranker_dir), "--engine", "ray"]
    failed = runner.invoke(app, ["score", str(bad), *common, "-o", str(out)])
    assert failed.exit_code == 1
    assert failed.stderr.splitlines()[-1] == f'Error: {bad}:3: has "query" but no "document"'
    assert not out.exists()
    skipped = runner.invoke(app, ["score", str(bad), *common, "--skip-invalid"])
    assert skipped.exit_code == 0, skipped.stderr
    assert [r["document"] for r in parse_jsonl(skipped.stdout)] == ["d0", "d1", "d3", "d4"]
    assert f"skipped {bad}:3:" in skipped.stderr


def test_a_worker_error_comes_back_as_one_line(tiny_encoder_dir):
    from xenc.engines.ray_workers import EmbedWorker

    shards = [{"row": np.arange(3), "text": ["a", "b", "c"]}]
    kwargs = {"model": str(tiny_encoder_dir), "device": None, "batch_size": 2,
              "max_length": None, "sha256": "0" * 64}
    with RaySession(RayOptions()) as session, pytest.raises(XencError) as caught:
        list(session.run(iter(shards), EmbedWorker, kwargs, batch_size=2))
    assert "install the same model on every node" in str(caught.value)
    assert "\n" not in str(caught.value) and "Traceback" not in str(caught.value)


def test_ctrl_c_publishes_no_index_and_writes_no_output(
    tmp_path, runner, monkeypatch, tiny_encoder_dir, tiny_reranker_dir
):
    from xenc.engines import ray_runtime

    def interrupt(self, n):  # Ctrl-C while results stream back
        raise KeyboardInterrupt

    monkeypatch.setattr(ray_runtime._Reporter, "rows", interrupt)
    index = runner.invoke(app, ["index", str(SAMPLE / "corpus.jsonl"), "--index-dir",
                                str(tmp_path / "idx"), "--encoder", str(tiny_encoder_dir),
                                "--engine", "ray"])
    assert index.exit_code == 130 and index.stderr.splitlines()[-1] == "Error: interrupted"
    assert store.live_generation(tmp_path / "idx") is None
    out = tmp_path / "scored.jsonl"
    score = runner.invoke(app, ["score", str(_pairs(tmp_path)), "--reranker",
                                str(tiny_reranker_dir), "--engine", "ray", "-o", str(out)])
    assert score.exit_code == 130 and not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pairs.jsonl"]  # nothing half-done


def test_more_gpus_than_the_cluster_has_is_a_usage_error(runner, tiny_reranker_dir):
    pairs = ["score", "-", "--reranker", str(tiny_reranker_dir), "--engine", "ray",
             "--gpus-per-worker", "1"]
    result = runner.invoke(app, pairs, input='{"query": "a", "document": "b"}\n')
    assert result.exit_code == 2
    message = "Error: --gpus-per-worker 1: the Ray cluster has 0 GPUs"
    assert result.stderr.splitlines()[-1] == message


def test_without_ray_the_engine_says_how_to_install_it(monkeypatch, runner, tiny_reranker_dir):
    real = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    result = runner.invoke(app, ["score", "-", "--reranker", str(tiny_reranker_dir),
                                 "--engine", "ray"], input="")
    assert result.exit_code == 2
    assert result.stderr.strip() == "Error: --engine ray needs Ray: pip install 'xenc[ray]'"
