"""The bi-encoder's query side in ONNX: exported at index time, run at query time without torch.

:func:`export_query_encoder` (called by ``xenc index``) traces the torch
:class:`~xenc.models.encoder.Encoder` — transformer, pooling and L2 normalization in one graph
whose output is ``embeddings`` — to ``query_encoder.onnx`` (fp32; the graph after ONNX Runtime's
hardware-independent "basic" optimizations, its weights in ``query_encoder.onnx.data``, which
loads several times faster than one protobuf file), saves the Rust tokenizer the encoder uses
as ``query_tokenizer.json``, and checks the pair (tokenized by the ``tokenizers``
library alone, run by ONNX Runtime) against the torch encoder on :data:`CHECK_TEXTS`, in one
padded batch and each text alone: every embedding within ``atol`` (absolute, per component,
and ``1 - cosine``). It returns the manifest record (``"query_encoder"``); a failed export or
check is recorded too, without files, and queries then use torch.

:class:`OnnxQueryEncoder` reads those two files: same lowercasing, truncation, padding and
pooling as the torch encoder, so the same vectors within ``atol``. It imports neither torch nor
transformers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from xenc.errors import ModelError, UsageError
from xenc.models.fast_tokenizer import FastTokenizer, settings_of
from xenc.models.ort import OnnxSession
from xenc.models.resolve import _sha256
from xenc.models.runtime import length_batches

ONNX_FILE = "query_encoder.onnx"
# The weights, outside the graph: ONNX Runtime maps them instead of parsing ~90 MB of protobuf,
# which cut session start by ~0.1 s of a cold `xenc search` (issue 12).
DATA_FILE = "query_encoder.onnx.data"
TOKENIZER_FILE = "query_tokenizer.json"
OUTPUT = "embeddings"
ATOL = 1e-4
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
CHECK_TEXTS = [
    "how do I keep a sourdough starter alive",
    "",
    "a",
    "Ünïcödé, MIXED case and punctuation?!",
    "river " * 600,  # longer than any max length: truncated
    "what is the boiling point of water at sea level",
    "search engines rank documents by score",
    "naïve café — déjà vu",
]


def _tokenizer_settings(record: dict[str, Any]) -> dict[str, Any]:
    return {k: record.get(k) for k in ("pad_token", "padding_side", "truncation_side")
            if record.get(k) is not None}


def export_query_encoder(encoder: Any, directory: Path, *, atol: float = ATOL) -> dict[str, Any]:
    """Export and check ``encoder``'s query side into ``directory``; return the record.

    Never raises for a model that cannot be exported or that fails the check: the record then
    says ``"check": {"passed": false, "reason": ...}`` and names no file.
    """
    directory = Path(directory)
    onnx_file, tok_file = directory / ONNX_FILE, directory / TOKENIZER_FILE
    data_file = directory / DATA_FILE
    base = {"runtime": "onnxruntime", "output": OUTPUT, "dim": encoder.dim,
            "pooling": encoder.pooling, "max_length": encoder.max_length,
            "lowercase": bool(encoder.layout.lowercase), **settings_of(encoder.tokenizer)}
    base.pop("model_max_length", None)
    try:
        names = _export(encoder, onnx_file, tok_file)
        files = {"file": ONNX_FILE, "tokenizer": TOKENIZER_FILE}
        if data_file.is_file():
            files["data"] = DATA_FILE
        query = OnnxQueryEncoder(directory, {**base, **files, "inputs": names})
        check = compare(encoder, query, atol)
    except (ModelError, ImportError, ValueError, RuntimeError) as exc:
        check = {"passed": False, "reason": " ".join(str(exc).split())[:300]}
    if not check["passed"]:
        for path in (onnx_file, data_file, tok_file):
            path.unlink(missing_ok=True)
        return {**base, "check": check}
    from xenc.models.export import OPSET

    return {**base, **files, "inputs": names,
            "opset": OPSET, "bytes": onnx_file.stat().st_size, "sha256": _sha256(onnx_file),
            "tokenizer_sha256": _sha256(tok_file), "check": check}


def _export(encoder: Any, onnx_file: Path, tok_file: Path) -> list[str]:
    import inspect

    import torch

    from xenc.models.encoder import pool
    from xenc.models.export import trace_module
    from xenc.models.runtime import eager_attention

    model, mode = encoder.model, encoder.pooling
    enc = encoder.tokenizer(["a b c", "a longer text for the trace"], padding=True,
                            truncation=True, max_length=encoder.max_length)
    accepted = inspect.signature(model.forward).parameters
    names = [n for n in INPUTS if n in enc and n in accepted]
    if "input_ids" not in names or "attention_mask" not in names:
        raise ModelError("cannot export the query encoder: it takes no input_ids/attention_mask")
    batch = {n: np.asarray(enc[n], dtype=np.int64) for n in names}

    class Embed(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(self, *args: Any) -> Any:
            inputs = dict(zip(names, args, strict=True))
            pooled = pool(self.inner(**inputs)[0], inputs["attention_mask"], mode)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    traced = onnx_file.with_name(onnx_file.name + ".traced")
    try:
        with eager_attention(model):
            trace_module(Embed(), batch, traced, OUTPUT)
        split_weights(traced, onnx_file, DATA_FILE)
    finally:
        model.eval()
        traced.unlink(missing_ok=True)
    encoder.tokenizer.backend_tokenizer.save(str(tok_file))
    return names


def split_weights(source: Path, target: Path, data_name: str) -> None:
    """Re-save ``source`` as ``target`` with its weights in ``data_name`` next to it, through
    ONNX Runtime (no ``onnx`` package needed), after the basic graph optimizations only:
    constant folding and redundant-node removal, which hold on any hardware. The fusions that
    depend on the machine stay for load time.

    Raises:
        ModelError: onnxruntime cannot read ``source``.
    """
    from xenc.models.ort import import_onnxruntime

    ort = import_onnxruntime()
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(target)
    options.log_severity_level = 3
    options.add_session_config_entry(
        "session.optimized_model_external_initializers_file_name", data_name)
    options.add_session_config_entry(
        "session.optimized_model_external_initializers_min_size_in_bytes", "1024")
    try:
        ort.InferenceSession(str(source), sess_options=options,
                             providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own untyped errors
        text = " ".join(str(exc).split())[:300]
        raise ModelError(f"cannot re-save {source}: {type(exc).__name__}: {text}") from exc


def compare(encoder: Any, query: OnnxQueryEncoder, atol: float) -> dict[str, Any]:
    """Torch vs ONNX embeddings of :data:`CHECK_TEXTS`, batched and one by one."""
    want = encoder.encode(CHECK_TEXTS)
    got = [query.encode(CHECK_TEXTS)] + [query.encode([t]) for t in CHECK_TEXTS]
    diff = max(float(np.abs(g - (want if len(g) > 1 else want[i - 1 : i])).max())
               for i, g in enumerate(got))
    cosine = min(float(np.min(np.sum(g * (want if len(g) > 1 else want[i - 1 : i]), axis=1)))
                 for i, g in enumerate(got))
    passed = diff <= atol and 1.0 - cosine <= atol
    out: dict[str, Any] = {"passed": passed, "texts": len(CHECK_TEXTS), "atol": atol,
           "max_abs_diff": diff, "min_cosine": cosine}
    if not passed:
        out["reason"] = f"ONNX embeddings differ from torch by {diff:.2e} (atol {atol:g})"
    return out


class OnnxQueryEncoder:
    """Query embeddings from an index's ``query_encoder.onnx`` (ONNX Runtime, CPU).

    Args:
        directory: The index generation holding the files.
        record: The manifest's ``query_encoder`` record.
        prepack: See :class:`~xenc.models.ort.OnnxSession` (off: sooner ready, for one query).

    Raises:
        ModelError: A file is missing or cannot be loaded.
    """

    def __init__(self, directory: str | Path, record: dict[str, Any], *,
                 batch_size: int = 64, prepack: bool = True) -> None:
        directory = Path(directory)
        self.record = record
        self._tokenizer = FastTokenizer(directory / record["tokenizer"],
                                        **_tokenizer_settings(record))
        self._session = OnnxSession(directory / record["file"], output=OUTPUT, prepack=prepack)
        self.dim = int(record["dim"])
        self.max_length = int(record["max_length"])
        self.pooling = str(record["pooling"])
        self.lowercase = bool(record.get("lowercase"))
        self.batch_size = batch_size
        self.backend = "onnx"

    @property
    def tokenizer(self) -> FastTokenizer:
        return self._tokenizer

    def encode(
        self,
        texts: Sequence[str],
        *,
        batch_size: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Embed texts as :meth:`xenc.models.encoder.Encoder.encode` does (unit-length rows)."""
        if isinstance(texts, str) or any(not isinstance(t, str) for t in texts):
            raise UsageError("encode() expects a sequence of strings")
        if self.lowercase:
            texts = [t.lower() for t in texts]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for idx in length_batches([len(t) for t in texts], batch_size or self.batch_size):
            enc = self._tokenizer([texts[i] for i in idx], truncation=True,
                                  max_length=self.max_length, padding=True)
            out[idx] = self._session({k: np.asarray(v, dtype=np.int64) for k, v in enc.items()})
            if progress is not None:
                progress(len(idx))
        return out
