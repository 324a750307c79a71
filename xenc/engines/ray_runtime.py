"""The Ray engine: connect, stream shards through an actor pool, get results back in order.

The calling process (the *driver*) reads and checks the input and cuts it into shards of
rows, each with a ``row`` number. A feeder thread puts each shard into Ray's object store and
hands it, through a small queue, to a Ray Data pipeline: one read task that takes shards off
the queue as they come, then ``map_batches`` over a pool of ``workers`` actors (each loads its
model once; ``gpus_per_worker`` GPUs each) in batches of ``batch_size``. ``preserve_order``
keeps the output in input order, and the driver checks the row numbers as they arrive. At
most ``window`` rows (or 8 MiB of input, if more) are between the feeder and the driver at
any time, so the driver's memory is bounded whatever the input size.

Errors raised in a worker come back as one line (an :class:`~xenc.errors.XencError` raised
there keeps its message); Ctrl-C stops the pipeline, and a Ray started here is shut down.
``import ray`` happens inside functions only: without the ``xenc[ray]`` extra nothing changes.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from xenc import errors
from xenc.errors import UsageError, XencError, param

INSTALL = "pip install 'xenc[ray]'"
SHARD_ROWS = 10_000
WINDOW_ROWS = 4 * SHARD_ROWS
# Ray Data's read operator holds what it reads until it has a block of this size (or the input
# ends), so the feeder always lets at least WINDOW_BYTES through: a window smaller than a
# block would wait forever. Small blocks also spread a small input over every worker.
BLOCK_BYTES = 1 << 18
WINDOW_BYTES = 32 * BLOCK_BYTES
REPORT_EVERY_S = 10.0

Notify = Callable[[str], None]


def require_ray() -> Any:
    """The ``ray`` module, or a usage error (exit 2) telling how to install it."""
    try:
        import pyarrow  # noqa: F401
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise UsageError(f"{param('engine')} ray needs Ray: {INSTALL}") from None
    return ray


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide the pipeline runs.

    Attributes:
        workers: Actors in the pool, each holding one copy of the model.
        gpus_per_worker: GPUs each actor reserves (0: CPU actors, one CPU each).
        address: A cluster address; default ``RAY_ADDRESS``, else a new local Ray.
    """

    workers: int = 1
    gpus_per_worker: float = 0.0
    address: str | None = None

    def check(self) -> RayOptions:
        if self.workers < 1:
            raise UsageError(f"{param('num_workers')} must be at least 1, got {self.workers}")
        if self.gpus_per_worker < 0:
            raise UsageError(
                f"{param('gpus_per_worker')} must be 0 or more, got {self.gpus_per_worker}")
        return self

    @property
    def device(self) -> str | None:
        return "cuda" if self.gpus_per_worker > 0 else None


