"""The ``xenc`` command line (Typer): the only package that imports typer.

``app.py`` holds the root app and the search-side commands, ``maintain.py``, ``train.py`` and
``export.py`` the others, ``options.py`` the shared options and the one error → exit-code
mapping. Nothing outside this package imports it except ``xenc.__main__``.
"""

from __future__ import annotations

from xenc.cli.app import main

__all__ = ["main"]
