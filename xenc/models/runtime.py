"""Where and how models run: device choice, CPU threads, dtype, batching by length.

Shared by :mod:`xenc.models.encoder` and :mod:`xenc.models.cross_encoder`; torch is imported
inside functions.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from xenc.errors import ModelError, UsageError, param

if TYPE_CHECKING:
    import torch


class Scored(NamedTuple):
    """What a reranker's ``score`` call returns: ``scores`` as ``predict`` returns them, and
    ``truncated``, how many of that call's pairs were cut to the model's ``max_length`` (a
    count of the call, so concurrent or interleaved callers never read each other's)."""

    scores: np.ndarray
    truncated: int

# Texts are cut to CHARS_PER_TOKEN × max_length characters before tokenizing: a 20 MB line
# would otherwise be tokenized whole (gigabytes) to keep a few hundred tokens. Only a text
# whose first max_length tokens average more characters (long unbroken strings, each an
# unknown token) can lose tokens to the cut; the truncation count still sees it truncated.
CHARS_PER_TOKEN = 64


def check_pairs(pairs: Sequence[tuple[str, str]], max_length: int | None = None
                ) -> list[tuple[str, str]]:
    """``pairs`` as ``(query, document)`` string tuples, each text cut to
    ``CHARS_PER_TOKEN × max_length`` characters where ``max_length`` is given.

    Raises:
        UsageError: An item is not a pair of strings.
    """
    limit = None if max_length is None else int(max_length) * CHARS_PER_TOKEN
    checked = []
    for pair in pairs:
        if isinstance(pair, str) or len(pair) != 2 or not all(isinstance(t, str) for t in pair):
            raise UsageError("expected (query, document) pairs of strings")
        checked.append((pair[0][:limit], pair[1][:limit]))
    return checked


def select_device(device: str | None = None) -> torch.device:
    """Choose a torch device: ``None`` or ``"cpu"`` (the default), ``"auto"`` (cuda, then
    mps, then cpu), ``"cuda"``/``"cuda:N"``, ``"mps"``. The CPU is the default so that the
    same command gives the same numbers on every machine; a GPU is used only when asked for.

    Raises:
        UsageError: Unknown device, or a device this machine does not have.
    """
    import torch

    spec = (device or "cpu").strip().lower()
    mps = getattr(torch.backends, "mps", None)
    has_mps = bool(mps is not None and mps.is_available())
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if has_mps else "cpu")
    try:
        dev = torch.device(spec)
    except (RuntimeError, ValueError) as exc:
        raise UsageError(f"unknown device {device!r}: use auto, cpu, cuda, cuda:N or mps") from exc
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0 or (dev.index or 0) >= count:
            raise UsageError(f"device {device} requested but this machine has {count} CUDA GPU(s)")
    elif dev.type == "mps" and not has_mps:
        raise UsageError(f"device {device} requested but MPS is not available here")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise UsageError(f"unsupported device {device!r}: use auto, cpu, cuda, cuda:N or mps")
    return dev


def set_threads(n: int | None = None) -> int:
    """Set torch's intra-op CPU threads to ``n`` (default: all cores); return the number set."""
    import torch

    if n is not None and n < 1:
        raise UsageError(f"threads must be at least 1, got {n}")
    count = n or os.cpu_count() or 1
    torch.set_num_threads(count)
    return count


def default_max_length(tokenizer: Any, config: Any, requested: int | None = None) -> int:
    """``requested`` if given (checked), else min(tokenizer max, position embeddings, 512).

    Raises:
        UsageError: ``requested`` is below 8 or above the model's position embeddings.
    """
    positions = getattr(config, "max_position_embeddings", None) or 512
    if requested is not None:
        if requested < 8 or requested > positions:
            raise UsageError(f"max length must be between 8 and {positions}, got {requested}")
        return int(requested)
    tok_max = getattr(tokenizer, "model_max_length", None) or 512
    return int(min(tok_max, positions, 512))


def check_dtype(dtype: str, device: torch.device) -> str:
    """Validate a compute dtype name; half precision needs a CUDA device."""
    if dtype not in ("float32", "float16", "bfloat16"):
        raise UsageError(f"unknown dtype {dtype!r}: use float32, float16 or bfloat16")
    if dtype != "float32" and device.type != "cuda":
        raise UsageError(f"dtype {dtype} needs a CUDA device; use float32 on {device.type}")
    return dtype


def autocast(device: torch.device, dtype: str) -> contextlib.AbstractContextManager[Any]:
    """A CUDA autocast context for half precision, else a no-op context."""
    import torch

    if device.type != "cuda" or dtype == "float32":
        return contextlib.nullcontext()
    return torch.autocast("cuda", dtype=getattr(torch, dtype))


def length_batches(lengths: list[int], batch_size: int) -> Iterator[list[int]]:
    """Yield input indices in batches, longest first (stable), to keep padding small."""
    if batch_size < 1:
        raise UsageError(f"batch size must be at least 1, got {batch_size}")
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def check_activation_fits(activation: str, num_labels: int, given: bool) -> None:
    """Refuse softmax over one label: it scores every pair 1.0, a silent wrong answer.

    Raises:
        UsageError: ``--activation softmax`` was given (``given``) for a one-label model.
        ModelError: The model's own config asks for it.
    """
    if activation != "softmax" or num_labels != 1:
        return
    where = f"{param('activation')} softmax" if given else "its config's softmax activation"
    error = UsageError if given else ModelError
    raise error(f"the model has one label: {where} would score every pair 1.0; use sigmoid "
                "(a probability) or none (the raw logit)")


@contextlib.contextmanager
def eager_attention(model: Any) -> Iterator[None]:
    """Trace ``model`` with transformers' eager attention instead of its SDPA default.

    The SDPA path exports attention as MatMul/Softmax behind a Where/IsNaN mask that ONNX
    Runtime runs ~25% slower on the CPU (the shipped reranker's forward: 371 against 277 ms for
    200 passages, issue 29); the eager graph computes the same scores (within 5e-6 here, and
    every export is checked against torch). Restored afterwards; models without the switch
    are traced as they are.
    """
    switch = getattr(model, "set_attn_implementation", None)
    before = getattr(getattr(model, "config", None), "_attn_implementation", None)
    changed = False
    if switch is not None and before not in (None, "eager"):
        try:
            switch("eager")
            changed = True
        except (ValueError, ImportError, NotImplementedError):
            changed = False
    try:
        yield
    finally:
        if changed and switch is not None:  # changed implies a switch: said for mypy
            switch(before)
