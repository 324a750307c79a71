"""The CLI's cross-encoder: loading it from the options (now or on a background thread) and the
stderr note that says which model reranked."""

from __future__ import annotations

import os
from typing import Any

from xenc.config import ENV_RERANKER
from xenc.errors import UsageError


class RerankerLoader:
    """Loads the chosen cross-encoder when called; ``backend`` serves the query encoder too."""

    def __init__(self, name: str | None, no_rerank: bool, device: str | None,
                 options: dict[str, Any]) -> None:
        self.name, self.no_rerank, self.device = name, no_rerank, device
        self.options = options
        self.backend = options["backend"]

    def __call__(self) -> Any:
        return load_reranker(self.name, self.no_rerank, device=self.device, **self.options)

    def start(self, *, overlap: bool) -> Any:
        """The model, or with ``overlap`` a :class:`xenc.background.Loading` of it that loads on
        a background thread while the caller's thread readies the first stage.

        ``overlap`` says the caller's thread imports no torch; the load goes to the background
        only when it imports none either (two threads importing transformers at once break
        it), which is the default ONNX path. ``None`` with --no-rerank.
        """
        from xenc.models.backend import loads_without_torch

        if self.no_rerank or not overlap or not loads_without_torch(
                self.name, self.backend, self.device):
            return self()
        from xenc.background import Loading

        return Loading(self)



def load_reranker(
    name: str | None,
    no_rerank: bool,
    *,
    device: str | None,
    **options: Any,
):
    """The reranker to use (:func:`xenc.models.reranker.load_reranker`), or None with
    --no-rerank (the two exclude each other)."""
    if no_rerank:
        if name and os.environ.get(ENV_RERANKER) != name:
            raise UsageError("--reranker and --no-rerank exclude each other")
        return None  # --backend still chooses the query encoder's runtime
    from xenc.models.reranker import load_reranker as load

    return load(name, device=device, **options)


def reranking_note(reranker: object | None, fusion: str | None) -> None:
    """One stderr line saying which model reranked, and with which fusion (after the data)."""
    if reranker is None:
        return
    from xenc.fusion import effective_fusion
    from xenc.progress import note

    chosen = effective_fusion(fusion, reranker)
    why = ""
    if fusion is None and chosen != "none":
        why = " (the model's default; --fusion none to turn it off)"
    resolved = getattr(reranker, "resolved", None)
    name = getattr(resolved, "name", "the reranker")
    source = getattr(resolved, "source", "")
    note(f"reranked with {name}{f' ({source})' if source else ''}, fusion {chosen}{why}")
