"""The ASGI app of ``xenc serve`` (Starlette): routes, auth, limits, errors and metrics.

Every route goes through :func:`_route`, which checks the API key, times the request, turns
every failure into a JSON body with a 4xx or 5xx status (never a traceback) and counts it in
the metrics. Handlers parse with :mod:`xenc.serve.protocol`, score through the one
:class:`~xenc.serve.batcher.Batcher` (the only thread that touches the model) and answer.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from xenc.errors import XencError
from xenc.serve.batcher import Batcher, QueueFull, TooLong
from xenc.serve.metrics import Metrics
from xenc.serve.protocol import (
    BadRequest,
    cohere_response,
    error_body,
    parse_cohere,
    parse_json,
    parse_search,
    parse_tei,
    tei_response,
)

if TYPE_CHECKING:
    from xenc.models.reranker import Reranker

log = logging.getLogger("xenc.serve")


@dataclass(frozen=True)
class Limits:
    """Per-request limits and the model queue's shape (the CLI's options).

    Attributes:
        max_docs: Documents (texts) per rerank request; past it, 413.
        timeout: Seconds a request may take once queued; past it, 504.
        max_queue: Requests admitted to the model queue at once; past it, 503.
        max_batch_tokens: Padded tokens per forward pass.
        batch_size: Pairs per forward pass.
        max_body: Bytes of a request body; past it, 413.
        retry_after: Seconds a 503 asks the client to wait.
    """

    max_docs: int = 1000
    timeout: float = 30.0
    max_queue: int = 256
    max_batch_tokens: int = 16384
    batch_size: int = 32
    max_body: int = 32 * 1024 * 1024
    retry_after: int = 1


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def _error(status: int, message: str, kind: str, headers: dict[str, str] | None = None) -> JSON:
    return JSON(error_body(message, kind), status_code=status, headers=headers)


class Service:
    """What the handlers share: the model's batcher, the optional index, limits, metrics.

    Used from the event loop's one thread; the model and the index only through
    :attr:`batcher`, whose worker is the one thread that calls them.
    """

    def __init__(self, reranker: Reranker, limits: Limits, *, api_key: str | None = None,
                 index: Any = None, params: Any = None) -> None:
        from xenc.models.pair_scorer import PairScorer

        self.reranker = reranker
        self.scorer = PairScorer(reranker)
        self.limits = limits
        self.api_key = api_key or None
        self.index = index
        self.params = params
        self.batcher = Batcher(self.scorer, batch_size=limits.batch_size,
                               max_batch_tokens=limits.max_batch_tokens,
                               max_queue=limits.max_queue)
        self.metrics = Metrics(lambda: self.batcher.depth)
        self.batcher.on_batch = self.metrics.batch

    async def scores(self, pairs: list[tuple[str, str]], *, raw: bool = False,
                     truncate: bool = True, max_doc_tokens: int | None = None) -> list[float]:
        """One score per pair: the model's activation (as ``xenc score``), or raw logits."""
        future = self.batcher.submit(pairs, truncate=truncate, max_doc_tokens=max_doc_tokens)
        logits = await self._wait(future)
        values = logits if raw else self.scorer.activate(logits)
        return [float(v) for v in np.asarray(values)[:, 0]]

    async def on_model_thread(self, fn: Callable[[], Any]) -> Any:
        return await self._wait(self.batcher.call(fn))

    async def _wait(self, future: asyncio.Future[Any]) -> Any:
        try:
            return await asyncio.wait_for(future, self.limits.timeout)
        except TimeoutError:
            raise BadRequest(504, f"the request took longer than {self.limits.timeout:g} s "
                             "(--timeout)", "Timeout") from None

    def authorized(self, request: Request) -> bool:
        if self.api_key is None:
            return True
        given = request.headers.get("authorization", "")
        scheme, _, token = given.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), self.api_key.encode())


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BadRequest(413, f"request body over {limit} bytes", "Validation")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadRequest(413, f"request body over {limit} bytes", "Validation")
        chunks.append(chunk)
    return b"".join(chunks)


Handler = Callable[[Service, Request], Awaitable[Any]]


def _route(service: Service, name: str, handler: Handler) -> Callable[[Request], Awaitable[Any]]:
    async def endpoint(request: Request) -> Response:
        t0 = time.perf_counter()
        response = await _answer(service, handler, request)
        service.metrics.observe(name, response.status_code, time.perf_counter() - t0)
        return response

    return endpoint