class RaySession:
    """A connection to Ray for one command: the given or ``RAY_ADDRESS`` cluster, or a local
    Ray started here (and shut down on exit). Connects on first use, not before."""

    def __init__(self, options: RayOptions, notify: Notify | None = None) -> None:
        self.options = options.check()
        self.notify = notify or (lambda _message: None)
        self.ray: Any = None
        self._owned = False

    def connect(self) -> Any:
        if self.ray is not None:
            return self.ray
        ray = require_ray()
        address = self.options.address or os.environ.get("RAY_ADDRESS") or None
        if not ray.is_initialized():
            if address:
                _reachable(address)
            try:
                ray.init(address=address or "local", include_dashboard=False,
                         log_to_driver=False, logging_level=logging.ERROR)
            except Exception as exc:  # noqa: BLE001 - any failure to connect is one line
                raise XencError(f"cannot start or reach Ray at {address or 'local'}: "
                                f"{one_line(exc)}") from None
            self._owned = True
        logging.getLogger("ray.data").setLevel(logging.CRITICAL)
        warnings.filterwarnings("ignore", module=r"ray\.")  # sizing hints, deprecations
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.target_max_block_size = BLOCK_BYTES
        context.execution_options.preserve_order = True
        self.ray = ray
        self._check_resources(ray.cluster_resources())
        return ray

    def _check_resources(self, have: dict[str, float]) -> None:
        cpus, gpus = float(have.get("CPU", 0)), float(have.get("GPU", 0))
        where = self.options.address or os.environ.get("RAY_ADDRESS") or "local Ray"
        self.notify(f"ray: {where}: {cpus:g} CPUs, {gpus:g} GPUs; "
                    f"{self.options.workers} workers")
        need = self.options.gpus_per_worker
        if need > gpus:
            raise UsageError(f"{param('gpus_per_worker')} {need:g}: the Ray cluster has "
                             f"{gpus:g} GPUs")
        if need == 0 and self.options.workers > cpus:
            raise UsageError(f"{param('num_workers')} {self.options.workers}: the Ray cluster "
                             f"has {cpus:g} CPUs, one per CPU worker")

    def close(self) -> None:
        if self.ray is not None and self._owned:
            self.ray.shutdown()
        self.ray, self._owned = None, False

    def __enter__(self) -> RaySession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def put(self, columns: dict[str, Any]) -> tuple[Any, int, int]:
        """Put one shard (columns of equal length, ``row`` among them) in the object store;
        return its reference, rows and bytes (what :meth:`run` accepts as a shard)."""
        import pyarrow as pa

        table = pa.table(columns)
        return self.connect().put(table), table.num_rows, int(table.nbytes)

    def run(
        self,
        shards: Iterable[Any],
        worker: type,
        kwargs: dict[str, Any],
        *,
        batch_size: int,
        window: int = WINDOW_ROWS,
        on_rows: Callable[[int], None] | None = None,
    ) -> Iterator[dict[str, np.ndarray]]:
        """Yield ``worker``'s output batches for ``shards``, in row order.

        ``shards`` yields column dicts (or object refs from :meth:`put`) whose ``row`` columns
        count 0, 1, 2, … across shards; it runs in a feeder thread, and an error it raises is
        raised here once the rows before it are through. Every output batch has ``row``.
        """
        ray = self.connect()
        feeder = _Feeder(self, shards, window)
        with warnings.catch_warnings():  # Ray's deprecation and sizing notes are not ours
            warnings.simplefilter("ignore")
            dataset = ray.data.read_datasource(_QueueSource(feeder.queue), num_cpus=0)
            dataset = dataset.map_batches(
                worker, fn_constructor_kwargs=kwargs,
                compute=ray.data.ActorPoolStrategy(size=self.options.workers),
                batch_size=batch_size, batch_format="numpy", zero_copy_batch=True,
                num_cpus=1, num_gpus=self.options.gpus_per_worker or None, max_restarts=0,
            )
        report = _Reporter(self.notify)
        expected = 0
        feeder.start()
        try:
            for batch in dataset.iter_batches(batch_format="numpy", batch_size=None):
                rows = np.asarray(batch["row"])
                if not np.array_equal(rows, np.arange(expected, expected + len(rows))):
                    raise XencError(f"ray returned rows out of order at row {expected}")
                expected += len(rows)
                feeder.done(len(rows))
                report.rows(len(rows))
                if on_rows is not None:
                    on_rows(len(rows))
                yield batch
        except XencError:
            raise
        except Exception as exc:  # noqa: BLE001 - a worker's failure, as one line
            if feeder.error is not None:
                raise feeder.error from None
            raise worker_error(exc) from None
        finally:
            feeder.stop()
        if feeder.error is not None:
            raise feeder.error
        if expected != feeder.fed:
            raise XencError(f"ray returned {expected} rows of {feeder.fed}")
        report.finish()


