"""How an ``xenc`` process ends: SIGTERM as an exception, operating-system errors as one line.

:func:`xenc.cli.options.handle_errors` maps both to exit codes (143 and 1); this module only
turns them into something it can catch and print.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from typing import Any


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that ``finally`` blocks run: a temporary output
    file or staging directory is removed, a lock released, as on Ctrl-C."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated()


def run(app: Callable[[], Any]) -> None:
    """Run the root app with SIGTERM turned into :class:`Terminated` (exit 143)."""
    signal.signal(signal.SIGTERM, _terminate)
    app()


def os_error(exc: OSError) -> str:
    """``PATH: reason`` for an operating-system error (a full disk, a read-only mount, a
    permission refused): one line, no errno number."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    where = exc.filename if exc.filename is not None else None
    return f"{os.fsdecode(where)}: {reason.rstrip('.')}" if where is not None else reason
