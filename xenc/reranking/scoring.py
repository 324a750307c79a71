"""``xenc score``: JSONL pairs in, the same objects with scores out, streaming, order kept.

Pairs (JSONL or Parquet, the fields of :mod:`xenc.io.pairs`) are read lazily in blocks of
``block_size`` lines, scored (the model sorts each block by length), and written back in input
order, so memory is bounded whatever the input size. One-score models add ``score``;
several-label models add ``label`` (the best label's name) and ``scores`` (a score per label
name). With a Ray session the pairs are scored on Ray
(:func:`xenc.engines.ray_jobs.score_on_ray`): the same records, same order, bad lines handled
the same way.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, cast

from xenc.errors import InputError
from xenc.io.pairs import read_pairs
from xenc.reranking.stage import first_score

if TYPE_CHECKING:
    from xenc.engines.ray_runtime import RayOptions
    from xenc.models.cross_encoder import CrossEncoder
    from xenc.models.reranker import Reranker


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
    model: Reranker,
    *,
    block_size: int = 1024,
    on_error: Callable[[InputError], None] | None = None,
    ray: RayOptions | None = None,
    notify: Callable[[str], None] | None = None,
    device: str | None = None,
    on_truncated: Callable[[int], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield each input object with its score(s) added, in input order.

    Args:
        source: A JSONL (or ``.parquet``) path or ``-``.
        model: A :class:`xenc.models.cross_encoder.CrossEncoder`.
        block_size: Lines held in memory at once (in process).
        on_error: Called with each bad line's error instead of raising (``--skip-invalid``).
        ray: Score on Ray instead, with actors loading ``model``'s settings (connected here,
            and shut down at the end if started here).
        notify: Gets Ray's one-line messages (connection, progress).
        device: The Ray workers' device when they have no GPU.
        on_truncated: Called with each block's count of pairs cut to the model's
            ``max_length`` (the reranker's ``score`` count: nothing read from shared state).
    """
    labels = list(getattr(model, "labels", [])) if model.num_labels > 1 else []
    if ray is not None:
        from xenc.engines.ray_jobs import score_on_ray
        from xenc.engines.ray_runtime import RaySession

        with RaySession(ray, notify) as session:
            pairs = ((line.obj, line.texts) for line in read_pairs(source, on_error))
            # both families are CrossEncoders (CausalLMReranker subclasses it), whose
            # constructor arguments the workers rebuild the model from
            for obj, row in score_on_ray(pairs, cast("CrossEncoder", model), session,
                                         device=device, on_truncated=on_truncated):
                yield _annotate(obj, row, labels)
        return
    block: list[tuple[dict[str, Any], tuple[str, str]]] = []

    def flush() -> Iterator[dict[str, Any]]:
        scores, cut = model.score([p for _, p in block])
        if on_truncated is not None:
            on_truncated(cut)
        for (obj, _), row in zip(block, scores, strict=True):
            yield _annotate(obj, row, labels)
        block.clear()

    for line in read_pairs(source, on_error):
        block.append((line.obj, line.texts))
        if len(block) >= block_size:
            yield from flush()
    if block:
        yield from flush()
