"""xenc: two-stage retrieval with cross-encoder reranking.

The Python API mirrors the command line::

    from xenc import build_index, open_index, search, evaluate, CrossEncoder, Query

    build_index("corpus.jsonl", "idx")
    index = open_index("idx")
    for result in search(index, [Query("1", "how to sharpen a knife")], reranker=None):
        print(result.to_dict())

Heavy libraries (torch, transformers, hnswlib) load only when a model or graph is used.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "build_index": "xenc.pipeline",
    "open_index": "xenc.pipeline",
    "search": "xenc.pipeline",
    "run_queries": "xenc.pipeline",
    "Searcher": "xenc.searcher",
    "CorpusFields": "xenc.io.corpus",
    "rerank": "xenc.reranking.documents",
    "score_stream": "xenc.reranking.scoring",
    "evaluate": "xenc.evaluation.pipelines",
    "compare": "xenc.evaluation.comparison",
    "Comparison": "xenc.evaluation.comparison",
    "read_run": "xenc.io.runs",
    "Index": "xenc.index.reader",
    "Encoder": "xenc.models.encoder",
    "CrossEncoder": "xenc.models.cross_encoder",
    "CausalLMReranker": "xenc.models.causal_lm",
    "load_reranker": "xenc.models.reranker",
    "export_onnx": "xenc.models.export",
    "convert": "xenc.datasets",
    "read_corpus": "xenc.io.corpus",
    "read_queries": "xenc.io.corpus",
    "read_qrels": "xenc.io.qrels",
    "Document": "xenc.records",
    "Query": "xenc.records",
    "Candidate": "xenc.records",
    "Result": "xenc.records",
    "ChunkParams": "xenc.config",
    "HNSWParams": "xenc.config",
    "SearchParams": "xenc.config",
    "XencError": "xenc.errors",
    "InputError": "xenc.errors",
    "UsageError": "xenc.errors",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'xenc' has no attribute {name!r}")
