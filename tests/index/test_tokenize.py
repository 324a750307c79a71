"""Tests for xenc.index.tokenize: exact tokens and the manifest spec round trip."""

from __future__ import annotations

import random
import re

import pytest

from xenc.errors import IndexFormatError, UsageError
from xenc.index.tokenize import (
    ENGLISH_STOPWORDS,
    TOKEN_PATTERN,
    TOKENIZER_NAME,
    Tokenizer,
    TokenizerSpec,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello, World!", ["hello", "world"]),
        ("The running dogs are RUNNING.", ["run", "dog", "run"]),
        ("Café naïve Straße", ["café", "naïv", "straße"]),
        ("foo_bar baz__qux", ["foo", "bar", "baz", "qux"]),
        ("pi is 3.14, not 22/7", ["pi", "3", "14", "22", "7"]),
        ("Don't stop believing", ["stop", "believ"]),
        ("ﬁne ｆｕｌｌ x²", ["fine", "full", "x2"]),  # NFKC folds compatibility forms
        ("caresses ponies relational", ["caress", "poni", "relat"]),
        ("", []),
        ("the of and !!! ---", []),
    ],
)
def test_default_tokens(text: str, expected: list[str]) -> None:
    assert Tokenizer()(text) == expected


@pytest.mark.parametrize("lowercase", [True, False])
def test_ascii_fast_path_equals_pattern(lowercase: bool) -> None:
    rng = random.Random(7)
    alphabet = [chr(c) for c in range(128)]
    raw = Tokenizer(TokenizerSpec(lowercase=lowercase, stopwords="none", stemmer="none"))
    for _ in range(200):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        for variant in (text, text + " é"):  # ASCII fast path, then the regex path
            expected = re.findall(TOKEN_PATTERN, variant.lower() if lowercase else variant)
            assert raw(variant) == expected


def test_stopwords_are_the_179_nltk_words() -> None:
    assert len(ENGLISH_STOPWORDS) == 179
    assert {"the", "a", "i", "wouldn't", "should've", "ma"} <= ENGLISH_STOPWORDS


def test_stopwords_checked_before_stemming() -> None:
    # "doing" is a stopword; "does" is too; "doings" is not and stems to "do".
    assert Tokenizer()("doing does doings") == ["do"]


def test_options() -> None:
    raw = Tokenizer(TokenizerSpec(lowercase=False, stopwords="none", stemmer="none"))
    assert raw("The Running_dogs") == ["The", "Running", "dogs"]
    no_stop = Tokenizer(TokenizerSpec(stopwords="none"))
    assert no_stop("the running") == ["the", "run"]
    snowball = Tokenizer(TokenizerSpec(stemmer="english"))
    assert snowball("generously running") == ["generous", "run"]
    cased = Tokenizer(TokenizerSpec(lowercase=False, stemmer="none"))
    assert cased("The the Cat") == ["The", "Cat"]  # stopwords match exactly


def test_tokenize_many_and_cache_consistency() -> None:
    tok = Tokenizer()
    texts = ["running fast", "Running faster", "running fast"]
    first = tok.tokenize_many(texts)
    assert first == [["run", "fast"], ["run", "faster"], ["run", "fast"]]
    assert tok.tokenize_many(texts) == first
    assert Tokenizer().tokenize_many(reversed(texts)) == first[::-1]


def test_cache_limit_clears(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("xenc.index.tokenize._CACHE_LIMIT", 3)
    tok = Tokenizer()
    assert tok("alpha beta gamma delta running") == ["alpha", "beta", "gamma", "delta", "run"]
    assert tok("epsilon running") == ["epsilon", "run"]


def test_spec_round_trip() -> None:
    for spec in (
        TokenizerSpec(),
        TokenizerSpec(lowercase=False, stopwords="none", stemmer="english"),
        TokenizerSpec(stemmer="none"),
    ):
        data = spec.to_dict()
        assert data["name"] == TOKENIZER_NAME
        assert data["pattern"] == TOKEN_PATTERN
        assert len(data["stopwords_sha256"]) == 16
        assert TokenizerSpec.from_dict(data) == spec


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("name", "xenc-words-v0"),
        ("pattern", r"\w+"),
        ("stopwords_sha256", "0000000000000000"),
        ("stemmer", "lancaster"),
        ("stopwords", "french"),
        ("lowercase", "yes"),
    ],
)
def test_spec_mismatch_rejected(key: str, value: str) -> None:
    data = TokenizerSpec().to_dict()
    data[key] = value
    with pytest.raises(IndexFormatError):
        TokenizerSpec.from_dict(data)


def test_spec_mismatch_message_says_rebuild() -> None:
    data = TokenizerSpec().to_dict()
    data["stopwords_sha256"] = "deadbeefdeadbeef"
    with pytest.raises(IndexFormatError, match="different tokenizer and must be rebuilt"):
        TokenizerSpec.from_dict(data)
    with pytest.raises(IndexFormatError):
        TokenizerSpec.from_dict({})


def test_invalid_spec_values() -> None:
    with pytest.raises(UsageError):
        TokenizerSpec(stemmer="lancaster")
    with pytest.raises(UsageError):
        TokenizerSpec(stopwords="french")
