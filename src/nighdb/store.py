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
import inspect
import os
from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Protocol, TypeVar, runtime_checkable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .errors import InvalidArgumentError
from .indexes import IndexOptions
from .models import Collection, Item, ItemLike, Match, VectorLike

__all__ = [
    "DEFAULT_URL",
    "ClosingContext",
    "Store",
    "backend_module",
    "id_pages",
    "open_store",
    "redacted_url",
]

DEFAULT_URL = "sqlite:///./nigh.db"

Filter = Mapping[str, Any]


@runtime_checkable
class Store(Protocol):
    """What every backend provides. Safe for concurrent use from threads."""

    def ensure_collection(self, tenant: str, collection: Collection) -> Collection: ...

    def describe_collection(self, tenant: str, name: str) -> Collection | None: ...

    def list_collections(self, tenant: str) -> list[Collection]: ...

    def drop_collection(self, tenant: str, name: str) -> int: ...

    def count(self, tenant: str, collection: str, *, filter: Filter | None = None) -> int:
        """Items that pass ``filter`` (contract §13; ``None``/``{}``: every item)."""
        ...

    def upsert(self, tenant: str, collection: str, items: Sequence[ItemLike]) -> int: ...

    def search(
        self,
        tenant: str,
        collection: str,
        query: VectorLike | None = None,
        *,
        text: str | None = None,
        limit: int = 10,
        filter: Filter | None = None,
        text_weight: float = 0.5,
        ef_search: int | None = None,
        exact: bool = False,
    ) -> list[Match]:
        """Contract §5 and §14: by ``query`` (a vector), by ``text`` (BM25), or both (reciprocal
        rank fusion, ``text_weight`` the text ranking's share). ``exact=True`` ignores an
        approximate index; ``ef_search`` (1 … 1000) sets an index's candidate list size. Both
        are checked, and change nothing, on a collection without an index."""
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

    def delete(
        self,
        tenant: str,
        collection: str,
        ids: Sequence[str] | None = None,
        *,
        filter: Filter | None = None,
    ) -> int:
        """Rows removed, by ``ids`` or by ``filter`` (exactly one; ``filter={}`` empties the
        collection and keeps it). Atomic (contract §13)."""
        ...

    def list_ids(
        self,
        tenant: str,
        collection: str,
        *,
        after: str | None = None,
        limit: int | None = None,
        filter: Filter | None = None,
    ) -> list[str]: ...

    def scroll(
        self,
        tenant: str,
        collection: str,
        *,
        filter: Filter | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> list[Item]:
        """Up to ``limit`` whole items that pass ``filter``, ids in byte order after ``after``
        (contract §13); vectors as in ``fetch``."""
        ...

    def update(self, tenant: str, collection: str, patches: Sequence[Mapping[str, Any]]) -> int:
        """Partial updates, all or nothing; returns ``len(patches)`` (contract §13)."""
        ...

    def list_tenants(self) -> list[str]: ...

    def fetch(self, tenant: str, collection: str, ids: Sequence[str]) -> list[Item]:
        """The stored items with these ids, in the order asked, each once; absent ids are
        omitted. Vectors come back as float32 arrays, bit for bit as stored."""
        ...

    def create_index(
        self, tenant: str, collection: str, *, m: int = 16, ef_construction: int = 64
    ) -> IndexOptions:
        """Build (or rebuild) the collection's approximate (HNSW) index; searches use it
        unless ``exact=True`` (contract §15). On SQLite it needs the ``[ann]`` extra."""
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


_C = TypeVar("_C", bound="ClosingContext")


class ClosingContext:
    """``with obj:`` returns ``obj`` and closes it on the way out, whatever happened."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: _C) -> _C:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def id_pages(store: Store, tenant: str, collection: str, page: int) -> Iterator[list[str]]:
    """Every id of a collection in byte order, ``page`` ids at a time (``list_ids`` paging).

    Each page starts after the last id of the one before, so ids written or deleted while
    it runs are seen or missed, never repeated.
    """
    after: str | None = None
    while ids := store.list_ids(tenant, collection, after=after, limit=page):
        yield ids
        after = ids[-1]


def open_store(url: str | None = None, *, create: bool = True, **options: Any) -> Store:
    """Open the store at ``url`` (default ``$NIGH_STORE``, else ``sqlite:///./nigh.db``).

    ``create`` (default true) creates a store that does not exist yet: a SQLite file (and its
    folders), or the nighdb tables in a PostgreSQL schema. ``create=False`` opens only an
    existing store and creates nothing: a missing one is ``InvalidArgumentError`` naming
    where it looked (readers use it, so a mistyped path is an error, not an empty store). A
    remote store accepts it and creates nothing either way.

    ``options`` are the chosen backend's keyword options (for SQLite: ``cache_bytes``,
    ``busy_timeout``; for Postgres: ``pool_max_size``...; for remote: ``api_key``). An option the
    backend does not declare raises ``InvalidArgumentError`` naming the ones it does.
    """
    if url is None:
        url = os.environ.get("NIGH_STORE") or DEFAULT_URL
    if not isinstance(url, str) or not url:
        raise InvalidArgumentError("the store URL must be a non-empty string")
    scheme = _scheme(url)
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
    return _construct(
        getattr(module, class_name), scheme or "sqlite", url, {**options, "create": bool(create)}
    )


def backend_module(url: str) -> str | None:
    """The module ``open_store(url)`` imports for ``url``'s backend (None: an unknown
    scheme), for a process that wants it imported before it opens a store."""
    backend = _BACKENDS.get(_scheme(url))
    return None if backend is None else backend[0]


def _scheme(url: str) -> str:
    """The scheme naming ``url``'s backend, lower-cased; "" for a bare file path."""
    scheme, sep, _ = url.partition("://")
    return scheme.lower() if sep else ""


