"""Named rerankers: ``--reranker qwen3-0.6b`` and the like, mapped to hub ids.

A preset is only a name for a hub id: it resolves as that id does (the local Hugging Face cache
first; offline, a cache miss fails at once with how to fetch it). ``xenc models --presets``
lists the table with each model's size, licence and published quality. Quality is copied from
the source named beside it (a model card), with the metric, the benchmark and the first stage
that was reranked; where no number is published as text, it says so rather than guess.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

_QWEN3_CARD = "Qwen3-Reranker model cards (huggingface.co/Qwen/Qwen3-Reranker-0.6B)"
_QWEN3_SETUP = "MTEB-R (English MTEB v2 retrieval, BEIR-style) NDCG@10"
_QWEN3_FIRST = "top-100 candidates of Qwen3-Embedding-0.6B"


@dataclass(frozen=True)
class Preset:
    """One named reranker.

    Attributes:
        name: The preset name (``--reranker NAME``).
        hub_id: The Hugging Face model it stands for.
        family: ``"causal-lm"`` or ``"sequence-classification"``.
        params: Parameter count, as the model card gives it.
        licence: The licence on the model card.
        quality: The published figure, or ``"not published"``.
        benchmark: Metric and benchmark of ``quality``.
        first_stage: What was reranked to get ``quality``.
        source: Where ``quality`` comes from.
        needs: Flags the model needs (``--trust-remote-code``), if any.
    """

    name: str
    hub_id: str
    family: str
    params: str
    licence: str
    quality: str
    benchmark: str
    first_stage: str
    source: str
    needs: str | None = None

    def record(self) -> dict[str, Any]:
        """The JSON record ``xenc models --presets`` writes."""
        return {"preset": self.name, **{k: v for k, v in asdict(self).items() if k != "name"}}


_MINILM_CARD = "cross-encoder/ms-marco-MiniLM-L6-v2 model card (table of v2 models)"
_TREC = "TREC DL 2019 passage NDCG@10 (MS MARCO dev MRR@10 in brackets)"
_NOT_STATED = "not stated on the card"

PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("minilm-l6", "cross-encoder/ms-marco-MiniLM-L6-v2", "sequence-classification",
           "22.7M", "Apache-2.0", "74.30 (39.01)", _TREC, _NOT_STATED, _MINILM_CARD),
    Preset("minilm-l12", "cross-encoder/ms-marco-MiniLM-L12-v2", "sequence-classification",
           "33.4M", "Apache-2.0", "74.31 (39.02)", _TREC, _NOT_STATED, _MINILM_CARD),
    Preset("bge-v2-m3", "BAAI/bge-reranker-v2-m3", "sequence-classification", "568M",
           "Apache-2.0", "57.03", _QWEN3_SETUP, _QWEN3_FIRST,
           _QWEN3_CARD + ", comparison table (its own card gives figures only as images)"),
    Preset("bge-v2-gemma", "BAAI/bge-reranker-v2-gemma", "causal-lm", "2.5B",
           "see card (Gemma-based)", "not published", "-", "-",
           "its own card gives figures only as images"),
    Preset("qwen3-0.6b", "Qwen/Qwen3-Reranker-0.6B", "causal-lm", "0.6B", "Apache-2.0",
           "65.80", _QWEN3_SETUP, _QWEN3_FIRST, _QWEN3_CARD),
    Preset("qwen3-4b", "Qwen/Qwen3-Reranker-4B", "causal-lm", "4B", "Apache-2.0",
           "69.76", _QWEN3_SETUP, _QWEN3_FIRST, _QWEN3_CARD),
    Preset("qwen3-8b", "Qwen/Qwen3-Reranker-8B", "causal-lm", "8B", "Apache-2.0",
           "69.02", _QWEN3_SETUP, _QWEN3_FIRST, _QWEN3_CARD),
    Preset("mxbai-base-v2", "mixedbread-ai/mxbai-rerank-base-v2", "causal-lm", "0.5B",
           "Apache-2.0", "55.57", "BEIR average NDCG@10", "not stated in the docs read",
           "mixedbread.com docs, mxbai-rerank-base-v2"),
    Preset("mxbai-large-v2", "mixedbread-ai/mxbai-rerank-large-v2", "causal-lm", "1.5B",
           "Apache-2.0", "57.49", "BEIR average NDCG@10", "not stated in the docs read",
           "mixedbread.com docs, mxbai-rerank-large-v2"),
    Preset("gte-multilingual", "Alibaba-NLP/gte-multilingual-reranker-base",
           "sequence-classification", "306M", "Apache-2.0", "59.51", _QWEN3_SETUP,
           _QWEN3_FIRST, _QWEN3_CARD + ", comparison table", "--trust-remote-code"),
    Preset("jina-v2-multilingual", "jinaai/jina-reranker-v2-base-multilingual",
           "sequence-classification", "278M", "CC-BY-NC-4.0 (non-commercial)", "58.22",
           _QWEN3_SETUP, _QWEN3_FIRST, _QWEN3_CARD + ", comparison table",
           "--trust-remote-code"),
)}


def preset_hub_id(name: str) -> str | None:
    """The hub id a preset name stands for (case-insensitive), or None."""
    preset = PRESETS.get(name.strip().lower())
    return preset.hub_id if preset is not None else None
