"""The first stage: the registered retrievers, and a query's candidates from an opened index.

A retriever is one module of :mod:`xenc.retrieval` (``bm25``, ``dense``, ``hybrid``) that makes
a :class:`~xenc.retrieval.base.Retriever`, registered in :data:`RETRIEVERS`. Callers read
what it needs (``needs_vector``, ``lexical_only``) from there, never from its name.
"""

from __future__ import annotations

import numpy as np

from xenc.config import NEEDS, SearchParams
from xenc.errors import UsageError, param
from xenc.index.reader import Index
from xenc.records import Candidate
from xenc.retrieval import bm25, dense, hybrid
from xenc.retrieval.base import Retriever, encode_queries

RETRIEVERS = {r.name: r for r in (bm25.RETRIEVER, dense.RETRIEVER, hybrid.RETRIEVER)}


def retriever(name: str | None) -> Retriever:
    """The registered retriever ``name`` (a resolved :attr:`SearchParams.retriever`)."""
    if name not in RETRIEVERS:
        raise UsageError(f"{param('retriever')} must be one of {', '.join(RETRIEVERS)}, "
                         f"not {name!r}")
    return RETRIEVERS[name]


def resolve_params(index: Index, params: SearchParams) -> SearchParams:
    """``params`` with the retriever decided for ``index`` (what it holds, unless told).

    Raises:
        UsageError: The retriever needs a part the index was built without.
    """
    return params.for_index(index.retrievers, index.directory)


def first_stage(
    index: Index, text: str, params: SearchParams, vector: np.ndarray | None = None
) -> list[Candidate]:
    """Candidates for one query. ``vector`` (its embedding) is computed here when the
    retriever needs one and none is given.

    ``params`` were validated when made (:class:`xenc.config.SearchParams`) and are resolved
    against the index here (:func:`resolve_params`): the retriever is registered, and the
    index holds what it needs.
    """
    params = resolve_params(index, params)
    chosen = retriever(params.retriever)
    if chosen.needs_vector and vector is None:
        vector = encode_queries(index, [text])[0]
    return chosen.find(index, text, vector, params)


def warm_up(index: Index, params: SearchParams) -> None:
    """Load what the first stage needs before any query is timed (parts load lazily).
    ``params`` are resolved (:func:`resolve_params`)."""
    needs = NEEDS[str(params.retriever)]  # the index parts the retriever reads
    if "bm25" in needs:
        _ = index.bm25
    if "dense" in needs:
        _ = index.encoder, index.embeddings
        if not params.exact:
            _ = index.graph


def first_stage_without_torch(index: Index, params: SearchParams) -> bool:
    """Whether the first stage of ``params`` on ``index`` runs without torch (BM25, or a
    checked ONNX query encoder), so that a model may load on another thread beside it
    (:class:`xenc.background.Loading`)."""
    chosen = retriever(resolve_params(index, params).retriever)
    return not chosen.needs_vector or index.onnx_queries
