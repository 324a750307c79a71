"""ONNX export (xenc.models.export, ``xenc export``) and the onnx / onnx-int8 reranker backends."""

from __future__ import annotations

import random
import shutil
import sys
from pathlib import Path

import numpy as np
import orjson
import pytest
from conftest import SAMPLE, parse_jsonl
from tinymodels import make_tiny_cross_encoder, vocabulary

from xenc.cli.app import app
from xenc.errors import ModelError, UsageError
from xenc.models.cross_encoder import CrossEncoder
from xenc.models.export import export_onnx

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

ONNX_FILES = ("model.onnx", "model-int8.onnx")


def varied_pairs(n: int = 20, seed: int = 0) -> list[tuple[str, str]]:
    """Pairs of 0 to 700 words: short, medium, and longer than 512 tokens (truncated)."""
    rng = random.Random(seed)
    words = [w for w in vocabulary() if w.isalpha() and len(w) > 1]
    lengths = [0, 1, 3, 10, 40, 120, 700] + [rng.randint(0, 200) for _ in range(n - 7)]
    return [
        (" ".join(rng.choices(words, k=rng.randint(1, 8))), " ".join(rng.choices(words, k=k)))
        for k in lengths
    ]


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ranks = [np.argsort(np.argsort(x)).astype(float) for x in (a, b)]
    return float(np.corrcoef(*ranks)[0, 1])


