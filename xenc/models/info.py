"""``xenc models``: which encoder and reranker a command would use, from where, and what their
model cards say. Nothing is loaded: configs, file sizes and xenc's training record are read.
With an index, the encoder is the one its manifest records (none for a BM25-only index).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from xenc.config import ENV_ENCODER, ENV_RERANKER, INDEX_RETRIEVERS
from xenc.errors import UsageError, setting
from xenc.models.resolve import ResolvedModel, hub_offline, model_file, read_json, resolve_model

_WEIGHTS = ("model.safetensors", "pytorch_model.bin", "model.onnx", "model-int8.onnx")


def _chosen(given: str | None, env: str) -> tuple[str | None, str]:
    from_env = os.environ.get(env) or None
    if given and given != from_env:
        return given, "option"
    if from_env:
        return from_env, env
    return None, "default"


def _size_mb(model: ResolvedModel) -> float | None:
    if model.is_hub:
        return None
    root = Path(model.path)
    total = sum(p.stat().st_size for p in root.iterdir() if p.is_file())
    return round(total / 2**20, 1)


def _config(model: ResolvedModel) -> dict[str, Any]:
    config = read_json(model, "config.json") or {}
    id2label = config.get("id2label") or {}
    out = {
        "architecture": (config.get("architectures") or [None])[0],
        "layers": config.get("num_hidden_layers"),
        "hidden_size": config.get("hidden_size"),
        "max_positions": config.get("max_position_embeddings"),
        "labels": [id2label[k] for k in sorted(id2label, key=int)] if id2label else None,
        "activation": config.get("xenc_activation")
        or (config.get("sentence_transformers") or {}).get("activation_fn"),
        "fusion": config.get("xenc_fusion"),
    }
    return {k: v for k, v in out.items() if v is not None}


def _card(model: ResolvedModel) -> dict[str, Any] | None:
    """Dev metrics from xenc's training record (``training_state.json``), when there is one."""
    state = read_json(model, "training_state.json")
    if not isinstance(state, dict):
        return None
    best = state.get("best") or {}
    return {
        "metric": state.get("metric"),
        "best": best.get("metric"),
        "best_step": best.get("step"),
        "card": "README.md" if model_file(model, "README.md") else None,
    }


def describe(role: str, given: str | None = None) -> dict[str, Any]:
    """What ``role`` (``"encoder"`` or ``"reranker"``) resolves to, as one record.

    A reranker that is not chosen is described, not an error: ``"name": null`` with the
    message saying how to choose one.
    """
    env = ENV_ENCODER if role == "encoder" else ENV_RERANKER
    name, chosen_by = _chosen(given, env)
    record: dict[str, Any] = {"role": role, "chosen_by": chosen_by}
    try:
        model = resolve_model(name, kind=role)
    except UsageError as exc:
        return {**record, "name": None, "message": str(exc)}
    record.update(name=model.name, source=model.source, path=model.path)
    if model.is_hub:
        record["hub_offline"] = hub_offline()
    if not model.is_hub:  # on the hub, looking for weights would download them
        record["weights"] = [f for f in _WEIGHTS if model_file(model, f) is not None]
    record["size_mb"] = _size_mb(model)
    record.update(_config(model))
    if role == "reranker":
        from xenc.models.causal_lm import is_causal_lm

        record["family"] = "causal-lm" if is_causal_lm(model) else "sequence-classification"
    card = _card(model)
    if card:
        record["training"] = card
    return record


def describe_index(directory: str, manifest: dict[str, Any]) -> dict[str, Any]:
    """The encoder the searches of an index use, as its manifest records it, with the
    index's ``retrievers``; ``"name": null`` and a message for an index without ``dense``."""
    kinds = list(manifest.get("retrievers", INDEX_RETRIEVERS))
    record: dict[str, Any] = {"role": "encoder", "chosen_by": "index", "index": directory,
                              "retrievers": kinds}
    if "dense" not in kinds:
        cut = manifest.get("chunk_tokenizer") or {}
        return {**record, "name": None, "message": (
            f"index {directory} has no encoder (built with "
            f"{setting('retrievers', ','.join(kinds))}): its searches use BM25 alone; its "
            f"passages were cut with the tokenizer of {cut.get('name')}"),
            "chunk_tokenizer": {k: cut.get(k) for k in ("name", "source", "path")}}
    info = manifest.get("encoder") or {}
    record.update({k: info.get(k) for k in ("name", "source", "path", "dim", "pooling",
                                             "max_length")})
    checked = ((manifest.get("query_encoder") or {}).get("check") or {}).get("passed")
    record["query_encoder"] = "onnx" if checked else "torch"
    return record


def describe_models(
    encoder: str | None = None,
    reranker: str | None = None,
    index: tuple[str, dict[str, Any]] | None = None,
) -> list[dict]:
    """Records for the encoder and the reranker a command would use with these options;
    with ``index`` (its directory and manifest), the encoder is the index's."""
    first = describe_index(*index) if index is not None else describe("encoder", encoder)
    return [first, describe("reranker", reranker)]
