"""Drive an ``AsyncStore`` through the sync ``Store`` interface, so the one conformance
suite also runs every call through the async twin (on a real event loop in a thread)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import nighdb
from nighdb.store import ClosingContext


class SyncOverAsync(ClosingContext):
    def __init__(self, store: nighdb.AsyncStore) -> None:
        self._async = store
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        coro = getattr(self._async, name)(*args, **kwargs)
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args, **kwargs: self._call(name, *args, **kwargs)

    def close(self) -> None:
        if self._loop.is_closed():
            return  # closing twice is allowed, like every Store
        try:
            self._call("close")
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()
