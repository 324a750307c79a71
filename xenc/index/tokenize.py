"""The BM25 word tokenizer, used identically at index time and at query time.

A text becomes tokens in four steps:

1. Unicode NFKC normalization (full-width letters, ligatures and compatibility forms fold
   to their plain equivalents: "ｆｉ" → "fi"), then ``str.lower`` when ``lowercase``.
2. Splitting into runs of Unicode letters and digits with the pattern ``[^\\W_]+``: the
   underscore is a separator (``foo_bar`` → ``foo``, ``bar``), as are punctuation and
   apostrophes (``don't`` → ``don``, ``t``). Combining marks that NFKC cannot compose into
   a letter also separate tokens (a limit of Python's ``\\w``; rare in English text).
3. Dropping stopwords (the 179-word NLTK English list, embedded below) by exact match on
   the token as it stands after step 1; this happens before stemming.
4. Stemming with PyStemmer (Porter or Snowball English), imported lazily.

The spec is recorded in the index manifest (``TokenizerSpec.to_dict``) so that queries are
always tokenized the way the index was built; a changed pattern or stopword list makes
``TokenizerSpec.from_dict`` refuse the index.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from xenc.errors import IndexFormatError, UsageError

TOKENIZER_NAME = "xenc-words-v1"
TOKEN_PATTERN = r"[^\W_]+"
STOPWORD_LISTS = ("english", "none")
STEMMERS = ("porter", "english", "none")

# NLTK's English stopword list (179 words, the list shipped up to NLTK 3.8). Entries with
# an apostrophe can never match a token (step 2 splits on it) but are kept so that the
# list, and its hash in the manifest, stays the published one.
ENGLISH_STOPWORDS: frozenset[str] = frozenset(
    """
    i me my myself we our ours ourselves you you're you've you'll you'd your yours yourself
    yourselves he him his himself she she's her hers herself it it's its itself they them
    their theirs themselves what which who whom this that that'll these those am is are was
    were be been being have has had having do does did doing a an the and but if or because
    as until while of at by for with about against between into through during before after
    above below to from up down in out on off over under again further then once here there
    when where why how all any both each few more most other some such no nor not only own
    same so than too very s t can will just don don't should should've now d ll m o re ve y
    ain aren aren't couldn couldn't didn didn't doesn doesn't hadn hadn't hasn hasn't haven
    haven't isn isn't ma mightn mightn't mustn mustn't needn needn't shan shan't shouldn
    shouldn't wasn wasn't weren weren't won won't wouldn wouldn't
    """.split()
)

_CACHE_LIMIT = 1_000_000  # token → stem entries kept before the cache is cleared


def _stopwords(name: str) -> frozenset[str]:
    return ENGLISH_STOPWORDS if name == "english" else frozenset()


def _ascii_table(lowercase: bool) -> bytes:
    """A ``bytes.translate`` table: ASCII letters and digits kept (lowercased if asked),
    every other byte a space."""
    table = bytearray(b" " * 256)
    for code in range(128):
        char = chr(code)
        if char.isalnum():
            table[code] = ord(char.lower() if lowercase else char)
    return bytes(table)


def stopwords_hash(words: Iterable[str]) -> str:
    """A short sha256 (16 hex digits) of a stopword list, independent of its order."""
    data = "\n".join(sorted(words)).encode("utf-8")
    return hashlib.sha256(data).hexdigest()[:16]


@dataclass(frozen=True)
class TokenizerSpec:
    """How texts are tokenized for BM25.

    Attributes:
        lowercase: Apply ``str.lower`` after NFKC normalization.
        stopwords: ``"english"`` (the embedded NLTK list) or ``"none"``.
        stemmer: ``"porter"``, ``"english"`` (Snowball) or ``"none"``.
    """

    lowercase: bool = True
    stopwords: str = "english"
    stemmer: str = "porter"

    def __post_init__(self) -> None:
        if self.stopwords not in STOPWORD_LISTS:
            raise UsageError(
                f"unknown stopword list {self.stopwords!r}; expected one of "
                f"{', '.join(STOPWORD_LISTS)}"
            )
        if self.stemmer not in STEMMERS:
            raise UsageError(
                f"unknown stemmer {self.stemmer!r}; expected one of {', '.join(STEMMERS)}"
            )

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain JSON values, for the index manifest."""
        return {
            "name": TOKENIZER_NAME,
            "pattern": TOKEN_PATTERN,
            "normalization": "NFKC",
            "lowercase": self.lowercase,
            "stopwords": self.stopwords,
            "stopwords_sha256": stopwords_hash(_stopwords(self.stopwords)),
            "stemmer": self.stemmer,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TokenizerSpec:
        """Read a spec written by ``to_dict``.

        Raises:
            IndexFormatError: The index was built with another tokenizer (name, pattern,
                normalization or stopword list differ) or the entry is malformed.
        """
        rebuild = "the index was built with a different tokenizer and must be rebuilt"
        if not isinstance(data, dict):
            raise IndexFormatError(f"manifest tokenizer entry is not an object; {rebuild}")
        expected = {"name": TOKENIZER_NAME, "pattern": TOKEN_PATTERN, "normalization": "NFKC"}
        for key, value in expected.items():
            if data.get(key) != value:
                raise IndexFormatError(
                    f"tokenizer {key} is {data.get(key)!r}, this xenc uses {value!r}; {rebuild}"
                )
        stopwords, stemmer = data.get("stopwords"), data.get("stemmer")
        lowercase = data.get("lowercase")
        if stopwords not in STOPWORD_LISTS or stemmer not in STEMMERS:
            raise IndexFormatError(
                f"tokenizer stopwords={stopwords!r} stemmer={stemmer!r} unknown; {rebuild}"
            )
        if not isinstance(lowercase, bool):
            raise IndexFormatError(f"tokenizer lowercase={lowercase!r} is not a boolean")
        digest = stopwords_hash(_stopwords(stopwords))
        if data.get("stopwords_sha256") != digest:
            raise IndexFormatError(
                f"tokenizer stopword list hash {data.get('stopwords_sha256')!r} differs "
                f"from this xenc's {digest!r}; {rebuild}"
            )
        return cls(lowercase=lowercase, stopwords=stopwords, stemmer=stemmer)


class Tokenizer:
    """Turns texts into BM25 tokens according to a ``TokenizerSpec``.

    Calls are pure: the same text always gives the same tokens. Stems are cached per
    token (the cache is cleared when it exceeds ``_CACHE_LIMIT`` entries). An instance is
    not safe to share between threads that call it concurrently.

    Args:
        spec: The tokenization settings.
    """

    def __init__(self, spec: TokenizerSpec = TokenizerSpec()) -> None:  # noqa: B008
        self.spec = spec
        self._findall = re.compile(TOKEN_PATTERN).findall
        self._stopwords = _stopwords(spec.stopwords)
        self._cache: dict[str, str | None] = {}  # token → stem, None for a stopword
        self._stemmer: Any = None
        if spec.stemmer != "none":
            import Stemmer  # PyStemmer; lazily imported, it is only needed here

            self._stemmer = Stemmer.Stemmer(spec.stemmer)
        self._plain = self._stemmer is None and not self._stopwords
        self._ascii_table = _ascii_table(spec.lowercase)

    def __call__(self, text: str) -> list[str]:
        """Tokenize one text.

        Args:
            text: Any string.

        Returns:
            The stemmed, stopword-free tokens in text order (repeats kept).
        """
        if not text.isascii():
            text = unicodedata.normalize("NFKC", text)
        if text.isascii():
            # Fast path, same tokens as the pattern: for ASCII, [^\W_] is [A-Za-z0-9].
            tokens = text.encode("ascii").translate(self._ascii_table).decode("ascii").split()
        else:
            tokens = self._findall(text.lower() if self.spec.lowercase else text)
        if self._plain:
            return tokens
        lookup = self._cache.__getitem__
        try:
            return list(filter(None, map(lookup, tokens)))
        except KeyError:
            self._fill(tokens)
            return list(filter(None, map(lookup, tokens)))

    def tokenize_many(self, texts: Iterable[str]) -> list[list[str]]:
        """Tokenize several texts; ``[self(t) for t in texts]``."""
        return [self(text) for text in texts]

    def _fill(self, tokens: list[str]) -> None:
        """Add the stems (or ``None`` for stopwords) of uncached tokens to the cache."""
        cache = self._cache
        missing = list(dict.fromkeys(t for t in tokens if t not in cache))
        if len(cache) + len(missing) > _CACHE_LIMIT:
            cache.clear()
            missing = list(dict.fromkeys(tokens))
        words = [t for t in missing if t not in self._stopwords]
        stems = self._stemmer.stemWords(words) if self._stemmer is not None else words
        cache.update(dict.fromkeys(missing))
        cache.update(zip(words, stems, strict=True))
