"""The bi-encoder (xenc.models.encoder) on a tiny random model, and the bundled MiniLM (slow)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from tinymodels import make_tiny_encoder, set_pooling, to_pickle_weights

from xenc.errors import ModelError, UsageError
from xenc.models.encoder import Encoder
from xenc.models.resolve import bundled_model_dir

TEXTS = [
    "the cat sat",
    "a long sentence about the river and the mountain, with several words in it",
    "",
    "x",
    "search engines rank documents by their scores for each query",
    "the cats walked quickly",
    "music",
]


@pytest.fixture(scope="module")
def enc_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_encoder(tmp_path_factory.mktemp("encoder") / "tiny")


@pytest.fixture(scope="module")
def encoder(enc_dir: Path) -> Encoder:
    return Encoder(str(enc_dir), device="cpu", batch_size=3)


def reference(model_dir: Path, texts: list[str], mode: str, max_length: int) -> np.ndarray:
    """Embeddings computed directly with transformers, one text at a time."""
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    rows = []
    with torch.inference_mode():
        for text in texts:
            enc = tok([text], truncation=True, max_length=max_length, return_tensors="pt")
            hidden = model(**enc).last_hidden_state[0]
            pooled = {
                "cls": hidden[0],
                "max": hidden.max(dim=0).values,
                "mean": hidden.mean(dim=0),
            }[mode]
            rows.append((pooled / pooled.norm()).numpy())
    return np.stack(rows)


def test_shape_dtype_and_unit_norm(encoder: Encoder) -> None:
    emb = encoder.encode(TEXTS)
    assert emb.shape == (len(TEXTS), encoder.dim) == (len(TEXTS), 32)
    assert emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)


def test_input_order_kept(encoder: Encoder) -> None:
    together = encoder.encode(TEXTS)
    alone = np.stack([encoder.encode([t])[0] for t in TEXTS])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    np.testing.assert_allclose(encoder.encode(TEXTS[::-1]), together[::-1], atol=1e-5)


def test_matches_direct_mean_pooling(encoder: Encoder, enc_dir: Path) -> None:
    expected = reference(enc_dir, TEXTS, "mean", encoder.max_length)
    np.testing.assert_allclose(encoder.encode(TEXTS), expected, atol=1e-5)


@pytest.mark.parametrize("batch_size", [1, 2, 5, 64])
def test_batch_size_invariance(encoder: Encoder, batch_size: int) -> None:
    base = encoder.encode(TEXTS, batch_size=len(TEXTS))
    np.testing.assert_allclose(encoder.encode(TEXTS, batch_size=batch_size), base, atol=1e-5)


def test_empty_input(encoder: Encoder) -> None:
    emb = encoder.encode([])
    assert emb.shape == (0, 32) and emb.dtype == np.float32


def test_progress_reports_each_batch(encoder: Encoder) -> None:
    calls: list[int] = []
    encoder.encode(TEXTS, batch_size=3, progress=calls.append)
    assert calls == [3, 3, 1]


def test_bad_inputs(encoder: Encoder) -> None:
    with pytest.raises(UsageError):
        encoder.encode("just one string")
    with pytest.raises(UsageError):
        encoder.encode(["ok", 3])  # type: ignore[list-item]


def test_long_text_is_truncated_to_max_length(encoder: Encoder) -> None:
    long = " ".join(["water"] * 400)
    longer = long + " fire " * 50
    emb = encoder.encode([long, longer])
    np.testing.assert_allclose(emb[0], emb[1], atol=1e-6)  # both cut at 128 tokens


def test_info_fields(encoder: Encoder, enc_dir: Path) -> None:
    info = encoder.info()
    digest = hashlib.sha256((enc_dir / "model.safetensors").read_bytes()).hexdigest()
    assert info == {
        "name": str(enc_dir),
        "source": "local",
        "path": str(enc_dir.resolve()),
        "revision": None,
        "dim": 32,
        "pooling": "mean",
        "normalize": True,
        "max_length": 128,
        "sha256": digest,
    }
    assert encoder.tokenizer.is_fast
    assert encoder.layout.normalize_module


def test_max_length_argument(enc_dir: Path) -> None:
    assert Encoder(str(enc_dir), max_length=64).max_length == 64
    with pytest.raises(UsageError):
        Encoder(str(enc_dir), max_length=100_000)
    with pytest.raises(UsageError):
        Encoder(str(enc_dir), batch_size=0)
    with pytest.raises(UsageError):
        Encoder(str(enc_dir), dtype="float16")  # half precision needs CUDA


@pytest.mark.parametrize("mode", ["cls", "max"])
def test_pooling_read_from_layout(enc_dir: Path, tmp_path: Path, mode: str) -> None:
    copy = shutil.copytree(enc_dir, tmp_path / mode)
    set_pooling(copy, mode)
    enc = Encoder(str(copy))
    assert enc.pooling == mode and enc.info()["pooling"] == mode
    np.testing.assert_allclose(enc.encode(TEXTS), reference(copy, TEXTS, mode, 128), atol=1e-5)


def test_new_style_pooling_config(enc_dir: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(enc_dir, tmp_path / "new")
    (copy / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode": "cls"}))
    assert Encoder(str(copy)).pooling == "cls"


def test_plain_hf_directory_defaults(enc_dir: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(enc_dir, tmp_path / "plain")
    for name in ("modules.json", "sentence_bert_config.json"):
        (copy / name).unlink()
    shutil.rmtree(copy / "1_Pooling")
    enc = Encoder(str(copy))
    assert enc.pooling == "mean"
    assert enc.max_length == 512  # min(tokenizer 512, positions 512, 512)
    assert not enc.layout.normalize_module


def test_unsupported_module_refused(enc_dir: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(enc_dir, tmp_path / "dense")
    modules = json.loads((copy / "modules.json").read_text())
    modules.append({"idx": 3, "name": "3", "path": "3_Dense", "type": "x.models.Dense"})
    (copy / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(ModelError, match="Dense"):
        Encoder(str(copy))


def test_pickle_only_refused_then_trusted(encoder: Encoder, enc_dir: Path, tmp_path: Path) -> None:
    copy = to_pickle_weights(shutil.copytree(enc_dir, tmp_path / "pickle"))
    assert not (copy / "model.safetensors").exists()
    with pytest.raises(ModelError, match=r"only pickle weights \(pytorch_model.bin\)"):
        Encoder(str(copy))
    trusted = Encoder(str(copy), trust_pickle_weights=True)
    np.testing.assert_allclose(trusted.encode(TEXTS), encoder.encode(TEXTS), atol=1e-6)
    assert (
        trusted.info()["sha256"]
        == hashlib.sha256((copy / "pytorch_model.bin").read_bytes()).hexdigest()
    )


@pytest.mark.slow
def test_bundled_minilm_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    enc = Encoder(None, device="cpu")
    info = enc.info()
    assert (info["source"], info["dim"], info["pooling"], info["max_length"]) == (
        "bundled",
        384,
        "mean",
        256,
    )
    texts = [
        "A man is playing a guitar.",
        "Someone plays an acoustic guitar.",
        "The stock market fell sharply today.",
    ]
    emb = enc.encode(texts)
    sims = emb @ emb.T
    assert sims[0, 1] > sims[0, 2] + 0.2
    assert sims[0, 1] > sims[1, 2] + 0.2


@pytest.mark.slow
def test_bundled_minilm_matches_sentence_transformers(monkeypatch: pytest.MonkeyPatch) -> None:
    st = pytest.importorskip("sentence_transformers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    texts = TEXTS + ["Who wrote the book?", " ".join(["word"] * 400)]
    ours = Encoder("minilm", device="cpu", batch_size=4).encode(texts)
    model = st.SentenceTransformer(str(bundled_model_dir()), device="cpu")
    theirs = model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
