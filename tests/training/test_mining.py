"""Mining training pairs from an index (xenc.training.mine, ``xenc mine``)."""

from __future__ import annotations

import orjson
import pytest
from conftest import SAMPLE
from typer.testing import CliRunner

from xenc.config import SearchParams
from xenc.errors import UsageError
from xenc.io.corpus import read_queries
from xenc.io.qrels import read_qrels
from xenc.retrieval.stage import first_stage
from xenc.training import MineParams, mine

FIELDS = {"query", "document", "label", "qid", "doc_id", "kind", "first_stage_rank"}
PARAMS = MineParams(retriever="bm25", depth=10, negatives=2, random_negatives=1, skip_top=1)


@pytest.fixture(scope="module")
def qrels():
    return read_qrels(SAMPLE / "qrels.tsv")


@pytest.fixture(scope="module")
def queries():
    return list(read_queries(SAMPLE / "queries.jsonl"))


@pytest.fixture()
def mined(opened, queries, qrels):
    return list(mine(opened, queries, qrels, PARAMS))


def test_positives_are_exactly_the_qrels_positives(mined, qrels, opened):
    got = {(r["qid"], r["doc_id"]) for r in mined if r["kind"] == "positive"}
    known = set(opened.docstore.doc_ids)
    want = {(q, d) for q, docs in qrels.items() for d, g in docs.items() if g >= 1 and d in known}
    assert got == want
    assert all(r["label"] == 1 for r in mined if r["kind"] == "positive")


def test_no_judged_positive_among_negatives(mined, qrels):
    negatives = [r for r in mined if r["kind"] != "positive"]
    assert negatives and all(r["label"] == 0 for r in negatives)
    for r in negatives:
        assert qrels[r["qid"]].get(r["doc_id"], 0) < 1


def test_hard_negatives_come_from_the_first_stage_top_n(mined, opened, queries):
    texts = {q.id: q.text for q in queries}
    tops: dict[str, dict[str, int]] = {}
    hard = [r for r in mined if r["kind"] == "hard"]
    assert hard
    for r in hard:
        if r["qid"] not in tops:
            cands = first_stage(opened, texts[r["qid"]], SearchParams("bm25", candidates=10))
            tops[r["qid"]] = {c.doc_id: c.rank for c in cands}
        assert r["first_stage_rank"] == tops[r["qid"]][r["doc_id"]]
        assert PARAMS.skip_top < r["first_stage_rank"] <= PARAMS.depth


def test_passage_text_is_a_passage_of_the_document(mined, opened):
    docs = opened.docstore.documents(r["doc_id"] for r in mined[:20])
    for r in mined[:20]:
        doc = docs[r["doc_id"]]
        body = r["document"].split("\n", 1)[1] if doc.title else r["document"]
        assert body in doc.text
        assert r["document"].startswith(doc.title)


def test_deterministic_with_seed(mined, opened, queries, qrels):
    again = list(mine(opened, queries, qrels, PARAMS))
    assert again == mined
    other = list(mine(opened, queries, qrels, MineParams(**{**PARAMS.to_dict(), "seed": 7})))
    assert [r["doc_id"] for r in other] != [r["doc_id"] for r in mined]


def test_fields_and_counts(mined):
    assert all(set(r) == FIELDS for r in mined)
    per_positive = {}
    for r in mined:
        if r["kind"] == "positive":
            key = (r["qid"], r["doc_id"])
            per_positive[key] = {"hard": 0, "random": 0}
        else:
            per_positive[key][r["kind"]] += 1
    assert all(v == {"hard": 2, "random": 1} for v in per_positive.values())


def test_bad_params(opened, queries, qrels):
    with pytest.raises(UsageError, match=r"^skip_top must be smaller than depth \(5\), not 5$"):
        list(mine(opened, queries, qrels, MineParams(depth=5, skip_top=5)))
    with pytest.raises(UsageError, match="^retriever must be one of bm25, dense, hybrid, not 'spl"):
        list(mine(opened, queries, qrels, MineParams(retriever="splade")))


def test_mine_cli_writes_jsonl(sample_index, tmp_path):
    from xenc.cli.train import app

    out = tmp_path / "mined.jsonl"
    args = ["mine", "--index-dir", str(sample_index), "--queries", str(SAMPLE / "queries.jsonl"),
            "--qrels", str(SAMPLE / "qrels.tsv"), "--mine-depth", "8", "-o", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.stderr
    records = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert records and all(set(r) == FIELDS for r in records)
    assert {r["kind"] for r in records} == {"positive", "hard", "random"}
    assert "mined" in result.stderr and result.stdout == ""


def test_train_from_index_with_mined_dev(sample_index, tiny_encoder_dir, tmp_path):
    from xenc.cli.train import app

    out = tmp_path / "model"
    q, r = str(SAMPLE / "queries.jsonl"), str(SAMPLE / "qrels.tsv")
    args = ["train", "--index-dir", str(sample_index), "--queries", q, "--qrels", r,
            "--dev-queries", q, "--dev-qrels", r, "--mine-retriever", "bm25", "--negatives", "1",
            "--random-negatives", "0", "--mine-depth", "5", "--base", str(tiny_encoder_dir),
            "--max-steps", "2", "--batch-size", "8", "--eval-steps", "2", "-o", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.stderr
    state = orjson.loads((out / "training_state.json").read_bytes())
    assert state["step"] == 2 and state["evals"][0]["metric"] is not None
    card = (out / "README.md").read_text()
    assert "| index |" in card and '"mined"' in card
