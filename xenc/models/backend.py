"""Which runtime a cross-encoder uses: ``--backend auto|torch|onnx|onnx-int8``.

``auto`` (the default) picks ONNX Runtime with the fp32 ``model.onnx`` when the model directory
holds a *checked* export, else torch. An export is checked when ``xenc export`` wrote its
record, ``onnx-export.json``, next to it: the fp32 file matched torch within ``atol`` on the
check pairs, tokenized with the ``tokenizers`` library alone (so that path never imports
transformers), and ``tokenizer.json`` gave the same ids as transformers. At load, ``auto``
trusts the record when the file sizes match it and the torch weights are the ones exported
(same size and mtime, else same sha256), so a model retrained into the same directory falls
back to torch until it is exported again. Only local (and bundled) models are considered: for a
hub id ``auto`` means torch, so choosing a backend never costs a network call.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from xenc.errors import XencError
from xenc.models.ort import EXPORT_RECORD, ONNX_FILES, check_backend, onnx_eligible
from xenc.models.resolve import (
    _RERANKER_ALIASES,
    ResolvedModel,
    _sha256,
    model_fingerprint,
    resolve_model,
)

RECORD_FORMAT = "xenc-onnx-export"


def export_record(
    resolved: ResolvedModel,
    files: dict[str, Path],
    diffs: dict[str, float],
    *,
    atol: float,
    tokenizer_match: bool,
    opset: int,
    inputs: list[str],
) -> dict[str, Any]:
    """The record ``xenc export`` writes as ``onnx-export.json``."""
    from xenc import __version__

    weights = []
    for w in model_fingerprint(resolved)["weights"] if not resolved.is_hub else []:
        path = Path(resolved.path) / w["file"]
        weights.append({**w, "mtime_ns": path.stat().st_mtime_ns})
    return {
        "format": RECORD_FORMAT,
        "version": 1,
        "xenc_version": __version__,
        "model": resolved.name,
        "opset": opset,
        "inputs": inputs,
        "atol": atol,
        "tokenizer": {"file": "tokenizer.json", "matches_transformers": tokenizer_match},
        "files": {
            b: {"file": p.name, "bytes": p.stat().st_size, "sha256": _sha256(p),
                "max_abs_diff": diffs.get(b)}
            for b, p in files.items()
        },
        "checked": bool(tokenizer_match and diffs.get("onnx", float("inf")) <= atol),
        "weights": weights,
    }


def read_record(model: ResolvedModel) -> dict[str, Any] | None:
    """A local model's export record, or None (absent, unreadable, or a hub model)."""
    if model.is_hub:
        return None
    path = Path(model.path) / EXPORT_RECORD
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("format") == RECORD_FORMAT else None


def _weights_unchanged(root: Path, weights: list[dict[str, Any]]) -> bool:
    for w in weights:
        path = root / str(w.get("file", ""))
        if not path.is_file():
            continue  # an ONNX-only directory (`xenc export -o`): nothing to compare
        stat = path.stat()
        if stat.st_size != w.get("bytes"):
            return False
        if stat.st_mtime_ns != w.get("mtime_ns") and _sha256(path) != w.get("sha256"):
            return False
    return True


def checked(model: ResolvedModel, backend: str = "onnx") -> bool:
    """Whether the model directory holds a checked, current export for ``backend``."""
    record = read_record(model)
    if record is None or not record.get("checked"):
        return False
    entry = (record.get("files") or {}).get(backend)
    path = Path(model.path) / ONNX_FILES[backend]
    if not entry or not path.is_file() or path.stat().st_size != entry.get("bytes"):
        return False
    return _weights_unchanged(Path(model.path), record.get("weights") or [])


def tokenizer_checked(model: ResolvedModel) -> bool:
    """Whether ``tokenizer.json`` alone was checked to tokenize as transformers does."""
    record = read_record(model)
    return bool(record and (record.get("tokenizer") or {}).get("matches_transformers"))


def resolve_backend(backend: str, model: ResolvedModel, device: str | None) -> str:
    """``torch``, ``onnx`` or ``onnx-int8``: ``auto`` becomes ``onnx`` where a checked export
    exists and the device is the CPU, else ``torch``.

    Raises:
        UsageError: An unknown backend name.
    """
    value = check_backend(backend)
    if value != "auto":
        return value
    return "onnx" if onnx_eligible(device) and checked(model) else "torch"


def loads_without_torch(name: str | None, backend: str, device: str | None) -> bool:
    """Whether ``CrossEncoder(name, backend=backend, device=device)`` would load through ONNX
    Runtime and the ``tokenizers`` library alone, never importing torch or transformers.

    Decided from local files only: a name that is neither the default, an alias nor an
    existing directory (a hub id) gives ``False`` without any network call, as does anything
    that would fail to load (the load itself then says why).
    """
    try:
        value = check_backend(backend)
    except XencError:
        return False
    text = (name or "").strip()
    local = not text or text.lower() in _RERANKER_ALIASES or Path(text).expanduser().is_dir()
    if value not in ("auto", "onnx") or not onnx_eligible(device) or not local:
        return False
    try:
        resolved = resolve_model(text or None, kind="reranker")
    except XencError:
        return False
    return checked(resolved) and tokenizer_checked(resolved)
