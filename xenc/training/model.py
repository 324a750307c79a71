"""The model being trained: loading a base with a fresh head, tokenizing, scoring, saving.

The base is an encoder (default: the bundled all-MiniLM-L6-v2), any Hugging Face encoder
directory or hub id, or a cross-encoder to train further. ``layers`` keeps only the first N
transformer layers. The saved directory carries the activation both for xenc
(``xenc_activation``) and for sentence-transformers (``sentence_transformers.activation_fn``),
so ``sentence_transformers.CrossEncoder(DIR)`` and
``xenc.models.cross_encoder.CrossEncoder(DIR)`` agree.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from xenc.errors import UsageError
from xenc.models.resolve import ResolvedModel, load_model, load_tokenizer, resolve_model
from xenc.models.safety import quiet_transformers
from xenc.training.data import Pair

ACTIVATION = {"relevance": "sigmoid", "similarity": "sigmoid", "nli": "softmax"}
ST_SIGMOID = "torch.nn.modules.activation.Sigmoid"
log = logging.getLogger("xenc")


def num_labels(task: str, labels: Sequence[str] | None) -> int:
    return len(labels) if task == "nli" and labels else 1


def _config(resolved: ResolvedModel, task: str, labels: Sequence[str] | None, layers: int | None):
    from transformers import AutoConfig

    from xenc.models.resolve import hub_offline

    n = num_labels(task, labels)
    names = list(labels) if task == "nli" and labels else ["score"]
    config = AutoConfig.from_pretrained(resolved.path, local_files_only=hub_offline())
    config.num_labels = n
    config.id2label = dict(enumerate(names))
    config.label2id = {name: i for i, name in enumerate(names)}
    if layers is not None:
        total = int(getattr(config, "num_hidden_layers", 0) or 0)
        if layers < 1 or layers > total:
            raise UsageError(f"--layers must be between 1 and {total} for this model, got {layers}")
        config.num_hidden_layers = layers
    config.xenc_activation = ACTIVATION[task]
    if task == "nli":  # sentence-transformers then returns logits (apply_softmax=True to match)
        config.sentence_transformers = {}
    else:
        config.sentence_transformers = {"activation_fn": ST_SIGMOID}
    return config


def load_base(
    base: str | None, task: str, labels: Sequence[str] | None, layers: int | None
) -> tuple[Any, Any, ResolvedModel]:
    """Load ``(model, tokenizer, resolved)`` with a ``task`` head (new when sizes differ).

    Raises:
        UsageError: a bad ``layers`` value.
        ModelError: the base cannot be found or loaded.
    """
    from transformers import AutoModelForSequenceClassification

    try:
        resolved = resolve_model(base, kind="encoder")
    except UsageError:  # the shipped reranker's aliases ("default"): a cross-encoder to tune
        resolved = resolve_model(base, kind="reranker")
    tokenizer = load_tokenizer(resolved)
    config = _config(resolved, task, labels, layers)
    loader = functools.partial(
        AutoModelForSequenceClassification.from_pretrained,
        config=config,
        ignore_mismatched_sizes=True,
    )
    with quiet_transformers():
        model = load_model(loader, resolved, new_weights=True)  # the new head is the point
    log.info("loaded %s with a %d-label %s head", resolved.name, config.num_labels, task)
    return model, tokenizer, resolved


def encode(tokenizer: Any, pairs: Sequence[Pair], max_length: int, device: Any) -> dict[str, Any]:
    """Padded model inputs for pairs (query first; ``longest_first`` truncation)."""
    enc = tokenizer(
        [p.query for p in pairs],
        [p.document for p in pairs],
        truncation="longest_first",
        max_length=max_length,
        padding=True,
        return_tensors="pt",
    )
    return {k: v.to(device) for k, v in enc.items()}


def predict(
    model: Any, tokenizer: Any, pairs: Sequence[Pair], *, max_length: int, batch_size: int,
    device: Any, amp: Any,
) -> np.ndarray:
    """Raw logits ``(len(pairs), num_labels)`` in eval mode; the model is left in eval mode."""
    import torch

    model.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(pairs), batch_size):
            inputs = encode(tokenizer, pairs[start : start + batch_size], max_length, device)
            with amp():
                out.append(model(**inputs).logits.float().cpu().numpy())
    width = int(model.config.num_labels)
    return np.concatenate(out) if out else np.zeros((0, width), dtype=np.float32)


def save_model_dir(model: Any, tokenizer: Any, directory: Path, state: dict[str, Any]) -> None:
    """Write a Hugging Face model directory with the given weights (safetensors)."""
    with quiet_transformers():
        model.save_pretrained(directory, state_dict=state)
        tokenizer.save_pretrained(directory)


def check_max_length(model: Any, max_length: int) -> int:
    """Validate ``max_length`` against the model's position embeddings.

    Raises:
        UsageError: below 8 or above the position embeddings.
    """
    positions = int(getattr(model.config, "max_position_embeddings", 512) or 512)
    if max_length < 8 or max_length > positions:
        raise UsageError(f"--max-length must be between 8 and {positions}, got {max_length}")
    return max_length
