"""Running the app: one uvicorn server, one process, one model, listening where asked.

The socket is bound here, before uvicorn starts, so that a port in use is one error line and
``--port 0`` (any free port) can say which port it got. On SIGTERM or Ctrl-C uvicorn stops
accepting connections, lets the requests in flight finish, runs the app's shutdown (the model
thread ends once its queue is empty) and returns; :func:`run` then returns too, so the
process exits 0. (uvicorn raises the signal again once it is done, meaning to end the process
with the default action; :func:`_signals_handled` makes that a no-op.)
"""

from __future__ import annotations

import signal
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from xenc.errors import XencError

if TYPE_CHECKING:
    from xenc.models.reranker import Reranker

EXTRA = "pip install 'xenc[serve]'"


def require_serve() -> None:
    """Check that the web stack is installed.

    Raises:
        XencError: It is not (exit 1), naming the extra to install.
    """
    try:
        import prometheus_client  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise XencError(f"xenc serve needs the serve extra ({exc.name} is missing): "
                        f"{EXTRA}") from None


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port).

    Raises:
        XencError: The address cannot be used (in use, not this machine's, no permission).
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        raise XencError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def address(sock: socket.socket) -> str:
    """``http://host:port`` of a bound socket."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@contextmanager
def _signals_handled() -> Iterator[None]:
    """SIGINT and SIGTERM do nothing by themselves while uvicorn runs inside this block:
    uvicorn shuts down gracefully on them and then raises them again, here harmlessly."""
    previous = {sig: signal.signal(sig, lambda *_: None)
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run(app: Any, sock: socket.socket, *, ready: Callable[[str], None] | None = None) -> None:
    """Serve ``app`` on ``sock`` until SIGTERM or Ctrl-C; return after a graceful shutdown.

    Raises:
        XencError: uvicorn could not start the app.
    """
    import uvicorn

    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                            timeout_graceful_shutdown=None, server_header=False)
    server = uvicorn.Server(config)
    if ready is not None:
        ready(address(sock))
    try:
        with _signals_handled():
            server.run(sockets=[sock])
    except SystemExit:
        raise XencError("the server could not start (see the lines above)") from None
    finally:
        sock.close()


def serve(
    reranker: Reranker,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    api_key: str | None = None,
    limits: Any = None,
    index: Any = None,
    notify: Callable[[str], None] | None = None,
) -> None:
    """Serve ``reranker`` (a loaded one-score CrossEncoder) over HTTP until SIGTERM or Ctrl-C.

    Args:
        reranker: The cross-encoder; only the server's model thread calls it from now on.
        host: Address to listen on (default loopback only).
        port: Port (0: any free one, said through ``notify``).
        api_key: When set, every request needs ``Authorization: Bearer KEY``.
        limits: A :class:`xenc.serve.app.Limits` (default limits if None).
        index: An opened index (:func:`xenc.pipeline.open_index`): enables ``POST /search``.
        notify: Gets one line when the server listens (its address).

    Raises:
        XencError: The extra is missing, the model has several labels, or the address
            cannot be used.
    """
    require_serve()
    from xenc.config import SearchParams
    from xenc.reranking.stage import check_reranker
    from xenc.serve.app import Limits, Service, create_app

    check_reranker(reranker)
    service = Service(reranker, limits or Limits(), api_key=api_key, index=index,
                      params=SearchParams())
    sock = bind(host, port)
    name = reranker.resolved.name

    def ready(url: str) -> None:
        if notify is not None:
            notify(f"serving {name} ({reranker.backend}) on {url}"
                   f"{' with /search' if index is not None else ''}")

    run(create_app(service), sock, ready=ready)
