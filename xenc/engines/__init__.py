"""Engines that run xenc's heavy model stages somewhere other than this process.

``ray`` (:mod:`xenc.engines.ray_runtime`, the optional extra ``xenc[ray]``) runs the
bi-encoder of ``xenc index`` and the cross-encoder of ``xenc score`` on a Ray cluster, as a
Ray Data pipeline through a pool of actors that each load the model once. Everything else
(reading and checking input, chunking, BM25, HNSW, the document store, writing output) stays
in the calling process, so the results are those of the in-process path.
"""
