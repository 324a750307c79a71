"""The rerank stage, and the use cases that are only reranking.

``stage`` (candidates → cross-encoder scores → reranked documents: passages, ``aggregate``,
time budgets, fusion; it reads passage text through the narrow ``Passages`` protocol and never
sees an index), ``documents`` (a caller's own documents through the stage: ``xenc.rerank``),
``streams`` (``xenc rerank``: JSONL requests or a TREC run) and ``scoring`` (``xenc score``:
pairs in, scores out). It never imports the first stage (:mod:`xenc.retrieval`), nor it this
one; :mod:`xenc.pipeline` composes the two.
"""
