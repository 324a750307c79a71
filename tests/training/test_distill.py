"""Distillation: teacher specs and scores (xenc mine --teacher), margin-mse and mse training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import orjson
import pytest
from conftest import SAMPLE
from typer.testing import CliRunner

from xenc.errors import InputError, UsageError
from xenc.io.corpus import read_queries
from xenc.io.qrels import read_qrels
from xenc.training import MineParams, TrainConfig, mine, train
from xenc.training.data import read_labeled_pairs
from xenc.training.teachers import Component, Teacher, parse_spec, standardise

WORDS = "moon river horse paper music tree snow fire king boat gold ship".split()


def teacher_rows() -> list[dict]:
    """Six queries, each with three documents the teacher grades 2, 0 and -2.

    The label marks only the first as relevant: the order of the other two comes from the
    teacher alone."""
    rows = []
    for i in range(6):
        a, b = WORDS[2 * i], WORDS[2 * i + 1]
        c = WORDS[(2 * i + 5) % 12]
        docs = [(f"all about {a} and {b}", 1, 2.0), (f"a note on {a} today", 0, 0.0),
                (f"nothing on the {c} here", 0, -2.0)]
        for text, label, score in docs:
            rows.append({"query": f"{a} {b}", "document": text, "label": label,
                         "qid": f"q{i}", "teacher_score": score})
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_parse_spec_weights_and_kinds():
    comps = parse_spec("0.7*splade:models/sp + 0.3*bm25+dense")
    assert comps == [Component("splade", 0.7, "models/sp"), Component("bm25", 0.3),
                     Component("dense", 1.0)]
    assert parse_spec("cross-encoder/ms-marco-MiniLM-L6-v2") == [
        Component("cross-encoder", 1.0, "cross-encoder/ms-marco-MiniLM-L6-v2")]


@pytest.mark.parametrize("spec, message", [
    ("", "teacher is empty"), ("x*bm25", "is not a number"), ("-1*bm25", "must be positive"),
    ("bm25+bm25", "named twice"), ("splade:", "needs a model directory"), ("bm25+", "empty"),
])
def test_parse_spec_errors(spec, message):
    with pytest.raises(UsageError, match=message):
        parse_spec(spec)


def test_standardise():
    np.testing.assert_allclose(standardise(np.array([1.0, 2.0, 3.0])),
                               [-1.224744871, 0.0, 1.224744871])
    assert standardise(np.array([5.0, 5.0])).tolist() == [0.0, 0.0]


@pytest.fixture(scope="module")
def mined_bm25(sample_index):
    from xenc.pipeline import open_index

    index = open_index(sample_index)
    params = MineParams(retriever="bm25", depth=10, negatives=3, random_negatives=1,
                        teacher="bm25")
    queries = list(read_queries(SAMPLE / "queries.jsonl"))[:6]
    rows = list(mine(index, queries, read_qrels(SAMPLE / "qrels.tsv"), params))
    yield index, rows
    index.close()


def test_mined_teacher_scores_are_standardised_bm25(mined_bm25):
    """Each query's teacher scores = its passages' BM25 scores, standardised over them."""
    from xenc.config import SearchParams
    from xenc.retrieval.stage import first_stage

    index, rows = mined_bm25
    assert rows and all("teacher_score" in r for r in rows)
    for qid in dict.fromkeys(r["qid"] for r in rows):
        mine_rows = [r for r in rows if r["qid"] == qid]
        query = mine_rows[0]["query"]
        got = {r["doc_id"]: r["teacher_score"] for r in mine_rows}
        # the passages the miner used: the best BM25 passage, else the document's first
        best = {c.doc_id: c.rows[0] for c in
                first_stage(index, query, SearchParams(retriever="bm25", candidates=10))}
        docs = sorted(got)
        passage_rows = {**index.docstore.first_rows(d for d in docs if d not in best),
                        **{d: best[d] for d in docs if d in best}}
        full = index.bm25.scores(index.tokenizer(query))
        want = standardise(np.array([full[passage_rows[d]] for d in docs]))
        np.testing.assert_allclose([got[d] for d in docs], want, atol=1e-5)


def test_positive_outscores_negatives_with_a_bm25_teacher(mined_bm25):
    _, rows = mined_bm25
    pos = [r["teacher_score"] for r in rows if r["label"] == 1]
    neg = [r["teacher_score"] for r in rows if r["label"] == 0]
    assert np.mean(pos) > np.mean(neg)


def test_combined_teacher_is_the_weighted_sum_of_its_components(sample_index,
                                                                tiny_reranker_dir):
    from xenc.pipeline import open_index

    index = open_index(sample_index)
    try:
        spec = f"2*bm25+0.5*{tiny_reranker_dir}"
        teacher = Teacher(spec, index)
        query = "sourdough starter"
        rows = [0, 1, 2, 3]
        texts = [c.passage() for c in index.docstore.chunks(rows).values()]
        parts = teacher.components_scores(query, texts, rows)
        assert list(parts) == ["bm25", str(tiny_reranker_dir)]
        np.testing.assert_allclose(teacher.score(query, texts, rows),
                                   2 * parts["bm25"] + 0.5 * parts[str(tiny_reranker_dir)])
    finally:
        index.close()


def test_mine_cli_writes_teacher_components(sample_index, tmp_path):
    from xenc.cli.app import app

    out = tmp_path / "pairs.jsonl"
    result = CliRunner().invoke(app, [
        "mine", "--index-dir", str(sample_index), "--queries", str(SAMPLE / "queries.jsonl"),
        "--qrels", str(SAMPLE / "qrels.tsv"), "--mine-retriever", "bm25", "--max-positives", "1",
        "--teacher", "bm25+dense", "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = [orjson.loads(line) for line in out.read_text().splitlines()]
    assert rows and all(set(r["teacher_components"]) == {"bm25", "dense"} for r in rows)
    for r in rows:
        parts = r["teacher_components"]
        assert r["teacher_score"] == pytest.approx(parts["bm25"] + parts["dense"], abs=2e-6)
    per_query: dict[str, int] = {}
    for r in rows:
        per_query[r["qid"]] = per_query.get(r["qid"], 0) + (r["label"] == 1)
    assert set(per_query.values()) == {1}  # --max-positives 1


def test_mine_cli_bad_teacher_is_a_usage_error(sample_index, tmp_path):
    from xenc.cli.app import app

    result = CliRunner().invoke(app, [
        "mine", "--index-dir", str(sample_index), "--queries", str(SAMPLE / "queries.jsonl"),
        "--qrels", str(SAMPLE / "qrels.tsv"), "--teacher", "0*bm25"])
    assert result.exit_code == 2
    assert "must be positive" in result.stderr


def test_teacher_score_must_be_a_finite_number(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"query": "a", "document": "b", "label": 1, "teacher_score": "high"}\n')
    with pytest.raises(InputError, match=r'p.jsonl:1: "teacher_score" must be a number'):
        read_labeled_pairs(path, "relevance")


@pytest.fixture(scope="module")
def distilled(tmp_path_factory, tiny_encoder_dir):
    root = tmp_path_factory.mktemp("distil")
    data = write_jsonl(root / "train.jsonl", teacher_rows() * 6)
    config = TrainConfig(output=root / "model", train_file=data, base=str(tiny_encoder_dir),
                         loss="margin-mse", epochs=8, batch_size=6, lr=3e-3, max_length=32,
                         seed=3)
    config = config.__class__(**{**config.__dict__,
                                 "mine": MineParams(negatives=2, random_negatives=0)})
    return train(config)


def test_margin_mse_lowers_the_loss(distilled):
    assert np.mean(distilled.losses[-5:]) < 0.5 * np.mean(distilled.losses[:5])


def test_margin_mse_orders_pairs_as_the_teacher_does(distilled):
    from xenc.models.cross_encoder import CrossEncoder

    model = CrossEncoder(str(distilled.output), activation="none")
    rows = teacher_rows()
    scores = model.score_pairs([(r["query"], r["document"]) for r in rows])
    for i in range(0, len(rows), 3):
        assert scores[i] > scores[i + 1] > scores[i + 2], scores[i : i + 3]


def test_mse_learns_the_teacher_scores(tmp_path, tiny_encoder_dir):
    from xenc.models.cross_encoder import CrossEncoder

    data = write_jsonl(tmp_path / "train.jsonl", teacher_rows() * 6)
    result = train(TrainConfig(output=tmp_path / "model", train_file=data,
                               base=str(tiny_encoder_dir), loss="mse", epochs=4, batch_size=6,
                               lr=3e-3, max_length=32, seed=3))
    assert np.mean(result.losses[-5:]) < 0.3 * np.mean(result.losses[:5])
    rows = teacher_rows()
    scores = CrossEncoder(str(result.output), activation="none").score_pairs(
        [(r["query"], r["document"]) for r in rows])
    np.testing.assert_allclose(scores, [r["teacher_score"] for r in rows], atol=0.6)


def test_distillation_without_teacher_scores_is_a_usage_error(tmp_path, tiny_encoder_dir):
    rows = [{k: v for k, v in r.items() if k != "teacher_score"} for r in teacher_rows()]
    data = write_jsonl(tmp_path / "train.jsonl", rows)
    with pytest.raises(UsageError, match='needs "teacher_score" on every pair: 18 of the 18'):
        train(TrainConfig(output=tmp_path / "m", train_file=data, base=str(tiny_encoder_dir),
                          loss="margin-mse"))


def test_listwise_kd_is_the_kl_divergence_of_the_group_softmaxes():
    import torch

    from xenc.training.losses import compute_loss

    student = torch.tensor([[2.0], [0.0], [-1.0], [0.5], [0.5], [0.5]])
    teacher = torch.tensor([4.0, 0.0, -4.0, 1.0, 0.0, 0.0])
    got = compute_loss(student, teacher, task="relevance", loss="listwise-kd", group=3,
                       temperature=2.0)
    p = np.exp([2.0, 0.0, -2.0]) / np.exp([2.0, 0.0, -2.0]).sum()
    q = np.exp([2.0, 0.0, -1.0]) / np.exp([2.0, 0.0, -1.0]).sum()
    p2 = np.exp([0.5, 0.0, 0.0]) / np.exp([0.5, 0.0, 0.0]).sum()
    want = (np.sum(p * np.log(p / q)) + np.sum(p2 * np.log(p2 / (np.ones(3) / 3)))) / 2
    assert float(got) == pytest.approx(want, rel=1e-5)
    # the student matching the tempered teacher has nothing left to learn
    same = compute_loss(teacher.view(-1, 1) / 2.0, teacher, task="relevance",
                        loss="listwise-kd", group=3, temperature=2.0)
    assert float(same) == pytest.approx(0.0, abs=1e-6)


def test_listwise_kd_orders_pairs_as_the_teacher_does(tmp_path, tiny_encoder_dir):
    from xenc.models.cross_encoder import CrossEncoder

    data = write_jsonl(tmp_path / "train.jsonl", teacher_rows() * 6)
    config = TrainConfig(output=tmp_path / "model", train_file=data, base=str(tiny_encoder_dir),
                         loss="listwise-kd", temperature=2.0, epochs=8, batch_size=6, lr=3e-3,
                         max_length=32, seed=3, mine=MineParams(negatives=2, random_negatives=0))
    result = train(config)
    assert np.mean(result.losses[-5:]) < 0.5 * np.mean(result.losses[:5])
    rows = teacher_rows()
    scores = CrossEncoder(str(result.output), activation="none").score_pairs(
        [(r["query"], r["document"]) for r in rows])
    for i in range(0, len(rows), 3):
        assert scores[i] > scores[i + 1] > scores[i + 2], scores[i : i + 3]
    card = (result.output / "README.md").read_text(encoding="utf-8")
    assert "listwise-kd" in card


def test_temperature_must_be_positive_from_python_and_the_shell(tmp_path):
    from xenc.cli.app import app

    with pytest.raises(UsageError, match="temperature must be a finite number > 0, not 0"):
        TrainConfig(output=tmp_path / "m", loss="listwise-kd", temperature=0)
    data = write_jsonl(tmp_path / "train.jsonl", teacher_rows())
    result = CliRunner().invoke(app, ["train", str(data), "-o", str(tmp_path / "m"),
                                      "--loss", "listwise-kd", "--temperature", "0"])
    assert result.exit_code == 2
    assert "--temperature must be a finite number > 0, not 0.0" in result.stderr
    assert not (tmp_path / "m").exists()
