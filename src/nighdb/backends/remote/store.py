"""``RemoteStore``: the ``Store`` methods as requests to ``nigh serve``, with the local errors.

Each method maps its arguments to a route and a body, and the answer back to the library's
models; sending and error translation are ``transport``'s, and what JSON can carry is
``sendable``'s. Every call uses the tenant-scoped routes ``/v1/tenants/{tenant}/…``, so the
tenant argument of the ``Store`` methods keeps its meaning:

* with an **admin key** every tenant is reachable (and ``list_tenants`` works);
* with a **tenant key** only that key's tenant is: any other tenant raises
  ``PermissionDeniedError``, as does ``list_tenants``.

A value ``sendable`` refuses (NaN, a tuple in a filter, a non-string metadata key…) is never
sent: the client only asks the service whether the collection exists (so a missing one still
raises ``CollectionNotFoundError``, contract §2) and then runs the shared validation locally,
which raises the local backends' error (``InvalidArgumentError`` for NaN, contract §12).

Large searches of many queries, and fetches or deletes of many ids, are sent in chunks; an
upsert or an update is always one request, so it stays all-or-nothing, within the service's
limits (items and body size).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import httpx
import numpy as np

from ...errors import CollectionNotFoundError, InvalidArgumentError
from ...filters import parse_filter
from ...indexes import IndexOptions, check_ef_search, check_exact, check_index_options
from ...models import Collection, Item, ItemLike, Match, VectorLike
from ...store import ClosingContext
from ...validation import (
    check_collection,
    check_collection_name,
    check_delete_target,
    check_ids,
    check_limit,
    check_page,
    check_scroll,
    check_tenant,
    validate_items,
    validate_patches,
    validate_queries,
    validate_search,
)
from ...wire import collection_from_wire, encode_segment, index_from_wire, match_from_wire
from . import sendable
from .transport import ServiceTransport

__all__ = ["RemoteStore"]

Filter = Mapping[str, Any]

_QUERIES_PER_REQUEST = 256
"""search_many sends this many queries per request, well under the service's default limit."""
_IDS_PER_PAGE = 10_000
"""Asked for per ids page; the service lowers it to its own maximum."""
_IDS_PER_FETCH = 256
"""fetch and delete send this many ids per request, well under the service's default limit."""
_RESULTS_PER_REQUEST = 100_000
"""search_many asks for at most this many matches (queries x limit) per request: the
service's default bound on one answer."""


_ALL = object()
"""``_path``'s collection when the route is the tenant's collection list."""


def _item_from_wire(data: Mapping[str, Any]) -> Item:
    return Item(
        str(data["id"]),
        np.asarray(data["vector"], dtype=np.float32),
        dict(data["metadata"]),
        str(data["text"]),
    )


