"""Recipe: train xenc's default reranker from ../shared/datasets, evaluate it, ship it.

Training mix (what the shared data allows; no MS MARCO here), listwise loss (one positive and
four negatives per group, softmax cross-entropy), base all-MiniLM-L6-v2 with a new head:

* NFCorpus **train** split: for each query up to ``--positives`` judged documents of its top
  grade, in groups with negatives drawn from that query's pool of hard negatives (hybrid first
  stage, depth 50, judged documents excluded) and random ones (``xenc mine``);
* WikiQA **train**: every question with a correct and a wrong candidate sentence.

Dev set (best checkpoint): ``--dev-queries`` NFCorpus **dev** queries, one positive, ten hard and
two random negatives each. Evaluation (``xenc eval``, BM25, hybrid, and hybrid top-100 reranked)
on data the model never saw: NFCorpus **test** queries, the classic collections (CISI, MEDLINE,
ADI, CACM, LISA, Vaswani), nq_utd and every ``beir_sampled`` slice.

``--ship`` saves the best checkpoint in float16 (46 MB; xenc loads it as float32) into
``xenc/assets/reranker`` with its model card; ``xenc search``/``eval`` then rerank with it when
no ``--reranker`` is given. Ship it only when its evaluation beats BM25 everywhere.

The defaults (700 steps of 30 pairs) are what a 2-core CPU trains in about 70 minutes; that
was tried (docs/training.md) and is far from enough: at step 450 it reranked MEDLINE to NDCG@10
0.376 against BM25's 0.686. On a GPU, train whole epochs with more positives per query::

    python scripts/train_default_reranker.py --work runs/default-reranker --max-steps 0 \
        --positives 8 --epochs 2 --batch-size 60 --eval-steps 500 --max-length 256 --ship
    python scripts/train_default_reranker.py --work /tmp/smoke --smoke --ship-to /tmp/smoke/out
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets"
CLASSIC = ("cisi", "medline", "adi", "cacm", "lisa", "vaswani", "nq_utd")
SHIPPED = ROOT / "xenc" / "assets" / "reranker"
log = logging.getLogger("recipe")


def xenc(*args: str) -> None:
    """Run one xenc command in a child process (as a user would)."""
    cmd = [sys.executable, "-m", "xenc", *args]
    log.info("$ xenc %s", " ".join(args))
    subprocess.run(cmd, check=True, cwd=ROOT)


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)
    return path


def read_grades(path: Path) -> dict[tuple[str, str], int]:
    rows = (line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()[1:])
    return {(q, d): int(g) for q, d, g in (r for r in rows if len(r) == 3)}


def convert(src: Path, out: Path, split: str | None) -> Path:
    if not (out / "queries.jsonl").exists():
        xenc("convert", str(src), str(out), *(["--split", split] if split else []))
    return out


def index(folder: Path, args: argparse.Namespace) -> Path:
    if not (folder / "index").exists():
        xenc("index", str(folder / "corpus.jsonl"), "--index-dir", str(folder / "index"),
             "--device", args.device, "--no-progress")
    return folder / "index"


def shrink(folders: list[Path], queries: int = 4, others: int = 30) -> None:
    """--smoke: keep a few queries per split and a small corpus (their judged docs + others)."""
    keep_docs: set[str] = set()
    for folder in folders:
        rows = [line.split("\t") for line in
                (folder / "qrels.tsv").read_text(encoding="utf-8").splitlines()[1:]]
        qids = sorted({q for q, _, g in rows if int(g) > 0})[:queries]
        rows = [r for r in rows if r[0] in qids]
        keep_docs |= {d for _, d, _ in rows}
        (folder / "qrels.tsv").write_text(
            "query-id\tcorpus-id\tscore\n" + "".join("\t".join(r) + "\n" for r in rows),
            encoding="utf-8")
        write_jsonl(folder / "queries.jsonl",
                    [q for q in read_jsonl(folder / "queries.jsonl") if q["id"] in qids])
    corpus = read_jsonl(folders[0] / "corpus.jsonl")
    kept = [d for d in corpus if d["id"] in keep_docs]
    kept += [d for d in corpus if d["id"] not in keep_docs][:others]
    write_jsonl(folders[0] / "corpus.jsonl", kept)


def mine(index_dir: Path, folder: Path, out: Path) -> Path:
    if not out.exists():
        xenc("mine", "--index-dir", str(index_dir), "--queries", str(folder / "queries.jsonl"),
             "--qrels", str(folder / "qrels.tsv"), "-o", str(out))
    return out


def by_query(rows: list[dict]) -> dict[str, tuple[list[dict], list[dict]]]:
    """qid → (positives, negatives with repeats removed), in file order."""
    out: dict[str, tuple[list[dict], list[dict]]] = defaultdict(lambda: ([], []))
    seen: set[tuple[str, str]] = set()
    for r in rows:
        pos, neg = out[r["qid"]]
        if r["label"] > 0:
            pos.append(r)
        elif (r["qid"], r["doc_id"]) not in seen:
            seen.add((r["qid"], r["doc_id"]))
            neg.append(r)
    return out


def select_train(mined: Path, qrels: Path, out: Path, positives: int) -> Path:
    """Per query up to ``positives`` positives of its top grade, and its whole negative pool."""
    grades, rng, rows = read_grades(qrels), random.Random(13), []
    for qid, (pos, neg) in sorted(by_query(read_jsonl(mined)).items()):
        if not pos:
            continue
        ranked = sorted(pos, key=lambda r: (-grades.get((qid, r["doc_id"]), 1),
                                            r["first_stage_rank"] or 10**9, r["doc_id"]))
        top = grades.get((qid, ranked[0]["doc_id"]), 1)
        best = [r for r in ranked if grades.get((qid, r["doc_id"]), 1) == top]
        rng.shuffle(best)
        rows += best[:positives] + neg
    return write_jsonl(out, rows)


def select_dev(mined: Path, qrels: Path, out: Path, queries: int) -> Path:
    """``queries`` queries, each with one positive, ten hard and two random negatives."""
    one = select_train(mined, qrels, out, 1)
    groups = by_query(read_jsonl(one))
    chosen = sorted(groups)
    random.Random(7).shuffle(chosen)
    rows = []
    for qid in sorted(chosen[:queries]):
        pos, neg = groups[qid]
        rows += pos[:1] + [r for r in neg if r["kind"] == "hard"][:10]
        rows += [r for r in neg if r["kind"] == "random"][:2]
    return write_jsonl(out, rows)


def wikiqa(out: Path, limit: int | None) -> Path:
    """WikiQA train questions that have a right and a wrong sentence, as pair JSONL."""
    by_question: dict[str, list[tuple[str, int]]] = defaultdict(list)
    text = (DATA / "wikiqa" / "WikiQA-train.txt").read_text(encoding="utf-8")
    for line in text.splitlines()[:limit]:
        parts = line.split("\t")
        if len(parts) == 3 and parts[2].strip() in ("0", "1"):
            by_question[parts[0]].append((parts[1], int(parts[2])))
    rows = [{"query": q, "document": d, "label": label, "qid": "wikiqa:" + q}
            for q, pairs in sorted(by_question.items())
            if {label for _, label in pairs} == {0, 1} for d, label in pairs]
    return write_jsonl(out, rows)


def train(mix: list[Path], dev: Path, out: Path, args: argparse.Namespace) -> Path:
    data = write_jsonl(out.parent / f"{out.name}-train.jsonl",
                       [r for path in mix for r in read_jsonl(path)])
    steps = ["--max-steps", str(args.max_steps)] if args.max_steps else []
    extra = ["--layers", "2"] if args.smoke else []
    xenc("train", str(data), "-o", str(out), "--dev", str(dev), "--device", args.device,
         "--loss", "listwise", "--negatives", "4", "--max-length", str(args.max_length),
         "--epochs", str(args.epochs), "--batch-size", str(args.batch_size), "--lr", str(args.lr),
         "--eval-steps", str(args.eval_steps), "--seed", str(args.seed), "--no-progress",
         *steps, *extra)
    return out


def evaluate(folder: Path, index_dir: Path, model: Path, name: str, args) -> dict:
    """NDCG@10 of BM25, of hybrid, and of hybrid top-``--candidates`` reranked by ``model``."""
    common = ["--index-dir", str(index_dir), "--queries", str(folder / "queries.jsonl"),
              "--qrels", str(folder / "qrels.tsv"), "--device", args.device, "--no-progress"]
    bm25 = args.work / f"eval-{name}-bm25.json"
    rerank = args.work / f"eval-{name}-hybrid-rerank.json"
    if not bm25.exists():
        xenc("eval", *common, "--retriever", "bm25", "--no-rerank", "-o", str(bm25))
    if not rerank.exists():
        xenc("eval", *common, "--retriever", "hybrid", "--candidates", str(args.candidates),
             "--reranker", str(model), "--max-length", str(args.max_length), "-o", str(rerank))
    hybrid = json.loads(rerank.read_text(encoding="utf-8"))
    return {"bm25": json.loads(bm25.read_text(encoding="utf-8"))["first_stage"]["ndcg@10"],
            "hybrid": hybrid["first_stage"]["ndcg@10"],
            "reranked": hybrid["reranked"]["ndcg@10"]}


def evaluation_sets(work: Path, args: argparse.Namespace) -> dict[str, tuple[Path, Path]]:
    """name → (folder with queries/qrels, index directory)."""
    nf = work / "nfcorpus-test"
    sets = {"nfcorpus-test": (nf, work / "nfcorpus-train" / "index")}
    convert(DATA / "nfcorpus", nf, "test")
    names = [n for n in CLASSIC if (DATA / n).is_dir()]
    beir = sorted(p.name for p in (DATA / "beir_sampled").iterdir() if p.is_dir())
    for name in ["adi"] if args.smoke else names:
        folder = convert(DATA / name, work / name, None)
        sets[name] = (folder, index(folder, args))
    for name in [] if args.smoke else beir:
        folder = convert(DATA / "beir_sampled" / name, work / f"beir-{name}", "test")
        sets[f"beir-{name}"] = (folder, index(folder, args))
    return sets


def ship(model: Path, target: Path) -> None:
    """Save the best checkpoint in float16 into ``target`` (with card and training record)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    staged = target.with_name(target.name + ".tmp")
    shutil.rmtree(staged, ignore_errors=True)
    loaded = AutoModelForSequenceClassification.from_pretrained(model, dtype=torch.float32)
    loaded.half().save_pretrained(staged)
    AutoTokenizer.from_pretrained(model).save_pretrained(staged)
    config = json.loads((staged / "config.json").read_text(encoding="utf-8"))
    config["dtype"] = "float32"  # loaders upcast the float16 file
    (staged / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    for name in ("README.md", "training_state.json"):
        shutil.copy2(model / name, staged / name)
    shutil.rmtree(target, ignore_errors=True)
    staged.rename(target)
    log.info("shipped %s → %s", model, target)


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    work = args.work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    nf_train = convert(DATA / "nfcorpus", work / "nfcorpus-train", "train")
    nf_dev = convert(DATA / "nfcorpus", work / "nfcorpus-dev", "dev")
    if args.smoke:
        shrink([nf_train, nf_dev, convert(DATA / "nfcorpus", work / "nfcorpus-test", "test")])
    nf_index = index(nf_train, args)  # one corpus for every split: one index
    train_pairs = select_train(mine(nf_index, nf_train, work / "mined-nfcorpus-train.jsonl"),
                               nf_train / "qrels.tsv", work / "train-nfcorpus.jsonl",
                               args.positives)
    dev = select_dev(mine(nf_index, nf_dev, work / "mined-nfcorpus-dev.jsonl"),
                     nf_dev / "qrels.tsv", work / "dev-nfcorpus.jsonl", args.dev_queries)
    mix = [train_pairs, wikiqa(work / "wikiqa-train.jsonl", 400 if args.smoke else None)]
    model = work / "model"
    if not (model / "config.json").exists():
        train(mix, dev, model, args)
    if args.ship or args.ship_to:
        ship(model, args.ship_to or SHIPPED)
    results = {name: evaluate(folder, index_dir, model, name, args)
               for name, (folder, index_dir) in evaluation_sets(work, args).items()}
    if args.loco:
        results["loco"] = leave_one_out(work, mix, dev, args)
    (work / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    log.info("results: %s", json.dumps(results))


def leave_one_out(work: Path, mix: list[Path], dev: Path, args: argparse.Namespace) -> dict:
    """Per ``beir_sampled`` slice S: train on the mix plus pairs mined from every other slice,
    evaluate on S only (does a domain's data help on domains not trained on?)."""
    beir = sorted(p.name for p in (DATA / "beir_sampled").iterdir() if p.is_dir())
    beir = beir[:2] if args.smoke else beir
    folders = {n: convert(DATA / "beir_sampled" / n, work / f"beir-{n}", "test") for n in beir}
    mined = {n: mine(index(f, args), f, work / f"mined-beir-{n}.jsonl")
             for n, f in folders.items()}
    out = {}
    for held in beir:
        model = work / f"model-without-{held}"
        if not (model / "config.json").exists():
            train(mix + [mined[n] for n in beir if n != held], dev, model, args)
        out[held] = evaluate(folders[held], folders[held] / "index", model, f"loco-{held}", args)
    return out


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "default-reranker")
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    parser.add_argument("--positives", type=int, default=2, help="NFCorpus positives per query")
    parser.add_argument("--dev-queries", type=int, default=80)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--max-steps", type=int, default=700, help="0: the whole epochs")
    parser.add_argument("--batch-size", type=int, default=30, help="pairs: 6 groups of 5")
    parser.add_argument("--lr", type=float, default=3e-5)
    parser.add_argument("--eval-steps", type=int, default=150)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--candidates", type=int, default=100)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--ship", action="store_true", help="copy the model into xenc/")
    parser.add_argument("--ship-to", type=Path, help="copy the model there instead")
    parser.add_argument("--loco", action="store_true", help="leave-one-collection-out too")
    parser.add_argument("--smoke", action="store_true", help="tiny run on the CPU (plumbing)")
    args = parser.parse_args()
    if args.smoke:
        args.device, args.max_steps, args.eval_steps, args.dev_queries = "cpu", 8, 4, 5
        args.candidates = 20
    return args


if __name__ == "__main__":
    main()
