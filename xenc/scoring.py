"""``xenc score``: JSONL pairs in, the same objects with scores out, streaming, order kept.

Pairs are read lazily in blocks of ``block_size`` lines, scored (the model sorts each block by
length), and written back in input order, so memory is bounded whatever the input size.
Accepted field pairs, first match wins: ``query``/``document``, ``text_a``/``text_b``,
``sentence1``/``sentence2``. One-score models add ``score``; several-label models add
``label`` (the best label's name) and ``scores`` (a score per label name).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

from xenc.errors import InputError
from xenc.formats import read_jsonl, source_name
from xenc.rerank import first_score

PAIR_FIELDS = (("query", "document"), ("text_a", "text_b"), ("sentence1", "sentence2"))


def pair_of(obj: dict[str, Any], where: tuple[str, int]) -> tuple[str, str]:
    """Extract the two texts of one input object, or raise InputError naming the line."""
    for a, b in PAIR_FIELDS:
        if a in obj or b in obj:
            for name in (a, b):
                if name not in obj:
                    raise InputError(*where, f'has "{a if name == b else b}" but no "{name}"')
                if not isinstance(obj[name], str):
                    raise InputError(*where, f'field "{name}" must be a string')
            return obj[a], obj[b]
    names = ", ".join(f"{a}/{b}" for a, b in PAIR_FIELDS)
    raise InputError(*where, f"no text pair: expected one of {names}")


def _annotate(obj: dict[str, Any], row: Any, labels: list[str]) -> dict[str, Any]:
    if len(labels) <= 1:
        obj["score"] = first_score(row)
        return obj
    best = max(range(len(labels)), key=lambda i: (float(row[i]), -i))
    obj["label"] = labels[best]
    obj["scores"] = {name: float(v) for name, v in zip(labels, row, strict=True)}
    return obj


def score_stream(
    source: str | os.PathLike[str],
    model: Any,
    *,
    block_size: int = 1024,
    on_error: Callable[[InputError], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield each input object with its score(s) added, in input order.

    Args:
        source: A JSONL path or ``-``.
        model: A :class:`xenc.models.cross_encoder.CrossEncoder`.
        block_size: Lines held in memory at once.
        on_error: Called with each bad line's error instead of raising (``--skip-invalid``).
    """
    name = source_name(source)
    labels = list(getattr(model, "labels", [])) if model.num_labels > 1 else []
    block: list[tuple[dict[str, Any], tuple[str, str]]] = []

    def flush() -> Iterator[dict[str, Any]]:
        scores = model.predict([p for _, p in block])
        for (obj, _), row in zip(block, scores, strict=True):
            yield _annotate(obj, row, labels)
        block.clear()

    for line_no, obj in read_jsonl(source, on_error=on_error):
        try:
            pair = pair_of(obj, (name, line_no))
        except InputError as exc:
            if on_error is None:
                raise
            on_error(exc)
            continue
        block.append((obj, pair))
        if len(block) >= block_size:
            yield from flush()
    if block:
        yield from flush()