async def _answer(service: Service, handler: Handler, request: Request) -> Response:
    if not service.authorized(request):
        return _error(401, "missing or wrong API key: send Authorization: Bearer KEY",
                      "Unauthorized", {"WWW-Authenticate": "Bearer"})
    try:
        result = await handler(service, request)
        return result if isinstance(result, Response) else JSON(result)
    except BadRequest as exc:
        return _error(exc.status, exc.message, exc.kind, exc.headers)
    except QueueFull as exc:
        return _error(503, f"{exc}; retry later", "Overloaded",
                      {"Retry-After": str(service.limits.retry_after)})
    except TooLong as exc:
        return _error(413, str(exc), "Validation")
    except XencError as exc:
        return _error(422, str(exc), "Validation")
    except ClientDisconnect:
        return _error(499, "client disconnected", "Disconnected")
    except Exception as exc:  # noqa: BLE001 - a JSON 500, the traceback only in the log
        log.error("internal error on %s: %s", request.url.path, exc, exc_info=True)
        return _error(500, f"internal error: {type(exc).__name__}", "Backend")


async def _cohere(service: Service, request: Request, version: str) -> Any:
    call = parse_cohere(parse_json(await _body(request, service.limits.max_body)),
                        service.limits.max_docs)
    scores = await service.scores([(call.query, t) for t in call.texts],
                                  max_doc_tokens=call.max_tokens_per_doc)
    return cohere_response(call, scores, version)


async def cohere_v1(service: Service, request: Request) -> Any:
    return await _cohere(service, request, "1")


async def cohere_v2(service: Service, request: Request) -> Any:
    return await _cohere(service, request, "2")


async def tei_rerank(service: Service, request: Request) -> Any:
    call = parse_tei(parse_json(await _body(request, service.limits.max_body)),
                     service.limits.max_docs)
    scores = await service.scores([(call.query, t) for t in call.texts], raw=call.raw_scores,
                                  truncate=call.truncate)
    return tei_response(call, scores)


async def search(service: Service, request: Request) -> Any:
    if service.index is None:
        raise BadRequest(404, "POST /search needs the server started with --index-dir",
                         "NotFound")
    call = parse_search(parse_json(await _body(request, service.limits.max_body)))
    from xenc.config import SearchParams
    from xenc.pipeline import search as run_search
    from xenc.records import Query

    params = SearchParams(**{**vars(service.params), **call.overrides})  # checked here

    def run() -> list[dict[str, Any]]:
        results = run_search(service.index, [Query(call.qid, call.query)], params,
                             service.reranker, with_text=call.with_text)
        return [r.to_dict() for r in results]

    return {"results": await service.on_model_thread(run)}


async def health(service: Service, request: Request) -> Any:
    model = service.reranker
    return {"status": "ok", "model": model.resolved.name, "backend": model.backend,
            "max_length": service.scorer.max_length, "queue_depth": service.batcher.depth,
            "search": service.index is not None, "torch_imported": "torch" in sys.modules}


async def metrics(service: Service, request: Request) -> Any:
    return Response(generate_latest(service.metrics.registry),
                    headers={"Content-Type": CONTENT_TYPE_LATEST})


ROUTES: list[tuple[str, str, Handler]] = [
    ("/v1/rerank", "POST", cohere_v1),
    ("/v2/rerank", "POST", cohere_v2),
    ("/rerank", "POST", tei_rerank),
    ("/search", "POST", search),
    ("/health", "GET", health),
    ("/metrics", "GET", metrics),
]


def create_app(service: Service) -> Starlette:
    """The Starlette app over ``service``; its lifespan starts and stops the model thread."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        service.batcher.start()
        try:
            yield
        finally:
            service.batcher.stop()

    async def http_error(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        detail = getattr(exc, "detail", "") or "error"
        if status == 404:
            detail = f"no route {request.method} {request.url.path}"
        elif status == 405:
            detail = f"{request.url.path} does not take {request.method}"
        return _error(status, detail, "NotFound" if status == 404 else "Validation",
                      getattr(exc, "headers", None))

    async def crash(request: Request, exc: Exception) -> Response:
        return _error(500, f"internal error: {type(exc).__name__}", "Backend")

    routes = [Route(path, _route(service, path, fn), methods=[method])
              for path, method, fn in ROUTES]
    return Starlette(routes=routes, lifespan=lifespan,
                     exception_handlers={HTTPException: http_error, Exception: crash})
