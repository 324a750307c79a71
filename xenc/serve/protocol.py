"""The request and response shapes ``xenc serve`` speaks: Cohere's rerank (``/v1/rerank``,
``/v2/rerank``), text-embeddings-inference's (``/rerank``) and xenc's own ``/search``.

Parsing is strict about the fields it knows (a wrong type, a missing ``query``, a ``top_n``
below 1 is a :class:`BadRequest` naming the field) and ignores fields it does not, as the public
APIs' clients send some (``rank_fields``, ``max_chunks_per_doc``, ``truncation_direction``
``"right"``). Nothing here touches the model or the web framework.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import orjson

COHERE_MAX_TOKENS_PER_DOC = 4096  # Cohere's default


class BadRequest(Exception):
    """A request the server refuses: an HTTP status and a one-line reason."""

    def __init__(self, status: int, message: str, kind: str = "Validation",
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.headers = headers or {}


def error_body(message: str, kind: str) -> dict[str, str]:
    """One error body readable by both families of clients: Cohere's SDKs read ``message``,
    TEI's ``error`` and ``error_type``."""
    return {"message": message, "error": message, "error_type": kind}


def parse_json(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(400, f"invalid JSON: {exc}", "Json") from None
    if not isinstance(value, dict):
        raise BadRequest(400, f"the body must be a JSON object, not {_kind(value)}", "Json")
    return value


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
             int: "an integer", float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _invalid(name: str, wanted: str, value: Any) -> BadRequest:
    return BadRequest(422, f"{name} must be {wanted}, got {_kind(value)}")


def _query(body: dict[str, Any]) -> str:
    if "query" not in body:
        raise BadRequest(422, "missing field: query")
    query = body["query"]
    if not isinstance(query, str):
        raise _invalid("query", "a string", query)
    if not query.strip():
        raise BadRequest(400, "query is empty", "Empty")
    return query


def _flag(body: dict[str, Any], name: str, default: bool | None) -> bool | None:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _invalid(name, "true or false", value)
    return value


def _count(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(name, "an integer", value)
    if value < 1:
        raise BadRequest(422, f"{name} must be at least 1, got {value}")
    return value


def _texts(body: dict[str, Any], name: str, *, objects: bool, cap: int) -> list[Any]:
    if name not in body:
        raise BadRequest(422, f"missing field: {name}")
    items = body[name]
    if not isinstance(items, list):
        raise _invalid(name, "an array", items)
    if not items:
        raise BadRequest(400, f"{name} is empty", "Empty")
    if len(items) > cap:
        raise BadRequest(413, f"{len(items)} {name} in one request; this server takes at most "
                         f"{cap} (--max-docs)", "Validation")
    for i, item in enumerate(items):
        if isinstance(item, str) or objects and isinstance(item, dict) and isinstance(
                item.get("text"), str):
            continue
        wanted = 'a string or an object with a string "text"' if objects else "a string"
        raise _invalid(f"{name}[{i}]", wanted, item)
    return items


@dataclass(frozen=True)
class CohereCall:
    """A parsed Cohere rerank request."""

    query: str
    documents: list[Any]  # strings, or objects with "text" (kept as sent, for the response)
    top_n: int | None
    return_documents: bool
    max_tokens_per_doc: int
    model: str | None

    @property
    def texts(self) -> list[str]:
        return [d if isinstance(d, str) else d["text"] for d in self.documents]


def parse_cohere(body: dict[str, Any], cap: int) -> CohereCall:
    """A Cohere ``/v1/rerank`` or ``/v2/rerank`` request (``model`` is optional here)."""
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise _invalid("model", "a string", model)
    return CohereCall(
        query=_query(body),
        documents=_texts(body, "documents", objects=True, cap=cap),
        top_n=_count(body, "top_n"),
        return_documents=bool(_flag(body, "return_documents", False)),
        max_tokens_per_doc=_count(body, "max_tokens_per_doc") or COHERE_MAX_TOKENS_PER_DOC,
        model=model,
    )


def ranked(scores: list[float], top_n: int | None) -> list[int]:
    """Positions best first; ties in the order :meth:`CrossEncoder.rank` gives them
    (the later position first, as trec_eval orders equal scores)."""
    order = sorted(range(len(scores)), reverse=True)
    order.sort(key=scores.__getitem__, reverse=True)
    return order[:top_n]


def cohere_response(call: CohereCall, scores: list[float], version: str) -> dict[str, Any]:
    """Cohere's response: ``id``, ``results`` best first, ``meta``."""
    results = []
    for i in ranked(scores, call.top_n):
        entry: dict[str, Any] = {"index": i, "relevance_score": scores[i]}
        if call.return_documents:
            doc = call.documents[i]
            entry["document"] = {"text": doc} if isinstance(doc, str) else doc
        results.append(entry)
    return {"id": str(uuid.uuid4()), "results": results,
            "meta": {"api_version": {"version": version}, "billed_units": {"search_units": 1}}}


@dataclass(frozen=True)
class TeiCall:
    """A parsed text-embeddings-inference ``/rerank`` request."""

    query: str
    texts: list[str]
    raw_scores: bool
    return_text: bool
    truncate: bool


def parse_tei(body: dict[str, Any], cap: int) -> TeiCall:
    """A TEI ``/rerank`` request. ``truncate`` left out means true (TEI's ``--auto-truncate``:
    as ``xenc score`` does); ``truncate: false`` refuses a pair longer than the model reads."""
    direction = body.get("truncation_direction")
    if direction is not None and (not isinstance(direction, str) or direction.lower() != "right"):
        raise BadRequest(422, 'truncation_direction: only "right" is supported')
    return TeiCall(
        query=_query(body),
        texts=_texts(body, "texts", objects=False, cap=cap),
        raw_scores=bool(_flag(body, "raw_scores", False)),
        return_text=bool(_flag(body, "return_text", False)),
        truncate=bool(_flag(body, "truncate", True)),
    )


def tei_response(call: TeiCall, scores: list[float]) -> list[dict[str, Any]]:
    """TEI's response: ``[{"index", "score", "text"?}]``, best first."""
    out = []
    for i in ranked(scores, None):
        entry: dict[str, Any] = {"index": i, "score": scores[i]}
        if call.return_text:
            entry["text"] = call.texts[i]
        out.append(entry)
    return out


COUNT_FIELDS = ("k", "candidates", "passages_per_doc", "rrf_k")


@dataclass(frozen=True)
class SearchCall:
    """A parsed ``/search`` request: a query, its id, and overrides of the search parameters."""

    qid: str
    query: str
    overrides: dict[str, Any]
    with_text: bool


def parse_search(body: dict[str, Any]) -> SearchCall:
    """``{"query", "qid"?, "k"?, "candidates"?, "retriever"?, "aggregate"?,
    "passages_per_doc"?, "fusion"?, "rrf_k"?, "budget_ms"?, "with_text"?}``."""
    qid = body.get("qid", "1")
    if isinstance(qid, bool) or not isinstance(qid, str | int):
        raise _invalid("qid", "a string", qid)
    overrides: dict[str, Any] = {}
    for name in COUNT_FIELDS:
        if (value := _count(body, name)) is not None:
            overrides[name] = value
    for name in ("retriever", "aggregate", "fusion"):
        if (value := body.get(name)) is not None:
            if not isinstance(value, str):
                raise _invalid(name, "a string", value)
            overrides[name] = value
    budget = body.get("budget_ms")
    if budget is not None:
        if isinstance(budget, bool) or not isinstance(budget, int | float) or budget <= 0:
            raise BadRequest(422, "budget_ms must be a positive number")
        overrides["budget_ms"] = float(budget)
    return SearchCall(str(qid), _query(body), overrides,
                      bool(_flag(body, "with_text", False)))