# scheme -> (module, class, the extra that installs its driver)
_BACKENDS: dict[str, tuple[str, str, str]] = {
    "": ("nighdb.backends.sqlite", "SQLiteStore", "core"),
    "sqlite": ("nighdb.backends.sqlite", "SQLiteStore", "core"),
    "postgresql": ("nighdb.backends.postgres", "PostgresStore", "postgres"),
    "postgres": ("nighdb.backends.postgres", "PostgresStore", "postgres"),
    "http": ("nighdb.backends.remote", "RemoteStore", "remote"),
    "https": ("nighdb.backends.remote", "RemoteStore", "remote"),
}


def _construct(cls: Any, scheme: str, url: str, options: dict[str, Any]) -> Store:
    """``cls(url, **options)``, once every option is one the backend declares.

    The options are checked against the constructor's keyword parameters beforehand, so a
    ``TypeError`` raised inside a backend's constructor is never taken for a bad option.
    """
    known = _options_of(cls)
    unknown = sorted(set(options) - known)
    if unknown:
        names = ", ".join(repr(name) for name in unknown)
        raise InvalidArgumentError(
            f"unknown store option{'s' if len(unknown) > 1 else ''} {names} for {scheme}:// "
            f"stores; the options are {', '.join(sorted(known))}"
        )
    store: Store = cls(url, **options)
    return store


def _options_of(cls: Any) -> frozenset[str]:
    """The keyword options of a backend's constructor (every parameter after the URL)."""
    parameters = list(inspect.signature(cls).parameters.values())[1:]
    return frozenset(
        p.name
        for p in parameters
        if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    )


_SECRET_PARAMETERS = frozenset({"password", "passfile", "sslpassword", "api_key"})


def redacted_url(url: str) -> str:
    """``url`` as it may be shown in output and logs: the user-info part (a user and password,
    or an API key) becomes ``***`` and query parameters that carry secrets are dropped."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = parts.query
    pairs = parse_qsl(query, keep_blank_values=True)
    if any(key.lower() in _SECRET_PARAMETERS for key, _ in pairs):
        query = urlencode([(k, v) for k, v in pairs if k.lower() not in _SECRET_PARAMETERS])
    if (netloc, query) == (parts.netloc, parts.query):
        return url  # nothing secret: exactly as given
    return urlunsplit(parts._replace(netloc=netloc, query=query))
