"""``xenc serve``: a real uvicorn in a subprocess on a free loopback port, real HTTP clients
(httpx, and Cohere's own SDK), the bundled reranker (ONNX, so the server runs without torch).

Each server starts once per module (a fixture) where the test leaves it serving; the SIGTERM
test starts its own.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from conftest import SAMPLE, parse_jsonl, write_jsonl

from xenc.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
PASSAGES = [json.loads(line)["text"] for line in (SAMPLE / "corpus.jsonl").open()]
QUERIES = [json.loads(line)["text"] for line in (SAMPLE / "queries.jsonl").open()]


class Server:
    """``python -m xenc serve --port 0 ARGS`` in a subprocess; ``url`` once it listens."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("XENC_")}
        full_env.update(PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", **(env or {}))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "xenc", "serve", "--port", "0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full_env, cwd=ROOT)
        self.lines: list[str] = []
        ready = threading.Event()

        def read() -> None:
            assert self.proc.stderr is not None
            for raw in self.proc.stderr:
                self.lines.append(raw.decode())
                if " on http://" in self.lines[-1]:
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(60) or self.proc.poll() is not None:
            self.stop()
            raise AssertionError(f"server did not start: {''.join(self.lines)}")
        self.url = re.search(r"(http://\S+)", self.lines[-1]).group(1)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()

    @property
    def stderr(self) -> str:
        return "".join(self.lines)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    srv = Server("--max-docs", "64")
    yield srv
    assert srv.stop() == 0, srv.stderr


