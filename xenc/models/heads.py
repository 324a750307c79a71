"""What a model's config says about its output: the activation turning logits into scores,
and the fusion it was validated with. Shared by both reranker families."""

from __future__ import annotations

from typing import Any

from xenc.config import ACTIVATIONS
from xenc.errors import ModelError, UsageError, param

TORCH_ACTIVATIONS = {"identity": "none", "sigmoid": "sigmoid", "softmax": "softmax"}



def check_activation(name: str, where: str, error: type[Exception]) -> str:
    value = str(name).strip().lower()
    if value not in ACTIVATIONS:
        raise error(f"unknown activation {name!r} {where}: use none, sigmoid or softmax")
    return value


def model_fusion(config: Any, name: str) -> str | None:
    """The fusion the model was validated with (``xenc_fusion`` in its config), if any.

    Raises:
        ModelError: a fusion xenc does not know.
    """
    own = getattr(config, "xenc_fusion", None)
    if own is None:
        return None
    from xenc.fusion import parse_fusion

    try:
        parse_fusion(str(own))
    except UsageError as exc:
        raise ModelError(f"{name}: config.json xenc_fusion: {exc}") from None
    return str(own)


def model_activation(config: Any, num_labels: int) -> str:
    """The activation a model asks for in its config, else sigmoid (1 label) or softmax.

    Reads ``sentence_transformers["activation_fn"]``, then the older
    ``sbert_ce_default_activation_function``, then ``xenc_activation``.

    Raises:
        ModelError: The config names an activation other than identity, sigmoid or softmax.
    """
    st = getattr(config, "sentence_transformers", None)
    path = st.get("activation_fn") if isinstance(st, dict) else None
    path = path or getattr(config, "sbert_ce_default_activation_function", None)
    if path:
        name = str(path).rsplit(".", 1)[-1].lower()
        if name not in TORCH_ACTIVATIONS:
            raise ModelError(f"model activation {path} unsupported: pass {param('activation')}")
        return TORCH_ACTIVATIONS[name]
    own = getattr(config, "xenc_activation", None)
    if own:
        return check_activation(own, "in the model config", ModelError)
    return "sigmoid" if num_labels == 1 else "softmax"
