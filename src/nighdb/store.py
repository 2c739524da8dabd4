"""The ``Store`` interface (a Protocol every backend satisfies) and ``open_store(url)``.

``open_store`` picks the backend from the URL's scheme and imports it lazily, so the core
install never imports a driver it does not need (contract §8):

=================================  =====================================
``sqlite:///rel.db`` / bare path   SQLite (core install)
``postgresql://`` / ``postgres://``  PostgreSQL + pgvector (``nighdb[postgres]``)
``http://`` / ``https://``         the remote client of ``nigh serve``
=================================  =====================================
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Protocol, runtime_checkable

from .errors import InvalidArgumentError
from .indexes import IndexOptions
from .models import Collection, Item, ItemLike, Match, VectorLike

__all__ = ["DEFAULT_URL", "Store", "open_store"]

DEFAULT_URL = "sqlite:///./nigh.db"

Filter = Mapping[str, Any]


@runtime_checkable
class Store(Protocol):
    """What every backend provides. Safe for concurrent use from threads."""

    def ensure_collection(self, tenant: str, collection: Collection) -> Collection: ...

    def describe_collection(self, tenant: str, name: str) -> Collection | None: ...

    def list_collections(self, tenant: str) -> list[Collection]: ...

    def drop_collection(self, tenant: str, name: str) -> int: ...

    def count(self, tenant: str, collection: str) -> int: ...

    def upsert(self, tenant: str, collection: str, items: Sequence[ItemLike]) -> int: ...

    def search(
        self,
        tenant: str,
        collection: str,
        query: VectorLike,
        *,
        limit: int = 10,
        filter: Filter | None = None,
        ef_search: int | None = None,
        exact: bool = False,
    ) -> list[Match]:
        """Contract §5. ``exact=True`` ignores an approximate index; ``ef_search`` (1 … 1000)
        sets an index's candidate list size. Both are checked, and change nothing, on a
        collection without an index."""
        ...

    def search_many(
        self,
        tenant: str,
        collection: str,
        queries: Sequence[VectorLike] | Any,
        *,
        limit: int = 10,
        filter: Filter | None = None,
        ef_search: int | None = None,
        exact: bool = False,
    ) -> list[list[Match]]: ...

    def delete(self, tenant: str, collection: str, ids: Sequence[str]) -> int: ...

    def list_ids(
        self, tenant: str, collection: str, *, after: str | None = None, limit: int | None = None
    ) -> list[str]: ...

    def list_tenants(self) -> list[str]: ...

    def fetch(self, tenant: str, collection: str, ids: Sequence[str]) -> list[Item]:
        """The stored items with these ids, in the order asked, each once; absent ids are
        omitted. Vectors come back as float32 arrays, bit for bit as stored."""
        ...

    def create_index(
        self, tenant: str, collection: str, *, m: int = 16, ef_construction: int = 64
    ) -> IndexOptions:
        """Build (or rebuild) the collection's approximate index; ``InvalidArgumentError``
        where the backend has none yet (search stays exact there)."""
        ...

    def describe_index(self, tenant: str, collection: str) -> IndexOptions | None:
        """The index's options, or ``None`` when the collection has no index."""
        ...

    def drop_index(self, tenant: str, collection: str) -> bool:
        """Remove the index (searches are exact again); ``False`` if there was none."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Store: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


def open_store(url: str | None = None, *, create: bool = True, **options: Any) -> Store:
    """Open the store at ``url`` (default ``$NIGH_STORE``, else ``sqlite:///./nigh.db``).

    ``create`` (default true) creates a store that does not exist yet: a SQLite file (and its
    folders), or the nighdb tables in a PostgreSQL schema. ``create=False`` opens only an
    existing store and creates nothing: a missing one is ``InvalidArgumentError`` naming
    where it looked (readers use it, so a mistyped path is an error, not an empty store). A
    remote store accepts it and creates nothing either way.

    ``options`` are the chosen backend's keyword options (for SQLite: ``cache_bytes``,
    ``busy_timeout``; for Postgres: ``pool_size``...; for remote: ``api_key``).
    """
    if url is None:
        url = os.environ.get("NIGH_STORE") or DEFAULT_URL
    if not isinstance(url, str) or not url:
        raise InvalidArgumentError("the store URL must be a non-empty string")
    scheme, sep, _ = url.partition("://")
    scheme = scheme.lower() if sep else ""
    backend = _BACKENDS.get(scheme)
    if backend is None:
        raise InvalidArgumentError(
            f"unknown store URL scheme {scheme!r}; use sqlite:///path.db, a file path, "
            "postgresql://... or http://..."
        )
    module_name, class_name, extra = backend
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:  # drivers are extras, never core dependencies
        if exc.name == module_name:
            raise  # the backend module itself is missing: a broken install, not an extra
        raise InvalidArgumentError(
            f"{scheme}:// stores need the {extra} extra: pip install 'nighdb[{extra}]'"
        ) from exc
    return _construct(getattr(module, class_name), url, {**options, "create": bool(create)})


# scheme -> (module, class, the extra that installs its driver)
_BACKENDS: dict[str, tuple[str, str, str]] = {
    "": ("nighdb.backends.sqlite", "SQLiteStore", "core"),
    "sqlite": ("nighdb.backends.sqlite", "SQLiteStore", "core"),
    "postgresql": ("nighdb.backends.postgres", "PostgresStore", "postgres"),
    "postgres": ("nighdb.backends.postgres", "PostgresStore", "postgres"),
    "http": ("nighdb.backends.remote", "RemoteStore", "remote"),
    "https": ("nighdb.backends.remote", "RemoteStore", "remote"),
}


def _construct(cls: Any, url: str, options: dict[str, Any]) -> Store:
    try:
        store: Store = cls(url, **options)
    except TypeError as exc:
        if "unexpected keyword argument" in str(exc):
            raise InvalidArgumentError(f"{cls.__name__}: {exc}") from exc
        raise
    return store