@pytest.fixture(scope="module")
def client(server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as c:
        yield c


def _docs(n: int, start: int = 0) -> list[str]:
    """``n`` real passages, their first 40 words (the CPU is shared: keep the tests quick)."""
    return [" ".join(PASSAGES[(start + i) % len(PASSAGES)].split()[:40]) for i in range(n)]


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


# Shapes --------------------------------------------------------------------------------------


def test_health(client):
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["backend"] == "onnx" and body["search"] is False


@pytest.mark.parametrize("version", ["1", "2"])
def test_cohere_shape_and_top_n(client, version):
    docs = _docs(20)
    docs[3] = {"text": docs[3], "id": "kept"}
    r = client.post(f"/v{version}/rerank", json={
        "model": "rerank-english-v3.0", "query": QUERIES[0], "documents": docs, "top_n": 5,
        "return_documents": True})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == {"id", "results", "meta"}
    assert re.fullmatch(r"[0-9a-f-]{36}", body["id"])
    assert body["meta"]["api_version"]["version"] == version
    results = body["results"]
    assert len(results) == 5
    scores = [x["relevance_score"] for x in results]
    assert scores == sorted(scores, reverse=True)
    for x in results:
        assert set(x) == {"index", "relevance_score", "document"}
        want = docs[x["index"]]
        assert x["document"] == ({"text": want} if isinstance(want, str) else want)
    full = client.post(f"/v{version}/rerank", json={"query": QUERIES[0], "documents": docs})
    every = full.json()["results"]
    assert len(every) == 20 and all(set(x) == {"index", "relevance_score"} for x in every)
    assert every[:5] == [{k: x[k] for k in ("index", "relevance_score")} for x in results]
    assert sorted(x["index"] for x in every) == list(range(20))
    big = client.post(f"/v{version}/rerank", json={"query": "q", "documents": docs[:3],
                                                   "top_n": 10}).json()["results"]
    assert len(big) == 3  # top_n past the documents: all of them, as Cohere does


def test_tei_shape(client):
    texts = _docs(8, 30)
    scored = client.post("/rerank", json={"query": QUERIES[1], "texts": texts}).json()
    assert [set(x) for x in scored] == [{"index", "score"}] * 8
    assert [x["score"] for x in scored] == sorted((x["score"] for x in scored), reverse=True)
    raw = client.post("/rerank", json={"query": QUERIES[1], "texts": texts, "raw_scores": True,
                                       "return_text": True, "truncate": True}).json()
    assert [x["index"] for x in raw] == [x["index"] for x in scored]
    for r, s in zip(raw, scored, strict=True):
        assert r["text"] == texts[r["index"]]
        assert _sigmoid(r["score"]) == pytest.approx(s["score"], abs=1e-6)  # raw = the logit


def test_tei_truncate_false_refuses_a_long_text(client):
    long = " ".join(PASSAGES[:6])
    r = client.post("/rerank", json={"query": "q", "texts": ["short", long], "truncate": False})
    assert r.status_code == 413
    assert "this model reads at most 256" in r.json()["error"]
    assert client.post("/rerank", json={"query": "q", "texts": [long]}).status_code == 200


def test_max_tokens_per_doc_cuts_documents(client):
    doc = PASSAGES[0]  # "The Moon produces no light of its own; ...": one token a word
    def score(documents: list[str], **extra) -> float:
        body = {"query": "what causes a lunar eclipse", "documents": documents, **extra}
        return client.post("/v2/rerank", json=body).json()["results"][0]["relevance_score"]

    cut = score([doc], max_tokens_per_doc=5)
    assert cut == pytest.approx(score([" ".join(doc.split()[:5])]), abs=1e-6)
    assert cut != pytest.approx(score([doc]), abs=1e-3)
    assert score([doc], max_tokens_per_doc=4096) == score([doc])


def test_cohere_sdk_talks_to_it(server):
    import cohere
    docs = _docs(6, 10)
    v2 = cohere.ClientV2(api_key="unused", base_url=server.url)
    res = v2.rerank(model="rerank-v3.5", query=QUERIES[2], documents=docs, top_n=3)
    assert len(res.results) == 3 and res.id
    assert [r.relevance_score for r in res.results] == sorted(
        (r.relevance_score for r in res.results), reverse=True)
    v1 = cohere.Client(api_key="unused", base_url=server.url)
    old = v1.rerank(model="rerank-english-v3.0", query=QUERIES[2], documents=docs, top_n=3,
                    return_documents=True)
    assert [r.index for r in old.results] == [r.index for r in res.results]
    assert [r.document.text for r in old.results] == [docs[r.index] for r in res.results]


# Scores --------------------------------------------------------------------------------------


def test_scores_equal_xenc_score(client, runner, tmp_path):
    pairs = [(QUERIES[b], PASSAGES[(7 * (10 * b + i)) % len(PASSAGES)])
             for b in range(4) for i in range(10)]
    path = write_jsonl(tmp_path / "pairs.jsonl", [{"query": q, "document": d} for q, d in pairs])
    result = runner.invoke(app, ["score", str(path)])
    assert result.exit_code == 0, result.stderr
    want = [row["score"] for row in parse_jsonl(result.stdout)]
    for start in range(0, 40, 10):  # one request per query
        query = pairs[start][0]
        docs = [d for _, d in pairs[start : start + 10]]
        got = client.post("/v1/rerank", json={"query": query, "documents": docs}).json()
        by_index = {x["index"]: x["relevance_score"] for x in got["results"]}
        for i in range(10):
            assert by_index[i] == pytest.approx(want[start + i], abs=1e-5)
        tei = client.post("/rerank", json={"query": query, "texts": docs}).json()
        for x in tei:
            assert x["score"] == pytest.approx(want[start + x["index"]], abs=1e-5)


def test_32_concurrent_clients_get_what_they_get_alone(server, client):
    requests = [{"query": QUERIES[i % len(QUERIES)], "documents": _docs(5 + i % 16, 11 * i),
                 "top_n": 3 + i % 5} for i in range(32)]
    alone = [client.post("/v1/rerank", json=r).json()["results"] for r in requests]

    def call(body: dict) -> list:
        with httpx.Client(base_url=server.url, timeout=60) as c:
            r = c.post("/v1/rerank", json=body)
            assert r.status_code == 200, r.text
            return r.json()["results"]

    with ThreadPoolExecutor(32) as pool:
        together = list(pool.map(call, requests))
    for a, t in zip(alone, together, strict=True):
        assert [x["index"] for x in t] == [x["index"] for x in a]
        for x, y in zip(t, a, strict=True):  # another batch pads to another width
            assert x["relevance_score"] == pytest.approx(y["relevance_score"], abs=1e-6)
    metrics = client.get("/metrics").text
    batches = float(re.search(r"^xenc_batch_pairs_count (\S+)$", metrics, re.M).group(1))
    pairs = float(re.search(r"^xenc_pairs_scored_total (\S+)$", metrics, re.M).group(1))
    assert pairs / batches > 1  # pairs were shared


# Bad requests --------------------------------------------------------------------------------

HOSTILE = [
    ("/v1/rerank", b"{not json", 400, "invalid JSON"),
    ("/v1/rerank", b"[1, 2]", 400, "must be a JSON object, not an array"),
    ("/v1/rerank", b"\xff\xfe", 400, "invalid JSON"),
    ("/v1/rerank", b"", 400, "invalid JSON"),
    ("/v2/rerank", b'{"documents": ["a"]}', 422, "missing field: query"),
    ("/v2/rerank", b'{"query": 3, "documents": ["a"]}', 422, "query must be a string"),
    ("/v2/rerank", b'{"query": "  ", "documents": ["a"]}', 400, "query is empty"),
    ("/v2/rerank", b'{"query": "q"}', 422, "missing field: documents"),
    ("/v2/rerank", b'{"query": "q", "documents": "a"}', 422, "documents must be an array"),
    ("/v2/rerank", b'{"query": "q", "documents": []}', 400, "documents is empty"),
    ("/rerank", b'{"query": "q", "texts": []}', 400, "texts is empty"),
    ("/v2/rerank", b'{"query": "q", "documents": ["a", 5]}', 422, "documents[1] must be"),
    ("/v2/rerank", b'{"query": "q", "documents": [{"title": "a"}]}', 422, "documents[0]"),
    ("/v2/rerank", b'{"query": "q", "documents": ["a"], "top_n": -1}', 422,
     "top_n must be at least 1, got -1"),
    ("/v2/rerank", b'{"query": "q", "documents": ["a"], "top_n": 0}', 422, "top_n must be"),
    ("/v2/rerank", b'{"query": "q", "documents": ["a"], "top_n": "3"}', 422,
     "top_n must be an integer"),
    ("/v2/rerank", b'{"query": "q", "documents": ["a"], "top_n": 2.5}', 422, "top_n must be"),
    ("/v2/rerank", b'{"query": "q", "documents": ["a"], "return_documents": "yes"}', 422,
     "return_documents must be true or false"),
    ("/v2/rerank", b'{"query": "q", "documents": ["a"], "max_tokens_per_doc": 0}', 422,
     "max_tokens_per_doc must be at least 1"),
    ("/v2/rerank", b'{"query": "q", "documents": ["a"], "model": 7}', 422, "model must be"),
    ("/rerank", b'{"query": "q"}', 422, "missing field: texts"),
    ("/rerank", b'{"query": "q", "texts": [{"text": "a"}]}', 422, "texts[0] must be a string"),
    ("/rerank", b'{"query": "q", "texts": ["a"], "raw_scores": "no"}', 422, "raw_scores"),
    ("/rerank", b'{"query": "q", "texts": ["a"], "truncation_direction": "left"}', 422,
     "truncation_direction"),
    ("/search", b'{"query": "q"}', 404, "needs the server started with --index-dir"),
    ("/v1/rerank", json.dumps({"query": "q", "documents": ["a"] * 65}).encode(), 413,
     "65 documents in one request; this server takes at most 64 (--max-docs)"),
    ("/rerank", json.dumps({"query": "q", "texts": ["a"] * 65}).encode(), 413,
     "at most 64 (--max-docs)"),
]


@pytest.mark.parametrize(("path", "body", "status", "message"), HOSTILE)
def test_bad_requests_get_a_4xx_saying_why(client, path, body, status, message):
    r = client.post(path, content=body, headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    assert message in r.json()["message"] and r.json()["error"] == r.json()["message"]
    assert "Traceback" not in r.text
    assert client.get("/health").status_code == 200  # still serving


def test_unknown_routes_and_methods_are_json(client):
    r = client.get("/v1/rerank")
    assert r.status_code == 405 and "does not take GET" in r.json()["message"]
    r = client.post("/v3/rerank", json={})
    assert r.status_code == 404 and r.json()["error_type"] == "NotFound"


def test_metrics_count_requests_errors_and_latency(client):
    client.post("/v2/rerank", json={"query": "q", "documents": [], "top_n": 1})
    text = client.get("/metrics").text
    assert re.search(r'^xenc_requests_total\{code="400",route="/v2/rerank"\} [1-9]', text, re.M)
    assert re.search(r'^xenc_request_errors_total\{code="400",route="/v2/rerank"\}', text, re.M)
    assert re.search(r'^xenc_request_duration_seconds_bucket\{le="\+Inf",route="/v1/rerank"\}',
                     text, re.M)
    assert re.search(r"^xenc_queue_depth 0\.0$", text, re.M)
    assert "# TYPE xenc_batch_pairs histogram" in text


# Auth, a full queue, the timeout -------------------------------------------------------------


@pytest.fixture(scope="module")
def small_server() -> Iterator[Server]:
    srv = Server("--max-queue", "1", "--max-docs", "1000", "--timeout", "300",
                 env={"XENC_API_KEY": "s3cret"})
    yield srv
    assert srv.stop() == 0, srv.stderr


def test_401_without_the_key(small_server):
    body = {"query": "q", "documents": ["a", "b"]}
    with httpx.Client(base_url=small_server.url, timeout=60) as c:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            r = c.post("/v2/rerank", json=body, headers=headers)
            assert r.status_code == 401 and "API key" in r.json()["message"]
            assert r.headers["www-authenticate"] == "Bearer"
        assert c.get("/health").status_code == 401
        ok = c.post("/v2/rerank", json=body, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200 and len(ok.json()["results"]) == 2


def test_503_with_retry_after_when_the_queue_is_full(small_server):
    headers = {"Authorization": "Bearer s3cret"}
    slow = {"query": QUERIES[0], "documents": _docs(1000)}
    with httpx.Client(base_url=small_server.url, timeout=120, headers=headers) as c:
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(c.post, "/v1/rerank", json=slow)
            deadline = time.monotonic() + 30
            while c.get("/health").json()["queue_depth"] < 1:
                assert time.monotonic() < deadline and not first.done()
                time.sleep(0.005)
            r = c.post("/v1/rerank", json={"query": "q", "documents": ["a"]})
            assert r.status_code == 503 and r.headers["retry-after"] == "1"
            assert "queue is full (1 requests)" in r.json()["message"]
            assert first.result().status_code == 200
        assert c.post("/v1/rerank", json={"query": "q", "documents": ["a"]}).status_code == 200


def test_torch_free_with_the_bundled_onnx_model(small_server):
    with httpx.Client(base_url=small_server.url, headers={"Authorization": "Bearer s3cret"}) as c:
        assert c.post("/rerank", json={"query": "q", "texts": ["a"]}).status_code == 200
        assert c.get("/health").json()["torch_imported"] is False


def test_a_request_past_the_timeout_gets_504():
    srv = Server("--timeout", "0.05", "--batch-size", "1")
    try:
        with httpx.Client(base_url=srv.url, timeout=60) as c:
            r = c.post("/v1/rerank", json={"query": QUERIES[0], "documents": _docs(1000)})
            assert r.status_code == 504 and "longer than 0.05 s (--timeout)" in r.json()["message"]
            deadline = time.monotonic() + 30  # the dropped pairs leave the queue
            while c.get("/health").json()["queue_depth"]:
                assert time.monotonic() < deadline
                time.sleep(0.01)
    finally:
        assert srv.stop() == 0


# Shutdown ------------------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_mid_requests_answers_all_then_exits_0(sig):
    srv = Server("--timeout", "300")
    bodies = [{"query": QUERIES[i], "documents": _docs(250, i)} for i in range(8)]

    def call(body: dict) -> httpx.Response:
        with httpx.Client(base_url=srv.url, timeout=300) as c:
            return c.post("/v1/rerank", json=body)

    try:
        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(call, b) for b in bodies]
            with httpx.Client(base_url=srv.url) as c:  # all 8 received, the first still scored
                deadline = time.monotonic() + 60
                while c.get("/health").json()["queue_depth"] < 8:
                    assert time.monotonic() < deadline and not any(f.done() for f in futures)
                    time.sleep(0.002)
            srv.proc.send_signal(sig)
            answers = [f.result() for f in futures]
        assert srv.proc.wait(120) == 0, srv.stderr
    finally:
        srv.stop()
    assert [a.status_code for a in answers] == [200] * 8
    assert all(len(a.json()["results"]) == 250 for a in answers)
    assert "stopped: every request answered" in srv.stderr
    with pytest.raises(httpx.ConnectError):
        httpx.get(srv.url + "/health")


# The command ---------------------------------------------------------------------------------


def test_without_the_extra_it_names_it(runner, monkeypatch):
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    result = runner.invoke(app, ["serve"])
    assert result.exit_code == 1
    assert result.stderr == ("Error: xenc serve needs the serve extra (uvicorn is missing): "
                             "pip install 'xenc[serve]'\n")


def test_a_port_in_use_is_one_error_line(runner):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = runner.invoke(app, ["serve", "--port", str(port)])
    assert result.exit_code == 1
    assert re.fullmatch(rf"Error: cannot listen on 127\.0\.0\.1:{port}: .+\n", result.stderr)


def test_search_gives_the_records_xenc_search_prints(sample_index, runner):
    srv = Server("--index-dir", str(sample_index))
    try:
        with httpx.Client(base_url=srv.url, timeout=60) as c:
            assert c.get("/health").json()["search"] is True
            got = c.post("/search", json={"query": QUERIES[2], "k": 4, "qid": "q3"})
            bad = c.post("/search", json={"query": QUERIES[2], "aggregate": "median"})
    finally:
        assert srv.stop() == 0
    result = runner.invoke(app, ["search", QUERIES[2], "--index-dir", str(sample_index),
                                 "-k", "4"])
    assert result.exit_code == 0, result.stderr
    want = [{**row, "qid": "q3"} for row in parse_jsonl(result.stdout)]
    assert got.status_code == 200 and len(want) == 4
    records = got.json()["results"]
    assert [r["doc_id"] for r in records] == [r["doc_id"] for r in want]
    for r, w in zip(records, want, strict=True):
        assert r == {**w, "score": pytest.approx(w["score"], abs=1e-5)}
    assert bad.status_code == 422 and "aggregate" in bad.json()["message"]


@pytest.mark.parametrize("which", ["bundled", "tiny"])
def test_pair_scorer_measures_pairs_as_predict_does(which, tiny_reranker):
    from xenc.models.cross_encoder import CrossEncoder
    from xenc.models.pair_scorer import PairScorer

    model = CrossEncoder(None) if which == "bundled" else tiny_reranker
    pairs = [(QUERIES[i % 5], PASSAGES[i]) for i in range(30)] + [("", ""), ("é " * 50, "x")]
    got, want = PairScorer(model).lengths(pairs), model._pair_lengths(pairs)
    assert got[0].tolist() == want[0].tolist() and got[1].tolist() == want[1].tolist()
    before = model.predict(pairs[:3]).tolist()
    PairScorer(model).lengths(pairs)  # turns the Rust tokenizer's truncation off ...
    assert model.predict(pairs[:3]).tolist() == before  # ... and predict turns it on again


class _Recorder:
    """A stand-in model for the batcher alone: a pair's logit is its document's word count,
    its length that count + 3; every batch is recorded."""

    max_length, num_labels = 64, 1

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def lengths(self, pairs):
        import numpy as np

        words = np.array([len(d.split()) for _, d in pairs])
        return np.ones(len(pairs), dtype=np.int64), words + 3

    def logits(self, pairs, queries):
        import numpy as np

        self.batches.append([min(len(d.split()) + 3, 64) for _, d in pairs])
        return np.array([[len(d.split())] for _, d in pairs], dtype=np.float32)


def test_batcher_shares_budgeted_length_sorted_batches():
    import asyncio

    from xenc.serve.batcher import Batcher

    model = _Recorder()
    batcher = Batcher(model, batch_size=8, max_batch_tokens=100, max_queue=10)
    requests = [[" ".join(["w"] * n) for n in range(k, 70, 7)] for k in range(1, 6)]

    async def main():
        futures = [batcher.submit([("q", d) for d in docs]) for docs in requests]
        batcher.start()  # all five are queued before the thread looks
        return await asyncio.gather(*futures)

    try:
        results = asyncio.run(main())
    finally:
        batcher.stop()
    for docs, logits in zip(requests, results, strict=True):
        assert logits[:, 0].tolist() == [len(d.split()) for d in docs]
    assert sum(map(len, model.batches)) == sum(map(len, requests))
    # a pair of length v (words + 3) came from request (v - 3) % 7: some batch mixes requests
    assert any(len({(v - 3) % 7 for v in b if v < 64}) > 1 for b in model.batches)
    for batch in model.batches:
        assert len(batch) <= 8 and (len(batch) == 1 or len(batch) * batch[0] <= 100)
        assert batch == sorted(batch, reverse=True)


def test_a_causal_lm_reranker_is_refused_not_scored_wrongly(tmp_path):
    """The batcher's steps are a sequence-classification cross-encoder's: a causal-LM
    reranker (chat template, yes/no logits) must not go through them."""
    import tinyrerankers

    from xenc.errors import ModelError
    from xenc.models.pair_scorer import PairScorer
    from xenc.models.reranker import load_reranker

    model = load_reranker(str(tinyrerankers.make_tiny_causal_reranker(tmp_path / "qwen3")))
    with pytest.raises(ModelError, match="causal-lm rerankers are not served yet"):
        PairScorer(model)


def test_a_huge_document_is_cut_before_tokenizing(tiny_reranker):
    from xenc.models.pair_scorer import PairScorer
    from xenc.models.runtime import CHARS_PER_TOKEN

    scorer = PairScorer(tiny_reranker)
    huge = [("river", "word " * 400_000)]
    queries, totals = scorer.lengths(huge)
    limit = tiny_reranker.max_length * CHARS_PER_TOKEN
    assert int(totals[0]) == int(scorer.lengths([("river", huge[0][1][:limit])])[1][0])
    assert int(totals[0]) > tiny_reranker.max_length
