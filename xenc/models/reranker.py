"""The one place a reranker family is chosen: :func:`load_reranker`.

A model directory is a **causal-LM reranker** (:class:`~xenc.models.causal_lm.CausalLMReranker`)
when its config names a ``*ForCausalLM`` architecture or its sentence-transformers modules end
in a ``LogitScore``; otherwise it is a **sequence-classification cross-encoder**
(:class:`~xenc.models.cross_encoder.CrossEncoder`). Both meet :class:`Reranker`, the
interface every caller is typed against, so search, score, eval, rerank and the server use
either unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from xenc.errors import UsageError, param
from xenc.models.causal_lm import is_causal_lm
from xenc.models.resolve import ResolvedModel, resolve_model
from xenc.models.runtime import Scored
from xenc.models.safety import remote_code_trusted

if TYPE_CHECKING:
    import numpy as np


class Reranker(Protocol):
    """What every reranker family gives its callers (search, score, eval, rerank, the server
    and the Ray workers): :func:`load_reranker` returns one. A new family is a class with
    these members in ``models/`` and one branch in :func:`load_reranker`.

    ``score`` returns this call's scores with this call's count of pairs cut to
    ``max_length`` (:class:`~xenc.models.runtime.Scored`); ``predict`` is its scores alone,
    as sentence-transformers' ``CrossEncoder.predict``; ``truncated`` is a running total over
    every call, kept for callers that own the object. An object is used by one thread at a
    time (docs/architecture.md, Threads).
    """

    resolved: ResolvedModel
    backend: str
    batch_size: int
    max_length: int
    num_labels: int
    labels: list[str]
    activation: str
    fusion: str | None
    truncated: int

    def predict(
        self,
        pairs: Sequence[tuple[str, str]],
        *,
        batch_size: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray: ...

    def score(
        self,
        pairs: Sequence[tuple[str, str]],
        *,
        batch_size: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> Scored: ...


def load_reranker(
    model: str | None,
    *,
    device: str | None = None,
    batch_size: int = 32,
    max_length: int | None = None,
    activation: str | None = None,
    instruction: str | None = None,
    trust_pickle_weights: bool = False,
    trust_remote_code: bool = False,
    dtype: str = "float32",
    backend: str = "auto",
) -> Reranker:
    """Load the reranker ``model`` names, of whichever family it is.

    Args:
        model: Preset, local directory or hub id; ``None`` for the shipped default.
        device: ``None``/``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
        batch_size: Pairs per forward pass.
        max_length: Token limit per pair (per rendered prompt for causal LMs).
        activation: ``"none"``, ``"sigmoid"`` or ``"softmax"``; default from the model.
        instruction: Causal-LM rerankers: the prompt's instruction (default: the model's).
        trust_pickle_weights: Allow ``pytorch_model.bin`` weights (pickle can run code).
        trust_remote_code: Allow a model that ships its own code (``auto_map``).
        dtype: ``"float32"``, ``"float16"`` or ``"bfloat16"`` (the last two on CUDA).
        backend: ``"auto"``, ``"torch"``, ``"onnx"`` or ``"onnx-int8"``.

    Returns:
        A :class:`~xenc.models.cross_encoder.CrossEncoder` or a
        :class:`~xenc.models.causal_lm.CausalLMReranker`; neither is thread-safe (call it
        from one thread at a time).

    Raises:
        UsageError: Bad options, or an instruction for a sequence-classification model.
        ModelError: The model cannot be found or loaded.
    """
    resolved = resolve_model(model, kind="reranker")
    trusted = remote_code_trusted(trust_remote_code)
    common: dict[str, Any] = {
        "device": device, "batch_size": batch_size, "max_length": max_length,
        "activation": activation, "trust_pickle_weights": trust_pickle_weights,
        "trust_remote_code": trusted, "dtype": dtype, "backend": backend,
    }
    if is_causal_lm(resolved):
        from xenc.models.causal_lm import CausalLMReranker

        return CausalLMReranker(resolved, instruction=instruction, **common)
    if instruction is not None:
        raise UsageError(
            f"{param('instruction')} applies to causal-LM rerankers; {resolved.name} is a "
            "sequence-classification cross-encoder, which has no prompt"
        )
    from xenc.models.cross_encoder import CrossEncoder

    return CrossEncoder(model, **common)
