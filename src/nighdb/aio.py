"""The async API: ``open_async_store(url)`` returns an ``AsyncStore`` with the same methods as
coroutines and the same semantics.

It is a thin wrapper, not a second implementation: every call runs the synchronous
backend's method in a worker thread (the backends release the GIL in their drivers and in
numpy), so each backend exists once and the async twin cannot drift from it. The store is
opened lazily on the first awaited call, so ``open_async_store`` never blocks the loop.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from .indexes import IndexOptions
from .models import Collection, Item, ItemLike, Match, VectorLike
from .store import Store, open_store

__all__ = ["AsyncStore", "open_async_store"]

T = TypeVar("T")
Filter = Mapping[str, Any]


@runtime_checkable
class AsyncStore(Protocol):
    """The async twin of ``nighdb.Store``."""

    async def ensure_collection(self, tenant: str, collection: Collection) -> Collection: ...

    async def describe_collection(self, tenant: str, name: str) -> Collection | None: ...

    async def list_collections(self, tenant: str) -> list[Collection]: ...

    async def drop_collection(self, tenant: str, name: str) -> int: ...

    async def count(self, tenant: str, collection: str, *, filter: Filter | None = None) -> int: ...

    async def upsert(self, tenant: str, collection: str, items: Sequence[ItemLike]) -> int: ...

    async def search(
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
    ) -> list[Match]: ...

    async def search_many(
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

    async def delete(
        self,
        tenant: str,
        collection: str,
        ids: Sequence[str] | None = None,
        *,
        filter: Filter | None = None,
    ) -> int: ...

    async def list_ids(
        self,
        tenant: str,
        collection: str,
        *,
        after: str | None = None,
        limit: int | None = None,
        filter: Filter | None = None,
    ) -> list[str]: ...

    async def scroll(
        self,
        tenant: str,
        collection: str,
        *,
        filter: Filter | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> list[Item]: ...

    async def update(
        self, tenant: str, collection: str, patches: Sequence[Mapping[str, Any]]
    ) -> int: ...

    async def list_tenants(self) -> list[str]: ...

    async def fetch(self, tenant: str, collection: str, ids: Sequence[str]) -> list[Item]: ...

    async def create_index(
        self, tenant: str, collection: str, *, m: int = 16, ef_construction: int = 64
    ) -> IndexOptions: ...

    async def describe_index(self, tenant: str, collection: str) -> IndexOptions | None: ...

    async def drop_index(self, tenant: str, collection: str) -> bool: ...

    async def close(self) -> None: ...

    async def __aenter__(self) -> AsyncStore: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


def open_async_store(url: str | None = None, *, create: bool = True, **options: Any) -> AsyncStore:
    """Like ``open_store`` (``create`` included), for asyncio. A plain function; the store
    opens on first use, so ``create=False`` on a missing store fails on the first await."""
    return _ThreadedAsyncStore(functools.partial(open_store, url, create=create, **options))


class _ThreadedAsyncStore:
    """Runs a sync ``Store`` in worker threads (the store itself is thread-safe)."""

    def __init__(self, opener: Callable[[], Store]) -> None:
        self._opener = opener
        self._store: Store | None = None
        self._open_lock = asyncio.Lock()

    async def _sync(self) -> Store:
        if self._store is None:
            async with self._open_lock:
                if self._store is None:
                    self._store = await asyncio.to_thread(self._opener)
        return self._store

    async def _run(self, method: str, *args: Any, **kwargs: Any) -> Any:
        store = await self._sync()
        return await asyncio.to_thread(getattr(store, method), *args, **kwargs)

    async def ensure_collection(self, tenant: str, collection: Collection) -> Collection:
        result: Collection = await self._run("ensure_collection", tenant, collection)
        return result

    async def describe_collection(self, tenant: str, name: str) -> Collection | None:
        result: Collection | None = await self._run("describe_collection", tenant, name)
        return result

    async def list_collections(self, tenant: str) -> list[Collection]:
        result: list[Collection] = await self._run("list_collections", tenant)
        return result

    async def drop_collection(self, tenant: str, name: str) -> int:
        result: int = await self._run("drop_collection", tenant, name)
        return result

    async def count(self, tenant: str, collection: str, *, filter: Filter | None = None) -> int:
        result: int = await self._run("count", tenant, collection, filter=filter)
        return result

    async def upsert(self, tenant: str, collection: str, items: Sequence[ItemLike]) -> int:
        result: int = await self._run("upsert", tenant, collection, items)
        return result

    async def search(
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
        result: list[Match] = await self._run(
            "search",
            tenant,
            collection,
            query,
            text=text,
            limit=limit,
            filter=filter,
            text_weight=text_weight,
            ef_search=ef_search,
            exact=exact,
        )
        return result

    async def search_many(
        self,
        tenant: str,
        collection: str,
        queries: Sequence[VectorLike] | Any,
        *,
        limit: int = 10,
        filter: Filter | None = None,
        ef_search: int | None = None,
        exact: bool = False,
    ) -> list[list[Match]]:
        result: list[list[Match]] = await self._run(
            "search_many",
            tenant,
            collection,
            queries,
            limit=limit,
            filter=filter,
            ef_search=ef_search,
            exact=exact,
        )
        return result

    async def delete(
        self,
        tenant: str,
        collection: str,
        ids: Sequence[str] | None = None,
        *,
        filter: Filter | None = None,
    ) -> int:
        result: int = await self._run("delete", tenant, collection, ids, filter=filter)
        return result

    async def list_ids(
        self,
        tenant: str,
        collection: str,
        *,
        after: str | None = None,
        limit: int | None = None,
        filter: Filter | None = None,
    ) -> list[str]:
        result: list[str] = await self._run(
            "list_ids", tenant, collection, after=after, limit=limit, filter=filter
        )
        return result

    async def scroll(
        self,
        tenant: str,
        collection: str,
        *,
        filter: Filter | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> list[Item]:
        result: list[Item] = await self._run(
            "scroll", tenant, collection, filter=filter, after=after, limit=limit
        )
        return result

    async def update(
        self, tenant: str, collection: str, patches: Sequence[Mapping[str, Any]]
    ) -> int:
        result: int = await self._run("update", tenant, collection, patches)
        return result

    async def list_tenants(self) -> list[str]:
        result: list[str] = await self._run("list_tenants")
        return result

    async def fetch(self, tenant: str, collection: str, ids: Sequence[str]) -> list[Item]:
        result: list[Item] = await self._run("fetch", tenant, collection, ids)
        return result

    async def create_index(
        self, tenant: str, collection: str, *, m: int = 16, ef_construction: int = 64
    ) -> IndexOptions:
        result: IndexOptions = await self._run(
            "create_index", tenant, collection, m=m, ef_construction=ef_construction
        )
        return result

    async def describe_index(self, tenant: str, collection: str) -> IndexOptions | None:
        result: IndexOptions | None = await self._run("describe_index", tenant, collection)
        return result

    async def drop_index(self, tenant: str, collection: str) -> bool:
        result: bool = await self._run("drop_index", tenant, collection)
        return result

    async def close(self) -> None:
        if self._store is not None:
            await asyncio.to_thread(self._store.close)

    async def __aenter__(self) -> _ThreadedAsyncStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


if TYPE_CHECKING:

    def _conforms(store: _ThreadedAsyncStore) -> AsyncStore:
        """mypy proves here that the twin keeps the ``AsyncStore`` protocol."""
        return store
