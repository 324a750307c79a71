"""``--engine ray`` on one machine: in-process vs Ray with 1 and 2 workers.

Embeds the same real passages (NFCorpus, as ``bench/encode.py``) with the bundled
all-MiniLM-L6-v2 and scores as many (query, passage) pairs with a MiniLM-L6-sized
cross-encoder (``--reranker``; default: the bundled MiniLM weights under a sequence
classification head, which has the architecture, and so the speed, of
cross-encoder/ms-marco-MiniLM-L6-v2, not its scores). Reports passages/s and pairs/s end to
end (actor start and model load included, as a command pays them), the time to the first
result, Ray's start-up, and its per-batch overhead (a worker that does nothing)::

    python bench/ray_engine.py --passages 384 --batch-size 32
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from encode import nfcorpus_passages  # noqa: E402


class Echo:
    """A worker that does nothing: what Ray itself costs per batch."""

    def __call__(self, batch):  # noqa: ANN001, ANN204
        return {"row": batch["row"]}


def _timed_run(session, shards, worker, kwargs, batch_size):  # noqa: ANN001, ANN202
    start = time.perf_counter()
    first = None
    rows = 0
    for batch in session.run(iter(shards), worker, kwargs, batch_size=batch_size):
        first = first if first is not None else time.perf_counter() - start
        rows += len(batch["row"])
    return rows, time.perf_counter() - start, first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--passages", type=int, default=384)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--reranker", default=None)
    args = parser.parse_args()

    import ray

    from xenc.engines.ray_jobs import reranker_spec
    from xenc.engines.ray_runtime import RayOptions, RaySession
    from xenc.engines.ray_workers import EmbedWorker, ScoreWorker
    from xenc.models.cross_encoder import CrossEncoder
    from xenc.models.encoder import Encoder
    from xenc.models.resolve import resolve_model

    texts = nfcorpus_passages(args.passages)
    pairs = [(t.split("\n")[0][:80], t) for t in texts]
    encoder = Encoder(None, batch_size=args.batch_size)
    reranker = CrossEncoder(args.reranker or resolve_model(None, kind="encoder").path,
                            batch_size=args.batch_size, backend="torch")
    rows = []
    t = time.perf_counter()
    encoder.encode(texts)
    t_enc = time.perf_counter() - t
    t = time.perf_counter()
    reranker.predict(pairs)
    t_ce = time.perf_counter() - t
    rows.append(("in-process (2 threads)", len(texts) / t_enc, len(pairs) / t_ce, "-", "-"))

    t = time.perf_counter()
    ray.init(address="local", include_dashboard=False, log_to_driver=False,
             logging_level="ERROR")
    startup = time.perf_counter() - t
    embed_shards = [{"row": np.arange(len(texts)), "text": texts}]
    score_shards = [{"row": np.arange(len(pairs)), "query": [q for q, _ in pairs],
                     "document": [d for _, d in pairs]}]
    ekw = {"model": None, "device": None, "batch_size": args.batch_size,
           "max_length": encoder.max_length, "sha256": encoder.info()["sha256"]}
    skw = {"spec": reranker_spec(reranker, None)}
    for workers in (1, 2):
        with RaySession(RayOptions(workers=workers)) as session:
            n, took, first = _timed_run(session, embed_shards, EmbedWorker, ekw, args.batch_size)
            m, took2, first2 = _timed_run(session, score_shards, ScoreWorker, skw,
                                          args.batch_size)
        rows.append((f"ray, {workers} worker{'s' * (workers > 1)}", n / took, m / took2,
                     f"{first:.1f} / {first2:.1f}", f"{took:.1f} / {took2:.1f}"))
    with RaySession(RayOptions(workers=1)) as session:
        n_echo = 20_000
        echo = [{"row": np.arange(n_echo), "text": ["x"] * n_echo}]
        _timed_run(session, echo, Echo, {}, 1000)  # warm: actor start
        _, t_small, _ = _timed_run(session, echo, Echo, {}, 100)
        _, t_big, _ = _timed_run(session, echo, Echo, {}, 10_000)
    per_batch = (t_small - t_big) / (n_echo / 100 - n_echo / 10_000)
    ray.shutdown()

    print("| engine | passages/s | pairs/s | first result (s, embed / score) | "
          "wall (s, embed / score) |")
    print("|---|---|---|---|---|")
    for name, pps, prs, first, wall in rows:
        print(f"| {name} | {pps:.1f} | {prs:.1f} | {first} | {wall} |")
    print(f"\nRay start-up (ray.init, local): {startup:.1f} s; per-batch overhead "
          f"(no-op worker, 100- vs 10,000-row batches): {per_batch * 1000:.1f} ms; "
          f"{len(texts)} passages, batch size {args.batch_size}")


if __name__ == "__main__":
    main()
