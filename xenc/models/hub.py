"""The Hugging Face hub: offline or not, reachable or not, and what a cache miss says.

``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) forbids the hub. Without it, a hub id first
costs one TCP connection check to ``HF_ENDPOINT`` (:func:`hub_reachable`, at most
``HUB_PROBE_SECONDS``); an unreachable hub then counts as offline for the rest of the process,
so the cache is used, or a one-line error says how to get the model, instead of
huggingface_hub's minute of retries.
"""

from __future__ import annotations

import os
from pathlib import Path

HUB_PROBE_SECONDS = 3.0
_TRUE = {"1", "true", "yes", "on"}
_REACHABLE: set[str] = set()
_UNREACHABLE: set[str] = set()


def hub_offline() -> bool:
    """Whether the Hugging Face hub must not be contacted: ``HF_HUB_OFFLINE`` (or
    ``TRANSFORMERS_OFFLINE``) is set, or this process already found the hub unreachable."""
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in _TRUE:
            return True
    return hub_endpoint() in _UNREACHABLE


def hub_endpoint() -> str:
    """The hub's address (``HF_ENDPOINT``, by default https://huggingface.co)."""
    return os.environ.get("HF_ENDPOINT", "").strip().rstrip("/") or "https://huggingface.co"


def hub_reachable(timeout: float = HUB_PROBE_SECONDS) -> bool:
    """Whether a TCP connection to the hub (or to the proxy that reaches it) opens within
    ``timeout`` seconds. Checked once per endpoint and process; an unreachable hub then counts
    as offline (:func:`hub_offline`), so nothing retries it.

    huggingface_hub itself retries an unreachable hub for about a minute before giving up;
    this probe is what lets xenc fail (or fall back to the cache) in seconds instead.
    """
    endpoint = hub_endpoint()
    if endpoint in _UNREACHABLE:
        return False
    if endpoint in _REACHABLE:
        return True
    import socket
    import threading
    import urllib.parse
    import urllib.request

    url = urllib.parse.urlsplit(endpoint)
    proxy = urllib.request.getproxies().get(url.scheme or "https")
    if proxy and not urllib.request.proxy_bypass(url.hostname or ""):
        url = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    host = url.hostname or ""
    port = url.port or (443 if url.scheme == "https" else 80)
    result: list[bool] = []

    def probe() -> None:  # in a thread: name resolution ignores socket timeouts
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    ok = bool(result and result[0])
    (_REACHABLE if ok else _UNREACHABLE).add(endpoint)
    return ok


def _offline_reason() -> str:
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in _TRUE:
            return f"{var} is set"
    return f"the hub ({hub_endpoint()}) cannot be reached"


def _not_cached(name: str, why: str) -> str:
    return (
        f"model {name} is not in the local Hugging Face cache and {why} (nor is it a local "
        f"directory): download it on a connected machine (`hf download {name}`) and copy "
        "the cache (~/.cache/huggingface, or $HF_HOME) here, or pass a local model directory"
        + ("" if "cannot be reached" not in why else "; HF_HUB_OFFLINE=1 skips the hub check")
    )


def _hub_cached_file(repo_id: str, filename: str) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, filename)
    return Path(found) if isinstance(found, str) else None
