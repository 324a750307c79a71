"""A cross-encoder's inputs for ``(query, document)`` pairs, each distinct text tokenized once.

:meth:`CrossEncoder.predict` needs every pair's token count before its first batch (it sorts
the pairs longest first), then each batch's padded arrays. Done through the tokenizer's own
call, that tokenizes every text twice (once to count, once per batch with truncation) and pads
in Python lists: ~90 ms of the ~440 ms that 200 passage pairs took end to end with the shipped
reranker (issue 29). Here each distinct text is encoded once, without special tokens, by the
tokenizer's Rust backend (``tokenizers.Tokenizer.encode_batch_fast``, no offsets); the counts
come from those encodings, and a batch's pairs are made by the backend's ``post_process``,
which truncates (``only_second`` while the query fits, else ``longest_first``, as before) and
adds the special tokens exactly as encoding the pair does, since encoding a pair *is* encoding
both texts and post-processing them. The batch is then padded in numpy.

One difference is possible: a tokenizer with no post-processor takes the second text's token
type ids from encoding it as a pair (1), where a text encoded alone has 0. :class:`PairEncoder`
checks agreement with the tokenizer's own pair call on probe pairs when it is made (both
truncation strategies, short and overflowing texts), and a tokenizer that disagrees, or has no
Rust backend (a "slow" Python tokenizer), keeps the tokenizer's own call.

Not thread-safe: a call sets the backend's truncation, as the tokenizer's own call does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np

PAIR_WINDOW = 2048  # pairs whose encodings one predict() call holds at once
_CHUNK = 2048  # distinct texts counted per tokenizer call on the other path


def count_tokens(tokenizer: Any, texts: list[str]) -> np.ndarray:
    """Token counts without special tokens, through the tokenizer's own call (any tokenizer;
    :class:`FastTokenizer` counts without building id lists); repeated texts counted once."""
    unique = list(dict.fromkeys(texts))
    count = getattr(tokenizer, "lengths", None)
    counts: dict[str, int] = {}
    for start in range(0, len(unique), _CHUNK):
        chunk = unique[start : start + _CHUNK]
        found = count(chunk) if count is not None else [len(x) for x in tokenizer(
            chunk, add_special_tokens=False, return_attention_mask=False,
            verbose=False)["input_ids"]]
        counts.update(zip(chunk, found, strict=True))
    return np.array([counts[t] for t in texts], dtype=np.int64)


def tokenize_by_call(
    tokenizer: Any, pairs: list[tuple[str, str]], query_lengths: np.ndarray, max_length: int
) -> dict[str, np.ndarray]:
    """A batch's padded ``(batch, seq)`` int64 arrays through the tokenizer's own pair call:
    ``only_second`` truncation where the query fits with the special tokens, else
    ``longest_first``; one array per key the tokenizer returns."""
    specials = int(tokenizer.num_special_tokens_to_add(pair=True))
    fits = query_lengths + specials < max_length
    features: list[dict[str, list[int]]] = [{} for _ in pairs]
    for strategy, chosen in (("only_second", fits), ("longest_first", ~fits)):
        idx = np.flatnonzero(chosen).tolist()
        if not idx:
            continue
        enc = tokenizer([pairs[i][0] for i in idx], [pairs[i][1] for i in idx],
                        truncation=strategy, max_length=max_length)
        for row, i in enumerate(idx):
            features[i] = {key: enc[key][row] for key in enc.keys()}
    width = max(len(f["input_ids"]) for f in features)
    pad_id = tokenizer.pad_token_id or 0
    left = tokenizer.padding_side == "left"
    batch = {}
    for key in features[0]:
        fill = pad_id if key == "input_ids" else 0
        rows = []
        for f in features:
            gap = [fill] * (width - len(f[key]))
            rows.append(gap + f[key] if left else f[key] + gap)
        batch[key] = np.array(rows, dtype=np.int64)
    return batch


def _probes(max_length: int) -> list[tuple[str, str]]:
    """Pairs that take both truncation strategies at ``max_length``: fitting, a document that
    overflows, a query that alone overflows, and text the normalizer changes."""
    return [
        ("what is a cross-encoder", "A cross-encoder reads the query and the passage together."),
        ("short", "x " * (max_length + 8)),
        ("a long query " * (max_length // 3 + 4), "and a long passage " * (max_length // 4 + 4)),
        ("Ünïcödé query — with punctuation?!", "naïve café, 東京 and emoji 🙂 in the passage"),
    ]


@dataclass
class Encoded:
    """One call's pairs, each text encoded once: ``query_lengths`` and ``totals`` (whole-pair
    tokens with the special tokens, before truncation), and each pair's two encodings."""

    query_lengths: np.ndarray
    totals: np.ndarray
    queries: list[Any]
    documents: list[Any]