class RemoteStore(ClosingContext):
    """``Store`` over the HTTP API of ``nigh serve``. Thread-safe (one httpx client).

    The API key is ``api_key``, else the one the URL carries (``http://KEY@host:8080``, handy
    for ``--store``/``$NIGH_STORE``), else ``$NIGH_API_KEY``. ``timeout`` is in seconds.
    For tests and custom networking pass ``transport`` (an ``httpx.BaseTransport``) or a
    whole ``client`` (an ``httpx.Client``, which stays yours: ``close`` does not close it).
    ``create`` is accepted and means nothing: opening a service creates nothing, and the
    store behind it exists as long as the service runs.

    A service answers ``rate_limited`` (429) when the tenant is over its budget; nothing was
    done, so the request can always be sent again. By default the call raises
    ``RateLimitedError`` (its ``retry_after`` says when to retry). With
    ``retry_rate_limited=N`` the client itself retries up to N times, each time waiting the
    ``Retry-After`` the service asked for (plus up to 10 % jitter, so clients refused
    together do not come back together), unless the service asks for more than
    ``max_retry_wait`` seconds: then it raises at once rather than wait that long.
    """

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
        client: httpx.Client | None = None,
        create: bool = True,
        retry_rate_limited: int = 0,
        max_retry_wait: float = 30.0,
    ) -> None:
        del create  # accepted like every backend's; the service's store exists already
        self._http = ServiceTransport(
            url,
            api_key=api_key,
            timeout=timeout,
            transport=transport,
            client=client,
            retry_rate_limited=retry_rate_limited,
            max_retry_wait=max_retry_wait,
        )
        self._closed = False

    # -- requests -----------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        body: object = None,
        params: Mapping[str, str | int] | None = None,
    ) -> Any:
        if self._closed:
            raise InvalidArgumentError("this store is closed; open a new one")
        return self._http.request(method, path, body=body, params=params)

    def _path(self, tenant: object, collection: object = _ALL, suffix: str = "") -> str:
        # The shared validation first (contract §12: tenant and name before anything else), which
        # also guarantees a non-empty, encodable path segment.
        path = f"/v1/tenants/{encode_segment(check_tenant(tenant))}/collections"
        if collection is not _ALL:
            path += "/" + encode_segment(check_collection_name(collection))
        return path + suffix

    def _pin(self, tenant: str, collection: str) -> Collection:
        """The stored pin (raises ``CollectionNotFoundError`` like every data method)."""
        data = self._request("GET", self._path(tenant, collection))
        return collection_from_wire(data["collection"])

    def _fail_locally(
        self, tenant: str, collection: str, check: Callable[[Collection], object]
    ) -> NoReturn:
        """For a value JSON cannot carry faithfully: existence first, then the local check."""
        pin = self._pin(tenant, collection)
        check(pin)
        raise InvalidArgumentError(  # the local validation let it through: still unsendable
            f"a value for collection {collection!r} cannot be sent as JSON (NaN, infinity, "
            "a non-string key or a type JSON has not)"
        )

    # -- collections --------------------------------------------------------------------

    def ensure_collection(self, tenant: str, collection: Collection) -> Collection:
        check_tenant(tenant)
        wanted = check_collection(collection)  # contract §3: these checks all precede existence
        path = self._path(tenant, wanted.name)
        body = {
            "dimensions": wanted.dimensions,
            "embedding_model": wanted.embedding_model,
            "metric": wanted.metric,
        }
        if wanted.text_analyzer != "plain":  # the service's default: older services work too
            body["text_analyzer"] = wanted.text_analyzer
        return collection_from_wire(self._request("PUT", path, body=body)["collection"])

    def describe_collection(self, tenant: str, name: str) -> Collection | None:
        try:
            return self._pin(tenant, name)
        except CollectionNotFoundError:
            return None

    def list_collections(self, tenant: str) -> list[Collection]:
        data = self._request("GET", self._path(tenant))
        return [collection_from_wire(c) for c in data["collections"]]

    def drop_collection(self, tenant: str, name: str) -> int:
        return int(self._request("DELETE", self._path(tenant, name))["removed_items"])

    def count(self, tenant: str, collection: str, *, filter: Filter | None = None) -> int:
        if filter is None:
            return int(self._request("GET", self._path(tenant, collection))["count"])
        path = self._path(tenant, collection, "/count")
        try:
            body = {"filter": sendable.strict(filter)}
        except sendable.UnsendableError:
            self._fail_locally(tenant, collection, lambda pin: parse_filter(filter))
        return int(self._request("POST", path, body=body)["count"])

    def list_tenants(self) -> list[str]:
        return [str(t) for t in self._request("GET", "/v1/tenants")["tenants"]]

    # -- items --------------------------------------------------------------------------

    def upsert(self, tenant: str, collection: str, items: Sequence[ItemLike]) -> int:
        path = self._path(tenant, collection, "/upsert")
        try:
            items = sendable.listed(items)  # an iterator is read once, here
            body = {"items": [sendable.item(i) for i in items]}
        except sendable.UnsendableError:
            self._fail_locally(
                tenant,
                collection,
                lambda pin: validate_items(pin.name, pin.dimensions, pin.metric, items),
            )
        return int(self._request("POST", path, body=body)["upserted"])

    def delete(
        self,
        tenant: str,
        collection: str,
        ids: Sequence[str] | None = None,
        *,
        filter: Filter | None = None,
    ) -> int:
        path = self._path(tenant, collection, "/delete")
        body: dict[str, Any] = {}
        try:
            if ids is not None:
                ids = sendable.listed(ids)
                body["ids"] = [sendable.strict(i) for i in ids]
            if filter is not None:
                body["filter"] = sendable.strict(filter)
        except sendable.UnsendableError:

            def check(pin: Collection) -> None:
                if check_delete_target(ids, filter) is None:
                    parse_filter(filter)

            self._fail_locally(tenant, collection, check)
        wanted: list[str] | None = body.get("ids")
        step = _IDS_PER_FETCH
        if wanted is None or "filter" in body or len(wanted) <= step:
            return int(self._request("POST", path, body=body)["deleted"])
        # More ids than one request carries: every id is checked before the first request
        # (after the existence check, as the store orders it), so a bad id deletes nothing.
        try:
            check_ids(wanted)
        except InvalidArgumentError:
            self._pin(tenant, collection)
            raise
        wanted = list(dict.fromkeys(wanted))  # a repeated id counts once, across chunks too
        deleted = 0
        for i in range(0, len(wanted), step):
            chunk = wanted[i : i + step]
            deleted += int(self._request("POST", path, body={"ids": chunk})["deleted"])
        return deleted

    def update(self, tenant: str, collection: str, patches: Sequence[Mapping[str, Any]]) -> int:
        """One request, so the update stays all or nothing (within the service's limits)."""
        path = self._path(tenant, collection, "/update")
        try:
            patches = sendable.listed(patches)
            body = {"items": [sendable.patch(p) for p in patches]}
        except sendable.UnsendableError:
            self._fail_locally(
                tenant,
                collection,
                lambda pin: validate_patches(pin.name, pin.dimensions, pin.metric, patches),
            )
        return int(self._request("POST", path, body=body)["updated"])

    def list_ids(
        self,
        tenant: str,
        collection: str,
        *,
        after: str | None = None,
        limit: int | None = None,
        filter: Filter | None = None,
    ) -> list[str]:
        """Every id (or a page of them): walks the service's pages until done. With a filter
        the pages are asked for with ``POST …/ids`` (the filter travels in the body)."""
        path = self._path(tenant, collection, "/ids")
        try:
            sent_filter = None if filter is None else sendable.strict(filter)
        except sendable.UnsendableError:
            self._fail_locally(tenant, collection, lambda pin: parse_filter(filter))
        if not sendable.page_is_sendable(after, limit):
            self._fail_locally(tenant, collection, lambda pin: check_page(after, limit))
        out: list[str] = []
        cursor = after
        while True:
            params: dict[str, str | int] = {"limit": _IDS_PER_PAGE}
            if limit is not None:
                params["limit"] = limit - len(out) if limit >= 1 else limit
            if cursor is not None:
                params["after"] = cursor
            if sent_filter is None:
                page = self._request("GET", path, params=params)
            else:
                page = self._request("POST", path, body={**params, "filter": sent_filter})
            out.extend(str(i) for i in page["ids"])
            cursor = page["next"]
            done = limit is not None and len(out) >= limit
            if cursor is None or done or not page["ids"]:
                return out

    def scroll(
        self,
        tenant: str,
        collection: str,
        *,
        filter: Filter | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> list[Item]:
        """Up to ``limit`` items; a ``limit`` above the service's page size takes several
        requests (each a consistent page; together they are what a caller paging by hand
        would see)."""
        path = self._path(tenant, collection, "/scroll")
        try:
            body: dict[str, Any] = {
                "filter": sendable.strict(filter),
                "limit": sendable.strict(limit),
            }
            if after is not None:
                body["after"] = sendable.strict(after)
        except sendable.UnsendableError:

            def check(pin: Collection) -> None:
                parse_filter(filter)
                check_scroll(after, limit)

            self._fail_locally(tenant, collection, check)
        items: list[Item] = []
        while True:
            page = self._request("POST", path, body=body)
            items.extend(_item_from_wire(i) for i in page["items"])
            cursor = page["next"]
            if cursor is None or not page["items"] or len(items) >= limit:
                return items
            body = {**body, "after": cursor, "limit": limit - len(items)}

    def fetch(self, tenant: str, collection: str, ids: Sequence[str]) -> list[Item]:
        path = self._path(tenant, collection, "/fetch")
        try:
            ids = sendable.listed(ids)
            wanted = [sendable.strict(i) for i in ids]
        except sendable.UnsendableError:
            self._fail_locally(tenant, collection, lambda pin: check_ids(ids))
        if all(isinstance(i, str) for i in wanted):
            wanted = list(dict.fromkeys(wanted))  # each id once, across chunks too
        step = _IDS_PER_FETCH
        items: list[Item] = []
        # One request even without ids: the collection must exist (contract §2).
        for chunk in [wanted[i : i + step] for i in range(0, len(wanted), step)] or [[]]:
            data = self._request("POST", path, body={"ids": chunk})
            items.extend(_item_from_wire(i) for i in data["items"])
        return items

    # -- search -------------------------------------------------------------------------

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
        path = self._path(tenant, collection, "/search")
        try:
            # Fields not given are left out: a vector search also works against a service
            # that predates text search.
            body = {
                **({} if query is None else {"vector": sendable.vector(query)}),
                **({} if text is None else {"text": sendable.strict(text)}),
                **({} if text_weight == 0.5 else {"text_weight": sendable.strict(text_weight)}),
                **sendable.search_options(limit, filter, ef_search, exact),
            }
        except sendable.UnsendableError:

            def check(pin: Collection) -> None:
                validate_search(pin, query, text, text_weight)
                _check_search_options(limit, filter, ef_search, exact)

            self._fail_locally(tenant, collection, check)
        data = self._request("POST", path, body=body)
        return [match_from_wire(m) for m in data["matches"]]

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
    ) -> list[list[Match]]:
        path = self._path(tenant, collection, "/search_many")
        try:
            vectors = sendable.queries(queries)
            options = sendable.search_options(limit, filter, ef_search, exact)
        except sendable.UnsendableError:

            def check(pin: Collection) -> None:
                validate_queries(pin.name, pin.dimensions, pin.metric, queries)
                _check_search_options(limit, filter, ef_search, exact)

            self._fail_locally(tenant, collection, check)
        # One request even without queries: the collection must exist (contract §2).
        step = _QUERIES_PER_REQUEST
        if isinstance(limit, int) and limit >= 1:
            step = max(1, min(step, _RESULTS_PER_REQUEST // limit))
        chunks = [vectors[i : i + step] for i in range(0, len(vectors), step)]
        results: list[list[Match]] = []
        for chunk in chunks or [[]]:
            data = self._request("POST", path, body={"vectors": chunk, **options})
            results.extend([match_from_wire(m) for m in row] for row in data["results"])
        return results

    # -- approximate indexes (contract §15): whatever the service's store does -----------

    def create_index(
        self, tenant: str, collection: str, *, m: int = 16, ef_construction: int = 64
    ) -> IndexOptions:
        path = self._path(tenant, collection, "/index")
        try:
            body = {"m": sendable.strict(m), "ef_construction": sendable.strict(ef_construction)}
        except sendable.UnsendableError:
            self._fail_locally(
                tenant, collection, lambda pin: check_index_options(m, ef_construction)
            )
        index = index_from_wire(self._request("PUT", path, body=body)["index"])
        assert index is not None  # the service answers the index it built
        return index

    def describe_index(self, tenant: str, collection: str) -> IndexOptions | None:
        return index_from_wire(
            self._request("GET", self._path(tenant, collection, "/index"))["index"]
        )

    def drop_index(self, tenant: str, collection: str) -> bool:
        data = self._request("DELETE", self._path(tenant, collection, "/index"))
        return bool(data["dropped"])

    # -- lifecycle ----------------------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._http.close()

    def __repr__(self) -> str:
        return f"RemoteStore({self._http.base!r})"  # never the key


def _check_search_options(
    limit: object, filter: Filter | None, ef_search: object, exact: object
) -> None:
    """The store's checks of the search keywords, in its order, for values never sent."""
    check_limit(limit)
    parse_filter(filter)
    check_ef_search(ef_search)
    check_exact(exact)


if TYPE_CHECKING:
    from ...store import Store

    def _conforms(store: RemoteStore) -> Store:
        """mypy proves here that the remote backend satisfies the ``Store`` protocol."""
        return store
