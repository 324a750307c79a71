"""The cross-encoder (xenc.models.cross_encoder) on tiny random sequence-classification models."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from tinymodels import make_tiny_cross_encoder

from xenc.errors import ModelError, UsageError
from xenc.models.cross_encoder import CrossEncoder

PAIRS = [
    ("what is a cat", "the cat sat on the mat"),
    ("river", "a long river runs through the mountain valley toward the sea in the north"),
    ("", "empty query"),
    ("search", ""),
    ("how do search engines rank documents", "by score"),
    ("what is a cat", "a dog is an animal"),
]
NLI_LABELS = {0: "contradiction", 1: "entailment", 2: "neutral"}


@pytest.fixture(scope="module")
def ce_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_cross_encoder(tmp_path_factory.mktemp("ce") / "one")


@pytest.fixture(scope="module")
def ce3_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_cross_encoder(tmp_path_factory.mktemp("ce") / "three", 3, NLI_LABELS)


@pytest.fixture(scope="module")
def reranker(ce_dir: Path) -> CrossEncoder:
    return CrossEncoder(str(ce_dir), device="cpu", batch_size=4)


def raw_logits(model_dir: Path, pairs: list[tuple[str, str]]) -> np.ndarray:
    """Logits from the model called directly, one pair at a time, no truncation."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    with torch.inference_mode():
        rows = [model(**tok([q], [d], return_tensors="pt")).logits[0].numpy() for q, d in pairs]
    return np.stack(rows)


def words(n: int, word: str = "water") -> str:
    return " ".join([word] * n)


def test_predict_order_equals_each_alone(reranker: CrossEncoder) -> None:
    together = reranker.predict(PAIRS)
    alone = np.concatenate([reranker.predict([p]) for p in PAIRS])
    assert together.shape == (len(PAIRS),) and together.dtype == np.float32
    np.testing.assert_allclose(together, alone, atol=1e-5)
    np.testing.assert_allclose(reranker.predict(PAIRS[::-1]), together[::-1], atol=1e-5)
    np.testing.assert_allclose(reranker.predict(PAIRS, batch_size=1), together, atol=1e-5)


def test_default_sigmoid_matches_raw_logits(reranker: CrossEncoder, ce_dir: Path) -> None:
    assert reranker.activation == "sigmoid"
    logits = raw_logits(ce_dir, PAIRS)
    np.testing.assert_allclose(reranker.predict(PAIRS), 1 / (1 + np.exp(-logits[:, 0])), atol=1e-6)


def test_activation_argument(ce_dir: Path) -> None:
    logits = raw_logits(ce_dir, PAIRS)
    plain = CrossEncoder(str(ce_dir), activation="none")
    np.testing.assert_allclose(plain.predict(PAIRS), logits[:, 0], atol=1e-5)
    sig = CrossEncoder(str(ce_dir), activation="Sigmoid")
    assert sig.activation == "sigmoid"


@pytest.mark.parametrize(
    ("activation", "expected"),
    [
        ("torch.nn.modules.linear.Identity", "none"),
        ("torch.nn.modules.activation.Sigmoid", "sigmoid"),
        ("none", "none"),
        ("sigmoid", "sigmoid"),  # softmax over one label is refused (test_silent_answers)
    ],
)
def test_activation_from_config(tmp_path: Path, activation: str, expected: str) -> None:
    path = make_tiny_cross_encoder(tmp_path / "m", activation=activation)
    assert CrossEncoder(str(path)).activation == expected


