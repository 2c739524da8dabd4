"""The conformance suite's indexed variants: every collection gets an approximate index.

``IndexedStore`` wraps any store and creates an index right after ``ensure_collection``
(small options, so the graphs build fast), before any item exists: every later write then
reaches the index the way an application's writes do, by catching up. Everything else is
the wrapped store's. The SQLite variant is opened with ``exact_below=0``, so even the
suite's small collections are searched through the graph and its exact rescoring, not the
exact scan that small filtered searches take by default.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import nighdb
from nighdb.store import ClosingContext

INDEX_OPTIONS = {"m": 8, "ef_construction": 32}
INDEXED_MODULES = (
    "test_search_metrics",
    "test_search_order",
    "test_search_validation",
    "test_search_many",
    "test_search_matches",
    "test_search_exact",
    "test_durability",
    "test_concurrency",
    "test_indexes",
)
"""The conformance modules that the indexed variants run (the rest does not search)."""


class IndexedStore(ClosingContext):
    def __init__(self, inner: nighdb.Store) -> None:
        self._inner = inner

    def ensure_collection(self, tenant: str, collection: nighdb.Collection) -> nighdb.Collection:
        pinned = self._inner.ensure_collection(tenant, collection)
        too_wide = pinned.dimensions > 2000  # pgvector's HNSW limit: such collections stay exact
        if not too_wide and self._inner.describe_index(tenant, pinned.name) is None:
            self._inner.create_index(tenant, pinned.name, **INDEX_OPTIONS)
        return pinned

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)
        attribute: Callable[..., Any] = getattr(self._inner, name)
        return attribute

    def close(self) -> None:
        self._inner.close()
