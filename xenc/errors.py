"""One error hierarchy for xenc.

Library code raises these; ``xenc.cli`` maps them to exit codes in exactly one place
(``exit_code`` below): 1 for bad data, models or index directories, 2 for bad usage.
Every message is one line, meant for a person reading a cron log.
"""

from __future__ import annotations


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


class IndexNotFoundError(XencError):
    """The index directory does not exist or holds no manifest."""


class IndexFormatError(XencError):
    """The index directory is of another format version, incomplete or corrupted."""


class ModelError(XencError):
    """A model could not be found or loaded."""
