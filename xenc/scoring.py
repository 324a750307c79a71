"""``xenc score``: JSONL pairs in, the same objects with scores out, streaming, order kept.

Pairs are read lazily in blocks of ``block_size`` lines, scored (the model sorts each block by
length), and written back in input order, so memory is bounded whatever the input size.
Accepted field pairs, first match wins: ``query``/``document``, ``text_a``/``text_b``,
``sentence1``/``sentence2``, and ``query``/``text``, the fields of ``xenc search --with-text``
records (``search | score`` chains): there a non-empty ``title`` goes before the text, on its
own line, as the reranker read it in the search. One-score models add ``score``;
several-label models add ``label`` (the best label's name) and ``scores`` (a score per label name).

A path ending in ``.parquet`` or ``.pq`` is read as Parquet (with pyarrow): each row is an
object, its row number the line number, null values absent. With a Ray session the pairs are
scored on Ray (:func:`xenc.engines.ray_jobs.score_on_ray`): the same records, same order,
bad lines handled the same way.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, cast

from xenc.errors import InputError, UsageError
from xenc.io.files import open_input, source_name
from xenc.io.jsonl import read_jsonl
from xenc.rerank import first_score

if TYPE_CHECKING:
    from xenc.engines.ray_runtime import RayOptions
    from xenc.models.cross_encoder import CrossEncoder
    from xenc.models.reranker import Reranker

PARQUET_SUFFIXES = (".parquet", ".pq")

PAIR_FIELDS = (("query", "document"), ("text_a", "text_b"), ("sentence1", "sentence2"))
SEARCH_PAIR = ("query", "text")  # a record of `xenc search --with-text`


def _search_pair(obj: dict[str, Any], where: tuple[str, int]) -> tuple[str, str] | None:
    """The pair of a search record (query, title + text), or None for another object."""
    if "document" in obj or "query" not in obj:
        return None
    if "text" not in obj:
        if "doc_id" in obj and "rank" in obj:
            raise InputError(*where, 'a search record without "text": give xenc search '
                             "--with-text passage (or document)")
        return None
    for name in SEARCH_PAIR:
        if not isinstance(obj[name], str):
            raise InputError(*where, f'field "{name}" must be a string')
    title, text = obj.get("title"), obj["text"]
    if isinstance(title, str) and title:  # as Chunk.passage() gave it to the reranker
        text = f"{title}\n{text}" if text.strip() else title
    return obj["query"], text


def pair_of(obj: dict[str, Any], where: tuple[str, int]) -> tuple[str, str]:
    """Extract the two texts of one input object, or raise InputError naming the line."""
    found = _search_pair(obj, where)
    if found is not None:
        return found
    for a, b in PAIR_FIELDS:
        if a in obj or b in obj:
            for name in (a, b):
                if name not in obj:
                    raise InputError(*where, f'has "{a if name == b else b}" but no "{name}"')
                if not isinstance(obj[name], str):
                    raise InputError(*where, f'field "{name}" must be a string')
            return obj[a], obj[b]
    names = ", ".join(f"{a}/{b}" for a, b in (*PAIR_FIELDS, SEARCH_PAIR))
    raise InputError(*where, f"no text pair: expected one of {names}")


def _annotate(obj: dict[str, Any], row: Any, labels: list[str]) -> dict[str, Any]:
    if len(labels) <= 1:
        obj["score"] = first_score(row)
        return obj
    best = max(range(len(labels)), key=lambda i: (float(row[i]), -i))
    obj["label"] = labels[best]
    obj["scores"] = {name: float(v) for name, v in zip(labels, row, strict=True)}
    return obj


def is_parquet(source: str | os.PathLike[str]) -> bool:
    return str(source).lower().endswith(PARQUET_SUFFIXES)


def read_parquet(source: str | os.PathLike[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(row_no, object)`` for each row of a Parquet file (1-based; nulls left out)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise UsageError("reading Parquet needs pyarrow: pip install 'xenc[ray]'") from None
    with open_input(source) as fh:
        try:
            batches = pq.ParquetFile(fh).iter_batches(batch_size=4096)
            row_no = 0
            for batch in batches:
                for row in batch.to_pylist():
                    row_no += 1
                    yield row_no, {k: v for k, v in row.items() if v is not None}
        except (pa.ArrowException, OSError) as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise InputError(source_name(source), None, f"not a readable Parquet file: {reason}") \
                from None


def read_pairs(
    source: str | os.PathLike[str], on_error: Callable[[InputError], None] | None = None
) -> Iterator[tuple[dict[str, Any], tuple[str, str]]]:
    """Yield ``(object, (first text, second text))`` for each valid line of JSONL or Parquet."""
    name = source_name(source)
    rows = read_parquet(source) if is_parquet(source) else read_jsonl(source, on_error=on_error)
    for line_no, obj in rows:
        try:
            pair = pair_of(obj, (name, line_no))
        except InputError as exc:
            if on_error is None:
                raise
            on_error(exc)
            continue
        yield obj, pair


def score_stream(
    source: str | os.PathLike[str],
    model: Reranker,
    *,
    block_size: int = 1024,
    on_error: Callable[[InputError], None] | None = None,
    ray: RayOptions | None = None,
    notify: Callable[[str], None] | None = None,
    device: str | None = None,
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
    """
    labels = list(getattr(model, "labels", [])) if model.num_labels > 1 else []
    if ray is not None:
        from xenc.engines.ray_jobs import score_on_ray
        from xenc.engines.ray_runtime import RaySession

        with RaySession(ray, notify) as session:
            pairs = read_pairs(source, on_error)
            # both families are CrossEncoders (CausalLMReranker subclasses it), whose
            # constructor arguments the workers rebuild the model from
            for obj, row in score_on_ray(pairs, cast("CrossEncoder", model), session,
                                         device=device):
                yield _annotate(obj, row, labels)
        return
    block: list[tuple[dict[str, Any], tuple[str, str]]] = []

    def flush() -> Iterator[dict[str, Any]]:
        scores = model.predict([p for _, p in block])
        for (obj, _), row in zip(block, scores, strict=True):
            yield _annotate(obj, row, labels)
        block.clear()

    for obj, pair in read_pairs(source, on_error):
        block.append((obj, pair))
        if len(block) >= block_size:
            yield from flush()
    if block:
        yield from flush()
