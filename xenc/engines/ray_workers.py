"""The actors of the Ray engine: each loads one model once and scores batches through it.

They use the very classes the in-process path uses (:class:`xenc.models.encoder.Encoder`,
:class:`xenc.models.cross_encoder.CrossEncoder`), so a worker's numbers are the driver's.
Ray pickles these classes by reference: xenc must be installed on every worker node.
"""

from __future__ import annotations

import socket
from typing import Any

import numpy as np

from xenc.errors import ModelError


def _texts(column: Any) -> list[str]:
    return [str(t) for t in column]


class EmbedWorker:
    """``{"row", "text"}`` batches → ``{"row", "embedding"}`` (unit float32 rows)."""

    def __init__(self, model: str | None, device: str | None, batch_size: int,
                 max_length: int | None, sha256: str | None) -> None:
        from xenc.models.encoder import Encoder

        self.encoder = Encoder(model, device=device, batch_size=batch_size,
                               max_length=max_length)
        found = self.encoder.info()["sha256"]
        if sha256 and found != sha256:
            raise ModelError(
                f"the encoder {model or 'default'} on worker {socket.gethostname()} has sha256 "
                f"{found[:12]}, the driver's has {sha256[:12]}: install the same model on "
                "every node"
            )

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        vectors = self.encoder.encode(_texts(batch["text"]))
        return {"row": np.asarray(batch["row"], dtype=np.int64), "embedding": vectors}


class ScoreWorker:
    """``{"row", "query", "document"}`` batches → ``{"row", "scores", "truncated"}``.

    ``scores`` has one column per label; ``truncated`` counts the pairs cut to the model's
    token limit (on the batch's first row, zeros elsewhere).
    """

    def __init__(self, spec: dict[str, Any]) -> None:
        from xenc.models.reranker import load_reranker

        self.model = load_reranker(**spec)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        pairs = list(zip(_texts(batch["query"]), _texts(batch["document"]), strict=True))
        scored = self.model.score(pairs)
        scores = np.asarray(scored.scores, dtype=np.float32).reshape(len(pairs), -1)
        truncated = np.zeros(len(pairs), dtype=np.int64)
        if len(pairs):
            truncated[0] = scored.truncated
        return {"row": np.asarray(batch["row"], dtype=np.int64), "scores": scores,
                "truncated": truncated}