class PairEncoder:
    """Counts and batches pairs for one tokenizer (see the module doc).

    Args:
        tokenizer: A transformers fast tokenizer or :class:`FastTokenizer` (anything with a
            ``backend_tokenizer``); ``usable`` is False for any other.
        max_length: Pair length after truncation, special tokens included.
        reference: The tokenizer's own call for a batch, ``(pairs, query_lengths) -> padded
            arrays`` (what this replaces, and what it must equal on the probes): its keys are
            the inputs this builds.
    """

    def __init__(
        self, tokenizer: Any, max_length: int,
        reference: Callable[[list[tuple[str, str]], np.ndarray], dict[str, np.ndarray]],
    ) -> None:
        self.backend: Any = getattr(tokenizer, "backend_tokenizer", None)
        self.max_length = int(max_length)
        self.keys: tuple[str, ...] = ()
        self.specials = int(tokenizer.num_special_tokens_to_add(pair=True))
        self.pad_id = int(getattr(tokenizer, "pad_token_id", None) or 0)
        self.left_pad = getattr(tokenizer, "padding_side", "right") == "left"
        self.direction = str(getattr(tokenizer, "truncation_side", "right") or "right")
        self.usable = self.backend is not None and self._agrees(reference)

    def encode(self, pairs: Sequence[tuple[str, str]]) -> Encoded:
        """Encode each distinct query and document once (no special tokens, no truncation)."""
        queries = self._encode_unique([q for q, _ in pairs])
        documents = self._encode_unique([d for _, d in pairs])
        q_len = np.fromiter((len(e) for e in queries), np.int64, len(queries))
        d_len = np.fromiter((len(e) for e in documents), np.int64, len(documents))
        return Encoded(q_len, q_len + d_len + self.specials, queries, documents)

    def batch(self, encoded: Encoded, idx: Sequence[int]) -> dict[str, np.ndarray]:
        """Padded ``(len(idx), width)`` int64 arrays of the pairs at ``idx``, one per key."""
        fits = encoded.query_lengths[list(idx)] + self.specials < self.max_length
        pairs: list[Any] = [None] * len(idx)
        for strategy, chosen in (("only_second", True), ("longest_first", False)):
            rows = [r for r in range(len(idx)) if bool(fits[r]) is chosen]
            if not rows:
                continue
            self.backend.enable_truncation(self.max_length, stride=0, strategy=strategy,
                                           direction=self.direction)
            for r in rows:
                i = idx[r]
                pairs[r] = self.backend.post_process(encoded.queries[i], encoded.documents[i],
                                                     add_special_tokens=True)
        return self._pad(pairs)

    def _encode_unique(self, texts: list[str]) -> list[Any]:
        unique = list(dict.fromkeys(texts))
        encode = getattr(self.backend, "encode_batch_fast", None) or self.backend.encode_batch
        self.backend.no_truncation()
        self.backend.no_padding()
        found = dict(zip(unique, encode(unique, add_special_tokens=False), strict=True))
        return [found[t] for t in texts]

    def _pad(self, encodings: list[Any]) -> dict[str, np.ndarray]:
        lengths = np.fromiter((len(e) for e in encodings), np.int64, len(encodings))
        width = int(lengths.max())
        steps = np.arange(width)
        real = (steps >= (width - lengths)[:, None]) if self.left_pad else (
            steps < lengths[:, None])
        total = int(lengths.sum())
        out = {}
        for key in self.keys:
            if key == "attention_mask":
                out[key] = real.astype(np.int64)
                continue
            attr = "ids" if key == "input_ids" else "type_ids"
            array = np.full((len(encodings), width), self.pad_id if attr == "ids" else 0,
                            dtype=np.int64)
            array[real] = np.fromiter(chain.from_iterable(getattr(e, attr) for e in encodings),
                                      np.int64, total)
            out[key] = array
        return out

    def _agrees(
        self, reference: Callable[[list[tuple[str, str]], np.ndarray], dict[str, np.ndarray]]
    ) -> bool:
        """Whether this path builds what the tokenizer's own call builds, on the probes."""
        probes = _probes(self.max_length)
        try:
            encoded = self.encode(probes)
            want = reference(probes, encoded.query_lengths)
            if not set(want) <= {"input_ids", "token_type_ids", "attention_mask"}:
                return False
            self.keys = tuple(want)
            got = self.batch(encoded, range(len(probes)))
            return all(np.array_equal(got[k], want[k]) for k in self.keys)
        except Exception:  # noqa: BLE001 - any difference in behaviour: keep the tokenizer's call
            return False
