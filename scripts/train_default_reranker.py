"""Recipe: train xenc's default reranker from ../shared/datasets, then evaluate it.

Training mix (what the shared data allows; no MS MARCO here):

* NFCorpus train split: qrels positives + hard negatives mined from an NFCorpus index
  (``xenc mine``, hybrid first stage, depth 50, 4 hard + 1 random negative per positive);
* WikiQA train: question / sentence / 0-1 pairs, converted to pair JSONL here.

Dev set (best checkpoint): NFCorpus dev split, mined the same way. Evaluation (``xenc eval``,
reranking vs. the first stage alone) on collections the model never saw: NFCorpus test, every
``beir_sampled`` slice and the classic collections (CISI, MEDLINE, ADI, CACM, LISA, Vaswani).

``--loco`` adds leave-one-collection-out over ``beir_sampled``: for each slice S, a model is
trained on the mix plus pairs mined from every other slice, and evaluated on S only.

Run on a GPU machine (``--device cuda``, the default here); ``--smoke`` runs the whole recipe
on tiny slices on the CPU in a few minutes (it checks the plumbing, not the quality)::

    python scripts/train_default_reranker.py --work runs/default-reranker
    python scripts/train_default_reranker.py --work /tmp/smoke --smoke
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets"
CLASSIC = ("cisi", "medline", "adi", "cacm", "lisa", "vaswani")
log = logging.getLogger("recipe")


def xenc(*args: str) -> None:
    """Run one xenc command (train/mine through xenc.cli_train until merged into xenc.cli)."""
    from xenc.cli import app

    names = {c.name for c in app.registered_commands}
    module = "xenc" if args[0] in names else "xenc.cli_train"
    cmd = [sys.executable, "-m", module, *args]
    log.info("$ xenc %s", " ".join(args))
    subprocess.run(cmd, check=True, cwd=ROOT)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def read_qrels(path: Path) -> list[list[str]]:
    lines = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()[1:]]
    return [row for row in lines if len(row) == 3]


def shrink(folder: Path, queries: int, docs: int) -> None:
    """Keep the first ``queries`` judged queries, their judged docs and ``docs`` others."""
    qrels = read_qrels(folder / "qrels.tsv")
    keep_q = list(dict.fromkeys(q for q, _, g in qrels if int(g) >= 1))[:queries]
    qrels = [row for row in qrels if row[0] in set(keep_q)]
    judged = {d for _, d, _ in qrels}
    corpus = read_jsonl(folder / "corpus.jsonl")
    kept = [d for d in corpus if d["id"] in judged] + [d for d in corpus if d["id"] not in judged]
    write_jsonl(folder / "corpus.jsonl", kept[: len(judged) + docs])
    qs = [q for q in read_jsonl(folder / "queries.jsonl") if q["id"] in set(keep_q)]
    write_jsonl(folder / "queries.jsonl", qs)
    lines = ["query-id\tcorpus-id\tscore"] + ["\t".join(row) for row in qrels]
    (folder / "qrels.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def prepare(src: Path, out: Path, split: str, args: argparse.Namespace) -> Path:
    """Convert a collection (one split) and index it; return the folder."""
    if not (out / "index").exists():
        xenc("convert", str(src), str(out), "--split", split)
        if args.smoke:
            shrink(out, args.smoke_queries, args.smoke_docs)
        xenc("index", str(out / "corpus.jsonl"), "--index-dir", str(out / "index"),
             "--device", args.device, "--no-progress")
    return out


def mine(folder: Path, out: Path) -> Path:
    xenc("mine", "--index-dir", str(folder / "index"), "--queries", str(folder / "queries.jsonl"),
         "--qrels", str(folder / "qrels.tsv"), "-o", str(out))
    return out


def wikiqa(out: Path, limit: int | None) -> Path:
    """WikiQA train as pair JSONL (``qid`` = the question, so pairs group by question)."""
    rows = []
    text = (DATA / "wikiqa" / "WikiQA-train.txt").read_text(encoding="utf-8")
    for line in text.splitlines()[:limit]:
        parts = line.split("\t")
        if len(parts) == 3 and parts[2].strip() in ("0", "1"):
            rows.append({"query": parts[0], "document": parts[1], "label": int(parts[2]),
                         "qid": "wikiqa:" + parts[0]})
    return write_jsonl(out, rows)


def train(mix: list[Path], dev: Path, out: Path, args: argparse.Namespace) -> Path:
    rows = [r for path in mix for r in read_jsonl(path)]
    data = write_jsonl(out.parent / f"{out.name}-train.jsonl", rows)
    extra = ["--max-steps", "8", "--layers", "2"] if args.smoke else []
    xenc("train", str(data), "-o", str(out), "--dev", str(dev), "--device", args.device,
         "--max-length", str(args.max_length),
         "--epochs", str(args.epochs), "--batch-size", str(args.batch_size), "--lr", str(args.lr),
         "--eval-steps", str(args.eval_steps), "--no-progress", *extra)
    return out


def evaluate(folder: Path, model: Path, report: Path, args: argparse.Namespace) -> dict:
    """NDCG@10 of the first stage and of reranking its top candidates with ``model``."""
    cmd = ["--index-dir", str(folder / "index"), "--queries", str(folder / "queries.jsonl"),
           "--qrels", str(folder / "qrels.tsv"), "--device", args.device, "--no-progress",
           "--reranker", str(model), "--max-length", str(args.max_length)]
    if args.smoke:
        cmd += ["--candidates", "20"]
    path = report.with_suffix(".json")
    xenc("eval", *cmd, "-o", str(path))
    summary = json.loads(path.read_text(encoding="utf-8"))
    return {stage: summary[stage]["ndcg@10"] for stage in ("first_stage", "reranked")}


def evaluation_sets(work: Path, args: argparse.Namespace) -> dict[str, Path]:
    sets = {"nfcorpus-test": prepare(DATA / "nfcorpus", work / "nfcorpus-test", "test", args)}
    beir = sorted(p.name for p in (DATA / "beir_sampled").iterdir() if p.is_dir())
    for name in beir[:1] if args.smoke else beir:
        sets[name] = prepare(DATA / "beir_sampled" / name, work / f"beir-{name}", "test", args)
    for name in CLASSIC[:1] if args.smoke else CLASSIC:
        sets[name] = prepare(DATA / name, work / name, "test", args)
    return sets


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    nf_train = prepare(DATA / "nfcorpus", work / "nfcorpus-train", "train", args)
    nf_dev = prepare(DATA / "nfcorpus", work / "nfcorpus-dev", "dev", args)
    mix = [mine(nf_train, work / "mined-nfcorpus-train.jsonl"),
           wikiqa(work / "wikiqa-train.jsonl", args.smoke_wikiqa if args.smoke else None)]
    dev = mine(nf_dev, work / "mined-nfcorpus-dev.jsonl")
    model = train(mix, dev, work / "model", args)
    results = {name: evaluate(folder, model, work / f"eval-{name}", args)
               for name, folder in evaluation_sets(work, args).items()}
    if args.loco:
        results["loco"] = leave_one_out(work, mix, dev, args)
    (work / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    log.info("results: %s", json.dumps(results))


def leave_one_out(work: Path, mix: list[Path], dev: Path, args: argparse.Namespace) -> dict:
    """Train without each beir_sampled slice (mined pairs of the others added), test on it."""
    beir = sorted(p.name for p in (DATA / "beir_sampled").iterdir() if p.is_dir())
    beir = beir[:2] if args.smoke else beir
    folders = {n: prepare(DATA / "beir_sampled" / n, work / f"beir-{n}", "test", args)
               for n in beir}
    mined = {n: mine(f, work / f"mined-beir-{n}.jsonl") for n, f in folders.items()}
    out = {}
    for held in beir:
        others = [mined[n] for n in beir if n != held]
        model = train(mix + others, dev, work / f"model-without-{held}", args)
        out[held] = evaluate(folders[held], model, work / f"loco-{held}", args)
    return out


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "default-reranker")
    parser.add_argument("--device", default=None, help="default: cuda (cpu with --smoke)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--eval-steps", type=int, default=500)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--loco", action="store_true", help="leave-one-collection-out too")
    parser.add_argument("--smoke", action="store_true", help="tiny slices, CPU, minutes")
    parser.add_argument("--smoke-queries", type=int, default=3)
    parser.add_argument("--smoke-docs", type=int, default=20)
    parser.add_argument("--smoke-wikiqa", type=int, default=40)
    args = parser.parse_args()
    args.device = args.device or ("cpu" if args.smoke else "cuda")
    if args.smoke:
        args.eval_steps, args.batch_size, args.max_length = 4, 8, 128
    return args


if __name__ == "__main__":
    main()
