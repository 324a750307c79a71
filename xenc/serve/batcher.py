"""The dynamic batcher: one model thread scores the pairs of all concurrent requests together.

Requests hand their pairs to :meth:`Batcher.submit` from the event loop and await the result;
a single worker thread (the only one that touches the model: the cross-encoder is not
thread-safe) measures the pairs of the requests waiting, first come first served, takes a
window of ``WINDOW_BATCHES`` batches' worth of them (from one request or many), sorts the
window by length and runs it in shared batches of at most ``batch_size`` pairs and
``max_batch_tokens`` padded tokens. A request is answered as soon as its last pair is scored,
so early requests are answered early however many wait behind them. While the thread runs a
window, new requests queue up behind it, so under load batches fill up by themselves and at
low load nothing waits for a timer.

The queue is bounded: past ``max_queue`` requests waiting or being scored, :meth:`submit`
raises :class:`QueueFull` at once (the server answers 503 with ``Retry-After``). Other work
that needs the model (a ``/search`` query) goes through :meth:`call`, run on the same thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xenc.errors import XencError

log = logging.getLogger("xenc.serve")

WINDOW_BATCHES = 4  # pairs sorted together: this many batches' worth


class QueueFull(Exception):
    """The model queue holds ``max_queue`` requests already."""


class TooLong(XencError):
    """A pair is longer than the model reads and the request asked not to truncate it."""


@dataclass(eq=False)
class _Job:
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    pairs: list[tuple[str, str]] = field(default_factory=list)
    call: Callable[[], Any] | None = None
    truncate: bool = True
    max_doc_tokens: int | None = None
    logits: np.ndarray | None = None
    left: int = 0
    settled: bool = False

    def resolve(self, value: Any = None, error: BaseException | None = None) -> None:
        self.loop.call_soon_threadsafe(_settle, self.future, value, error)


_Entry = tuple[int, _Job, int, int]  # (padded length, job, pair position, query length)


def _settle(future: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    if future.done():  # timed out and cancelled meanwhile
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)


class Batcher:
    """Shared, length-sorted batches of the pairs of concurrent requests, on one thread.

    :meth:`submit` and :meth:`call` are called from the event loop (the queue is guarded by a
    condition); only the worker thread touches the scorer, the model and what ``call`` runs.

    Args:
        scorer: A :class:`~xenc.models.pair_scorer.PairScorer` around the loaded model.
        batch_size: At most this many pairs per forward pass.
        max_batch_tokens: At most this many padded tokens (pairs x longest) per forward pass.
        max_queue: Requests admitted at once (waiting or being scored).
        on_batch: Called on the worker thread with (pairs, padded tokens) of each batch.
    """

    def __init__(self, scorer: Any, *, batch_size: int, max_batch_tokens: int, max_queue: int,
                 on_batch: Callable[[int, int], None] | None = None) -> None:
        self.scorer = scorer
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        self.max_queue = max_queue
        self.on_batch = on_batch
        self._pending: list[_Job] = []
        self._admitted = 0
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="xenc-model", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Finish what is queued, then end the worker thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join()

    @property
    def depth(self) -> int:
        """Requests admitted and not yet answered (waiting or being scored)."""
        return self._admitted

    def _admit(self, job: _Job) -> asyncio.Future[Any]:
        with self._cond:
            if self._stopping:
                raise QueueFull("the server is shutting down")
            if self._admitted >= self.max_queue:
                raise QueueFull(f"the model queue is full ({self.max_queue} requests)")
            self._admitted += 1
            self._pending.append(job)
            self._cond.notify()
        return job.future

    def submit(self, pairs: list[tuple[str, str]], *, truncate: bool = True,
               max_doc_tokens: int | None = None) -> asyncio.Future[np.ndarray]:
        """Queue pairs; the future gives their raw logits ``(len(pairs), num_labels)``.

        ``truncate=False`` fails the request with :class:`TooLong` if a pair is longer than
        the model reads; ``max_doc_tokens`` cuts each document to that many tokens first.

        Raises:
            QueueFull: ``max_queue`` requests are admitted already.
        """
        loop = asyncio.get_running_loop()
        job = _Job(loop, loop.create_future(), pairs=pairs, truncate=truncate,
                   max_doc_tokens=max_doc_tokens)
        return self._admit(job)

    def call(self, fn: Callable[[], Any]) -> asyncio.Future[Any]:
        """Run ``fn`` on the model thread (between batches); the future gives its result.

        Raises:
            QueueFull: ``max_queue`` requests are admitted already.
        """
        loop = asyncio.get_running_loop()
        return self._admit(_Job(loop, loop.create_future(), call=fn))

    # The worker thread ----------------------------------------------------------------------

    def _take(self, wait: bool) -> list[_Job] | None:
        """New jobs (waiting for one when ``wait``); None once stopping with nothing left."""
        with self._cond:
            while wait and not self._pending and not self._stopping:
                self._cond.wait()
            if wait and not self._pending:
                return None
            jobs, self._pending = self._pending, []
            return jobs

    def _done(self, job: _Job, value: Any = None, error: BaseException | None = None) -> None:
        with self._cond:
            self._admitted -= 1
        job.settled = True
        job.resolve(value, error)

    def _run(self) -> None:
        jobs: deque[_Job] = deque()  # admitted, not yet measured, in arrival order
        ready: deque[_Entry] = deque()  # measured pairs, in arrival order
        while True:
            new = self._take(wait=not jobs and not ready)
            if new is None:
                return
            jobs.extend(new)
            try:
                self._round(jobs, ready)
            except Exception as exc:  # noqa: BLE001 - answered as a 500, the thread lives on
                log.exception("scoring failed")
                for job in {*jobs, *(entry[1] for entry in ready)}:
                    if not job.settled:
                        self._done(job, error=exc)
                jobs.clear()
                ready.clear()

    def _round(self, jobs: deque[_Job], ready: deque[_Entry]) -> None:
        """Measure jobs in arrival order until a window of pairs is ready, then score the
        window's pairs longest first in shared batches. Pairs flow first come, first served,
        so early requests are answered early even when many wait; sorting within the window
        keeps the padding small."""
        window = self.batch_size * WINDOW_BATCHES
        while jobs and len(ready) < window:
            job = jobs.popleft()
            if job.call is not None:
                self._run_call(job)
            elif job.future.cancelled():
                self._done(job)
            else:
                ready.extend(self._entries(job))
        chosen = sorted((ready.popleft() for _ in range(min(window, len(ready)))),
                        key=lambda e: -e[0])  # stable: equal lengths keep arrival order
        start = 0
        while start < len(chosen):
            longest = chosen[start][0]
            size = max(1, min(self.batch_size, self.max_batch_tokens // max(longest, 1)))
            self._batch(chosen[start : start + size])
            start += size

    def _entries(self, job: _Job) -> list[_Entry]:
        try:
            lengths = self._measure(job)
        except XencError as exc:
            self._done(job, error=exc)
            return []
        job.logits = np.zeros((len(job.pairs), self.scorer.num_labels), dtype=np.float32)
        job.left = len(job.pairs)
        return [(length, job, i, q) for i, (q, length) in enumerate(lengths)]

    def _measure(self, job: _Job) -> list[tuple[int, int]]:
        """(query length, padded length) of each pair, after cutting documents if asked."""
        if job.max_doc_tokens is not None and job.max_doc_tokens < self.scorer.max_length:
            docs = self.scorer.cut([d for _, d in job.pairs], job.max_doc_tokens)
            job.pairs = [(q, d) for (q, _), d in zip(job.pairs, docs, strict=True)]
        queries, totals = self.scorer.lengths(job.pairs)
        limit = self.scorer.max_length
        if not job.truncate and int(totals.max()) > limit:
            worst = int(totals.max())
            raise TooLong(f"a text is {worst} tokens with the query; this model reads at most "
                          f"{limit}: send truncate: true, or shorter texts")
        return [(int(q), min(int(t), limit)) for q, t in zip(queries, totals, strict=True)]

    def _run_call(self, job: _Job) -> None:
        try:
            value = job.call() if job.call is not None else None
        except Exception as exc:  # noqa: BLE001 - handed to the request
            self._done(job, error=exc)
            return
        self._done(job, value)

    def _batch(self, entries: list[_Entry]) -> None:
        live = []
        for entry in entries:
            job = entry[1]
            if not job.future.cancelled():
                live.append(entry)
                continue
            job.left -= 1  # a timed-out request: its pairs are dropped
            if job.left == 0:
                self._done(job)
        if not live:
            return
        pairs = [job.pairs[i] for _, job, i, _ in live]
        queries = np.array([q for _, _, _, q in live], dtype=np.int64)
        logits = self.scorer.logits(pairs, queries)
        if self.on_batch is not None:
            self.on_batch(len(live), len(live) * live[0][0])
        for row, (_, job, i, _) in enumerate(live):
            assert job.logits is not None
            job.logits[i] = logits[row]
            job.left -= 1
            if job.left == 0:
                self._done(job, job.logits)
