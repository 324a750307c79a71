"""What xenc runs on Ray: the bi-encoder of ``xenc index``, the cross-encoder of ``xenc score``.

:class:`RayEmbedSink` collects the passages an index build or update has to embed (in shards
in the object store, as the driver chunks them) and, at the end, embeds them all in one Ray Data
pipeline; :func:`score_on_ray` scores a stream of pairs with a bounded number in flight. Both
give their results back in input order; the actors load the driver's model by the same name,
with the same settings (see :mod:`xenc.engines.ray_workers`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from xenc.engines.ray_runtime import SHARD_ROWS, RaySession
from xenc.engines.ray_workers import EmbedWorker, ScoreWorker

if TYPE_CHECKING:
    from xenc.models.cross_encoder import CrossEncoder
    from xenc.models.encoder import Encoder


def _worker_model(resolved: Any) -> str:
    """How a worker names the model: a hub id or the bundled name as is, a local path as a path
    (which must then exist on every node)."""
    return resolved.name if resolved.source in ("bundled", "hub") else resolved.path


class RayEmbedSink:
    """An :class:`xenc.index.build.EmbedSink` that embeds on Ray.

    Args:
        session: The Ray connection (made on the first shard, not before).
        device: The workers' device when they have no GPU (default cpu).
    """

    def __init__(self, session: RaySession, device: str | None = None) -> None:
        self.session = session
        self.device = session.options.device or device
        self._buffer: list[str] = []
        self._shards: list[tuple[Any, int, int]] = []
        self._rows = 0

    def add(self, texts: list[str]) -> None:
        self._buffer.extend(texts)
        while len(self._buffer) >= SHARD_ROWS:
            self._flush(SHARD_ROWS)

    def _flush(self, n: int) -> None:
        texts, self._buffer = self._buffer[:n], self._buffer[n:]
        rows = np.arange(self._rows, self._rows + len(texts), dtype=np.int64)
        self._shards.append(self.session.put({"row": rows, "text": texts}))
        self._rows += len(texts)

    def result(self, model: Encoder) -> np.ndarray:
        """Embed every shard with ``model``'s settings; the vectors in the order added."""
        if self._buffer:
            self._flush(len(self._buffer))
        info = model.info()
        kwargs = {"model": _worker_model(model.resolved), "device": self.device,
                  "batch_size": model.batch_size, "max_length": model.max_length,
                  "sha256": info["sha256"]}
        out = np.zeros((self._rows, model.dim), dtype=np.float32)
        shards, self._shards = self._shards, []
        for batch in self.session.run(iter(shards), EmbedWorker, kwargs,
                                      batch_size=model.batch_size):
            out[batch["row"]] = batch["embedding"]
        return out


def reranker_spec(model: CrossEncoder, device: str | None) -> dict[str, Any]:
    """The :class:`CrossEncoder` arguments that make a worker's model the driver's."""
    on_gpu = device is not None and device.startswith("cuda")
    return {
        "model": _worker_model(model.resolved),
        "device": device,
        "batch_size": model.batch_size,
        "max_length": model.max_length,
        "activation": model.activation,
        "trust_pickle_weights": getattr(model, "trust_pickle_weights", False),
        "trust_remote_code": getattr(model, "trust_remote_code", False),
        "instruction": model.instruction,
        "dtype": model.dtype,
        # ONNX runs on the CPU only: GPU workers run the same weights with torch
        "backend": "torch" if on_gpu else model.backend,
    }


def score_on_ray(
    items: Iterable[tuple[Any, tuple[str, str]]],
    model: CrossEncoder,
    session: RaySession,
    *,
    device: str | None = None,
    shard_rows: int = SHARD_ROWS,
    on_truncated: Callable[[int], None] | None = None,
) -> Iterator[tuple[Any, np.ndarray]]:
    """Score ``(record, (query, document))`` items on Ray; yield ``(record, scores)`` in order.

    ``items`` is read in shards of ``shard_rows`` in a feeder thread; the records wait on the
    driver until their scores are back, a bounded number at a time. ``scores`` holds one value
    per label. ``on_truncated`` gets each batch's count of pairs the workers cut to the
    model's token limit (``model.truncated`` adds them up too).
    """
    held: deque[Any] = deque()
    spec = reranker_spec(model, session.options.device or device)

    def shards() -> Iterator[dict[str, Any]]:
        row = 0
        queries: list[str] = []
        documents: list[str] = []
        for record, (query, document) in items:
            held.append(record)
            queries.append(query)
            documents.append(document)
            if len(queries) >= shard_rows:
                yield {"row": np.arange(row, row + len(queries)), "query": queries,
                       "document": documents}
                row, queries, documents = row + len(queries), [], []
        if queries:
            yield {"row": np.arange(row, row + len(queries)), "query": queries,
                   "document": documents}

    for batch in session.run(shards(), ScoreWorker, {"spec": spec},
                             batch_size=model.batch_size):
        cut = int(np.sum(batch["truncated"]))
        model.truncated += cut
        if on_truncated is not None:
            on_truncated(cut)
        for scores in batch["scores"]:
            yield held.popleft(), scores
