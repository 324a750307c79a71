"""``xenc train`` says what it measured and warns about harmful models (issue 27).

The dev metric is printed beside the first stage's on the same dev queries (from the pairs'
``first_stage_rank``), a model no better than the first stage, a run without a dev set and a
run on too little data each get a ``Warning:`` line on stderr, and ``checkpoint/`` is removed
at the end of a run unless ``--keep-checkpoints``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from conftest import SAMPLE
from typer.testing import CliRunner

from xenc.errors import InputError
from xenc.training import TrainConfig, train
from xenc.training.data import Pair, read_labeled_pairs
from xenc.training.dev import first_stage_metric
from xenc.training.verdict import MIN_PAIRS, MIN_STEPS, warnings_for

NO_DEV = ("Warning: no dev set, so nothing was measured: the model may rank worse than no "
          "reranker. Hold out queries with --dev-fraction 0.2, or give --dev or "
          "--dev-queries/--dev-qrels")


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def ranked_rows(pos_rank: int | None, neg_rank: int | None, queries: int = 4) -> list[dict]:
    """Per query a positive and a negative with the given first-stage ranks."""
    rows = []
    for i in range(queries):
        rows.append({"query": f"query {i}", "document": f"answer {i}", "label": 1, "qid": str(i),
                     "first_stage_rank": pos_rank})
        rows.append({"query": f"query {i}", "document": f"other {i}", "label": 0, "qid": str(i),
                     "first_stage_rank": neg_rank})
    return rows


def run_cli(args: list[str]):
    from xenc.cli.train import app

    return CliRunner().invoke(app, ["train", *args])


def test_first_stage_metric_ranks_by_first_stage_rank():
    perfect = [Pair("q", "a", 1, "g", first_stage_rank=1), Pair("q", "b", 0, "g", None, 2)]
    second = [Pair("q", "a", 1, "g", first_stage_rank=2), Pair("q", "b", 0, "g", None, 1)]
    missed = [Pair("q", "a", 1, "g", first_stage_rank=None), Pair("q", "b", 0, "g", None, 1)]
    assert first_stage_metric("relevance", perfect) == pytest.approx(1.0)
    assert first_stage_metric("relevance", second) == pytest.approx(1 / math.log2(3))
    assert first_stage_metric("relevance", missed) == pytest.approx(0.0)  # not retrieved
    assert first_stage_metric("relevance", [Pair("q", "a", 1, "g")]) is None  # no ranks
    assert first_stage_metric("similarity", perfect) is None


def test_warnings_name_both_numbers_and_the_threshold():
    worse = warnings_for(metric="ndcg@10", best={"step": 4, "metric": 0.02}, first_stage=0.965,
                         dev_pairs=12, train_pairs=62, steps=4, dev_queries=6)
    assert worse == [
        "the trained model is no better than the first stage on the 6 dev queries (ndcg@10 "
        "0.0200 vs 0.9650 for the first stage alone): reranking with it would make results "
        "worse",
        f"too little data to learn from: 62 training pairs and 4 steps (xenc warns below "
        f"{MIN_PAIRS} pairs or {MIN_STEPS} steps). Mine more pairs (xenc mine), train more "
        "epochs, or start from a trained reranker (--base default)",
    ]
    better = warnings_for(metric="ndcg@10", best={"step": 400, "metric": 0.9}, first_stage=0.8,
                          dev_pairs=100, train_pairs=5000, steps=400, dev_queries=20)
    assert better == []
    shipped = warnings_for(metric="ndcg@10", best={"step": 63, "metric": 0.97}, first_stage=0.9,
                           dev_pairs=80, train_pairs=330, steps=63, dev_queries=9,
                           from_shipped=True)
    assert shipped == ["too little data to learn from: 330 training pairs and 63 steps (xenc "
                       "warns below 1000 pairs or 100 steps). Mine more pairs (xenc mine) or "
                       "train more epochs"]


def test_bad_first_stage_rank_is_located(tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [
        {"query": "q", "document": "d", "label": 1, "first_stage_rank": 3},
        {"query": "q", "document": "e", "label": 0, "first_stage_rank": "first"},
    ])
    with pytest.raises(InputError, match=r"p.jsonl:2: \"first_stage_rank\" must be a rank"):
        read_labeled_pairs(path, "relevance")
    ok = write_jsonl(tmp_path / "ok.jsonl", [
        {"query": "q", "document": "d", "label": 1, "first_stage_rank": 3},
        {"query": "q", "document": "e", "label": 0, "first_stage_rank": None},
    ])
    assert [row[5] for row in read_labeled_pairs(ok, "relevance")] == [3, None]


def test_readme_example_warns_and_removes_its_checkpoint(tmp_path, tiny_encoder_dir):
    out = tmp_path / "my-reranker"
    result = run_cli([str(SAMPLE / "pairs.jsonl"), "-o", str(out), "--base",
                      str(tiny_encoder_dir), "--max-length", "64", "--no-progress"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert f"trained 4 steps on 62 pairs → {out} (no dev set: nothing measured)" in lines
    assert NO_DEV in lines
    assert ("Warning: too little data to learn from: 62 training pairs and 4 steps (xenc warns "
            "below 1000 pairs or 100 steps). Mine more pairs (xenc mine), train more epochs, "
            "or start from a trained reranker (--base default)") in lines
    assert not (out / "checkpoint").exists()
    assert (out / "model.safetensors").is_file() and (out / "training_state.json").is_file()


def test_keep_checkpoints_keeps_them(tmp_path, tiny_encoder_dir):
    out = tmp_path / "kept"
    result = run_cli([str(SAMPLE / "pairs.jsonl"), "-o", str(out), "--base",
                      str(tiny_encoder_dir), "--max-length", "64", "--no-progress",
                      "--keep-checkpoints"])
    assert result.exit_code == 0, result.stderr
    kept = f"checkpoint kept in {out / 'checkpoint'} (weights and optimizer state, for --resume)"
    assert kept in result.stderr.splitlines()
    assert {p.name for p in (out / "checkpoint").iterdir()} == {
        "model.safetensors", "optimizer.safetensors", "optimizer.json"}


def test_max_steps_keeps_the_checkpoint_for_resume(tmp_path, tiny_encoder_dir):
    cfg = TrainConfig(output=tmp_path / "m", train_file=SAMPLE / "pairs.jsonl",
                      base=str(tiny_encoder_dir), max_length=64, max_steps=2)
    part = train(cfg)
    assert part.checkpoint == tmp_path / "m" / "checkpoint" and part.checkpoint.is_dir()
    done = train(TrainConfig(**{**vars(cfg), "max_steps": None, "resume": True}))
    assert done.steps == 4 and done.checkpoint is None
    assert not (tmp_path / "m" / "checkpoint").exists()


def test_a_model_no_better_than_the_first_stage_is_flagged(tmp_path, tiny_encoder_dir):
    """The first stage ranks every dev positive first (NDCG@10 1.0): a model can only tie it."""
    train_file = write_jsonl(tmp_path / "train.jsonl", ranked_rows(1, 2, queries=8))
    dev = write_jsonl(tmp_path / "dev.jsonl", ranked_rows(1, 2))
    out = tmp_path / "m"
    result = run_cli([str(train_file), "--dev", str(dev), "-o", str(out), "--base",
                      str(tiny_encoder_dir), "--max-length", "32", "--no-progress"])
    assert result.exit_code == 0, result.stderr
    state = json.loads((out / "training_state.json").read_text())
    best = state["best"]["metric"]
    assert state["first_stage"] == pytest.approx(1.0)
    lines = result.stderr.splitlines()
    assert (f"trained 1 steps on 16 pairs → {out} (dev ndcg@10 {best:.4f} at step 1; first "
            "stage 1.0000 on the same dev queries)") in lines
    assert (f"Warning: the trained model is no better than the first stage on the 4 dev "
            f"queries (ndcg@10 {best:.4f} vs 1.0000 for the first stage alone): reranking with "
            "it would make results worse") in lines
    assert "The first stage alone, on the same dev pairs: ndcg@10 1.0000." in (
        (out / "README.md").read_text())


def test_a_model_better_than_the_first_stage_is_not_flagged(tmp_path, tiny_encoder_dir):
    """The first stage missed every dev positive (NDCG@10 0): any ranking that finds one beats
    it, and a model that ranks the positive first is not called worse."""
    rows = ranked_rows(None, 1)
    train_file = write_jsonl(tmp_path / "train.jsonl", rows * 4)
    result = train(TrainConfig(output=tmp_path / "m", train_file=train_file,
                               dev_file=write_jsonl(tmp_path / "dev.jsonl", rows),
                               base=str(tiny_encoder_dir), max_length=32))
    assert result.first_stage == pytest.approx(0.0)
    assert result.best["metric"] > 0.0
    assert not any("first stage" in w for w in result.warnings)
    assert any(w.startswith("too little data") for w in result.warnings)


def test_base_default_is_the_shipped_reranker():
    """The warning's advice, --base default, names a cross-encoder to continue training."""
    from xenc.models.resolve import DEFAULT_RERANKER, default_reranker_dir
    from xenc.training.model import load_base

    if default_reranker_dir() is None:
        pytest.skip("this xenc was installed without its default reranker")
    model, _, resolved = load_base("default", "relevance", None, None)
    assert resolved.name == DEFAULT_RERANKER and resolved.source == "bundled"
    assert model.config.num_labels == 1
    assert all(p.dtype.is_floating_point and p.element_size() == 4 for p in model.parameters())


def test_bad_first_stage_rank_exits_1_with_its_location(tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [
        {"query": "q", "document": "d", "label": 1, "first_stage_rank": 0},
    ])
    result = run_cli([str(path), "-o", str(tmp_path / "m")])
    assert result.exit_code == 1
    assert result.stderr == (f'Error: {path}:1: "first_stage_rank" must be a rank (1 or more) '
                             "or null, got 0\n")
    assert not (tmp_path / "m").exists()
