"""Shared fixtures: ``store`` is parametrized over every backend.

A new backend joins the whole suite by adding one entry to ``BACKENDS`` and one branch to
``_open``. Tests never choose a backend themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest

import quiverdb

from .async_bridge import SyncOverAsync

BACKENDS = ["sqlite", "sqlite-async"]


def _open(backend: str, tmp_path: Path) -> quiverdb.Store:
    if backend == "sqlite":
        return quiverdb.open_store(f"sqlite:///{tmp_path / 'store.db'}")
    if backend == "sqlite-async":
        # Every call goes through quiverdb.open_async_store's coroutines.
        bridge: Any = SyncOverAsync(quiverdb.open_async_store(f"sqlite:///{tmp_path / 'store.db'}"))
        return cast(quiverdb.Store, bridge)
    raise AssertionError(f"unknown backend {backend}")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_factory(backend: str, tmp_path: Path) -> Iterator[Callable[[], quiverdb.Store]]:
    """Opens (and later closes) stores on *the same* underlying database, e.g. for reopen tests."""
    opened: list[quiverdb.Store] = []

    def factory() -> quiverdb.Store:
        s = _open(backend, tmp_path)
        opened.append(s)
        return s

    yield factory
    for s in opened:
        s.close()


@pytest.fixture
def store(store_factory: Callable[[], quiverdb.Store]) -> quiverdb.Store:
    """A fresh, empty store on the parametrized backend."""
    return store_factory()
