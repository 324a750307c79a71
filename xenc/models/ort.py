"""ONNX Runtime backends for the cross-encoder: which file each backend reads, and the session.

``xenc export MODEL`` (:mod:`xenc.models.export`) writes ``model.onnx`` (fp32) and
``model-int8.onnx`` (dynamically quantized) into the model directory;
:class:`~xenc.models.cross_encoder.CrossEncoder` with ``backend="onnx"`` or ``"onnx-int8"``
runs them here on the CPU. onnxruntime is an optional dependency
(``pip install 'xenc[onnx]'``) and is imported inside functions only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from xenc.errors import ModelError, UsageError, param
from xenc.models.resolve import ResolvedModel, model_file

BACKENDS = ("auto", "torch", "onnx", "onnx-int8")
ONNX_FILES = {"onnx": "model.onnx", "onnx-int8": "model-int8.onnx"}
# Written by `xenc export` next to the ONNX files: what was checked against torch, and how.
EXPORT_RECORD = "onnx-export.json"
INSTALL_HINT = "pip install 'xenc[onnx]'"


def check_backend(backend: str) -> str:
    """Normalize a backend name.

    Raises:
        UsageError: Not one of auto, torch, onnx, onnx-int8.
    """
    value = str(backend).strip().lower()
    if value not in BACKENDS:
        raise UsageError(f"unknown backend {backend!r}: use {', '.join(BACKENDS)}")
    return value


def onnx_eligible(device: str | None) -> bool:
    """Whether ``auto`` may pick ONNX on this device (ONNX Runtime runs on the CPU here)."""
    return (device or "cpu").strip().lower().split(":")[0] == "cpu"


def import_onnxruntime() -> Any:
    """The ``onnxruntime`` module.

    Raises:
        ModelError: onnxruntime is not installed.
    """
    try:
        import onnxruntime
    except ImportError as exc:
        raise ModelError(f"the ONNX backends need onnxruntime: {INSTALL_HINT}") from exc
    return onnxruntime


def cpu_count() -> int:
    """Cores this process may run on (the CPU affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


class CpuDevice(str):
    """The CPU as an ONNX backend's device: ``"cpu"`` with torch.device's ``type``, so the
    ONNX path never imports torch just to name its device."""

    @property
    def type(self) -> str:
        return "cpu"


def cpu_device(device: str | None, backend: str) -> CpuDevice:
    """The device of an ONNX backend: the CPU (``None``, ``"auto"`` and ``"cpu"`` mean it).

    Raises:
        UsageError: Any other device, whether or not this machine has it.
    """
    spec = (device or "cpu").strip().lower()
    if spec != "auto" and spec.split(":")[0] != "cpu":
        raise UsageError(
            f"--backend {backend} runs on the CPU only, not {device}: "
            "use --device cpu, or --backend torch on a GPU"
        )
    return CpuDevice("cpu")


def onnx_path(model: ResolvedModel, backend: str) -> Path:
    """The ONNX file a backend reads from the model directory.

    Raises:
        ModelError: The model has no such file (it was never exported).
    """
    filename = ONNX_FILES[backend]
    found = model_file(model, filename)
    if found is None:
        raise ModelError(
            f"{model.name} has no {filename} for {param('backend')} {backend}: "
            f"run `xenc export {model.name}` first (or use {param('backend')} torch)"
        )
    return found


class OnnxSession:
    """An onnxruntime CPU session returning float32 logits for padded integer inputs.

    Args:
        path: The ``.onnx`` file.
        threads: Intra-op threads; default all cores available to this process.
        output: The graph output to return (``"embeddings"`` for a query encoder).
        prepack: Let ONNX Runtime repack the weights for its GEMM kernels at load. For the
            MiniLM query encoder that costs ~50 ms at load and saves ~3 ms a query, so a
            one-query ``xenc search`` turns it off (issue 12).

    Raises:
        ModelError: onnxruntime is missing, or the file cannot be loaded.
    """

    def __init__(
        self, path: str | Path, *, threads: int | None = None, output: str = "logits",
        prepack: bool = True,
    ) -> None:
        ort = import_onnxruntime()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or cpu_count()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only: no optimizer chatter on stderr
        # Idle threads sleep instead of spinning: between batches the same cores run torch (the
        # query encoder, the first stage), and spinning ORT threads doubled its latency.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if not prepack:
            options.add_session_config_entry("session.disable_prepacking", "1")
        try:
            self.session = ort.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own untyped errors
            text = " ".join(str(exc).split())[:300]
            raise ModelError(f"cannot load {path}: {type(exc).__name__}: {text}") from exc
        self.path = Path(path)
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output = output

    def __call__(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """Run one batch: ``batch`` maps input names to ``(batch, seq)`` int64 arrays."""
        missing = [name for name in self.input_names if name not in batch]
        if missing:
            raise ModelError(
                f"{self.path} expects inputs {', '.join(missing)} that the tokenizer does not "
                "produce: re-export the model"
            )
        feed = {name: np.ascontiguousarray(batch[name], dtype=np.int64)
                for name in self.input_names}
        (logits,) = self.session.run([self.output], feed)
        return np.asarray(logits, dtype=np.float32)
