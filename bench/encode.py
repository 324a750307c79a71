"""Embedding-stage throughput of ``xenc index``: xenc's Encoder vs sentence-transformers.

Both embed the same real passages (NFCorpus documents, title + abstract, cut at the model's 256
tokens) with the bundled all-MiniLM-L6-v2, the same batch size and thread count, in one process
run; the table gives passages/s (median of ``--repeats``), the ratio, and how far the two
embeddings are apart (max 1 − cosine). Appended to docs/benchmarks.md::

    python bench/encode.py --passages 2000 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from first_stage import append_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("XENC_SHARED_DATASETS", ROOT.parent / "shared" / "datasets"))


def nfcorpus_passages(n: int) -> list[str]:
    path = SHARED / "nfcorpus" / "corpus" / "human.jsonl"
    out = []
    with path.open("rb") as fh:
        for line in fh:
            doc = orjson.loads(line)
            out.append(f"{doc.get('title', '')}\n{doc['text']}".strip())
            if len(out) == n:
                break
    return out


def contenders(args: argparse.Namespace) -> dict:
    def st():
        from sentence_transformers import SentenceTransformer

        from xenc.models.resolve import bundled_model_dir

        model = SentenceTransformer(str(bundled_model_dir()), device=args.device)
        return lambda texts: model.encode(texts, batch_size=args.batch_size,
                                          normalize_embeddings=True, convert_to_numpy=True,
                                          show_progress_bar=False)

    def xenc():
        from xenc.models.encoder import Encoder

        encoder = Encoder(None, device=args.device, batch_size=args.batch_size)
        return encoder.encode

    return {"sentence-transformers": st, "xenc": xenc}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="do not append to the docs")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    texts = nfcorpus_passages(args.passages)
    load_at_start = os.getloadavg()[0]
    results: dict[str, tuple[list[float], np.ndarray]] = {}
    for name, load in contenders(args).items():
        encode = load()
        encode(texts[:64])  # warm-up
        rates, vectors = [], None
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            vectors = np.asarray(encode(texts), dtype=np.float32)
            rates.append(len(texts) / (time.perf_counter() - t0))
        results[name] = (rates, vectors)
        print(f"{name}: {statistics.median(rates):.1f} passages/s {rates}", file=sys.stderr)
    base_rate = statistics.median(results["sentence-transformers"][0])
    base = results["sentence-transformers"][1]
    rows = ["| contender | passages/s (median) | runs | × sentence-transformers | max 1−cos |",
            "|---|---|---|---|---|"]
    for name, (rates, vectors) in results.items():
        rate = statistics.median(rates)
        gap = float(np.max(1.0 - np.sum(vectors * base, axis=1)))
        runs = " / ".join(f"{r:.1f}" for r in rates)
        rows.append(f"| {name} | {rate:.1f} | {runs} | {rate / base_rate:.2f} | {gap:.1e} |")
    table = "\n".join(rows)
    print(table)
    if args.no_write:
        return
    chars = int(np.median([len(t) for t in texts]))
    append_section(
        f"Embedding stage of `xenc index` ({args.device}): xenc vs sentence-transformers",
        f"{args.threads} threads, load average at start {load_at_start:.2f}",
        f"Model: the bundled all-MiniLM-L6-v2 (max 256 tokens); {len(texts)} NFCorpus "
        f"documents as passages (median {chars} characters), batch size {args.batch_size}, "
        f"{args.repeats} timed runs each after a 64-passage warm-up.",
        table,
    )

if __name__ == "__main__":
    main()
