"""``xenc serve``: the cross-encoder over HTTP, in Cohere's and text-embeddings-inference's
rerank shapes (and ``/search`` over an index), on uvicorn and Starlette.

- :mod:`xenc.serve.protocol`: the request and response shapes, parsed and checked.
- :mod:`xenc.serve.batcher`: the one model thread and its dynamic, token-budgeted batches.
- :mod:`xenc.serve.metrics`: the Prometheus metrics.
- :mod:`xenc.serve.app`: the Starlette app (routes, auth, limits, errors).
- :mod:`xenc.serve.server`: binding, running uvicorn, graceful shutdown; :func:`serve`.

The web stack is an extra (``pip install 'xenc[serve]'``); nothing here is imported by
``import xenc``.
"""
