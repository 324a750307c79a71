"""Loading is refused, in one line, for a model with newly initialised weights or with code of
its own (``auto_map``) without --trust-remote-code; the refused code never runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from xenc.cli.app import app

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"

REMOTE_CODE = '''
from pathlib import Path
Path({marker!r}).write_text("remote code ran")
from transformers import BertConfig, BertForSequenceClassification


class EvilConfig(BertConfig):
    model_type = "bert"


class EvilModel(BertForSequenceClassification):
    config_class = EvilConfig
'''


def _pairs(tmp_path: Path) -> Path:
    path = tmp_path / "pairs.jsonl"
    path.write_text('{"query": "hot water", "document": "the sea is cold"}\n')
    return path


def test_base_encoder_as_reranker_is_an_error(runner, tmp_path, tiny_encoder_dir):
    result = runner.invoke(app, ["score", str(_pairs(tmp_path)), "--reranker",
                                 str(tiny_encoder_dir)])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: ")
    assert "lacks 2 weight tensor(s)" in result.stderr
    assert "(classifier.bias, classifier.weight)" in result.stderr
    assert "looks like a base encoder or language model (BertModel)" in result.stderr


def test_missing_head_in_python(tiny_encoder_dir):
    from xenc.errors import ModelError
    from xenc.models.cross_encoder import CrossEncoder

    with pytest.raises(ModelError, match="newly initialised at random"):
        CrossEncoder(str(tiny_encoder_dir))


def test_train_base_still_gets_a_new_head(tiny_encoder_dir):
    from xenc.training.model import load_base

    model, _, _ = load_base(str(tiny_encoder_dir), "relevance", None, None)
    assert type(model).__name__ == "BertForSequenceClassification"


def _remote_dir(tmp_path: Path, source: Path) -> tuple[Path, Path]:
    model = tmp_path / "remote"
    shutil.copytree(source, model)
    marker = tmp_path / "ran.txt"
    (model / "evil.py").write_text(REMOTE_CODE.format(marker=str(marker)))
    config = json.loads((model / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "evil.EvilConfig",
                          "AutoModelForSequenceClassification": "evil.EvilModel"}
    (model / "config.json").write_text(json.dumps(config))
    return model, marker


def _args(command: str, tmp_path: Path, index: Path) -> list[str]:
    return {
        "score": ["score", str(_pairs(tmp_path))],
        "search": ["search", "starter", "--index-dir", str(index), "--retriever", "bm25"],
        "eval": ["eval", "--index-dir", str(index), "--queries", str(SAMPLE / "queries.jsonl"),
                 "--qrels", str(SAMPLE / "qrels.tsv"), "--retriever", "bm25",
                 "--candidates", "3"],
    }[command]


@pytest.mark.parametrize("command", ["score", "search", "eval"])
def test_auto_map_needs_the_flag_and_runs_nothing(runner, tmp_path, tiny_reranker_dir,
                                                  sample_index, command):
    model, marker = _remote_dir(tmp_path, tiny_reranker_dir)
    result = runner.invoke(app, [*_args(command, tmp_path, sample_index), "--reranker",
                                 str(model)])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert ("ships its own Python code (config.json auto_map: evil.EvilConfig, "
            "evil.EvilModel)") in result.stderr
    assert "pass --trust-remote-code only if you trust its source" in result.stderr
    assert not marker.exists()
    result = runner.invoke(app, [*_args(command, tmp_path, sample_index), "--reranker",
                                 str(model), "--trust-remote-code"])
    assert result.exit_code == 0, result.stderr
    assert marker.read_text() == "remote code ran"


def test_auto_map_encoder_refused_by_index(runner, tmp_path, tiny_encoder_dir):
    model, marker = _remote_dir(tmp_path, tiny_encoder_dir)
    result = runner.invoke(app, ["index", str(SAMPLE / "corpus.jsonl"), "--index-dir",
                                 str(tmp_path / "idx"), "--encoder", str(model), "--limit", "3"])
    assert result.exit_code == 1
    assert "pass --trust-remote-code only if you trust its source" in result.stderr
    assert not marker.exists() and not (tmp_path / "idx").exists()


def test_auto_map_in_python_without_trust(tmp_path, tiny_reranker_dir):
    from xenc.errors import ModelError
    from xenc.models.cross_encoder import CrossEncoder

    model, marker = _remote_dir(tmp_path, tiny_reranker_dir)
    with pytest.raises(ModelError, match="pass trust_remote_code only if"):
        CrossEncoder(str(model))
    assert not marker.exists()


def test_encoder_without_pooler_weights_loads(tmp_path, tiny_encoder_dir):
    """A bi-encoder checkpoint saved without BERT's pooler is fine: xenc pools hidden states,
    so the pooler transformers would add at random is never used."""
    from safetensors.torch import load_file, save_file

    from xenc.models.encoder import Encoder

    model = tmp_path / "no-pooler"
    shutil.copytree(tiny_encoder_dir, model)
    weights = load_file(model / "model.safetensors")
    kept = {k: v for k, v in weights.items() if not k.startswith("pooler.")}
    assert len(kept) < len(weights)
    save_file(kept, model / "model.safetensors", metadata={"format": "pt"})
    with_pooler = Encoder(str(tiny_encoder_dir)).encode(["hot water"])
    assert (Encoder(str(model)).encode(["hot water"]) == with_pooler).all()
