"""What a Qwen3-Reranker-0.6B costs on this CPU, estimated from scaled-down random Qwen3 models.

No real weights are used (none are downloaded): random ``Qwen3ForCausalLM`` models with the
shapes of Qwen3-0.6B scaled down (width and depth) are timed through xenc's
``CausalLMReranker`` (chat template, left padding, one forward pass, logits at the last
position), on pairs whose rendered prompt is about ``--tokens`` long, with ``--threads`` torch
threads. Each scale's achieved FLOP rate (forward FLOPs counted from its shapes) then gives the
estimate for the real shapes: seconds per pair = FLOPs of Qwen3-0.6B per pair / achieved rate.
Smaller matrices run less efficiently than large ones, so the rate of the largest scale is the
least pessimistic; the report gives every scale's estimate.

    .venv/bin/python bench/causal_lm_cpu.py --threads 2 --tokens 256
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

# Qwen3-0.6B (config.json of Qwen/Qwen3-Reranker-0.6B)
REAL = {"hidden": 1024, "layers": 28, "heads": 16, "kv_heads": 8, "head_dim": 128,
        "intermediate": 3072, "vocab": 151669}


def flops_per_pair(shape: dict[str, int], tokens: int) -> float:
    """Forward FLOPs (2 per multiply-add) of one rendered pair of ``tokens`` tokens."""
    h, d = shape["hidden"], shape["head_dim"]
    q, kv = shape["heads"] * d, shape["kv_heads"] * d
    per_token = 2 * (h * q + 2 * h * kv + q * h + 3 * h * shape["intermediate"])
    attention = 2 * 2 * tokens * tokens * q  # QK^T and AV
    head = 2 * h * shape["vocab"]  # the last position only (logits_to_keep=1)
    return shape["layers"] * (per_token * tokens + attention) + head


def build(directory: Path, shape: dict[str, int]) -> Path:
    import torch
    from tinyrerankers import _SPECIALS, QWEN_TEMPLATE, _wordpiece
    from transformers import Qwen3Config, Qwen3ForCausalLM

    tok = _wordpiece(_SPECIALS["qwen"])
    tok.chat_template = QWEN_TEMPLATE
    config = Qwen3Config(
        vocab_size=len(tok), hidden_size=shape["hidden"], intermediate_size=shape["intermediate"],
        num_hidden_layers=shape["layers"], num_attention_heads=shape["heads"],
        num_key_value_heads=shape["kv_heads"], head_dim=shape["head_dim"],
        max_position_embeddings=2048, pad_token_id=tok.pad_token_id, tie_word_embeddings=True)
    torch.manual_seed(0)
    Qwen3ForCausalLM(config).save_pretrained(directory)
    tok.save_pretrained(directory)
    return directory


def pairs_of(reranker, tokens: int, n: int) -> list[tuple[str, str]]:
    words = "the water of the north sea is cold and the sun is a star far from the earth".split()
    doc = []
    while True:
        doc.append(words[len(doc) % len(words)])
        if len(reranker.template.ids([("why is the sea cold", " ".join(doc))], None)[0]) >= tokens:
            break
    return [(f"why is the sea cold {i}", " ".join(doc)) for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--pairs", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import torch

    from xenc.models.reranker import load_reranker

    torch.set_num_threads(args.threads)
    real = flops_per_pair(REAL, args.tokens)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"Qwen3-0.6B: {real / 1e9:.1f} GFLOP per pair of {args.tokens} tokens; "
          f"{args.threads} threads, batch {args.batch_size}, torch {torch.__version__}, "
          f"{os.cpu_count()} CPUs, load average {load:.1f}")
    a, b = torch.randn(2048, 1024), torch.randn(1024, 3072)
    a @ b
    start = time.perf_counter()
    for _ in range(5):
        a @ b
    peak = 5 * 2 * 2048 * 1024 * 3072 / (time.perf_counter() - start)
    print(f"fp32 matmul (2048x1024 @ 1024x3072): {peak / 1e9:.1f} GFLOP/s -> Qwen3-0.6B at "
          f"that rate (a lower bound on time): {real / peak:.2f} s/pair")
    for scale in (4, 2):
        shape = {**REAL, "hidden": REAL["hidden"] // scale, "layers": REAL["layers"] // scale,
                 "heads": REAL["heads"] // scale, "kv_heads": REAL["kv_heads"] // scale,
                 "head_dim": REAL["head_dim"] // 2, "intermediate": REAL["intermediate"] // scale}
        with tempfile.TemporaryDirectory() as tmp:
            reranker = load_reranker(str(build(Path(tmp), shape)), batch_size=args.batch_size,
                                     max_length=args.tokens + 32)
            shape["vocab"] = len(reranker.tokenizer)
            pairs = pairs_of(reranker, args.tokens, args.pairs)
            length = len(reranker.template.ids(pairs[:1], None)[0])
            reranker.predict(pairs[: args.batch_size])  # warm-up
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                reranker.predict(pairs)
                times.append(time.perf_counter() - start)
        per_pair = statistics.median(times) / len(pairs)
        rate = flops_per_pair(shape, length) / per_pair
        print(f"scale 1/{scale}: hidden {shape['hidden']}, {shape['layers']} layers, "
              f"{length} tokens: {per_pair * 1e3:.1f} ms/pair, {rate / 1e9:.1f} GFLOP/s "
              f"-> Qwen3-0.6B estimate {real / rate:.2f} s/pair, "
              f"{real / rate * 100 / 60:.1f} min per 100 candidates")


if __name__ == "__main__":
    main()
