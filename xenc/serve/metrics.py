"""``GET /metrics``: the server's Prometheus metrics, kept by ``prometheus-client``.

One registry per app (not the library's global one), so two apps in one process, as in tests,
never collide. Names follow Prometheus' conventions: ``_total`` counters, ``_seconds``
durations.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Metrics:
    """Requests, errors, latency, batch sizes and queue depth.

    Args:
        depth: Returns the number of requests admitted to the model queue (read at scrape).
    """

    def __init__(self, depth: Callable[[], int]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "xenc_requests", "HTTP requests answered, by route and status code.",
            ["route", "code"], registry=self.registry)
        self.errors = Counter(
            "xenc_request_errors", "Requests answered with a 4xx or 5xx status.",
            ["route", "code"], registry=self.registry)
        self.latency = Histogram(
            "xenc_request_duration_seconds", "Time from request to response, by route.",
            ["route"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.batch_pairs = Histogram(
            "xenc_batch_pairs", "Pairs per forward pass of the model.",
            buckets=BATCH_BUCKETS, registry=self.registry)
        self.batch_tokens = Histogram(
            "xenc_batch_tokens", "Padded tokens (pairs x longest pair) per forward pass.",
            buckets=(256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536),
            registry=self.registry)
        self.pairs = Counter(
            "xenc_pairs_scored", "Query-document pairs scored.", registry=self.registry)
        self.queue = Gauge(
            "xenc_queue_depth", "Requests admitted to the model queue (waiting or being "
            "scored).", registry=self.registry)
        self.queue.set_function(depth)

    def observe(self, route: str, code: int, seconds: float) -> None:
        """Count one answered request."""
        self.requests.labels(route, str(code)).inc()
        if code >= 400:
            self.errors.labels(route, str(code)).inc()
        self.latency.labels(route).observe(seconds)

    def batch(self, pairs: int, tokens: int) -> None:
        """Count one forward pass (called on the model thread)."""
        self.batch_pairs.observe(pairs)
        self.batch_tokens.observe(tokens)
        self.pairs.inc(pairs)
