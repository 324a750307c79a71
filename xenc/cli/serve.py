"""``xenc serve``: the cross-encoder over HTTP (merged into xenc.cli.app).

Thin: it checks the extra is installed, loads the model (and the index, with --index-dir)
once, and hands them to :func:`xenc.serve.server.serve`, which runs until SIGTERM or Ctrl-C
and returns after a graceful shutdown (exit 0).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from xenc.cli.options import (
    REPLACED,
    Device,
    RerankerLoader,
    handle_errors,
    make_subapp,
    reranker_options,
)
from xenc.config import ENV_API_KEY, ENV_INDEX_DIR

app = make_subapp()


@app.command("serve")
@handle_errors
@reranker_options(optional=False)
def serve_cmd(
    host: Annotated[str, typer.Option(
        "--host", help="Address to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(
        "--port", min=0, max=65535, help="Port (0: any free port, said on stderr).")] = 8080,
    api_key: Annotated[str | None, typer.Option(
        "--api-key", envvar=ENV_API_KEY, show_default=False,
        help="Require Authorization: Bearer KEY on every request (else 401).")] = None,
    model: RerankerLoader = REPLACED,  # the cross-encoder options (reranker_options)
    index_dir: Annotated[Path | None, typer.Option(
        "--index-dir", envvar=ENV_INDEX_DIR, show_default=False,
        help="Also serve POST /search over this index.")] = None,
    max_batch_tokens: Annotated[int, typer.Option(
        "--max-batch-tokens", min=1,
        help="Padded tokens per forward pass (pairs x longest pair).")] = 16384,
    max_queue: Annotated[int, typer.Option(
        "--max-queue", min=1, help="Requests queued for the model at once; past it, 503.")] = 256,
    max_docs: Annotated[int, typer.Option(
        "--max-docs", min=1, help="Documents per rerank request; past it, 413.")] = 1000,
    timeout: Annotated[float, typer.Option(
        "--timeout", min=0.001, help="Seconds a request may wait and run; past it, 504.")] = 30.0,
    device: Device = None,
) -> None:
    """Serve the cross-encoder over HTTP: Cohere's /v1/rerank and /v2/rerank, TEI's /rerank,
    /search (with --index-dir), /health and /metrics. Needs pip install 'xenc[serve]'.

    One model, loaded once; pairs of concurrent requests share length-sorted batches. SIGTERM
    or Ctrl-C stops accepting, finishes the requests in flight and exits 0.

    \b
    Examples:
      xenc serve --port 8080
      XENC_API_KEY=secret xenc serve --host 0.0.0.0 --reranker DIR --index-dir idx
    """
    from xenc.progress import note
    from xenc.serve.server import require_serve, serve

    require_serve()  # before a model is loaded
    from xenc.pipeline import open_index
    from xenc.serve.app import Limits

    limits = Limits(max_docs=max_docs, timeout=timeout, max_queue=max_queue,
                    max_batch_tokens=max_batch_tokens, batch_size=model.options["batch_size"])
    reranker = model()
    index = None
    if index_dir is not None:
        index = open_index(index_dir, device=device, backend=model.backend)
    serve(reranker, host=host, port=port, api_key=api_key, limits=limits, index=index,
          notify=note)
    note("stopped: every request answered")
