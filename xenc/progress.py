"""The only module that touches rich: progress bars and messages on stderr.

Library functions take ``progress: Callable[[int], None] | None`` and call it with the number
of items just done; the CLI decides whether a bar is drawn (stderr is a terminal, or
``--progress``). A bar shows its total and the time left: the CLI gives the total when it can
count the input (:func:`xenc.io.files.count_lines`), or the library tells it once known
(:func:`set_total`: ``eval``'s queries, ``train``'s steps). Nothing here writes to stdout,
which carries data only.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

Callback = Callable[[int], None]
T = TypeVar("T")


def stderr_console():  # noqa: ANN201 - rich is imported lazily
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def wants_progress(flag: bool | None) -> bool:
    """``--progress`` forces bars on, ``--no-progress`` off; by default only on a terminal."""
    if flag is not None:
        return flag
    return sys.stderr.isatty()


class _Advance:
    """The callback :func:`bar` yields: advances the bar; :func:`set_total` sets its total."""

    def __init__(self, progress, task) -> None:  # noqa: ANN001 - rich types, imported lazily
        self._progress, self._task = progress, task

    def __call__(self, n: int) -> None:
        self._progress.advance(self._task, n)

    def total(self, total: int | None) -> None:
        self._progress.update(self._task, total=total)

    def finish(self) -> None:
        """Show the bar full: the input was read to its end (blank or skipped lines counted)."""
        task = self._progress.tasks[0]
        if task.total is not None and task.completed < task.total:
            self._progress.update(self._task, completed=task.total)


@contextmanager
def bar(
    description: str, total: int | Callable[[], int | None] | None, enabled: bool
) -> Iterator[Callback | None]:
    """Yield a callback advancing a rich progress bar on stderr, or ``None`` when disabled.

    ``total`` may be a function (:func:`xenc.io.files.count_lines` of the input, say): it is
    called only when the bar is drawn.
    """
    if not enabled:
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=stderr_console(),
        transient=False,
    ) as progress:
        task = progress.add_task(description, total=total() if callable(total) else total)
        advance = _Advance(progress, task)
        yield advance
        advance.finish()


def set_total(callback: Callback | None, total: int) -> None:
    """Give a bar from :func:`bar` its total once the library knows it (else nothing)."""
    if isinstance(callback, _Advance):
        callback.total(total)


def note(message: str) -> None:
    """A one-line message for a person, on stderr."""
    sys.stderr.write(message.rstrip("\n") + "\n")
    sys.stderr.flush()


def tracked(items: Iterable[T], callback: Callback | None) -> Iterator[T]:
    """Yield ``items``, advancing ``callback`` by one as each item is done (when the next one
    is asked for, or at the end)."""
    if callback is None:
        yield from items
        return
    for item in items:
        yield item
        callback(1)
