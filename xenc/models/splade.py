"""SPLADE scoring with any masked-LM model directory (SPLADE-tiny, or a full SPLADE model).

Per token ``log(1 + relu(logits))``, max-pooled over the text, and the dot product of the
query's and the passage's vectors: what ``xenc mine --teacher splade:DIR`` scores pairs with,
and what a learned-sparse retriever would index.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

from xenc.errors import UsageError


class SpladeScorer:
    """SPLADE scoring with a masked-LM model directory (loaded on first use).

    ``score(q, d) = sum over v of rep_q[v] * rep_d[v]`` is non-zero only on the query's terms,
    so passages are encoded once to their hidden states before the vocabulary projection
    (cached, float16) and projected onto the query's terms only: the same scores as the full
    ``(tokens x vocabulary)`` projection, for a fraction of its cost.
    """

    def __init__(self, path: str, *, max_length: int = 256, batch_size: int = 32,
                 cache_size: int = 50_000) -> None:
        self.path = path
        self.max_length = max_length
        self.batch_size = batch_size
        self.cache_size = cache_size
        self._states: dict[str, np.ndarray] = {}

    @functools.cached_property
    def _model(self) -> tuple[Any, Any]:
        from transformers import AutoModelForMaskedLM

        from xenc.models.resolve import load_model, load_tokenizer, resolve_model
        from xenc.models.safety import quiet_transformers

        resolved = resolve_model(self.path, kind="encoder")
        tokenizer = load_tokenizer(resolved)
        with quiet_transformers():
            model = load_model(AutoModelForMaskedLM.from_pretrained, resolved)
        return model.eval(), tokenizer

    @functools.cached_property
    def _head(self) -> tuple[Any, np.ndarray, np.ndarray]:
        """The transform before the projection, and the projection's weight and bias."""
        model, _ = self._model
        decoder = model.get_output_embeddings()
        bias = decoder.bias
        if bias is None and hasattr(model, "cls"):
            bias = model.cls.predictions.bias
        transform = model.cls.predictions.transform if hasattr(model, "cls") else None
        weight = decoder.weight.detach().float().numpy()
        bias_np = (np.zeros(weight.shape[0], dtype=np.float32) if bias is None
                   else bias.detach().float().numpy())
        return transform, weight, bias_np

    def query_rep(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """The query's full SPLADE rep as ``(term ids, weights)`` (non-zero terms only)."""
        import torch

        model, tokenizer = self._model
        with torch.inference_mode():
            enc = tokenizer([text], truncation=True, max_length=self.max_length,
                            return_tensors="pt")
            logits = model(**enc).logits.float()[0]
            rep = torch.log1p(torch.relu(logits)).max(dim=0).values.numpy()
        ids = np.flatnonzero(rep > 0)
        return ids, rep[ids]

    def _encode(self, texts: list[str]) -> None:
        import torch

        model, tokenizer = self._model
        transform, _, _ = self._head
        if transform is None:
            raise UsageError(f"splade:{self.path}: only BERT-style masked-LM heads are supported")
        todo = sorted({t for t in texts if t not in self._states}, key=len)
        if len(self._states) + len(todo) > self.cache_size:
            self._states.clear()
        with torch.inference_mode():
            for start in range(0, len(todo), self.batch_size):
                batch = todo[start : start + self.batch_size]
                enc = tokenizer(batch, truncation=True, max_length=self.max_length,
                                padding=True, return_tensors="pt")
                hidden = transform(model.base_model(**enc).last_hidden_state).float().numpy()
                lengths = enc["attention_mask"].sum(dim=1).tolist()
                for text, states, n in zip(batch, hidden, lengths, strict=True):
                    self._states[text] = states[: int(n)].astype(np.float16)

    def score(self, query: str, passages: Sequence[str]) -> np.ndarray:
        """SPLADE dot products of ``query`` with each passage."""
        q_ids, q_w = self.query_rep(query)
        out = np.zeros(len(passages))
        if not len(q_ids) or not passages:
            return out
        self._encode(list(passages))
        _, weight, bias = self._head
        w_sub, b_sub = weight[q_ids].T, bias[q_ids]
        for i, text in enumerate(passages):
            logits = self._states[text].astype(np.float32) @ w_sub + b_sub
            rep = np.log1p(np.maximum(logits.max(axis=0), 0.0))
            out[i] = float(rep @ q_w)
        return out