@pytest.fixture(scope="module")
def exported(tiny_reranker_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """The shared tiny reranker exported elsewhere (-o): (out_dir, summary)."""
    out = tmp_path_factory.mktemp("onnx") / "tiny-onnx"
    return out, export_onnx(str(tiny_reranker_dir), out)


@pytest.fixture(scope="module")
def spread_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny reranker with 8x larger weights, exported in place.

    The seed-0 tiny model scores every pair within ~1e-4 of the same logit, far below int8
    rounding; larger weights spread the logits (std ~0.17) so rankings mean something.
    """
    from safetensors.torch import load_file, save_file

    directory = make_tiny_cross_encoder(tmp_path_factory.mktemp("spread") / "ce")
    weights = load_file(str(directory / "model.safetensors"))
    scaled = {k: v * 8 if k.endswith("weight") and "LayerNorm" not in k else v
              for k, v in weights.items()}
    save_file(scaled, str(directory / "model.safetensors"), metadata={"format": "pt"})
    export_onnx(str(directory))
    return directory


@pytest.fixture(scope="module")
def few_queries(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 3 sample queries (search and eval run twice per test: keep them quick)."""
    path = tmp_path_factory.mktemp("queries") / "queries.jsonl"
    lines = (SAMPLE / "queries.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(lines[:3]), encoding="utf-8")
    return path


# export ------------------------------------------------------------------------------------


def test_export_to_out_dir_writes_a_complete_onnx_model(exported, tiny_reranker_dir):
    out, summary = exported
    assert {p.name for p in out.iterdir()} == {
        "config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt", *ONNX_FILES,
        "onnx-export.json",  # issue 12: what was checked, for --backend auto
    }
    assert not any((tiny_reranker_dir / f).exists() for f in ONNX_FILES)  # source untouched
    assert summary["out_dir"] == str(out)
    assert summary["files"] == {"onnx": str(out / "model.onnx"),
                                "onnx-int8": str(out / "model-int8.onnx")}
    assert summary["inputs"] == ["input_ids", "attention_mask", "token_type_ids"]
    assert summary["bytes"]["onnx-int8"] < summary["bytes"]["onnx"]
    assert summary["max_diff"]["onnx"] <= 1e-4
    assert 0 < summary["max_diff"]["onnx-int8"] < 0.01


def test_export_traces_eager_attention_and_restores_the_model(exported, tiny_reranker):
    """The SDPA attention that transformers uses by default exports behind a Where/IsNaN mask
    that ONNX Runtime runs ~25% slower; the export traces the eager one (same scores, checked
    above) and leaves the model as it was."""
    import onnx

    from xenc.models.runtime import eager_attention

    out, _ = exported
    ops = {node.op_type for node in onnx.load(str(out / "model.onnx")).graph.node}
    assert "IsNaN" not in ops and "Softmax" in ops
    model = tiny_reranker.model
    before = model.config._attn_implementation
    with eager_attention(model):
        assert model.config._attn_implementation == "eager"
    assert model.config._attn_implementation == before


def test_export_in_place(spread_dir):
    assert all((spread_dir / f).is_file() for f in ONNX_FILES)
    assert not [p for p in spread_dir.iterdir() if p.name.startswith(".")]  # no temp files


@pytest.mark.parametrize("activation", ["none", None])
def test_onnx_scores_equal_torch(spread_dir, activation):
    pairs = varied_pairs()
    torch_ce = CrossEncoder(str(spread_dir), activation=activation, batch_size=4)
    onnx_ce = CrossEncoder(str(spread_dir), activation=activation, batch_size=4, backend="onnx")
    expected, got = torch_ce.predict(pairs), onnx_ce.predict(pairs)
    assert got.dtype == np.float32 and got.shape == (20,)
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
    # the same ranking, ties (none here) aside: trec_eval's order on each backend's scores
    assert len(set(expected.tolist())) == len(expected)
    assert np.argsort(-got, kind="stable").tolist() == np.argsort(-expected, kind="stable").tolist()
    assert onnx_ce.truncated == torch_ce.truncated == 1
    assert onnx_ce.max_length == torch_ce.max_length
    assert onnx_ce.activation == torch_ce.activation
    assert str(onnx_ce.device) == "cpu" and onnx_ce.backend == "onnx"


def test_int8_keeps_the_ranking(spread_dir):
    # Measured on this model: Spearman 0.99, max |logit diff| 0.04 against a logit std of 0.17.
    pairs = varied_pairs(40, seed=1)
    expected = CrossEncoder(str(spread_dir), activation="none").predict(pairs)
    got = CrossEncoder(str(spread_dir), activation="none", backend="onnx-int8").predict(pairs)
    assert spearman(expected, got) > 0.9
    assert np.abs(got - expected).max() < 0.1


def test_export_refuses_a_mismatch_and_writes_nothing(tiny_reranker_dir, tmp_path, monkeypatch):
    import xenc.models.export

    monkeypatch.setattr(xenc.models.export, "_max_diff", lambda *args: 0.5)
    with pytest.raises(ModelError, match=r"differs from torch by 5.00e-01 .*not written"):
        export_onnx(str(tiny_reranker_dir), tmp_path)
    assert not [p for p in tmp_path.iterdir() if p.suffix in (".onnx", ".tmp")]


def test_export_cli(runner, tiny_reranker_dir, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["export", str(tiny_reranker_dir), "-o", str(out), "--no-int8"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    line, = result.stderr.splitlines()
    assert line.startswith(f"exported {tiny_reranker_dir} to {out}: model.onnx ")
    assert "(fp32, max diff from torch " in line and "int8" not in line
    assert (out / "model.onnx").is_file() and not (out / "model-int8.onnx").exists()


def test_export_cli_errors(runner, tmp_path):
    result = runner.invoke(app, ["export", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert result.stderr == f"Error: model directory not found: {tmp_path / 'nope'}\n"


# backends ----------------------------------------------------------------------------------


def test_missing_onnx_file(tiny_reranker_dir, runner):
    with pytest.raises(ModelError, match=r"has no model-int8.onnx .*run `xenc export "):
        CrossEncoder(str(tiny_reranker_dir), backend="onnx-int8")
    result = runner.invoke(app, ["score", "-", "--reranker", str(tiny_reranker_dir),
                                 "--backend", "onnx"], input='{"query": "q", "document": "d"}\n')
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {tiny_reranker_dir} has no model.onnx for --backend onnx: run `xenc export "
        f"{tiny_reranker_dir}` first (or use --backend torch)\n"
    )


def test_bad_backend_and_device(exported, runner, monkeypatch):
    out, _ = exported
    with pytest.raises(UsageError, match="unknown backend 'tensorrt'"):
        CrossEncoder(str(out), backend="tensorrt")
    with pytest.raises(UsageError, match="runs on the CPU only"):
        CrossEncoder(str(out), backend="onnx", device="cuda:0")
    assert CrossEncoder(str(out), backend="onnx", device="auto").device.type == "cpu"
    args = ["score", "-", "--reranker", str(out)]
    result = runner.invoke(app, [*args, "--backend", "tensorrt"], input="")
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: unknown backend 'tensorrt': use auto, torch, onnx, onnx-int8\n")
    result = runner.invoke(app, [*args, "--backend", "onnx", "--device", "cuda"], input="")
    assert result.exit_code == 2 and "--backend onnx runs on the CPU only" in result.stderr
    monkeypatch.setenv("XENC_BACKEND", "nope")
    assert runner.invoke(app, args, input="").exit_code == 2


def test_onnxruntime_not_installed(exported, monkeypatch):
    out, _ = exported
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import raises ImportError
    with pytest.raises(ModelError, match=r"need onnxruntime: pip install 'xenc\[onnx\]'"):
        CrossEncoder(str(out), backend="onnx")
    with pytest.raises(ModelError, match=r"pip install 'xenc\[onnx\]'"):
        export_onnx(str(out))


def test_onnx_backend_loads_no_torch_weights(exported, monkeypatch):
    out, _ = exported  # holds no model.safetensors: loading weights would fail
    import xenc.models.cross_encoder

    monkeypatch.setattr(
        xenc.models.cross_encoder, "load_model", lambda *a, **k: pytest.fail("loaded")
    )
    ce = CrossEncoder(str(out), backend="onnx")
    assert ce.num_labels == 1 and ce.labels == ["LABEL_0"]
    assert ce.tokenize([("q", "d")])["input_ids"].shape == (1, 5)


@pytest.mark.parametrize("via", ["option", "env"])
def test_score_cli_onnx_equals_torch(exported, tiny_reranker_dir, runner, monkeypatch, via):
    out, _ = exported
    lines = (SAMPLE / "pairs.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    data = "".join(lines[:12])
    torch_run = runner.invoke(app, ["score", "-", "--reranker", str(tiny_reranker_dir)],
                              input=data)
    args = ["score", "-", "--reranker", str(out)]
    if via == "env":
        monkeypatch.setenv("XENC_BACKEND", "onnx")
    else:
        args += ["--backend", "onnx"]
    onnx_run = runner.invoke(app, args, input=data)
    assert torch_run.exit_code == 0 and onnx_run.exit_code == 0, onnx_run.stderr
    expected, got = parse_jsonl(torch_run.stdout), parse_jsonl(onnx_run.stdout)
    assert len(got) == len(expected) == len(data.splitlines())
    assert [r["score"] for r in got] == pytest.approx([r["score"] for r in expected], abs=1e-4)
    assert [{**r, "score": 0} for r in got] == [{**r, "score": 0} for r in expected]


@pytest.mark.parametrize("backend", ["onnx", "onnx-int8"])
def test_search_with_onnx_backend(spread_dir, sample_index, few_queries, runner, backend):
    args = ["search", "--index-dir", str(sample_index), "--queries", str(few_queries),
            "--reranker", str(spread_dir), "-k", "5", "--candidates", "10"]
    torch_run = runner.invoke(app, args)
    onnx_run = runner.invoke(app, [*args, "--backend", backend])
    assert torch_run.exit_code == 0 and onnx_run.exit_code == 0, onnx_run.stderr
    expected, got = parse_jsonl(torch_run.stdout), parse_jsonl(onnx_run.stdout)
    assert all(r["reranked"] for r in got) and len(got) == len(expected)
    if backend == "onnx":
        assert [(r["qid"], r["doc_id"]) for r in got] == [(r["qid"], r["doc_id"]) for r in expected]
        assert [r["score"] for r in got] == pytest.approx([r["score"] for r in expected], abs=1e-4)


def test_eval_with_onnx_backend(spread_dir, sample_index, few_queries, runner):
    args = ["eval", "--index-dir", str(sample_index), "--queries", str(few_queries),
            "--qrels", str(SAMPLE / "qrels.tsv"), "--reranker", str(spread_dir),
            "--candidates", "10"]
    torch_run = runner.invoke(app, args)
    onnx_run = runner.invoke(app, [*args, "--backend", "onnx"])
    assert torch_run.exit_code == 0 and onnx_run.exit_code == 0, onnx_run.stderr
    expected, got = orjson.loads(torch_run.stdout), orjson.loads(onnx_run.stdout)
    assert got["reranked"] == pytest.approx(expected["reranked"], abs=1e-9)


def test_backend_with_no_rerank_chooses_the_query_encoder(sample_index, runner):
    # issue 12: --backend also picks the query encoder's runtime, so it is no longer ignored
    result = runner.invoke(app, ["search", "cat", "--index-dir", str(sample_index),
                                 "--no-rerank", "--backend", "onnx"])
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""


def test_exported_dir_copies_no_weights(exported, tmp_path):
    out, _ = exported
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    with pytest.raises(ModelError, match="holds no weights file"):
        # the torch backend needs the original directory
        CrossEncoder(str(copy), backend="torch")
    assert CrossEncoder(str(copy)).backend == "onnx"  # auto: the checked export (issue 12)


def test_half_weights_halve_the_file_and_change_no_score(spread_dir, tmp_path):
    """A model saved in float16 (as the shipped reranker): float16 ONNX weights are lossless."""
    import onnx
    import torch
    from transformers import AutoModelForSequenceClassification

    half = tmp_path / "half"
    shutil.copytree(spread_dir, half, ignore=shutil.ignore_patterns("*.onnx", "onnx-export.json"))
    model = AutoModelForSequenceClassification.from_pretrained(spread_dir, dtype=torch.float32)
    model.half().save_pretrained(half)
    full_out, half_out = tmp_path / "full-onnx", tmp_path / "half-onnx"
    export_onnx(str(half), full_out, quantize=False)
    summary = export_onnx(str(half), half_out, quantize=False, half_weights=True)
    assert summary["checked"] and set(summary["files"]) == {"onnx"}
    full_size, half_size = (p.stat().st_size for p in (full_out / "model.onnx",
                                                        half_out / "model.onnx"))
    assert half_size < 0.65 * full_size  # tiny model: many tensors too small to halve
    graph = onnx.load(str(half_out / "model.onnx")).graph
    assert any(n.op_type == "Cast" for n in graph.node)
    assert {i.data_type for i in graph.initializer if np.prod(i.dims) >= 1024} == {
        onnx.TensorProto.FLOAT16}
    pairs = varied_pairs()
    want = CrossEncoder(str(half), activation="none").predict(pairs)
    got = CrossEncoder(str(half_out), activation="none", backend="onnx").predict(pairs)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


def test_cli_half_weights(runner, spread_dir, tmp_path):
    out = tmp_path / "cli-half"
    result = runner.invoke(app, ["export", str(spread_dir), "-o", str(out), "--half-weights",
                                 "--no-int8"])
    # spread_dir is float32: float16 weights move the logits by more than 1e-4 or not at all;
    # either way the check decides, and nothing half-done is left behind
    if result.exit_code == 0:
        assert (out / "model.onnx").is_file() and not (out / "model-int8.onnx").exists()
    else:
        assert result.exit_code == 1 and "differs from torch" in result.stderr
        assert not (out / "model.onnx").exists()


def _op_types(path: Path) -> set[str]:
    import onnx

    return {n.op_type for n in onnx.load(str(path), load_external_data=False).graph.node}


def test_bert_is_traced_with_an_additive_mask_and_no_where(exported, tiny_reranker_dir):
    """The model gets BERT's additive (batch, 1, 1, seq) mask from the graph's inputs, so the
    graph has no Where over (batch, 1, seq, seq) (issue 29), and scores as torch does."""
    out, summary = exported
    assert "Where" not in _op_types(out / "model.onnx")
    assert summary["max_diff"]["onnx"] < 1e-4
    pairs = varied_pairs()
    torch_scores = CrossEncoder(str(tiny_reranker_dir), backend="torch").predict(pairs)
    onnx_scores = CrossEncoder(str(out), backend="onnx").predict(pairs)
    assert np.abs(torch_scores - onnx_scores).max() < 1e-5


def test_a_model_that_refuses_the_additive_mask_is_traced_as_it_builds_its_own(
        tiny_reranker_dir, tmp_path, monkeypatch):
    from xenc.models import export

    plain = export._trace
    tried = []

    def refuse(model, batch, path, *, additive_mask=False):
        tried.append(additive_mask)
        if additive_mask:
            raise ModelError("ONNX export failed: a 4-D mask is not supported")
        plain(model, batch, path)

    monkeypatch.setattr(export, "_trace", refuse)
    summary = export_onnx(str(tiny_reranker_dir), tmp_path / "plain", quantize=False)
    assert tried == [True, False]
    assert "Where" in _op_types(tmp_path / "plain" / "model.onnx")
    assert summary["max_diff"]["onnx"] < 1e-4
