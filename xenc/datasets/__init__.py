"""Converters from published retrieval test collections into xenc's JSONL and qrels.

``convert(src, out_dir, fmt="auto", split="test")`` writes ``corpus.jsonl``,
``queries.jsonl`` and ``qrels.tsv``; the readers below stream plain dicts and can be used on
their own. Supported formats: BEIR folders, TREC SGML (documents, topics, qrels), SMART
(``.I``/``.T``/``.A``/``.W`` records) and the classic collections CISI, MEDLINE, CACM, ADI,
LISA and Vaswani (NPL) in their published layouts.
"""

from __future__ import annotations

from xenc.datasets.adapters import (
    DATASET_FORMATS,
    detect_format,
    open_collection,
    read_adi,
    read_cacm,
    read_cisi,
    read_lisa,
    read_medline,
    read_smart,
    read_trec,
    read_vaswani,
)
from xenc.datasets.beir import read_beir, read_beir_corpus, read_beir_queries
from xenc.datasets.collection import Collection
from xenc.datasets.convert import OUTPUT_FILES, ConvertSummary, convert
from xenc.datasets.judgments import read_judgments, read_lisa_judgments
from xenc.datasets.lisa import read_lisa_docs, read_lisa_queries
from xenc.datasets.smart import (
    read_smart_docs,
    read_smart_queries,
    read_smart_records,
    smart_document,
    smart_query,
)
from xenc.datasets.trec import read_trec_docs, read_trec_topics

__all__ = [
    "DATASET_FORMATS",
    "OUTPUT_FILES",
    "Collection",
    "ConvertSummary",
    "convert",
    "detect_format",
    "open_collection",
    "read_adi",
    "read_beir",
    "read_beir_corpus",
    "read_beir_queries",
    "read_cacm",
    "read_cisi",
    "read_judgments",
    "read_lisa",
    "read_lisa_docs",
    "read_lisa_judgments",
    "read_lisa_queries",
    "read_medline",
    "read_smart",
    "read_smart_docs",
    "read_smart_queries",
    "read_smart_records",
    "read_trec",
    "read_trec_docs",
    "read_trec_topics",
    "read_vaswani",
    "smart_document",
    "smart_query",
]
