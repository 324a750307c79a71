"""Scoring pairs batch by batch, exactly as :meth:`CrossEncoder.predict` does, for a caller that
forms its own batches (``xenc serve``'s dynamic batcher).

``predict`` measures every pair, sorts the pairs longest first and cuts them into batches of
``batch_size``; a server instead gathers pairs from many requests into batches bounded by a
token budget, and needs the raw logits as well (TEI's ``raw_scores``). :class:`PairScorer` gives
it the three steps ``predict`` is made of, through the same code: token lengths
(``_pair_lengths``), one batch tokenized and run (``_tokenize`` and the backend's forward pass)
and the activation (``_activate``). So a pair scores the same here as in ``xenc score``, within
float noise from padding to another width.

Not thread-safe, like the :class:`CrossEncoder` itself: one thread calls it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

import numpy as np

from xenc.errors import ModelError
from xenc.models.runtime import CHARS_PER_TOKEN, check_pairs

if TYPE_CHECKING:
    from xenc.models.cross_encoder import CrossEncoder
    from xenc.models.reranker import Reranker


class PairScorer:
    """The batch steps of a loaded :class:`~xenc.models.cross_encoder.CrossEncoder`.

    Every text is cut to ``CHARS_PER_TOKEN × max_length`` characters first, as ``predict``
    cuts it (:func:`xenc.models.runtime.check_pairs`): a huge document costs no more than one
    that just overflows.

    Args:
        model: A loaded CrossEncoder.

    Raises:
        ModelError: ``model`` scores pairs its own way (a causal-LM reranker's chat template),
            which these steps would bypass.
    """

    def __init__(self, model: Reranker) -> None:
        from xenc.models.cross_encoder import CrossEncoder

        if getattr(type(model), "_predict_matrix", None) is not CrossEncoder._predict_matrix:
            raise ModelError(
                f"{getattr(model, 'family', type(model).__name__)} rerankers are not served yet:"
                " xenc serve batches sequence-classification cross-encoders; use xenc rerank "
                "or xenc score for this model"
            )
        self.model = cast("CrossEncoder", model)  # checked above: a CrossEncoder's steps
        self.max_length = int(model.max_length)
        self.num_labels = int(model.num_labels)

    def lengths(self, pairs: list[tuple[str, str]]) -> tuple[np.ndarray, np.ndarray]:
        """``(query_lengths, totals)``: query tokens, and whole-pair tokens with the special
        tokens, before truncation: what ``predict`` sorts and truncates by (``_pair_lengths``,
        counted from the Rust tokenizer's encodings where the model's tokenizer allows:
        :mod:`xenc.models.pair_inputs`)."""
        return self.model._pair_lengths(check_pairs(pairs, self.max_length))

    def logits(self, pairs: list[tuple[str, str]], query_lengths: np.ndarray) -> np.ndarray:
        """Raw float32 logits, shape ``(len(pairs), num_labels)``, of one batch."""
        batch = self.model._tokenize(check_pairs(pairs, self.max_length),
                                     np.asarray(query_lengths))
        return np.asarray(self.model._forward(batch), dtype=np.float32).reshape(len(pairs), -1)

    def activate(self, logits: np.ndarray) -> np.ndarray:
        """The model's activation (sigmoid, softmax or none) applied to logits."""
        return self.model._activate(logits)

    def cut(self, texts: Sequence[str], max_tokens: int) -> list[str]:
        """``texts``, each cut after its first ``max_tokens`` tokens (Cohere's
        ``max_tokens_per_doc``); a text that fits is returned unchanged."""
        texts = [text[: max_tokens * CHARS_PER_TOKEN] for text in texts]
        enc = self.model.tokenizer(list(texts), add_special_tokens=False,
                                   return_attention_mask=False, return_offsets_mapping=True)
        out = []
        for text, ids, offsets in zip(texts, enc["input_ids"], enc["offset_mapping"],
                                      strict=True):
            out.append(text[: offsets[max_tokens - 1][1]] if len(ids) > max_tokens else text)
        return out
