"""``Searcher``: an open index and its models, kept loaded for repeated queries.

The one-shot functions (:func:`xenc.pipeline.search`) take an opened index and a loaded
reranker; :class:`Searcher` holds both, so a service, a notebook or an editor integration pays
for opening the index and loading the query encoder and cross-encoder once, not per query.
Models load on first use, with the same backend choice as ``xenc search`` (``auto``: ONNX
Runtime where a checked export exists, so a CPU query path without torch).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from xenc.config import SearchParams, text_kind
from xenc.index.reader import Index
from xenc.pipeline import search
from xenc.records import Query, Result, as_queries
from xenc.reranking.stage import check_reranker


class Searcher:
    """An index and its models, open for repeated queries.

    Not thread-safe, as its index and reranker are not (each :meth:`search` makes its own
    parameters and time budget): call :meth:`search` from one thread at a time, or use one
    ``Searcher`` per thread.

    Args:
        index_dir: The index directory.
        reranker: ``None`` (first stage only), a cross-encoder name or directory, or a loaded
            :class:`~xenc.models.cross_encoder.CrossEncoder`.
        params: Default :class:`~xenc.config.SearchParams` of every query.
        backend: ``auto``, ``torch``, ``onnx`` or ``onnx-int8``, for the query encoder and
            (when named here) the cross-encoder.
        device: ``None``/``"cpu"``, ``"cuda"``, ...
        with_text: Add ``text`` to results: ``"document"`` (or ``True``) the document's,
            ``"passage"`` the passage that matched.

    Raises:
        XencError: The index cannot be opened or the reranker loaded.

    Example::

        with Searcher("idx", reranker="models/my-reranker") as searcher:
            for result in searcher.search("how do I keep a sourdough starter alive"):
                print(result.rank, result.doc_id, result.score)
    """

    def __init__(
        self,
        index_dir: str | os.PathLike[str],
        reranker: Any | None = None,
        *,
        params: SearchParams = SearchParams(),
        backend: str = "auto",
        device: str | None = None,
        with_text: bool | str | None = None,
    ) -> None:
        if isinstance(reranker, str | os.PathLike):
            from xenc.models.reranker import load_reranker

            reranker = load_reranker(str(reranker), device=device, backend=backend)
        check_reranker(reranker)
        self.reranker = reranker
        self.params = params
        self.with_text = text_kind(with_text)
        self.index = Index.open(index_dir, device=device, backend=backend)

    def search(
        self, queries: str | Query | Iterable[str | Query], **overrides: Any
    ) -> list[Result]:
        """Results of one query (a string or :class:`Query`) or of many, in query order.

        Strings get ids ``"1"``, ``"2"``, ... in order. ``overrides`` replace fields of the
        searcher's :class:`SearchParams` for this call (``k=3``, ``retriever="bm25"``).
        """
        todo = list(as_queries(queries))
        params = self.params
        if overrides:
            params = SearchParams(**{**vars(self.params), **overrides})
        return list(search(self.index, todo, params, self.reranker, with_text=self.with_text))

    def close(self) -> None:
        """Close the index (its generation is no longer pinned)."""
        self.index.close()

    def __enter__(self) -> Searcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
