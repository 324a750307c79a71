"""What :func:`xenc.models.export.export_onnx` does to a traced graph's weights: dynamic int8
quantization (``model-int8.onnx``) and float16 storage of the float32 graph's weights.

onnx and onnxruntime are imported inside functions only.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from xenc.errors import ModelError


def halve_weights(path: Path, min_size: int = 1024) -> None:
    """Rewrite the float32 initializers of ``min_size`` elements or more as float16, each
    behind a ``Cast`` to float32 under its old name: the graph computes in float32 as before,
    and onnxruntime folds the casts into constants when the session starts."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    casts, kept, halves = [], [], []
    for init in graph.initializer:
        if init.data_type != TensorProto.FLOAT or int(np.prod(init.dims)) < min_size:
            kept.append(init)
            continue
        half = numpy_helper.to_array(init).astype(np.float16)
        halves.append(numpy_helper.from_array(half, f"{init.name}.fp16"))
        casts.append(helper.make_node("Cast", [f"{init.name}.fp16"], [init.name],
                                      to=TensorProto.FLOAT, name=f"{init.name}.to_fp32"))
    del graph.initializer[:]
    graph.initializer.extend(kept + halves)
    nodes = casts + list(graph.node)  # casts first: the graph stays topologically sorted
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.save(model, str(path))


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """onnxruntime's quantizer logs advice through the root logger: keep stderr clean."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def _ffn_down_projections(source: Path) -> list[str]:
    """The MatMuls that read the feed-forward activation (BERT's ``layer.N/output/dense``).

    Their inputs (after GELU) have outliers that int8 with one scale per tensor rounds badly;
    kept in fp32 they cost little speed and most of the error goes away. On a trained
    MiniLM-L6 cross-encoder (STS-B), 600 real pairs at max length 128: all MatMuls int8, max
    |Δlogit| 0.72 and Spearman 0.965 against fp32; these kept in fp32, 0.30 and 0.996, at
    the same speed (bench notes in docs/benchmarks.md). Other architectures' names do not
    match and are quantized whole.
    """
    import onnx

    graph = onnx.load(str(source), load_external_data=False).graph
    return [n.name for n in graph.node if n.op_type == "MatMul" and "/output/dense/" in n.name
            and "/attention/" not in n.name]


def quantize(source: Path, target: Path, per_channel: bool) -> None:
    """Dynamic int8 quantization: signed int8 weights, activations quantized at run time,
    except the feed-forward down-projections (:func:`_ffn_down_projections`).

    Per tensor by default: onnxruntime's per-channel MatMul weights use a reduced 7-bit range,
    and on tiny BERT cross-encoders per-channel logits were 2-7x further from fp32 (max abs
    difference 0.18 vs 0.018 at logit spread 0.17; 0.53 vs 0.08 at spread 0.34).
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    try:
        with _quiet_root_logger(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_dynamic(
                source, target, weight_type=QuantType.QInt8, per_channel=per_channel,
                nodes_to_exclude=_ffn_down_projections(source),
            )
    except Exception as exc:  # noqa: BLE001 - any quantizer failure is one ModelError line
        text = " ".join(str(exc).split())[:300]
        raise ModelError(f"int8 quantization failed: {type(exc).__name__}: {text}") from exc
