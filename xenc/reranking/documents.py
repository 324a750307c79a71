"""Rerank what the caller already has: a query and its documents in, ranked records out.

The use case behind ``xenc rerank`` and :func:`xenc.rerank` (and the one a server calls): the
documents come from the caller's own first stage (a vector database, Elasticsearch, a TREC run),
in the order it ranked them, and go through the same rerank stage as ``xenc search``
(:func:`xenc.reranking.stage.rerank`: passages, ``aggregate``, time budgets, fusion,
trec_eval's order). Requests are read and checked by :mod:`xenc.io.requests`.

**Passages.** A document is cut into passages by the reranker's own tokenizer with the
chunker of the index (:mod:`xenc.index.chunking`: windows on word boundaries, the title in
front of each), sized so that query, title and passage fit the reranker's ``max_length``
together, overlapping by 32 tokens. A document that fits is one passage (title, a newline,
the text: what ``xenc search`` reads), so its score is ``xenc score``'s for that pair.
``max``/``sum`` read a document's first ``passages_per_doc`` passages (there are no
first-stage passage scores to pick the best ones), ``first`` only its opening.

**Fusion.** The input order is the first-stage ranking (``first_stage_rank`` = position + 1).
Unlike ``search``, a model's own fusion (``xenc_fusion`` in its config) is *not* applied by
default: it was validated against xenc's first stage, and a caller's list may be in any order
(Cohere's and TEI's APIs rank by the model alone). ``fusion="rrf"`` or ``"linear:W"`` asks
for it; the default, ``None``, is the same as ``"none"``: the model's order.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from xenc.config import ChunkParams, SearchParams, check_number
from xenc.errors import UsageError
from xenc.index.chunking import chunk_spans
from xenc.io.requests import BadRequest, as_documents, check_query
from xenc.records import Candidate, Chunk, Document, Result
from xenc.reranking.stage import Budget, check_reranker
from xenc.reranking.stage import rerank as rerank_stage

if TYPE_CHECKING:
    from xenc.models.reranker import Reranker

STRIDE = 32  # passage overlap in tokens, as the index's default ChunkParams


@dataclass(frozen=True)
class RerankOptions:
    """How documents are reranked (``xenc rerank``'s options; :func:`xenc.rerank`'s keywords).

    ``top_n`` (``None``: all) is the default of requests that give none. ``budget`` is shared
    by every request it is passed with, so the cost per pair it learns carries over.

    Raises:
        UsageError: An unknown ``aggregate`` or ``fusion``, a ``top_n`` or
            ``passages_per_doc`` below 1, or a ``budget_ms`` not above 0.
    """

    top_n: int | None = None
    aggregate: str = "max"
    passages_per_doc: int = 3
    fusion: str | None = None
    with_text: bool = False
    budget_ms: float | None = None

    def __post_init__(self) -> None:
        SearchParams(aggregate=self.aggregate, fusion=self.fusion)  # the one place they are checked
        if self.top_n is not None:
            check_number("top_n", self.top_n, minimum=1, integer=True)
        check_number("passages_per_doc", self.passages_per_doc, minimum=1, integer=True)
        if self.budget_ms is not None:
            check_number("budget_ms", self.budget_ms, above=0)

    @property
    def fusion_spec(self) -> str:
        """The fusion applied: the one asked for, else ``none`` (never the model's own)."""
        return "none" if self.fusion is None else self.fusion

    def budget(self) -> Budget | None:
        """A fresh :class:`Budget` for ``budget_ms`` (``None`` without one)."""
        return None if self.budget_ms is None else Budget(self.budget_ms)


class TextPassages:
    """The :class:`xenc.reranking.stage.Passages` of one request: its documents cut into passages.

    Rows number the request's passages from 0. ``model`` gives the tokenizer and the window
    (see the module docstring); a model without a ``tokenizer`` reads documents whole.
    """

    def __init__(self, model: Reranker, query: str, docs: Sequence[Document]) -> None:
        spans = _spans(model, query, docs)
        self._first: dict[str, int] = {}
        self._chunks: dict[int, Chunk] = {}
        self.rows: list[tuple[int, ...]] = []
        for doc, doc_spans in zip(docs, spans, strict=True):
            start = len(self._chunks)
            self._first[doc.id] = start
            for no, (a, b) in enumerate(doc_spans):
                row = start + no
                self._chunks[row] = Chunk(row, doc.id, no, a, b, doc.text[a:b], doc.title)
            self.rows.append(tuple(range(start, len(self._chunks))))

    def first_rows(self, doc_ids: Any) -> dict[str, int]:
        return {d: self._first[d] for d in doc_ids}

    def chunks(self, rows: Any) -> dict[int, Chunk]:
        return {int(r): self._chunks[int(r)] for r in rows}


def _spans(model: Reranker, query: str, docs: Sequence[Document]) -> list[list[tuple[int, int]]]:
    tokenizer = getattr(model, "tokenizer", None)
    max_length = getattr(model, "max_length", None)
    if tokenizer is None or not max_length:
        return [[(0, len(d.text))] for d in docs]
    query_tokens = len(tokenizer([query], add_special_tokens=False, return_attention_mask=False,
                                 verbose=False)["input_ids"][0])
    # chunking keeps 2 tokens of a window for [CLS]/[SEP]; a pair adds one more [SEP]
    window = max(int(max_length) - query_tokens - 1, int(max_length) // 4, 8)
    return chunk_spans(docs, tokenizer, ChunkParams(window, min(STRIDE, window // 4)))


def rerank_documents(
    model: Reranker,
    query: str,
    documents: Sequence[Document],
    options: RerankOptions = RerankOptions(),
    *,
    qid: str = "1",
    top_n: int | None = None,
    first_stage_scores: Sequence[float] | None = None,
    first_stage_ranks: Sequence[int] | None = None,
    budget: Budget | None = None,
) -> list[Result]:
    """Rerank one query's documents with a loaded cross-encoder: the records, best first.

    Pure: it reads nothing but its arguments and keeps no state (but ``budget``'s estimate).

    Args:
        model: A loaded one-score :class:`~xenc.models.cross_encoder.CrossEncoder`.
        query: The query text.
        documents: The documents, in first-stage order (:func:`as_documents` checks raw ones).
        options: Aggregation, passages, fusion, text, default ``top_n``.
        qid: The records' ``qid``.
        top_n: Records returned (default ``options.top_n``, else all).
        first_stage_scores: Each document's first-stage score (a run's), if known.
        first_stage_ranks: Each document's first-stage rank (default: position + 1).
        budget: A time budget (:class:`xenc.reranking.stage.Budget`, shared across calls).

    Returns:
        One :class:`Result` per returned document, ranks 1..n; ``index`` is the document's
        position in ``documents``.
    """
    ranks = list(first_stage_ranks or range(1, len(documents) + 1))
    passages = TextPassages(model, query, documents)
    per_doc = options.passages_per_doc
    candidates = [
        Candidate(doc.id, 0.0 if first_stage_scores is None else float(first_stage_scores[i]),
                  ranks[i], passages.rows[i][:per_doc])
        for i, doc in enumerate(documents)
    ]
    ranked = rerank_stage(passages, model, query, candidates, aggregate=options.aggregate,
                          passages_per_doc=per_doc, budget=budget, fusion=options.fusion_spec)
    position = {doc.id: i for i, doc in enumerate(documents)}
    count = sum(1 for s in ranked if s.reranked) if budget is not None else None
    limit = top_n if top_n is not None else options.top_n
    out = []
    for rank, scored in enumerate(ranked[:limit], start=1):
        i = position[scored.candidate.doc_id]
        doc = documents[i]
        out.append(Result(
            qid=qid, rank=rank, doc_id=doc.id, index=i, score=scored.score,
            first_stage_rank=ranks[i], first_stage_score=None if first_stage_scores is None
            else float(first_stage_scores[i]), reranked=scored.reranked, title=doc.title,
            text=doc.text if options.with_text else None, metadata=doc.metadata,
            reranked_count=count, query=query, rerank_score=scored.rerank_score,
            fusion=options.fusion_spec,
        ))
    return out


def rerank(
    query: str,
    documents: Sequence[str | dict[str, Any] | Document],
    reranker: Any = None,
    *,
    top_n: int | None = None,
    qid: str = "1",
    aggregate: str = "max",
    passages_per_doc: int = 3,
    fusion: str | None = None,
    budget_ms: float | None = None,
    with_text: bool = False,
    batch_size: int = 32,
    max_length: int | None = None,
    backend: str = "auto",
    device: str | None = None,
    instruction: str | None = None,
) -> list[Result]:
    """Rerank ``documents`` for ``query``: the records ``xenc rerank`` prints, best first.

    Args:
        query: The query text.
        documents: Strings, objects (dicts) with ``text`` and optional ``id``, ``title`` and
            other fields (kept as ``metadata``), or :class:`Document` records; in first-stage
            order. A document without an id is named by its 0-based position.
        reranker: A loaded :class:`~xenc.models.cross_encoder.CrossEncoder`, a model name or
            directory, or ``None`` for the default reranker (``XENC_RERANKER``, else the one
            shipped). ``batch_size``, ``max_length``, ``backend``, ``device`` and
            ``instruction`` (causal-LM rerankers' task instruction) apply when it is loaded
            here.
        top_n: Return only the best ``top_n`` (default: all).
        qid: The records' ``qid``.
        aggregate: ``max``, ``first`` or ``sum`` over a document's passages.
        passages_per_doc: For ``max``/``sum``: a document's first N passages are read.
        fusion: ``None``/``"none"`` (the model's order), ``"rrf"`` or ``"linear:W"`` with the
            input order (see the module docstring: a model's own fusion is not applied).
        budget_ms: Rerank, in input order, only what fits in this many ms; the rest follow
            in input order (``reranked`` false).
        with_text: Add each document's ``text`` to the records.

    Raises:
        UsageError: A bad query, documents, option, or a several-label model.
        ModelError: The reranker cannot be loaded.
    """
    options = RerankOptions(top_n, aggregate, passages_per_doc, fusion, with_text, budget_ms)
    try:
        docs = as_documents(documents)
        text = check_query(query)
    except BadRequest as exc:
        raise UsageError(str(exc)) from None
    model = load(reranker, batch_size=batch_size, max_length=max_length, backend=backend,
                 device=device, **({"instruction": instruction} if instruction else {}))
    return rerank_documents(model, text, docs, options, qid=str(qid), budget=options.budget())


def load(reranker: Any, **settings: Any) -> Any:
    """``reranker`` loaded (a name, a directory, or ``None``: the default) and checked."""
    if reranker is None or isinstance(reranker, str | os.PathLike):
        from xenc.models.reranker import load_reranker

        reranker = load_reranker(None if reranker is None else str(reranker), **settings)
    check_reranker(reranker)
    return reranker
