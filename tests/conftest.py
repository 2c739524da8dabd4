"""Shared fixtures: ``store`` is parametrized over every backend.

A new backend joins the whole suite by adding one entry to ``BACKENDS`` and one branch to
``_open``. Tests never choose a backend themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest

import nighdb

from . import pg_server, pgbouncer
from .async_bridge import SyncOverAsync
from .indexed_store import INDEXED_MODULES, IndexedStore

BACKENDS = [
    "sqlite",
    "sqlite-stream",
    "sqlite-async-int8",
    "remote",
    "postgres",
    "postgres-async",
    "postgres-pgbouncer",
    # Every collection with an approximate index (tests/indexed_store.py); these run only the
    # conformance modules that search (INDEXED_MODULES), see pytest_collection_modifyitems.
    "sqlite-indexed",
    "postgres-indexed",
    "remote-indexed",
]

# The conformance modules about argument checks (names, ids, the order of the checks): each
# check runs before anything is read or searched, so a variant that differs from another only
# in how it searches, or only in the async bridge that another variant already covers
# (``aio.AsyncStore`` is one implementation over every backend), would run the same code
# twice. These variants skip them; sqlite, sqlite-async-int8 and postgres still run them.
CHECK_MODULES = ("test_check_order", "test_names")
SAME_CHECKS = ("sqlite-stream", "postgres-async")
# The property tests of filters against the reference (filter semantics: which items a
# filter selects) on PostgreSQL run the same SQL through postgres-async (the AsyncStore
# bridge, covered on sqlite-async-int8) and postgres-pgbouncer (PgBouncer, covered by the
# whole conformance suite, test_filters included), so those two skip them.
FILTER_PROPERTY_MODULES = ("test_filter_property", "test_ops_property")
SAME_FILTER_SQL = ("postgres-async", "postgres-pgbouncer")

# The conformance suite asks for ``limit=100_000`` to see every match; the service's default
# limits (tested in tests/test_service_limits.py) are deployment policy, not Store semantics.
REMOTE_LIMITS = {"max_search_limit": 1_000_000, "max_results": 1_000_000}


def _open(backend: str, tmp_path: Path) -> nighdb.Store:
    if backend == "sqlite-indexed":
        inner = nighdb.open_store(f"sqlite:///{tmp_path / 'store.db'}", exact_below=0)
        return cast(nighdb.Store, IndexedStore(inner))
    if backend.endswith("-indexed"):
        return cast(nighdb.Store, IndexedStore(_open(backend.removesuffix("-indexed"), tmp_path)))
    if backend == "sqlite":
        return nighdb.open_store(f"sqlite:///{tmp_path / 'store.db'}")
    if backend == "sqlite-stream":
        # No cache budget: every search streams the file and filters in SQL (the path a
        # collection larger than the budget takes), so that path keeps the whole contract.
        return nighdb.open_store(f"sqlite:///{tmp_path / 'store.db'}", cache_bytes=0)
    if backend == "sqlite-async-int8":
        # Every call goes through nighdb.open_async_store's coroutines, and every search ranks
        # through the int8 copy with exact rescoring (the path of a collection whose float32
        # copy would not fit the budget), so both keep the whole contract.
        bridge: Any = SyncOverAsync(
            nighdb.open_async_store(f"sqlite:///{tmp_path / 'store.db'}", cache_precision="int8")
        )
        return cast(nighdb.Store, bridge)
    if backend == "remote":
        # A RemoteStore with an admin key over `nigh serve`'s app, in-process (an httpx
        # transport, no socket), on a SQLite file: every store_factory() call starts one more
        # service on the same file. Closing the store stops its service. (A tenant key would
        # reach only its own tenant: PermissionDeniedError elsewhere, contract §12.)
        from nighdb.service import ServiceLimits

        from .service_support import open_in_process_store

        return open_in_process_store(
            f"sqlite:///{tmp_path / 'store.db'}", limits=ServiceLimits(**REMOTE_LIMITS)
        )
    if backend == "postgres":
        # A real PostgreSQL + pgvector (tests/pg_server.py); each test gets its own schema.
        return nighdb.open_store(pg_server.url_for(tmp_path))
    if backend == "postgres-async":
        bridge = SyncOverAsync(nighdb.open_async_store(pg_server.url_for(tmp_path)))
        return cast(nighdb.Store, bridge)
    if backend == "postgres-pgbouncer":
        # The same server through a real PgBouncer in transaction mode (tests/pgbouncer.py):
        # no session state may outlive a transaction (contract §17).
        return nighdb.open_store(pgbouncer.url_for(tmp_path))
    raise AssertionError(f"unknown backend {backend}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Stop the session's PgBouncer and PostgreSQL when the session ends, not only at the
    interpreter's exit (``atexit``): a pytest-xdist worker process can end without running
    its ``atexit`` handlers, and one left its PostgreSQL running after ``make test``."""
    pgbouncer.close_session_bouncer()
    pg_server.close_session_database()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The indexed variants run only the conformance modules that search (INDEXED_MODULES);
    the variants in SAME_CHECKS skip the modules of argument checks (CHECK_MODULES), those
    in SAME_FILTER_SQL the filter property tests (FILTER_PROPERTY_MODULES)."""
    kept, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        variant = "" if callspec is None else str(callspec.params.get("backend", ""))
        module = item.path.stem
        not_searching = variant.endswith("-indexed") and module not in INDEXED_MODULES
        same_code = (variant in SAME_CHECKS and module in CHECK_MODULES) or (
            variant in SAME_FILTER_SQL and module in FILTER_PROPERTY_MODULES
        )
        if not_searching or same_code:
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_factory(backend: str, tmp_path: Path) -> Iterator[Callable[[], nighdb.Store]]:
    """Opens (and later closes) stores on *the same* underlying database, e.g. for reopen tests."""
    opened: list[nighdb.Store] = []

    def factory() -> nighdb.Store:
        s = _open(backend, tmp_path)
        opened.append(s)
        return s

    yield factory
    for s in opened:
        s.close()


@pytest.fixture
def store(store_factory: Callable[[], nighdb.Store]) -> nighdb.Store:
    """A fresh, empty store on the parametrized backend."""
    return store_factory()
