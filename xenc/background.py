"""A model loading on a background thread while the caller gets other things ready.

The one thread helper of the use cases: :func:`xenc.pipeline.run_queries`,
:func:`xenc.pipeline.search` and the CLI's reranker loader take a :class:`Loading` wherever
they take a model, and :func:`loaded` waits for it.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from typing import Any


class Loading:
    """A model loading on a background thread while the index and the first stage get ready.

    A cold ``xenc search`` spends ~0.1 s creating the reranker's ONNX session and as much on
    the query encoder's; ONNX Runtime releases the GIL meanwhile, so on two cores the two
    overlap. :func:`xenc.pipeline.run_queries` and :func:`xenc.pipeline.search` accept a
    ``Loading`` wherever they take a reranker and wait for it after the first stage is
    loaded. The thread runs in a copy of the caller's context (so errors name parameters as
    the caller's do), and whatever ``load`` raises is raised again by :meth:`result`, in the
    caller's thread.

    Args:
        load: Returns the model (or ``None``).
    """

    def __init__(self, load: Callable[[], Any]) -> None:
        self._value: Any = None
        self._error: BaseException | None = None
        context = contextvars.copy_context()
        # Not a daemon: a process that fails (a corrupted index, say) while the model is still
        # loading waits for it at exit. Finalizing Python under a thread that is inside ONNX
        # Runtime's or a tokenizer's C++ aborts with "terminate called ..." (exit 134).
        self._thread = threading.Thread(target=context.run, args=(self._run, load),
                                        name="xenc-load", daemon=False)
        self._thread.start()

    def _run(self, load: Callable[[], Any]) -> None:
        try:
            self._value = load()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            self._error = exc

    def result(self) -> Any:
        """The model, once loaded.

        Raises:
            Whatever loading raised.
        """
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


def loaded(model: Any) -> Any:
    """``model``, or what it loads if it is a :class:`Loading`."""
    return model.result() if isinstance(model, Loading) else model
