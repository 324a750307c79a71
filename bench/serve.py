"""``xenc serve`` against infinity (``infinity-emb``): rerank throughput and latency over HTTP.

Starts ``xenc serve`` (bundled reranker, default backend: ONNX) and, when ``--infinity`` names
an ``infinity_emb`` executable (it needs its own virtual environment: its pins clash with
xenc's), infinity serving the same model from a local copy of the same directory, both on
loopback on this CPU. Then, for each concurrency level, each server in turn gets closed-loop
load: that many clients, each sending rerank requests of ``--docs`` real passages
(data/sample/corpus.jsonl, whole) and a real query back to back, ``--rounds`` each (at least
``--min-requests`` in all). The table gives
pairs scored per second, the p50/p95 latency of a request, and the CPU time the server process
spent per pair (its threads together; on a shared CPU this says how much work a pair costs,
whoever else runs). Before measuring, both servers
score the same request once and the largest difference between their scores is printed (the
same model must give the same scores).

    .venv/bin/python bench/serve.py --infinity /work/venv-inf/bin/infinity_emb --append
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from first_stage import append_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
MODEL_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")


def requests(n: int, docs: int) -> list[bytes]:
    passages = [json.loads(line)["text"] for line in (SAMPLE / "corpus.jsonl").open()]
    queries = [json.loads(line)["text"] for line in (SAMPLE / "queries.jsonl").open()]
    out = []
    for i in range(n):
        chosen = [passages[(i * docs + j) % len(passages)] for j in range(docs)]
        out.append(json.dumps({"model": "bench", "query": queries[i % len(queries)],
                               "documents": chosen}).encode())
    return out


def wait_up(url: str, proc: subprocess.Popen, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url} did not come up in {seconds:.0f} s")


def start_xenc(port: int, backend: str, batch_size: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "xenc", "serve", "--port", str(port), "--backend", backend,
         "--batch-size", str(batch_size), "--max-queue", "1024"],
        stdout=subprocess.DEVNULL, stderr=log.open("wb"), env=env)


def start_infinity(exe: str, model: Path, port: int, batch_size: int,
                   log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [exe, "v2", "--model-id", str(model), "--engine", "torch", "--device", "cpu",
         "--port", str(port), "--batch-size", str(batch_size), "--no-bettertransformer"],
        stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=model)


async def load(url: str, path: str, bodies: list[bytes], clients: int, total: int,
               docs: int) -> dict:
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=300) as client:
        for body in bodies[:clients]:  # warm-up: every connection opened once
            (await client.post(path, content=body, headers=headers)).raise_for_status()
        t0 = time.perf_counter()

        async def worker(k: int) -> None:
            for i in range(k, total, clients):
                start = time.perf_counter()
                r = await client.post(path, content=bodies[i % len(bodies)],
                                      headers=headers)
                r.raise_for_status()
                latencies.append(time.perf_counter() - start)

        await asyncio.gather(*(worker(k) for k in range(clients)))
        wall = time.perf_counter() - t0
    ms = np.array(latencies) * 1e3
    return {"requests": len(ms), "pairs_s": len(ms) * docs / wall,
            "p50": float(np.percentile(ms, 50)), "p95": float(np.percentile(ms, 95))}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def scores(url: str, path: str, body: bytes) -> np.ndarray:
    r = httpx.post(url + path, content=body,
                   headers={"content-type": "application/json"}, timeout=120)
    r.raise_for_status()
    by_index = {x["index"]: x["relevance_score"] for x in r.json()["results"]}
    return np.array([by_index[i] for i in sorted(by_index)])


def stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--infinity", help="The infinity_emb executable (its own venv).")
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--docs", type=int, default=20, help="Passages per request.")
    parser.add_argument("--rounds", type=int, default=3,
                        help="Requests per client at each level (at least --min-requests).")
    parser.add_argument("--min-requests", type=int, default=24)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--xenc-backends", default="auto", help="e.g. auto,torch")
    parser.add_argument("--append", action="store_true", help="Add to docs/benchmarks.md.")
    args = parser.parse_args()
    from xenc.models.resolve import resolve_model

    source = Path(resolve_model(None, kind="reranker").path)
    work = Path(tempfile.mkdtemp(prefix="xenc-bench-serve-"))
    model = work / "model"  # infinity may write into the model directory: give it a copy
    model.mkdir()
    for name in MODEL_FILES:
        shutil.copy2(source / name, model / name)
    servers: dict[str, tuple[str, str, subprocess.Popen]] = {}  # name: url, route, process
    port = 18500
    try:
        for backend in args.xenc_backends.split(","):
            port += 1
            proc = start_xenc(port, backend, args.batch_size, work / f"xenc-{backend}.log")
            servers[f"xenc serve ({backend})"] = (f"http://127.0.0.1:{port}", "/v1/rerank", proc)
        if args.infinity:
            port += 1
            proc = start_infinity(args.infinity, model, port, args.batch_size,
                                  work / "infinity.log")
            # infinity serves Cohere's shape at /rerank
            servers["infinity (torch engine)"] = (f"http://127.0.0.1:{port}", "/rerank", proc)
        for url, _, proc in servers.values():
            wait_up(url, proc)
        bodies = requests(200, args.docs)
        reference = None
        notes = []
        for name, (url, path, _) in servers.items():
            got = scores(url, path, bodies[0])
            reference = got if reference is None else reference
            notes.append(f"{name}: max |score - first server's| = "
                         f"{float(np.abs(got - reference).max()):.2e}")
        print("\n".join(notes), file=sys.stderr)
        rows = []
        for clients in (int(c) for c in args.concurrency.split(",")):
            for name, (url, path, proc) in servers.items():  # alternated, level by level
                total = max(args.min_requests, clients * args.rounds)
                before = cpu_seconds(proc.pid)
                res = asyncio.run(load(url, path, bodies, clients, total, args.docs))
                # the warm-up requests included: CPU the server spent per pair it scored
                res["cpu_ms"] = (cpu_seconds(proc.pid) - before) * 1e3 / (
                    (res["requests"] + clients) * args.docs)
                rows.append((name, clients, res))
                print(f"{name} c={clients}: {res['pairs_s']:.0f} pairs/s, "
                      f"{res['cpu_ms']:.1f} CPU ms/pair, p50 "
                      f"{res['p50']:.0f} ms, p95 {res['p95']:.0f} ms ({res['requests']} "
                      "requests)", file=sys.stderr)
    finally:
        codes = {name: stop(proc) for name, (_, _, proc) in servers.items()}
    table = ("| server | clients | pairs/s | p50 ms | p95 ms | server CPU ms/pair | requests |\n"
             "|---|---:|---:|---:|---:|---:|---:|\n")
    table += "".join(f"| {n} | {c} | {r['pairs_s']:.0f} | {r['p50']:.0f} | {r['p95']:.0f} | "
                     f"{r['cpu_ms']:.2f} | {r['requests']} |\n" for n, c, r in rows)
    print(table)
    load_avg = " ".join(f"{x:.2f}" for x in os.getloadavg())
    if args.append:
        append_section(
            "`xenc serve` vs infinity: rerank over HTTP (issue 24)",
            f"load average (1/5/15 min) {load_avg} at the end",
            f"Requests of {args.docs} whole passages of data/sample/corpus.jsonl and a real "
            f"query each; at each level, closed-loop load of max({args.min_requests}, "
            f"{args.rounds} x clients) requests per server (servers alternated, all up at "
            f"once on loopback; the load generator shares the CPU); batch size "
            f"{args.batch_size}. Model: xenc's bundled reranker ({source.name}), infinity "
            f"given a copy of its directory. {'; '.join(notes)}. Exit codes on SIGTERM: "
            f"{codes}.", table)


if __name__ == "__main__":
    main()
