"""``xenc export``: write ONNX files of a cross-encoder for ``--backend onnx|onnx-int8``.

A thin wrapper over :func:`xenc.models.export.export_onnx`, merged into the main app in
:mod:`xenc.cli.app`; exit codes come from :func:`xenc.cli.options.handle_errors`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from xenc.cli.options import TrustPickle, handle_errors, make_subapp, remote_code_option

app = make_subapp()


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.0f} kB"


@app.command("export")
@handle_errors
@remote_code_option
def export_cmd(
    model: Annotated[str, typer.Argument(help="Cross-encoder: a model directory or hub id.")],
    out_dir: Annotated[Path | None, typer.Option(
        "--out-dir", "-o", help="Write here, with config and tokenizer files (default: the "
        "model directory).", show_default=False)] = None,
    quantize: Annotated[bool, typer.Option(
        "--int8/--no-int8", help="Also write model-int8.onnx (dynamic int8 weights).")] = True,
    half_weights: Annotated[bool, typer.Option(
        "--half-weights", help="Store model.onnx's weights in float16 (half the file; it "
        "still computes in float32). Lossless for a model saved in float16.")] = False,
    trust_pickle_weights: TrustPickle = False,
) -> None:
    """Export a cross-encoder to ONNX: model.onnx (fp32) and model-int8.onnx (int8).

    Both files are checked against torch on a few pairs before they replace any earlier
    export (fp32 must agree to 1e-4); a one-line summary goes to stderr. Then score, search
    and eval run them on the CPU with --backend onnx or --backend onnx-int8.

    \b
    Examples:
      xenc export my-reranker
      xenc export cross-encoder/ms-marco-MiniLM-L6-v2 -o models/minilm-onnx
    """
    from xenc.models.export import export_onnx
    from xenc.progress import note

    summary = export_onnx(model, out_dir, quantize=quantize, half_weights=half_weights,
                          trust_pickle_weights=trust_pickle_weights)
    kinds = {"onnx": "fp32", "onnx-int8": "int8"}
    parts = [
        f"{Path(path).name} {_size(summary['bytes'][b])} ({kinds[b]}, max diff from torch "
        f"{summary['max_diff'][b]:.1e})"
        for b, path in summary["files"].items()
    ]
    note(f"exported {summary['model']} to {summary['out_dir']}: {'; '.join(parts)}")
