"""What a model directory may do when it is loaded: run its own code, or score with weights it
does not have.

- **Remote code.** A config (``config.json`` or ``tokenizer_config.json``) with an ``auto_map``
  names Python files of the model's own, which ``transformers`` imports and runs when the model
  loads. That happens only with ``trust_remote_code``; without it the load is refused before
  anything of the model is imported (:func:`check_remote_code`). The CLI flag is
  ``--trust-remote-code``; it is never implied.
- **New weights.** ``from_pretrained`` fills tensors missing from the checkpoint with random
  values and only logs it; a reranker loaded so would score at random. Every load reads
  ``missing_keys`` and fails instead (:func:`check_loading_info`), naming the tensors and what
  the checkpoint seems to be. Only ``xenc train --base``, where a new head is the point, allows it.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from xenc.errors import ModelError, param

_TRUSTED: ContextVar[bool] = ContextVar("xenc_trust_remote_code", default=False)
_SHOWN = 4


@contextlib.contextmanager
def trusting_remote_code(trusted: bool) -> Iterator[None]:
    """Within the block, every model load may run the model's own code when ``trusted``.

    The CLI sets it from ``--trust-remote-code`` for the whole command, so that the models a
    command loads deep down (an index's encoder) get the user's choice too.
    """
    token = _TRUSTED.set(bool(trusted))
    try:
        yield
    finally:
        _TRUSTED.reset(token)


def remote_code_trusted(trust_remote_code: bool = False) -> bool:
    """Whether a load may run model code: asked for here, or by the enclosing command."""
    return bool(trust_remote_code) or _TRUSTED.get()


def check_remote_code(name: str, configs: dict[str, Any], trusted: bool) -> None:
    """Refuse a model whose configs name code of its own, unless it is trusted.

    Args:
        name: The model, as the user named it.
        configs: File name → parsed JSON (``None`` when absent) of the configs to inspect.
        trusted: Whether remote code was allowed.

    Raises:
        ModelError: A config has an ``auto_map`` and ``trusted`` is off.
    """
    if trusted:
        return
    for filename, config in configs.items():
        auto_map = config.get("auto_map") if isinstance(config, dict) else None
        if auto_map:
            classes = ", ".join(sorted(str(v) for v in _flat(auto_map)))[:160]
            raise ModelError(
                f"{name} ships its own Python code ({filename} auto_map: {classes}); loading it "
                f"runs that code with your permissions: pass {param('trust_remote_code')} only "
                "if you trust its source"
            )


def _flat(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _flat(item)
    elif isinstance(value, list | tuple):
        for item in value:
            if item:
                yield from _flat(item)
    elif value:
        yield str(value)


def describe_checkpoint(config: Any, modules: Any = None, missing: Any = ()) -> str:
    """What a model directory seems to be, from its config's architecture, its
    sentence-transformers modules and the tensors it lacks, in words for an error message."""
    archs = [str(a) for a in (getattr(config, "architectures", None) or [])]
    arch = archs[0] if archs else str(getattr(config, "model_type", "") or "unknown")
    types = [str(m.get("type", "")) for m in modules or [] if isinstance(m, dict)]
    decoder_head = bool(missing) and all(str(k).startswith("score.") for k in missing)
    if any(t.endswith("LogitScore") for t in types) or arch.endswith("ForCausalLM") or (
            decoder_head and not arch.endswith("ForSequenceClassification")):
        return (f"looks like a causal-LM reranker ({arch}), to be scored from its yes/no "
                "logits: xenc does so when its config.json names a *ForCausalLM architecture "
                "or sentence-transformers saved it with a LogitScore module")
    if arch.endswith(("ForMaskedLM", "ForPreTraining", "Model")):
        return (f"looks like a base encoder or language model ({arch}) with no reranking "
                "head: train one with `xenc train --base`")
    if arch.endswith("ForSequenceClassification"):
        return f"looks like a sequence-classification model ({arch}) saved incomplete"
    return f"its architecture is {arch}"


def check_loading_info(name: str, loaded: Any, info: dict[str, Any] | None, *,
                       new_weights: bool = False, modules: Any = None) -> None:
    """Fail when ``from_pretrained`` initialised tensors the checkpoint lacks.

    Args:
        name: The model, as the user named it.
        loaded: The model ``from_pretrained`` returned.
        info: Its ``output_loading_info`` dict (``missing_keys``, ``mismatched_keys``).
        new_weights: Allow new tensors (``xenc train --base``: a new head is the point).
        modules: The directory's ``modules.json`` (sentence-transformers), if any.

    Raises:
        ModelError: Tensors were missing or had other shapes, and ``new_weights`` is off.
    """
    if new_weights or not info:
        return
    missing = sorted(str(k) for k in info.get("missing_keys") or [])
    missing += sorted(str(k[0] if isinstance(k, tuple | list) else k)
                      for k in info.get("mismatched_keys") or [])
    if type(loaded).__name__.endswith("Model"):  # a bi-encoder body: xenc pools hidden
        missing = [k for k in missing if not k.startswith("pooler.")]  # states, not its pooler
    if not missing:
        return
    shown = ", ".join(missing[:_SHOWN]) + (f" and {len(missing) - _SHOWN} more"
                                           if len(missing) > _SHOWN else "")
    kind = describe_checkpoint(getattr(loaded, "config", None), modules, missing)
    raise ModelError(
        f"{name} as {type(loaded).__name__} lacks {len(missing)} weight tensor(s) that would "
        f"be newly initialised at random ({shown}); it {kind}. xenc does not score with "
        "random weights"
    )


@contextlib.contextmanager
def quiet_load_report() -> Iterator[None]:
    """No transformers load report on stderr (its MISSING table): xenc says it in one line."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """No transformers progress bars or load reports while saving or loading."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hf_logging.set_verbosity(level)
            if bars:
                hf_logging.enable_progress_bar()
