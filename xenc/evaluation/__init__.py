"""Measuring retrieval: ``xenc eval`` and ``xenc.evaluate``, ``xenc.compare``.

``metrics`` (trec_eval's measures per query, :func:`~xenc.evaluation.metrics.score_run`, and
their means, :func:`~xenc.evaluation.metrics.mean_over_queries`), ``pipelines`` (an index's
first stage and reranked runs on judged queries: :func:`xenc.evaluate`), ``comparison`` (run
files compared with a baseline: :func:`xenc.compare`), ``significance`` (paired tests and
corrections) and ``plot``. Only ``pipelines`` runs a search; nothing here imports the CLI.
"""
