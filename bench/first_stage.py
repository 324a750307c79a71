"""First-stage quality and command times on the shared test collections, through the CLI.

For each collection: ``xenc convert`` → ``xenc index`` → ``xenc eval --no-rerank`` with each
retriever (bm25, dense, hybrid). Prints a Markdown table and appends it, with the date, the
machine and the exact command, to docs/benchmarks.md.

    .venv/bin/python bench/first_stage.py                       # all five collections
    .venv/bin/python bench/first_stage.py nfcorpus cisi --work runs/bench
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("XENC_SHARED_DATASETS", ROOT.parent / "shared" / "datasets"))
COLLECTIONS = ("nfcorpus", "cisi", "medline", "cacm", "vaswani")
RETRIEVERS = ("bm25", "dense", "hybrid")
XENC = [sys.executable, "-m", "xenc"]


def run(args: list[str]) -> tuple[bytes, float]:
    t0 = time.perf_counter()
    out = subprocess.run(XENC + args, check=True, stdout=subprocess.PIPE)
    return out.stdout, time.perf_counter() - t0


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, no GPU used"


def append_section(title: str, setting: str, details: str, table: str) -> None:
    """Append one result section to docs/benchmarks.md: title, date, machine and ``setting``
    (threads, load), the exact command (this process's argv), ``details``, the table."""
    text = (
        f"\n## {title}\n\n"
        f"Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC. Machine: {machine()}; {setting}.\n"
        f"Command: `python {shlex.join(sys.argv)}`.\n{details}\n\n{table}\n"
    )
    with open(ROOT / "docs" / "benchmarks.md", "a", encoding="utf-8") as fh:
        fh.write(text)


def bench(name: str, work: Path, reuse: bool) -> list[dict]:
    data, index = work / name, work / f"{name}.index"
    _, t_convert = run(["convert", str(SHARED / name), str(data)])
    timing = work / f"{name}.index-seconds"
    if reuse and timing.is_file():
        t_index = float(timing.read_text())
    else:
        _, t_index = run(["index", str(data / "corpus.jsonl"), "--index-dir", str(index)])
        timing.write_text(f"{t_index:.3f}\n")
    manifest = orjson.loads((index / "manifest.json").read_bytes())
    rows = []
    for retriever in RETRIEVERS:
        out, t_eval = run(["eval", "--index-dir", str(index), "--queries",
                           str(data / "queries.jsonl"), "--qrels", str(data / "qrels.tsv"),
                           "--retriever", retriever, "--no-rerank"])
        report = orjson.loads(out)
        rows.append({
            "collection": name, "retriever": retriever, "queries": report["queries"],
            "docs": manifest["counts"]["documents"], "passages": manifest["counts"]["passages"],
            "ndcg@10": report["first_stage"]["ndcg@10"],
            "recall@100": report["first_stage"]["recall@100"],
            "p50": report["latency_ms"]["first_stage"]["p50"],
            "t_convert": t_convert, "t_index": t_index, "t_eval": t_eval,
        })
        print(orjson.dumps(rows[-1]).decode(), file=sys.stderr, flush=True)
    return rows


def table(rows: list[dict]) -> str:
    head = ("| collection | docs | passages | queries | retriever | NDCG@10 | recall@100 "
            "| query p50 ms | convert s | index s | eval s |\n|---|---:|---:|---:|---|---:|---:"
            "|---:|---:|---:|---:|\n")
    return head + "".join(
        f"| {r['collection']} | {r['docs']} | {r['passages']} | {r['queries']} | "
        f"{r['retriever']} | {r['ndcg@10']:.4f} | {r['recall@100']:.4f} | {r['p50']:.1f} | "
        f"{r['t_convert']:.1f} | {r['t_index']:.1f} | {r['t_eval']:.1f} |\n"
        for r in rows
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("collections", nargs="*", default=list(COLLECTIONS))
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "bench")
    parser.add_argument("--no-write", action="store_true", help="Do not append to docs/")
    parser.add_argument("--reuse", action="store_true",
                        help="Reuse an index this script built before (and its build time)")
    args = parser.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"no datasets at {SHARED} (set XENC_SHARED_DATASETS)")
    args.work.mkdir(parents=True, exist_ok=True)
    rows = [row for name in args.collections for row in bench(name, args.work, args.reuse)]
    text = table(rows)
    print(text)
    if not args.no_write:
        command = "python bench/first_stage.py " + shlex.join(sys.argv[1:])
        with open(ROOT / "docs" / "benchmarks.md", "a", encoding="utf-8") as fh:
            fh.write(f"\n## First stage on the shared collections ({dt.date.today()})\n\n"
                     f"Machine: {machine()}. Command: `{command.strip()}`. Encoder: bundled "
                     "all-MiniLM-L6-v2, passages of 256 tokens (stride 32); BM25 k1 1.5, "
                     "b 0.75, Porter stems; hybrid = RRF (k 60) of the two at depth 100. "
                     "Times are wall-clock seconds of each whole command (model loading "
                     "included).\n\n" + text)


if __name__ == "__main__":
    main()