class _Feeder:
    """Puts shards into the object store and the queue, at most ``window`` rows ahead."""

    def __init__(self, session: RaySession, shards: Iterable[Any], window: int) -> None:
        from ray.util.queue import Queue

        self.queue = Queue(maxsize=2, actor_options={"num_cpus": 0})
        self._session, self._input, self._window = session, shards, window
        self._cond = threading.Condition()
        self._stopped = False
        self.fed = 0
        self.finished = 0
        self._bytes = 0
        self._flight: deque[tuple[int, int]] = deque()  # (end row, bytes) of shards in flight
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._feed, name="xenc-ray-feeder", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _feed(self) -> None:
        try:
            for shard in self._input:
                ref, rows, size = shard if isinstance(shard, tuple) else self._session.put(shard)
                with self._cond:
                    while not self._stopped and self.fed - self.finished >= self._window \
                            and self._bytes >= WINDOW_BYTES:
                        self._cond.wait(0.5)
                    if self._stopped:
                        return
                    self.fed += rows
                    self._bytes += size
                    self._flight.append((self.fed, size))
                self._put([ref])
        except BaseException as exc:  # noqa: BLE001 - raised in the driver's thread
            self.error = exc
        self._put(None)

    def _put(self, item: Any) -> None:
        while not self._stopped:
            try:
                self.queue.put(item, timeout=0.5)
                return
            except Exception:  # noqa: BLE001, S112 - queue.Full: try again unless stopped
                continue

    def done(self, rows: int) -> None:
        with self._cond:
            self.finished += rows
            while self._flight and self._flight[0][0] <= self.finished:
                self._bytes -= self._flight.popleft()[1]
            self._cond.notify_all()

    def stop(self) -> None:
        """Stop feeding; end the queue actor, so a read task still waiting on it ends too."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        try:
            self.queue.shutdown(force=True)
        except Exception:  # noqa: BLE001, S110 - Ray already gone (Ctrl-C, shutdown)
            pass


class _QueueSource:
    """A Ray Data datasource with one read task that yields the shards off the queue."""

    def __new__(cls, queue: Any) -> Any:
        from ray.data.block import BlockMetadata
        from ray.data.datasource import Datasource, ReadTask

        def read() -> Iterator[Any]:
            import ray

            while (item := queue.get()) is not None:
                yield ray.get(item[0])  # a bare ref would be resolved by the queue actor

        class QueueSource(Datasource):
            def get_read_tasks(self, parallelism: int, per_task_row_limit: int | None = None,
                               data_context: Any = None) -> list[Any]:
                meta = BlockMetadata(num_rows=None, size_bytes=None, exec_stats=None,
                                     input_files=None)
                return [ReadTask(read, meta)]

            def estimate_inmemory_data_size(self) -> int | None:
                return None

            def get_name(self) -> str:
                return "xenc-shards"

        return QueueSource()


class _Reporter:
    """One line on stderr (through ``notify``) every ``REPORT_EVERY_S`` seconds, and at the end."""

    def __init__(self, notify: Notify) -> None:
        self._notify = notify
        self._start = self._last = time.perf_counter()
        self._first: float | None = None
        self._rows = 0

    def rows(self, n: int) -> None:
        now = time.perf_counter()
        if self._first is None:
            self._first = now - self._start
        self._rows += n
        if now - self._last >= REPORT_EVERY_S:
            self._last = now
            self._notify(f"ray: {self._rows} rows done, {self._rows / (now - self._start):.1f}/s")

    def finish(self) -> None:
        took = time.perf_counter() - self._start
        self._notify(f"ray: {self._rows} rows in {took:.1f}s (first results after "
                     f"{self._first or 0:.1f}s)")


def _reachable(address: str, timeout: float = 10.0) -> None:
    """Fail in seconds, not minutes (Ray retries), when a ``host:port`` address is unreachable."""
    host, _, port = address.rpartition(":")
    if "://" in address or not host or not port.isdigit():
        return  # ray://, auto, …: Ray's own checks
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise XencError(f"cannot reach Ray at {address}: {reason}; is the head node up "
                        "(`ray start --head`) and RAY_ADDRESS right?") from None


def one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[-1] if lines else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def worker_error(exc: BaseException) -> XencError:
    """The one-line error for a failure inside Ray: the XencError a worker raised, if any."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, XencError):
            return current
        todo += [current.__cause__, current.__context__, getattr(current, "cause", None)]
        if hasattr(current, "as_instanceof_cause"):
            try:
                todo.append(current.as_instanceof_cause())
            except Exception:  # noqa: BLE001, S110 - best effort only
                pass
    if found := re.search(r"xenc\.errors\.(\w+): (.+)", str(exc)):  # only its text came back
        error = XencError(found.group(2))
        error.exit_code = getattr(errors, found.group(1), XencError).exit_code
        return error
    return XencError(f"ray worker failed: {one_line(exc)}")
