"""One computation run in a worker thread while the calling thread does other work.

apsw releases the GIL for the whole of an SQLite call, so a statement that does much work
in one ``sqlite3_step`` (``item_insert``) can run in a worker while the caller runs Python:
an upsert's insert goes to the worker and the caller analyses the texts meanwhile. The
thread is always joined before the ``with`` block is left, and its exception (if any) is
raised by ``result``, so no thread outlives the call that started it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType
from typing import Generic, TypeVar

__all__ = ["Worker"]

T = TypeVar("T")


class Worker(Generic[T]):
    """``fn()`` in a thread of its own (started on ``__enter__``), or run by ``result``
    in the caller's thread when ``inline`` (work too small to be worth a thread)."""

    def __init__(self, fn: Callable[[], T], *, inline: bool) -> None:
        self._fn = fn
        self._thread = None if inline else threading.Thread(target=self._run)
        self._value: list[T] = []  # fn()'s value once it returned
        self._error: BaseException | None = None

    def _run(self) -> None:
        try:
            self._value.append(self._fn())
        except BaseException as exc:  # handed to the caller's thread by result()
            self._error = exc

    def __enter__(self) -> Worker[T]:
        if self._thread is not None:
            self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._thread is not None:
            self._thread.join()

    def result(self) -> T:
        """``fn()``'s value, waiting for the thread; its exception if it raised."""
        if self._thread is not None:
            self._thread.join()
        elif not self._value and self._error is None:
            self._run()
        if self._error is not None:
            raise self._error
        return self._value[0]
