"""Models: finding, loading and running the bi-encoder and the cross-encoder.

``resolve.py`` (names, paths, the bundled models, safe loading), ``encoder.py`` (bi-encoder),
``cross_encoder.py`` (:class:`CrossEncoder`), ``runtime.py`` (devices, dtypes, batching),
``ort.py`` and ``export.py`` (ONNX), ``info.py`` (``xenc models``). torch, transformers and
onnxruntime are imported inside functions only. Nothing here imports the stages, the use
cases or the CLI; see docs/architecture.md.
"""
