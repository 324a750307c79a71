"""Fine-tuning cross-encoders: xenc.training.train and ``xenc train`` on tiny models and data."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import orjson
import pytest
from conftest import SAMPLE
from typer.testing import CliRunner

from xenc.errors import InputError, UsageError
from xenc.training import TrainConfig, train
from xenc.training.dev import spearman

WORDS = "moon river horse paper music tree snow fire king boat gold ship".split()


def separable_rows() -> list[dict]:
    """Six queries, each with a positive and a negative that differ in wording."""
    rows = []
    for i in range(6):
        a, b = WORDS[2 * i], WORDS[2 * i + 1]
        c, d = WORDS[(2 * i + 5) % 12], WORDS[(2 * i + 7) % 12]
        rows.append({"query": f"{a} {b}", "document": f"answer about {a} and {b}", "label": 1})
        rows.append({"query": f"{a} {b}", "document": f"nothing here on the {c} or the {d} today",
                     "label": 0})
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("traindata")
    write_jsonl(root / "train.jsonl", separable_rows() * 4)
    write_jsonl(root / "dev.jsonl", separable_rows())
    return root


@pytest.fixture(scope="module")
def base_config(data_dir, tiny_encoder_dir) -> TrainConfig:
    return TrainConfig(
        output=data_dir / "model", train_file=data_dir / "train.jsonl", base=str(tiny_encoder_dir),
        epochs=2, batch_size=4, lr=3e-3, max_length=64, dev_file=data_dir / "dev.jsonl",
    )


@pytest.fixture(scope="module")
def trained(base_config):
    return train(base_config)


def test_loss_goes_down(trained):
    assert trained.steps == 24
    assert np.mean(trained.losses[-6:]) < np.mean(trained.losses[:6]) - 0.05


def test_saved_model_ranks_training_positives_first(trained):
    from xenc.models.cross_encoder import CrossEncoder

    model = CrossEncoder(str(trained.output))
    assert model.activation == "sigmoid" and model.num_labels == 1
    rows = separable_rows()
    scores = model.score_pairs([(r["query"], r["document"]) for r in rows])
    for i in range(0, len(rows), 2):
        assert scores[i] > scores[i + 1]


def test_best_checkpoint_is_kept(trained):
    metrics = [e["metric"] for e in trained.evals]
    assert len(metrics) == 2 and trained.best["metric"] == max(metrics)
    assert trained.best["step"] == trained.evals[metrics.index(max(metrics))]["step"]


def test_output_directory(trained, base_config):
    out = trained.output
    names = {p.name for p in out.iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "README.md",
            "training_state.json"} <= names
    assert "checkpoint" not in names and trained.checkpoint is None  # finished: removed (#27)
    assert not [p for p in out.parent.iterdir() if ".tmp-" in p.name or ".old-" in p.name]
    config = json.loads((out / "config.json").read_text())
    assert config["id2label"] == {"0": "score"} and config["xenc_activation"] == "sigmoid"
    assert config["sentence_transformers"]["activation_fn"].endswith("Sigmoid")
    card = (out / "README.md").read_text()
    from xenc.training.data import file_sha256

    assert file_sha256(base_config.train_file) in card and "| dev |" in card
    assert '"lr": 0.003' in card and "ndcg@10" in card and "xenc 0.1.0" in card
    state = json.loads((out / "training_state.json").read_text())
    assert state["step"] == 24 and state["total_steps"] == 24


def test_sentence_transformers_gives_the_same_scores(trained):
    from sentence_transformers import CrossEncoder as STCrossEncoder

    from xenc.models.cross_encoder import CrossEncoder

    pairs = [(r["query"], r["document"]) for r in separable_rows()]
    ours = CrossEncoder(str(trained.output)).score_pairs(pairs)
    theirs = STCrossEncoder(str(trained.output), device="cpu").predict(pairs)
    np.testing.assert_allclose(np.asarray(theirs, dtype=np.float64), ours, atol=1e-5)


def test_resume_continues_from_the_saved_step(base_config, tmp_path):
    data = tmp_path / "train.jsonl"
    data.write_bytes(base_config.train_file.read_bytes())
    quick = replace(base_config, epochs=1, batch_size=12, dev_file=None, train_file=data)
    full = train(replace(quick, output=tmp_path / "full"))
    part = train(replace(quick, output=tmp_path / "part", max_steps=2))
    assert (full.steps, part.steps) == (4, 2)
    assert not (tmp_path / "full/checkpoint").exists()  # finished
    assert (tmp_path / "part/checkpoint/model.safetensors").is_file()  # kept for --resume
    # kept, so that the resume checks below have a checkpoint to refuse
    resumed = train(replace(quick, output=tmp_path / "part", resume=True, keep_checkpoints=True))
    assert resumed.steps == 4 and resumed.losses[:2] == part.losses
    np.testing.assert_allclose(resumed.losses, full.losses, atol=1e-5)
    from safetensors.numpy import load_file

    a = load_file(tmp_path / "full/model.safetensors")
    b = load_file(tmp_path / "part/model.safetensors")
    for key in a:
        np.testing.assert_allclose(a[key], b[key], atol=1e-5)
    with pytest.raises(UsageError, match="changed parameters or data: lr"):
        train(replace(quick, output=tmp_path / "part", resume=True, lr=1e-3))
    with pytest.raises(UsageError, match="changed parameters or data: temperature"):
        train(replace(quick, output=tmp_path / "part", resume=True, temperature=2.0))
    # a checkpoint from an xenc that did not save a parameter (here the temperature, new in
    # 2026-12) resumes when the parameter has its default value
    state_path = tmp_path / "part/training_state.json"
    state = json.loads(state_path.read_text())
    del state["resume_key"]["temperature"]
    state_path.write_text(json.dumps(state))
    again = train(replace(quick, output=tmp_path / "part", resume=True, keep_checkpoints=True))
    assert again.steps == 4
    with data.open("a") as fh:
        fh.write('{"query": "q", "document": "d", "label": 1}\n')
    with pytest.raises(UsageError, match="changed parameters or data: data"):
        train(replace(quick, output=tmp_path / "part", resume=True))
    with pytest.raises(UsageError, match="no xenc training checkpoint"):
        train(replace(quick, output=tmp_path / "nothing", resume=True))


def test_listwise_runs(base_config, tmp_path):
    cfg = replace(base_config, output=tmp_path / "lw", loss="listwise", max_steps=2, epochs=1)
    result = train(replace(cfg, mine=replace(cfg.mine, negatives=1)))
    assert result.steps == 2 and all(np.isfinite(result.losses))


def test_similarity_via_cli_with_fewer_layers(tiny_encoder_dir, tmp_path):
    from xenc.cli.train import app

    out = tmp_path / "sts"
    args = ["train", str(SAMPLE / "sts.jsonl"), "-o", str(out), "--task", "similarity",
            "--layers", "1", "--base", str(tiny_encoder_dir), "--batch-size", "16",
            "--dev-fraction", "0.25", "--max-length", "64"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "" and "trained 2 steps" in result.stderr
    config = json.loads((out / "config.json").read_text())
    assert config["num_hidden_layers"] == 1 and config["id2label"] == {"0": "score"}
    state = json.loads((out / "training_state.json").read_text())
    assert state["metric"] == "spearman" and -1 <= state["evals"][-1]["metric"] <= 1


def test_nli_saves_label_names(tiny_encoder_dir, tmp_path):
    from xenc.models.cross_encoder import CrossEncoder

    names = ["neutral", "entailment", "contradiction"]
    rows = [{"sentence1": f"a {w}", "sentence2": f"the {w} again", "label": names[i % 3]}
            for i, w in enumerate(WORDS)]
    cfg = TrainConfig(output=tmp_path / "nli", train_file=write_jsonl(tmp_path / "n.jsonl", rows),
                      task="nli", base=str(tiny_encoder_dir), batch_size=6, dev_fraction=0.25)
    result = train(cfg)
    assert result.metric == "accuracy" and 0 <= result.best["metric"] <= 1
    config = json.loads((tmp_path / "nli/config.json").read_text())
    assert config["id2label"] == {"0": "contradiction", "1": "entailment", "2": "neutral"}
    model = CrossEncoder(str(tmp_path / "nli"))
    assert model.activation == "softmax" and model.labels == sorted(names)


def test_spearman():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 2, 4], [4, 3, 3, 1]) == pytest.approx(-1.0)
    assert spearman([1, 1, 1], [1, 2, 3]) == 0.0


def test_dev_ndcg_counts_repeated_documents_once():
    from xenc.training.data import Pair
    from xenc.training.dev import ndcg_at_10

    pairs = [Pair("q", "neg", 0, "g"), Pair("q", "pos", 1, "g"), Pair("q", "neg", 0, "g")]
    assert ndcg_at_10([0.9, 0.5, 0.9], pairs) == pytest.approx(1 / np.log2(3))
    assert ndcg_at_10([0.1, 0.5, 0.1], pairs) == pytest.approx(1.0)
    with pytest.raises(UsageError, match="no query with a relevant pair"):
        ndcg_at_10([0.1], [Pair("q", "neg", 0, "g")])


BAD = [
    ("relevance", '{"query": "q", "document": "d", "label": "yes"}', r'"label" must be an integer'),
    ("relevance", '{"query": "q", "document": "d", "label": 0.5}', "must be an integer"),
    ("relevance", '{"query": "q", "document": "d"}', 'missing field "label"'),
    ("relevance", '{"query": "q", "label": 1}', 'has "query" but no "document"'),
    ("similarity", '{"text_a": "q", "text_b": "d", "label": NaN}', "invalid JSON"),
    ("similarity", '{"text_a": "q", "text_b": "d", "label": null}', "must be a number"),
    ("nli", '{"query": "q", "document": "d", "label": "maybe"}', 'unknown label "maybe"'),
    ("nli", '{"query": "q", "document": "d", "label": 7}', "label id 7 out of range"),
]


@pytest.mark.parametrize(("task", "line", "message"), BAD)
def test_bad_pairs_name_file_and_line(tmp_path, task, line, message):
    from xenc.cli.train import app

    good = '{"query": "q", "document": "d", "label": %s}' % ('"entailment"' if task == "nli"
                                                          else "1")
    path = tmp_path / "bad.jsonl"
    path.write_text(good + "\n" + line + "\n")
    args = ["train", str(path), "-o", str(tmp_path / "m"), "--task", task,
            "--labels", "contradiction,entailment,neutral"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {path}:2: ") and message in result.stderr
    assert result.stderr.count("\n") == 1 and not (tmp_path / "m").exists()


def test_empty_data(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n")
    with pytest.raises(InputError, match="no training pairs"):
        train(TrainConfig(output=tmp_path / "m", train_file=path))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--loss", "ce"], "does not fit --task relevance"),
        (["--index-dir", "idx"], "not both"),
        (["--dev-fraction", "1.5"], "--dev-fraction must be a fraction in (0, 1), not 1.5"),
        (["--dev-fraction", "0.5", "--dev", "x.jsonl"], "choose one of"),
        (["--warmup", "1"], "--warmup"),
    ],
)
def test_usage_errors_exit_2(tmp_path, extra, message):
    from xenc.cli.train import app

    args = ["train", str(SAMPLE / "pairs.jsonl"), "-o", str(tmp_path / "m"), *extra]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr


def test_nli_ids_need_label_names(tmp_path):
    path = write_jsonl(tmp_path / "ids.jsonl", [{"query": "a", "document": "b", "label": 0}])
    with pytest.raises(UsageError, match="--labels"):
        train(TrainConfig(output=tmp_path / "m", train_file=path, task="nli"))


def test_refuses_to_replace_a_foreign_directory(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "keep.txt").write_text("x")
    with pytest.raises(UsageError, match="refusing"):
        train(TrainConfig(output=tmp_path / "m", train_file=SAMPLE / "pairs.jsonl"))


def test_sample_pairs_read(tmp_path):
    from xenc.training.data import read_labeled_pairs

    rows = read_labeled_pairs(SAMPLE / "pairs.jsonl", "relevance")
    assert len(rows) == 62 and {r[2] for r in rows} <= {0.0, 1.0, 2.0, 3.0}
    assert orjson.loads((SAMPLE / "pairs.jsonl").read_bytes().splitlines()[0])["label"] == 0


def test_models_command_reports_the_training_record(trained, base_config, monkeypatch):
    import orjson
    from typer.testing import CliRunner

    from xenc.cli.app import app

    out = str(base_config.output)
    monkeypatch.setenv("XENC_RERANKER", out)
    result = CliRunner().invoke(app, ["models"])
    assert result.exit_code == 0, result.stderr
    encoder, reranker = (orjson.loads(line) for line in result.stdout.splitlines())
    assert (encoder["role"], encoder["source"], encoder["chosen_by"]) == (
        "encoder", "bundled", "default")
    assert encoder["weights"] == ["model.safetensors"] and encoder["layers"] == 6
    assert reranker["chosen_by"] == "XENC_RERANKER" and reranker["path"] == out
    assert reranker["architecture"] == "BertForSequenceClassification"
    assert reranker["training"]["metric"] == "ndcg@10"
    assert reranker["training"]["best_step"] == trained.best["step"]
    assert reranker["training"]["best"] == pytest.approx(trained.best["metric"])
    assert reranker["training"]["card"] == "README.md"
