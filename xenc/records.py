"""Frozen records passed between stages: Document → Chunk → Candidate → Result.

Stages never pass raw dicts: fields are validated once at the edge (``xenc.io.corpus``,
``xenc.io.files``) and turned into these. ``to_dict`` emits plain ``str``/``int``/``float``
so records serialize identically whatever produced them (numpy or torch scalars never leak).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from xenc.errors import UsageError

T = TypeVar("T")


def trec_order(
    items: Iterable[T], score: Callable[[T], float], doc_id: Callable[[T], str]
) -> list[T]:
    """Sort as trec_eval does: score descending, ties by document id DESCENDING.

    Every ranking xenc outputs (first stage, fusion, rerank) uses this order, so ``xenc eval``,
    ``xenc search --format trec`` and trec_eval run on that file agree exactly. Ids compare by
    code point, which is the byte order of their UTF-8 (trec_eval's ``strcmp``).
    """
    out = sorted(items, key=doc_id, reverse=True)
    out.sort(key=score, reverse=True)  # stable: equal scores keep the id order
    return out


@dataclass(frozen=True)
class Document:
    """One corpus entry. ``metadata`` holds every input field other than id/text/title."""

    id: str
    text: str
    title: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Chunk:
    """A passage of a document: ``text[start:end]`` of its body, numbered from 0.

    ``row`` is the passage's position in the BM25 and HNSW arrays of an index.
    """

    row: int
    doc_id: str
    chunk_no: int
    start: int
    end: int
    text: str
    title: str = ""

    def passage(self) -> str:
        """The text that encoders and rerankers see: the title, then the passage."""
        if not self.title:
            return self.text
        return f"{self.title}\n{self.text}" if self.text.strip() else self.title


@dataclass(frozen=True)
class Query:
    """One query: its id (``qid`` in results) and its text.

    Made from files by :mod:`xenc.io.corpus`, from strings by :func:`as_queries`.
    """

    id: str
    text: str


def as_queries(queries: str | Query | Iterable[str | Query]) -> Iterator[Query]:
    """Queries from a string, a :class:`Query`, or an iterable of either: the one way a
    string becomes a query (``xenc search "TEXT"``, :func:`xenc.search`, ``Searcher.search``).

    Strings get ids as on the shell: one string is query ``"1"``; in a list, a string's id is
    its 1-based position.

    Raises:
        UsageError: An element is neither a string nor a Query with a string text.
    """
    if isinstance(queries, str | Query):
        queries = [queries]
    for position, item in enumerate(queries, start=1):
        if isinstance(item, str):
            yield Query(str(position), item)
        elif isinstance(item, Query) and isinstance(item.text, str):
            yield item
        else:
            raise UsageError(f"queries must be strings or xenc.Query, got {type(item).__name__}")


@dataclass(frozen=True)
class Candidate:
    """A first-stage hit at document level (passage scores already pooled).

    ``rows`` are the document's passages that matched, best first; the reranker scores them.
    """

    doc_id: str
    score: float
    rank: int
    rows: tuple[int, ...] = ()


@dataclass(frozen=True)
class Result:
    """One line of ``xenc search`` (and ``xenc rerank``) output.

    ``score`` is what the ranking used: the first stage's score without a reranker, else the
    reranker's score after ``fusion`` (``none``, ``rrf`` or ``linear:W``). ``rerank_score``
    keeps the reranker's own score (after its activation, before fusion), the one to
    threshold; it is ``None`` for a candidate the reranker did not score. ``query`` is the
    query's text, so that records can be fed to ``xenc score`` (with ``text``).
    ``passage_no`` says which passage ``text`` is, when it is a passage, not the document.

    ``index`` (the document's 0-based position in a rerank request) is set by ``xenc rerank``
    only; ``first_stage_score`` is ``None`` there when the input gave no first-stage scores
    (a request's documents), and both are then left out of :meth:`to_dict`.
    """

    qid: str
    rank: int
    doc_id: str
    score: float
    first_stage_rank: int
    first_stage_score: float | None
    reranked: bool
    title: str = ""
    text: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    reranked_count: int | None = None
    index: int | None = None
    query: str | None = None
    rerank_score: float | None = None
    fusion: str | None = None
    passage_no: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"qid": str(self.qid)}
        if self.query is not None:
            out["query"] = self.query
        out.update({
            "rank": int(self.rank),
            "doc_id": str(self.doc_id),
        })
        if self.index is not None:
            out["index"] = int(self.index)
        out["score"] = float(self.score)
        out["rerank_score"] = None if self.rerank_score is None else float(self.rerank_score)
        out["first_stage_rank"] = int(self.first_stage_rank)
        if self.first_stage_score is not None:
            out["first_stage_score"] = float(self.first_stage_score)
        out["reranked"] = bool(self.reranked)
        out["fusion"] = self.fusion
        out["title"] = self.title
        if self.reranked_count is not None:
            out["reranked_count"] = int(self.reranked_count)
        if self.text is not None:
            out["text"] = self.text
        if self.passage_no is not None:
            out["passage_no"] = int(self.passage_no)
        if self.metadata:
            out["metadata"] = self.metadata
        return out
