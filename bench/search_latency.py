"""``search`` latency per query (first stage + rerank), p50/p95, by candidate depth and backend.

Runs the library's search path (the one ``xenc search`` uses) over real queries on an
existing index: for each backend (torch fp32, ONNX fp32, ONNX int8 when exported) and each
candidate depth, every query is timed end to end (first stage + cross-encoder) after one
warm-up query; the table gives p50/p95/mean per query, pairs scored per query, and, with
``--budget-ms``, how many candidates the budget let each query rerank.

    .venv/bin/python bench/search_latency.py --index-dir runs/bench/cisi.index \\
        --queries runs/bench/cisi/queries.jsonl --reranker runs/models/minilm-ce
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from first_stage import append_section  # noqa: E402
from rerank_flops import matmul_peak, model_flops  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


class Counting:
    """Wraps a reranker to count the pairs it scores and the tokens it reads (after
    truncation: the FLOPs of the forward passes follow from them)."""

    def __init__(self, model):
        self.model, self.pairs, self.seen = model, 0, []
        self.batch_size, self.num_labels = model.batch_size, model.num_labels

    def predict(self, pairs):
        self.pairs += len(pairs)
        self.seen.append(list(pairs))  # token counts taken after the timed run
        return self.model.predict(pairs)

    def token_counts(self) -> np.ndarray:
        totals = [self.model._pair_lengths(pairs)[1] for pairs in self.seen]
        return np.minimum(np.concatenate(totals), self.model.max_length)


def shape(model_dir: Path) -> tuple[int, int, int]:
    import json

    config = json.loads((model_dir / "config.json").read_text())
    return config["num_hidden_layers"], config["hidden_size"], config["intermediate_size"]


def run(index, queries, params, model) -> dict:
    from xenc.pipeline import run_queries

    counting = Counting(model)
    list(run_queries(index, queries[:1], params, counting))  # warm-up
    counting.pairs, counting.seen = 0, []
    runs = list(run_queries(index, queries, params, counting))
    total = np.array([r.first_stage_ms + r.rerank_ms for r in runs])
    return {
        "p50": float(np.percentile(total, 50)), "p95": float(np.percentile(total, 95)),
        "mean": float(total.mean()),
        "first_p50": float(np.percentile([r.first_stage_ms for r in runs], 50)),
        "pairs": counting.pairs / len(runs),
        "reranked": float(np.mean([r.reranked for r in runs])),
        "tokens": counting.token_counts(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index-dir", required=True)
    parser.add_argument("--queries", required=True)
    parser.add_argument("--reranker", required=True)
    parser.add_argument("--backends", default="torch,onnx,onnx-int8")
    parser.add_argument("--candidates", default="20,50,100")
    parser.add_argument("--retriever", default="hybrid")
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--budget-ms", type=float, help="also run 100 candidates in this budget")
    parser.add_argument("--limit", type=int, default=50, help="queries timed")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    from xenc.config import SearchParams
    from xenc.io.corpus import read_queries
    from xenc.models.cross_encoder import CrossEncoder
    from xenc.models.runtime import set_threads
    from xenc.pipeline import open_index

    threads = set_threads()
    index = open_index(args.index_dir)
    queries = list(read_queries(args.queries))[: args.limit]
    model_dir = Path(args.reranker)
    layers, hidden, inter = shape(model_dir)
    # the arithmetic floor: a query's forward-pass FLOPs at the best fp32 matmul rate this CPU
    # reaches in this process (the model's own shapes and 1024^3), measured before the runs
    peak = matmul_peak([(8192, hidden, hidden), (8192, hidden, inter), (8192, inter, hidden),
                        (1024, 1024, 1024)], threads)
    rows = ["| backend | candidates | budget ms | p50 ms | p95 ms | mean ms | first stage p50 ms "
            "| pairs/query | reranked/query | GFLOP/query | floor ms | p50 / floor |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for backend in args.backends.split(","):
        needed = {"onnx": "model.onnx", "onnx-int8": "model-int8.onnx"}.get(backend)
        if needed and not (model_dir / needed).is_file():
            print(f"skipping {backend}: no {needed} (run xenc export)", file=sys.stderr)
            continue
        model = CrossEncoder(str(model_dir), batch_size=args.batch_size,
                             max_length=args.max_length, backend=backend)
        settings = [(int(k), None) for k in args.candidates.split(",")]
        if args.budget_ms:
            settings.append((100, args.budget_ms))
        for k, budget in settings:
            params = SearchParams(retriever=args.retriever, candidates=k, k=min(k, 10),
                                  budget_ms=budget)
            r = run(index, queries, params, model)
            gflop = model_flops(r["tokens"], layers, hidden, inter) / len(queries) / 1e9
            floor = gflop / peak * 1000
            rows.append(f"| {backend} | {k} | {budget or '—'} | {r['p50']:.0f} | {r['p95']:.0f} "
                        f"| {r['mean']:.0f} | {r['first_p50']:.1f} | {r['pairs']:.0f} "
                        f"| {r['reranked']:.0f} | {gflop:.1f} | {floor:.0f} "
                        f"| {r['p50'] / floor:.1f}x |")
            print(rows[-1], file=sys.stderr, flush=True)
    table = "\n".join(rows)
    print(table)
    if args.no_write:
        return
    append_section(
        "search latency with reranking (p50/p95 per query)",
        f"{threads} threads; load average at start {os.getloadavg()[0]:.2f}",
        f"Index: `{args.index_dir}` ({index.num_passages} passages); {len(queries)} queries; "
        f"retriever {args.retriever}; reranker `{model_dir.name}`; max length "
        f"{args.max_length}; batch size {args.batch_size}; aggregate max over up to 3 "
        f"passages per document. Time = first stage + rerank, per query, after a warm-up "
        f"query. Floor = the reranker's forward-pass FLOPs per query (from each pair's token "
        f"count after truncation) at the best fp32 matmul rate measured in this run, "
        f"{peak:.0f} GFLOP/s: no implementation on this CPU can rerank faster.",
        table,
    )

if __name__ == "__main__":
    main()
