"""The only module that touches rich: progress bars and messages on stderr.

Library functions take ``progress: Callable[[int], None] | None`` and call it with the number
of items just done; the CLI decides whether a bar is drawn (stderr is a terminal, or
``--progress``). Nothing here writes to stdout, which carries data only.
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


@contextmanager
def bar(description: str, total: int | None, enabled: bool) -> Iterator[Callback | None]:
    """Yield a callback advancing a rich progress bar on stderr, or ``None`` when disabled."""
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

    # With a known total (an input file), the bar also shows the time left.
    eta = [TimeRemainingColumn()] if total is not None else []
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        *eta,
        console=stderr_console(),
        transient=False,
    ) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n: progress.advance(task, n)


def note(message: str) -> None:
    """A one-line message for a person, on stderr."""
    sys.stderr.write(message.rstrip("\n") + "\n")
    sys.stderr.flush()


def count_lines(source: str) -> int | None:
    """Non-blank lines of a file, for a progress total; ``None`` for stdin (``-``) or when it
    cannot be read (the command itself will then say why)."""
    from xenc.formats import compression_of

    if source == "-":
        return None
    try:
        with open(source, "rb") as fh:
            if compression_of(fh.peek(8)[:8]):
                return None  # compressed: its lines are counted as they are read
            return sum(1 for line in fh if line.strip())
    except OSError:
        return None


def tracked(items: Iterable[T], callback: Callback | None) -> Iterator[T]:
    """Yield ``items``, advancing ``callback`` by one as each item is done (when the next one
    is asked for, or at the end)."""
    if callback is None:
        yield from items
        return
    for item in items:
        yield item
        callback(1)
