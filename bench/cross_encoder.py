"""Cross-encoder throughput (pairs/s): xenc vs sentence-transformers, same model, same pairs.

Both score the same real pairs (WikiQA test question/sentence pairs and NFCorpus test
query/abstract pairs from the qrels, half each, shuffled with a fixed seed) with the same
model directory, batch size, max length and thread count, in this one process. xenc runs its
torch path and, when the model has been exported (``xenc export``), its ONNX Runtime fp32
and int8 paths. Each contender is loaded once, warmed up on 64 pairs, then timed over all
pairs ``--repeats`` times; the table reports the median pairs/s, the ratio to sentence-
transformers and the largest score difference from sentence-transformers' scores.

    .venv/bin/python bench/cross_encoder.py --model runs/models/minilm-ce
    .venv/bin/python bench/cross_encoder.py --model DIR --pairs 1000 --repeats 1 --no-write

Without ``--model``, an all-MiniLM-L6-v2 body with a new one-logit head is saved to
``--work`` and exported (throughput does not depend on the weights' values).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from first_stage import append_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("XENC_SHARED_DATASETS", ROOT.parent / "shared" / "datasets"))


def real_pairs(n: int) -> list[tuple[str, str]]:
    """``n`` pairs: WikiQA test rows in file order, then NFCorpus test qrels pairs in order."""
    wiki = []
    lines = (SHARED / "wikiqa" / "WikiQA-test.tsv").read_text(encoding="utf-8").splitlines()
    for line in lines[1:]:
        cols = line.split("\t")
        if len(cols) == 7:
            wiki.append((cols[1], cols[5]))
    nf = SHARED / "nfcorpus"
    queries = {}
    for line in (nf / "queries.jsonl").read_bytes().splitlines():
        q = orjson.loads(line)
        queries[q["_id"]] = q["text"]
    judged = [row.split("\t")[:2] for row in
              (nf / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()[1:]]
    wanted = {d for _, d in judged}
    docs = {}
    for line in (nf / "corpus" / "human.jsonl").read_bytes().splitlines():
        d = orjson.loads(line)
        if d["_id"] in wanted:
            docs[d["_id"]] = (d.get("title", "") + "\n" + d["text"]).strip()
    nfpairs = [(queries[q], docs[d]) for q, d in judged if q in queries and d in docs]
    half = n // 2
    if len(wiki) < half or len(nfpairs) < n - half:
        raise SystemExit(f"not enough pairs for {n}")
    pairs = wiki[:half] + nfpairs[: n - half]
    order = np.random.default_rng(0).permutation(len(pairs))  # mixed lengths, as in a file
    return [pairs[i] for i in order]


def default_model(work: Path) -> Path:
    """all-MiniLM-L6-v2 with a new one-logit head (seeded), saved as a cross-encoder."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from xenc.models.resolve import bundled_model_dir

    out = work / "minilm-ce"
    if not (out / "model.safetensors").is_file():
        torch.manual_seed(0)
        src = bundled_model_dir()
        model = AutoModelForSequenceClassification.from_pretrained(src, num_labels=1)
        model.save_pretrained(out)
        AutoTokenizer.from_pretrained(src).save_pretrained(out)
    return out


def contenders(model: Path, args: argparse.Namespace) -> dict:
    from sentence_transformers import CrossEncoder as STCrossEncoder

    from xenc.models.cross_encoder import CrossEncoder

    def xenc(backend: str):
        def load():
            ce = CrossEncoder(str(model), batch_size=args.batch_size,
                              max_length=args.max_length, backend=backend)
            return lambda pairs: ce.predict(pairs)[:, 0]
        return load

    def st():
        ce = STCrossEncoder(str(model), max_length=args.max_length, device="cpu")
        return lambda pairs: np.asarray(ce.predict(
            pairs, batch_size=args.batch_size, show_progress_bar=False, convert_to_numpy=True))

    def torch_ao_int8():  # tried for the 2x target; not in xenc (see docs/benchmarks.md)
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        tok = AutoTokenizer.from_pretrained(model)
        fp32 = AutoModelForSequenceClassification.from_pretrained(model).eval()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            q = torch.ao.quantization.quantize_dynamic(fp32, {torch.nn.Linear}, torch.qint8)

        def predict(pairs):
            order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
            out = np.zeros(len(pairs))
            with torch.inference_mode():
                for s in range(0, len(order), args.batch_size):
                    idx = order[s : s + args.batch_size]
                    batch = tok([pairs[i][0] for i in idx], [pairs[i][1] for i in idx],
                                truncation=True, max_length=args.max_length, padding=True,
                                return_tensors="pt")
                    out[idx] = torch.sigmoid(q(**batch).logits[:, 0]).numpy()
            return out
        return predict

    out = {"sentence-transformers": st, "xenc torch": xenc("torch"),
           "torch.ao dynamic int8": torch_ao_int8}
    if (model / "model.onnx").is_file():
        out["xenc onnx"] = xenc("onnx")
    if (model / "model-int8.onnx").is_file():
        out["xenc onnx-int8"] = xenc("onnx-int8")
    return out


def measure(load, pairs, repeats: int) -> tuple[list[float], np.ndarray]:
    predict = load()
    predict(pairs[:64])
    rates, scores = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        scores = predict(pairs)
        rates.append(len(pairs) / (time.perf_counter() - t0))
    return rates, np.asarray(scores, dtype=np.float64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="cross-encoder directory (see above)")
    parser.add_argument("--pairs", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", help="comma-separated contenders to run")
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "bench-ce")
    parser.add_argument("--no-write", action="store_true", help="do not append to the docs")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    model = args.model or default_model(args.work)
    if args.model is None and not (model / "model-int8.onnx").is_file():
        from xenc.models.export import export_onnx

        export_onnx(str(model))
    pairs = real_pairs(args.pairs)
    results = {}
    chosen = set(args.only.split(",")) if args.only else None
    for name, load in contenders(model, args).items():
        if chosen and name not in chosen and name != "sentence-transformers":
            continue
        rates, scores = measure(load, pairs, args.repeats)
        results[name] = (rates, scores)
        print(f"{name}: {statistics.median(rates):.1f} pairs/s {rates}", file=sys.stderr)
    base_rate = statistics.median(results["sentence-transformers"][0])
    base_scores = results["sentence-transformers"][1]
    rows = ["| contender | pairs/s (median) | runs | × sentence-transformers | max |Δscore| |",
            "|---|---|---|---|---|"]
    for name, (rates, scores) in results.items():
        rate = statistics.median(rates)
        runs = " / ".join(f"{r:.1f}" for r in rates)
        diff = float(np.max(np.abs(scores - base_scores)))
        rows.append(f"| {name} | {rate:.1f} | {runs} | {rate / base_rate:.2f} | {diff:.1e} |")
    table = "\n".join(rows)
    print(table)
    if args.no_write:
        return
    lengths = [len(q) + len(d) for q, d in pairs]
    append_section(
        "Cross-encoder throughput on CPU: xenc vs sentence-transformers",
        f"{args.threads} threads for every contender, load average at start "
        f"{os.getloadavg()[0]:.2f}",
        f"Model: `{model.name}` ({'given' if args.model else 'all-MiniLM-L6-v2 + new head'}); "
        f"{len(pairs)} pairs (half WikiQA test, half NFCorpus test qrels; median "
        f"{int(np.median(lengths))} characters), batch size {args.batch_size}, max length "
        f"{args.max_length}, {args.repeats} timed runs each after a 64-pair warm-up.",
        table,
    )

if __name__ == "__main__":
    main()
