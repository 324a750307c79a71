"""Export a cross-encoder to ONNX: ``model.onnx`` (fp32) and ``model-int8.onnx`` (int8).

:func:`export_onnx` traces the transformers model to ONNX, quantizes the weights to int8
(dynamic quantization: activations are quantized at run time, nothing to calibrate), checks
both files against torch on a few pairs with the same session settings the ONNX backends use
(:class:`xenc.models.ort.OnnxSession`), and only then moves them into place, atomically. The
files are what :class:`~xenc.models.cross_encoder.CrossEncoder` reads with ``backend="onnx"``
/ ``"onnx-int8"``.

torch, onnx and onnxruntime are imported inside functions only.
"""

from __future__ import annotations

import copy
import inspect
import json
import os
import shutil
import uuid
import warnings
from pathlib import Path
from typing import Any, cast

import numpy as np

from xenc.errors import ModelError, UsageError
from xenc.models import onnx_weights
from xenc.models.backend import export_record
from xenc.models.fast_tokenizer import TOKENIZER_FILE, FastTokenizer
from xenc.models.ort import (
    EXPORT_RECORD,
    INSTALL_HINT,
    ONNX_FILES,
    OnnxSession,
    import_onnxruntime,
)
from xenc.models.resolve import model_file
from xenc.models.runtime import eager_attention

OPSET = 17
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# Weights and earlier exports are not copied by ``out_dir``: the ONNX file holds the weights.
_NOT_COPIED = {".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".msgpack", ".onnx",
               ".onnx_data", ".ot", ".tflite"}
# Checked after export, in one padded batch and one by one: short, long (truncated), empty.
CHECK_PAIRS = [
    ("what is a cat", "the cat sat on the mat"),
    ("how do search engines rank documents", "by score " * 3),
    ("river", "a long river runs through the mountain valley toward the sea " * 80),
    ("", "empty query"),
    ("search", ""),
    ("water boils at what temperature", "at sea level water boils at one hundred degrees"),
    ("a query too long to fit on its own " * 60, "so the pair is cut longest first"),
    ("Ünïcödé and MIXED case", "naïve café — déjà vu"),
]


def _refuse_causal_lm(model: str) -> None:
    from xenc.models.causal_lm import is_causal_lm
    from xenc.models.resolve import resolve_model

    resolved = resolve_model(model, kind="reranker")
    if is_causal_lm(resolved):
        raise ModelError(
            f"{resolved.name} is a causal-LM reranker: xenc export does not export this family "
            "(no ONNX graph of it has been checked against torch); it runs with torch, which "
            "--backend auto picks for it"
        )


def export_onnx(
    model: str,
    out_dir: str | Path | None = None,
    *,
    quantize: bool = True,
    per_channel: bool = False,
    atol: float = 1e-4,
    trust_pickle_weights: bool = False,
    half_weights: bool = False,
) -> dict[str, Any]:
    """Write ``model.onnx`` and ``model-int8.onnx`` for a sequence-classification model.

    Args:
        model: Local model directory or hub id (a hub id needs ``out_dir``).
        out_dir: Where to write; default the model directory. Another directory gets the
            model's config and tokenizer files too (not its torch weights), so it loads as
            a model with ``backend="onnx"``/``"onnx-int8"``.
        quantize: Also write the int8 file.
        per_channel: Quantize weights per channel instead of per tensor (off: see
            :func:`_quantize`).
        atol: Largest allowed absolute difference between fp32 ONNX and torch logits.
        trust_pickle_weights: Allow ``pytorch_model.bin`` weights (pickle can run code).
        half_weights: Store ``model.onnx``'s weight matrices in float16, each read through a
            Cast to float32 (:func:`xenc.models.onnx_weights.halve_weights`): half the file,
            the same fp32 arithmetic.
            Lossless for a model saved in float16 (as xenc's shipped reranker); for other
            models the usual check against torch (``atol``) decides.

    Returns:
        ``out_dir``, ``files`` (backend → path), ``bytes`` (backend → size), ``inputs``,
        ``opset``, ``max_diff`` (backend → max abs logit difference from torch).

    Raises:
        UsageError: A hub id without ``out_dir``, or ``atol`` not positive.
        ModelError: The model cannot be loaded or exported, onnx/onnxruntime are missing,
            or the fp32 file differs from torch by more than ``atol``.
    """
    from xenc.models.cross_encoder import CrossEncoder
    from xenc.models.reranker import load_reranker

    if not atol > 0:
        raise UsageError(f"atol must be positive, got {atol}")
    _require_onnx()
    _refuse_causal_lm(model)
    # load_reranker, the one constructor: a causal LM was refused above, so a CrossEncoder
    ce = cast(CrossEncoder, load_reranker(
        model, device="cpu", trust_pickle_weights=trust_pickle_weights, backend="torch"))
    target = _target_dir(ce.resolved, out_dir)
    batch = {k: v.cpu().numpy() for k, v in ce.tokenize(CHECK_PAIRS).items()}
    names = _input_names(ce.model, batch)
    tokenizer_match = _tokenizer_matches(ce, target, names)
    wanted = {"onnx": True, "onnx-int8": quantize}
    temps = {b: _temp_file(target, ONNX_FILES[b]) for b, on in wanted.items() if on}
    try:
        expected = _torch_logits(ce.model, batch, names)
        _trace_fastest(ce.model, {n: batch[n] for n in names}, temps["onnx"], expected, atol)
        if quantize:  # from the float32 trace: the quantizer reads weights, not Casts
            onnx_weights.quantize(temps["onnx"], temps["onnx-int8"], per_channel)
        if half_weights:
            onnx_weights.halve_weights(temps["onnx"])
        diffs = {"onnx": _max_diff(temps["onnx"], batch, expected)}
        if diffs["onnx"] > atol:
            raise ModelError(
                f"ONNX export of {ce.resolved.name} differs from torch by {diffs['onnx']:.2e} "
                f"(more than {atol:g}): not written"
            )
        if quantize:
            diffs["onnx-int8"] = _max_diff(temps["onnx-int8"], batch, expected)
        files = {b: target / ONNX_FILES[b] for b in temps}
        record = target / EXPORT_RECORD
        (target / EXPORT_RECORD).unlink(missing_ok=True)  # no stale record while files move
        for b, temp in temps.items():
            os.replace(temp, files[b])
        summary = export_record(ce.resolved, files, diffs, atol=atol, opset=OPSET,
                                inputs=names, tokenizer_match=tokenizer_match)
        temp_record = _temp_file(target, EXPORT_RECORD)
        temps["record"] = temp_record
        temp_record.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        os.replace(temp_record, record)
    finally:
        for temp in temps.values():
            temp.unlink(missing_ok=True)
    return {
        "model": ce.resolved.name,
        "out_dir": str(target),
        "files": {b: str(p) for b, p in files.items()},
        "bytes": {b: p.stat().st_size for b, p in files.items()},
        "inputs": names,
        "opset": OPSET,
        "max_diff": diffs,
        "checked": summary["checked"],
        "tokenizer_matches_transformers": tokenizer_match,
    }


