"""The first stage: a query in, document candidates out, from an opened index.

``base`` (the :class:`~xenc.retrieval.base.Retriever` record, pooling passages to documents),
one module per retriever (``bm25``, ``dense``, ``hybrid``), and ``stage`` (the registry
:data:`~xenc.retrieval.stage.RETRIEVERS` and :func:`~xenc.retrieval.stage.first_stage`).
It never imports the rerank stage (:mod:`xenc.reranking`), nor it this one.
"""