def test_legacy_activation_key(ce_dir: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(ce_dir, tmp_path / "legacy")
    config = json.loads((copy / "config.json").read_text())
    config["sbert_ce_default_activation_function"] = "torch.nn.modules.linear.Identity"
    (copy / "config.json").write_text(json.dumps(config))
    ce = CrossEncoder(str(copy))
    assert ce.activation == "none"
    np.testing.assert_allclose(ce.predict(PAIRS), raw_logits(ce_dir, PAIRS)[:, 0], atol=1e-5)


def test_unsupported_config_activation(tmp_path: Path) -> None:
    path = make_tiny_cross_encoder(tmp_path / "m", activation="torch.nn.modules.activation.Tanh")
    with pytest.raises(ModelError, match="Tanh"):
        CrossEncoder(str(path))
    assert CrossEncoder(str(path), activation="none").activation == "none"


def test_softmax_three_labels(ce3_dir: Path) -> None:
    ce = CrossEncoder(str(ce3_dir))
    assert ce.num_labels == 3
    assert ce.labels == ["contradiction", "entailment", "neutral"]
    assert ce.activation == "softmax"
    probs = ce.predict(PAIRS)
    assert probs.shape == (len(PAIRS), 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    logits = raw_logits(ce3_dir, PAIRS)
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(probs, expected, atol=1e-6)


def test_score_pairs(reranker: CrossEncoder, ce3_dir: Path) -> None:
    scores = reranker.score_pairs(PAIRS)
    assert all(type(s) is float for s in scores)
    np.testing.assert_allclose(scores, reranker.predict(PAIRS), atol=1e-7)
    with pytest.raises(UsageError, match="predict"):
        CrossEncoder(str(ce3_dir)).score_pairs(PAIRS)


def test_bad_activation_is_usage_error(ce_dir: Path) -> None:
    with pytest.raises(UsageError, match="activation"):
        CrossEncoder(str(ce_dir), activation="relu")


def test_no_reranker_is_usage_error(no_default_reranker) -> None:
    with pytest.raises(UsageError, match="no reranker chosen"):
        CrossEncoder(None)


def test_bad_pairs_and_empty(reranker: CrossEncoder) -> None:
    with pytest.raises(UsageError):
        reranker.predict([("only one",)])  # type: ignore[list-item]
    with pytest.raises(UsageError):
        reranker.predict(["not a pair"])  # type: ignore[list-item]
    empty = reranker.predict([])
    assert empty.shape == (0,) and empty.dtype == np.float32
    assert reranker.score_pairs([]) == []


def test_progress(reranker: CrossEncoder) -> None:
    calls: list[int] = []
    reranker.predict(PAIRS, batch_size=4, progress=calls.append)
    assert calls == [4, 2]


def test_truncation_counter_is_exact(ce_dir: Path) -> None:
    ce = CrossEncoder(str(ce_dir), max_length=32)
    tok = ce.tokenizer
    pairs = [*PAIRS, ("cat", words(40)), (words(40), "dog"), ("a b c", words(29)), ("a", words(28))]
    full = [len(tok(q, d)["input_ids"]) for q, d in pairs]
    expected = sum(n > 32 for n in full)
    assert expected == 3  # "a b c" + 29 words = 35 tokens; "a" + 28 words = 31 tokens
    assert ce.truncated == 0
    ce.predict(pairs)
    assert ce.truncated == expected
    ce.predict(pairs[-4:])
    assert ce.truncated == 2 * expected


def test_score_returns_its_own_calls_truncation_count(ce_dir: Path) -> None:
    """``score`` counts the pairs of its call (issue 23: returned, not read from shared
    state); ``predict`` is its scores; the running total adds every call up."""
    ce = CrossEncoder(str(ce_dir), max_length=32)
    long_pairs = [("cat", words(40)), (words(40), "dog")]
    first = ce.score([*PAIRS, *long_pairs])
    second = ce.score(PAIRS)
    third = ce.score(long_pairs[:1])
    assert (first.truncated, second.truncated, third.truncated) == (2, 0, 1)
    assert ce.truncated == 3
    np.testing.assert_array_equal(second.scores, ce.predict(PAIRS))
    assert first.scores.shape == (len(PAIRS) + 2,) and first.scores.dtype == np.float32


def test_query_never_truncated_with_only_second(ce_dir: Path) -> None:
    ce = CrossEncoder(str(ce_dir), max_length=32)
    query, doc = words(20, "river"), words(100, "sea")
    row = ce.tokenize([(query, doc)])["input_ids"][0].tolist()
    tokens = ce.tokenizer.convert_ids_to_tokens(row)
    assert len(row) == 32
    assert tokens.count("river") == 20 and tokens.count("sea") == 9
    # longest_first would have cut the query too: the test is meaningful
    naive = ce.tokenizer(query, doc, truncation="longest_first", max_length=32)["input_ids"]
    assert ce.tokenizer.convert_ids_to_tokens(naive).count("river") < 20


def test_overlong_query_falls_back_to_longest_first(ce_dir: Path) -> None:
    ce = CrossEncoder(str(ce_dir), max_length=32, batch_size=8)
    pairs = [(words(50, "river"), words(10, "sea")), ("cat", words(60)), ("cat", "dog")]
    batch = ce.tokenize(pairs)
    assert batch["input_ids"].shape == (3, 32)
    lengths = batch["attention_mask"].sum(dim=1).tolist()
    assert lengths == [32, 32, 5]
    tokens = ce.tokenizer.convert_ids_to_tokens(batch["input_ids"][0].tolist())
    assert (tokens.count("river"), tokens.count("sea")) == (19, 10)  # longest cut first
    mixed = ce.predict(pairs)  # one batch mixing only_second and longest_first
    alone = np.concatenate([ce.predict([p]) for p in pairs])
    np.testing.assert_allclose(mixed, alone, atol=1e-5)
    assert ce.truncated == 2 + 2


def test_info(reranker: CrossEncoder, ce_dir: Path) -> None:
    assert reranker.info() == {
        "name": str(ce_dir),
        "source": "local",
        "path": str(ce_dir.resolve()),
        "num_labels": 1,
        "labels": ["LABEL_0"],
        "activation": "sigmoid",
        "max_length": 512,
        "fusion": None,
    }