def _tokenizer_matches(ce: Any, target: Path, names: list[str]) -> bool:
    """Whether ``tokenizer.json`` alone (:class:`FastTokenizer`, as the ONNX backends load it)
    gives transformers' ids, lengths and limits on the check pairs. Writes ``tokenizer.json``
    from the loaded tokenizer when the directory has none."""
    file = target / TOKENIZER_FILE
    if not file.is_file():
        ce.tokenizer.backend_tokenizer.save(str(file))
    fast = FastTokenizer.from_dir(target)
    hf = ce.tokenizer
    hf_limit = int(hf.model_max_length) if hf.model_max_length < 1e29 else fast.model_max_length
    if (fast.model_max_length, fast.pad_token_id or 0, fast.padding_side) != (
        hf_limit, hf.pad_token_id or 0, hf.padding_side
    ):
        return False
    alt = copy.copy(ce)
    alt._tokenizer = fast
    lengths = [ce._pair_lengths(CHECK_PAIRS), alt._pair_lengths(CHECK_PAIRS)]
    if any(not np.array_equal(a, b) for a, b in zip(*lengths, strict=True)):
        return False
    for pairs in (CHECK_PAIRS, *([p] for p in CHECK_PAIRS)):
        want = ce._tokenize(list(pairs), ce._pair_lengths(list(pairs))[0])
        got = alt._tokenize(list(pairs), alt._pair_lengths(list(pairs))[0])
        if any(not np.array_equal(want[n], got.get(n)) for n in names):
            return False
    return True


def _require_onnx() -> None:
    import_onnxruntime()
    try:
        import onnx  # noqa: F401 - the quantizer needs it
    except ImportError as exc:
        raise ModelError(f"xenc export needs onnx: {INSTALL_HINT}") from exc


def _target_dir(resolved: Any, out_dir: str | Path | None) -> Path:
    """The output directory, with the model's config and tokenizer files when it is new."""
    config = model_file(resolved, "config.json")
    if config is None:
        raise ModelError(f"{resolved.name} has no config.json")
    source = config.parent
    if out_dir is None:
        if resolved.is_hub:
            raise UsageError(
                f"{resolved.name} is a hub model: pass -o DIR to write the ONNX files elsewhere"
            )
        return source
    target = Path(out_dir).expanduser()
    if target.exists() and not target.is_dir():
        raise UsageError(f"{target} exists and is not a directory")
    target.mkdir(parents=True, exist_ok=True)
    if target.resolve() != source.resolve():
        for item in sorted(source.iterdir()):
            if item.is_file() and not item.name.startswith(".") and item.suffix not in _NOT_COPIED:
                shutil.copyfile(item, target / item.name)
    return target


def _input_names(model: Any, batch: dict[str, np.ndarray]) -> list[str]:
    """The inputs the tokenizer produces and the model's forward takes, in a fixed order."""
    accepted = inspect.signature(model.forward).parameters
    names = [n for n in INPUTS if n in batch and n in accepted]
    if "input_ids" not in names:
        raise ModelError("cannot export: the model takes no input_ids")
    return names


