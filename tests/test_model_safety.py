"""Loading is refused, in one line, for a model with newly initialised weights or with code of
its own (``auto_map``) without --trust-remote-code; the refused code never runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from xenc.cli.app import app

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


@pytest.mark.parametrize("command", ["score", "search", "eval"])
def test_auto_map_needs_the_flag_and_runs_nothing(runner, tmp_path, tiny_reranker_dir, command):
    model, marker = _remote_dir(tmp_path, tiny_reranker_dir)
    args = {
        "score": ["score", str(_pairs(tmp_path))],
        "search": ["search", "hot water", "--index-dir", str(tmp_path / "no-index")],
        "eval": ["eval", "--index-dir", str(tmp_path / "no-index"), "--queries", "q.jsonl",
                 "--qrels", "qrels.tsv"],
    }[command]
    result = runner.invoke(app, [*args, "--reranker", str(model)])
    if command == "score":
        assert result.exit_code == 1
        assert result.stderr.count("\n") == 1
        assert ("ships its own Python code (config.json auto_map: evil.EvilConfig, "
                "evil.EvilModel)") in result.stderr
        assert "pass --trust-remote-code only if you trust its source" in result.stderr
    else:  # the option is there (no usage error for it); the index is missing first
        assert "No such option" not in result.stderr
    assert not marker.exists()


def test_auto_map_in_python_without_trust(tmp_path, tiny_reranker_dir):
    from xenc.errors import ModelError
    from xenc.models.cross_encoder import CrossEncoder

    model, marker = _remote_dir(tmp_path, tiny_reranker_dir)
    with pytest.raises(ModelError, match="pass trust_remote_code only if"):
        CrossEncoder(str(model))
    assert not marker.exists()


def test_auto_map_with_the_flag_runs_the_code(runner, tmp_path, tiny_reranker_dir):
    model, marker = _remote_dir(tmp_path, tiny_reranker_dir)
    result = runner.invoke(app, ["score", str(_pairs(tmp_path)), "--reranker", str(model),
                                 "--trust-remote-code"])
    assert result.exit_code == 0, result.stderr
    assert marker.read_text() == "remote code ran"
