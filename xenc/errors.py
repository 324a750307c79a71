"""One error hierarchy for xenc.

Library code raises these; ``xenc.cli`` maps them to exit codes in exactly one place
(``exit_code`` below): 1 for bad data, models or index directories, 2 for bad usage, 3 for
a failed regression gate (``xenc eval --max-drop``).
Every message is one line, meant for a person reading a cron log.

Messages name a parameter through :func:`param`: as the Python API spells it
(``budget_ms must be…``) unless a front end has said how it spells parameters with
:func:`spelled`; the CLI does, so the same check says ``--budget-ms must be…`` there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_SPELLING: ContextVar[Callable[[str], str] | None] = ContextVar("xenc_spelling", default=None)


def param(name: str, python: str | None = None) -> str:
    """How an error message names the parameter ``name`` (a Python argument or field name).

    Args:
        name: The parameter, as the library calls it (``budget_ms``, ``chunk_tokens``).
        python: The wording for Python callers, where it is not ``name`` itself (for
            example ``reranker=None`` for the CLI's ``no_rerank``).
    """
    spell = _SPELLING.get()
    return spell(name) if spell is not None else (python or name)


def setting(name: str, value: str) -> str:
    """How an error message names the parameter ``name`` set to ``value``: ``--retrievers
    bm25`` on the CLI (:func:`spelled`), ``retrievers='bm25'`` in Python."""
    spell = _SPELLING.get()
    return f"{spell(name)} {value}" if spell is not None else f"{name}={value!r}"


@contextmanager
def spelled(spell: Callable[[str], str]) -> Iterator[None]:
    """Within the block, messages name parameters as ``spell(name)`` (the CLI: its flags)."""
    token = _SPELLING.set(spell)
    try:
        yield
    finally:
        _SPELLING.reset(token)


class XencError(Exception):
    """Base class: a failure with a one-line, user-facing message."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = " ".join(str(message).split())  # always one line

    def __str__(self) -> str:
        return self.message


class InputError(XencError):
    """Bad input data, located by source (a path or ``<stdin>``) and 1-based line number."""

    def __init__(self, source: str, line: int | None, reason: str) -> None:
        self.source = source
        self.line = line
        self.reason = reason
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {reason}")


class UsageError(XencError):
    """Options that cannot work together, or a missing required choice (exit 2)."""

    exit_code = 2


class GateFailedError(XencError):
    """``xenc eval --max-drop``: a run is significantly worse than the baseline (exit 3).

    Its own code, so that CI can tell a regression from bad input (1) or bad usage (2).
    """

    exit_code = 3


class IndexNotFoundError(XencError):
    """The index directory does not exist or holds no manifest."""


class IndexLockedError(XencError):
    """Another process holds the writer lock of an index directory (exit 1)."""


class IndexFormatError(XencError):
    """The index directory is of another format version, incomplete or corrupted."""


class ModelError(XencError):
    """A model could not be found or loaded."""