def _temp_file(directory: Path, name: str) -> Path:
    """An unused hidden name next to ``name``; the writer creates it (with the umask's mode)."""
    return directory / f".{name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"


def _trace_fastest(model: Any, batch: dict[str, np.ndarray], path: Path,
                   expected: np.ndarray, atol: float) -> None:
    """Trace with an additive attention mask where the model takes one and the graph then
    matches torch within ``atol``; otherwise as the model builds its own mask.

    Given the usual 0/1 ``attention_mask``, transformers' eager attention builds its additive
    mask in the graph with a ``Where`` over a ``(batch, 1, seq, seq)`` tensor on every run:
    6% of the shipped reranker's forward pass (issue 29). Handing the model the additive
    ``(batch, 1, 1, seq)`` mask of BERT's original formulation, ``(1 - mask) × float32 min``,
    computes the same scores without it (ONNX Runtime broadcasts it in the Add it does
    anyway). A model that rejects a 4-D mask, or reads it differently, fails the check and
    is traced the plain way.
    """
    if "attention_mask" in batch:
        try:
            _trace(model, batch, path, additive_mask=True)
            if _max_diff(path, batch, expected) <= atol:
                return
        except ModelError:
            pass
    _trace(model, batch, path)


def _trace(model: Any, batch: dict[str, np.ndarray], path: Path, *,
           additive_mask: bool = False) -> None:
    """Export with the TorchScript-based exporter (``dynamo=False``).

    Why not the default dynamo exporter (torch.export) of torch >= 2.9: on BERT-style models
    both match torch to ~1e-8, but the dynamo exporter needs the extra ``onnxscript`` package,
    takes ~20x longer (10 s instead of 0.5 s for a tiny BERT) and prints progress lines. The
    tracer is still in torch 2.13 (deprecated: the warning is silenced below; when it goes,
    switch to ``dynamo=True`` with ``dynamic_shapes`` and add onnxscript to the extra), and
    handles these models reliably: transformers builds the attention mask without shortcuts
    while tracing, and the traced batch has several rows and padding, so batch and sequence
    axes are both dynamic. :func:`_max_diff` then runs other shapes (each pair alone,
    unpadded), which catches a trace that does not generalize.
    """
    import torch

    names = list(batch)

    class Logits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(self, *args: Any) -> Any:
            inputs = dict(zip(names, args, strict=True))
            if additive_mask:
                keep = inputs["attention_mask"][:, None, None, :].to(torch.float32)
                inputs["attention_mask"] = (1.0 - keep) * torch.finfo(torch.float32).min
            return self.inner(**inputs).logits

    try:
        with eager_attention(model):
            trace_module(Logits(), batch, path, "logits")
    finally:
        model.eval()


def trace_module(wrapper: Any, batch: dict[str, np.ndarray], path: Path, output: str) -> None:
    """Trace ``wrapper`` (positional inputs in ``batch`` order, one output) to ONNX at ``path``
    with dynamic batch and sequence axes (see :func:`_trace` for why this exporter).

    Raises:
        ModelError: The exporter failed.
    """
    import torch

    names = list(batch)
    # A fresh module is in training mode, and the exporter restores that mode on exit, which
    # would switch the wrapped model's dropout on: keep everything in eval mode.
    wrapper = wrapper.eval()
    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    args = tuple(torch.from_numpy(batch[n]) for n in names)
    try:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")  # TracerWarnings and the exporter's deprecation
            torch.onnx.export(
                wrapper, args, str(path), input_names=names, output_names=[output],
                dynamic_axes={**axes, output: {0: "batch"}}, opset_version=OPSET,
                do_constant_folding=True, dynamo=False,
            )
    except Exception as exc:  # noqa: BLE001 - any exporter failure is one ModelError line
        text = " ".join(str(exc).split())[:300]
        raise ModelError(f"ONNX export failed: {type(exc).__name__}: {text}") from exc


def _torch_logits(model: Any, batch: dict[str, np.ndarray], names: list[str]) -> np.ndarray:
    import torch

    with torch.inference_mode():
        inputs = {n: torch.from_numpy(batch[n]) for n in names}
        return model(**inputs).logits.float().numpy()


def _max_diff(path: Path, batch: dict[str, np.ndarray], expected: np.ndarray) -> float:
    """Largest |ONNX - torch| logit, on the padded batch and on each pair alone."""
    session = OnnxSession(path)
    worst = float(np.abs(session(batch) - expected).max())
    mask = batch.get("attention_mask", np.ones_like(batch["input_ids"]))
    for row in range(len(expected)):
        # each pair alone, unpadded (left or right): batches of one, of other lengths
        keep = np.flatnonzero(mask[row])
        single = {k: v[row : row + 1, keep] for k, v in batch.items()}
        worst = max(worst, float(np.abs(session(single)[0] - expected[row]).max()))
    return worst


