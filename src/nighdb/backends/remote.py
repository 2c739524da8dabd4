"""The remote backend: ``open_store("http://host:8080", api_key=...)`` over ``nigh serve``.

It implements ``Store`` with the local backends' semantics and errors: the service sends each
error's code and details, and this client raises the same class with the same attributes
(``errors.from_wire``). httpx exceptions are translated here, once: a service that cannot be
reached is ``StoreUnavailableError``.

Every call uses the tenant-scoped routes ``/v1/tenants/{tenant}/…``, so the tenant argument
of the ``Store`` methods keeps its meaning:

* with an **admin key** every tenant is reachable (and ``list_tenants`` works);
* with a **tenant key** only that key's tenant is: any other tenant raises
  ``PermissionDeniedError``, as does ``list_tenants``.

Faithful errors need care where JSON cannot say what Python can. Values the service would
validate anyway are sent as they are, so the store decides the error after its existence
check, exactly as locally. Values JSON cannot carry (NaN, infinities) or would distort (a
tuple in a filter, a non-string metadata key, a numpy integer ``limit``) are never sent: the
client only asks the service whether the collection exists (so a missing one still raises
``CollectionNotFoundError``, contract §2) and then runs the shared validation locally, which
raises the local backends' error (``InvalidArgumentError`` for NaN, contract §12).

Large searches of many queries are sent in chunks (``search_many``); an upsert is always one
request, so it stays all-or-nothing, within the service's limits (items and body size).
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import httpx
import numpy as np

from .. import __version__
from ..errors import (
    CollectionNotFoundError,
    InvalidArgumentError,
    NighError,
    RateLimitedError,
    StoreUnavailableError,
)
from ..filters import parse_filter
from ..indexes import IndexOptions, check_ef_search, check_exact, check_index_options
from ..models import Collection, Item, ItemLike, Match, VectorLike
from ..store import ClosingContext
from ..validation import (
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
    validate_query,
)
from ..wire import (
    collection_from_wire,
    dumps,
    encode_segment,
    error_from_response,
    index_from_wire,
    match_from_wire,
)

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
_MAX_DEPTH = 256
"""Deeper values are not sent; the local validation (limit 64) refuses them instead."""


_ALL = object()
"""``_path``'s collection when the route is the tenant's collection list."""


class _UnsendableError(Exception):
    """A value JSON would distort: decide its error with the local validation instead."""


def _float(value: float) -> float:
    if not math.isfinite(value):
        raise _UnsendableError  # JSON has no NaN or infinity
    return float(value)


def _strict(value: object, depth: int = 0) -> Any:
    """Exactly the JSON types (filters, ids, texts, limits): nothing is coerced."""
    if depth > _MAX_DEPTH:
        raise _UnsendableError
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int) and not isinstance(value, np.generic):
        return int(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, list):
        return [_strict(v, depth + 1) for v in value]
    if isinstance(value, Mapping):
        return {_key(k): _strict(v, depth + 1) for k, v in value.items()}
    raise _UnsendableError


def _key(key: object) -> str:
    # json.dumps would turn 1 into "1": the store refuses non-string keys instead.
    if not isinstance(key, str):
        raise _UnsendableError
    return key


def _metadata(value: object, depth: int = 0) -> Any:
    """Metadata as the local validation reads it: numpy scalars become numbers, tuples lists."""
    if depth > _MAX_DEPTH:
        raise _UnsendableError
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, (list, tuple)):
        return [_metadata(v, depth + 1) for v in value]
    if isinstance(value, Mapping):
        return {_key(k): _metadata(v, depth + 1) for k, v in value.items()}
    raise _UnsendableError


def _vector(value: object) -> Any:
    """A vector as numpy reads it; anything else is sent as is for the store to refuse."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            raise _UnsendableError
        if value.dtype.kind not in "fiub":
            raise _UnsendableError
        if value.dtype.kind == "f" and value.dtype.itemsize > 8:
            value = value.astype(np.float64)  # tolist() would keep numpy long doubles
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_metadata(v) if isinstance(v, np.generic) else _strict(v) for v in value]
    return _strict(value)


def _queries(queries: object) -> list[Any]:
    if isinstance(queries, np.ndarray):
        if queries.ndim != 2:
            raise _UnsendableError
        return [_vector(row) for row in queries]
    if isinstance(queries, (str, bytes, Mapping)) or not isinstance(queries, Iterable):
        raise _UnsendableError
    return [_vector(q) for q in queries]


def _item(item: object) -> dict[str, Any]:
    if isinstance(item, Item):
        fields: Mapping[str, Any] = {
            "id": item.id,
            "vector": item.vector,
            "metadata": item.metadata,
            "text": item.text,
        }
    elif isinstance(item, Mapping):
        fields = item
    else:
        raise _UnsendableError
    out: dict[str, Any] = {}
    if "id" in fields:
        out["id"] = _strict(fields["id"])
    if "vector" in fields:
        out["vector"] = _vector(fields["vector"])
    if fields.get("metadata") is not None:
        out["metadata"] = _metadata(fields["metadata"])
    if fields.get("text") is not None:
        out["text"] = _strict(fields["text"])
    return out


def _patch(patch: object) -> dict[str, Any]:
    if not isinstance(patch, Mapping):
        raise _UnsendableError
    out: dict[str, Any] = {}
    for key, value in patch.items():
        if key == "vector" and value is not None:
            out[key] = _vector(value)
        elif key in ("metadata", "metadata_patch"):
            out[key] = _metadata(value)
        elif key in ("id", "text"):
            out[key] = _strict(value)
    return out


def _item_from_wire(data: Mapping[str, Any]) -> Item:
    return Item(
        str(data["id"]),
        np.asarray(data["vector"], dtype=np.float32),
        dict(data["metadata"]),
        str(data["text"]),
    )


def _listed(values: object) -> list[Any]:
    if isinstance(values, (str, bytes, Mapping, Item)) or not isinstance(values, Iterable):
        raise _UnsendableError
    return list(values)


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
        if isinstance(retry_rate_limited, bool) or not isinstance(retry_rate_limited, int):
            raise InvalidArgumentError("retry_rate_limited must be an integer >= 0")
        if retry_rate_limited < 0:
            raise InvalidArgumentError("retry_rate_limited must be an integer >= 0")
        if (
            isinstance(max_retry_wait, bool)
            or not isinstance(max_retry_wait, (int, float))
            or not 0 <= max_retry_wait < math.inf
        ):
            raise InvalidArgumentError("max_retry_wait must be a finite number of seconds >= 0")
        self._retries = retry_rate_limited
        self._max_retry_wait = float(max_retry_wait)
        self._base, url_key = _base_url(url)
        key = api_key or url_key or os.environ.get("NIGH_API_KEY")
        self._headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"nighdb/{__version__}",
        }
        if key:
            if not key.isascii() or not key.isprintable() or " " in key:
                raise InvalidArgumentError("api_key must be printable ASCII without spaces")
            self._headers["Authorization"] = f"Bearer {key}"
        self._owns_client = client is None
        self._client = client or httpx.Client(transport=transport, timeout=timeout)
        self._timeout = timeout
        self._closed = False

    # -- HTTP ---------------------------------------------------------------------------

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
        content = None if body is None else dumps(body)
        retries = self._retries
        while True:
            response = self._send(method, path, content, params)
            if response.is_success:
                break
            error = error_from_response(response.status_code, response.content)
            if not isinstance(error, RateLimitedError) or retries <= 0:
                raise error
            wait = error.retry_after if hasattr(error, "retry_after") else 1
            if wait > self._max_retry_wait:
                raise error
            retries -= 1
            # A 429 means the request was not run: sending it again is always safe.
            time.sleep(wait * (1 + random.uniform(0, 0.1)))  # jitter
        try:
            return json.loads(response.content)
        except ValueError as exc:
            raise NighError(f"the service at {self._base} answered with invalid JSON") from exc

    def _send(
        self,
        method: str,
        path: str,
        content: bytes | None,
        params: Mapping[str, str | int] | None,
    ) -> httpx.Response:
        try:
            return self._client.request(
                method,
                self._base + path,
                content=content,
                params=params,
                headers=self._headers,
                timeout=self._timeout,
            )
        except httpx.TimeoutException as exc:
            raise StoreUnavailableError(
                f"the nighdb service at {self._base} did not answer in time; retry"
            ) from exc
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise StoreUnavailableError(
                f"cannot reach the nighdb service at {self._base} ({exc}); retry later"
            ) from exc

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
            body = {"filter": _strict(filter)}
        except _UnsendableError:
            self._fail_locally(tenant, collection, lambda pin: parse_filter(filter))
        return int(self._request("POST", path, body=body)["count"])

    def list_tenants(self) -> list[str]:
        return [str(t) for t in self._request("GET", "/v1/tenants")["tenants"]]

    # -- items --------------------------------------------------------------------------

    def upsert(self, tenant: str, collection: str, items: Sequence[ItemLike]) -> int:
        path = self._path(tenant, collection, "/upsert")
        try:
            items = _listed(items)  # an iterator is read once, here
            body = {"items": [_item(i) for i in items]}
        except _UnsendableError:
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
                ids = _listed(ids)
                body["ids"] = [_strict(i) for i in ids]
            if filter is not None:
                body["filter"] = _strict(filter)
        except _UnsendableError:

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
            patches = _listed(patches)
            body = {"items": [_patch(p) for p in patches]}
        except _UnsendableError:
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
            sent_filter = None if filter is None else _strict(filter)
        except _UnsendableError:
            self._fail_locally(tenant, collection, lambda pin: parse_filter(filter))
        if not _sendable_page(after, limit):
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
            body: dict[str, Any] = {"filter": _strict(filter), "limit": _strict(limit)}
            if after is not None:
                body["after"] = _strict(after)
        except _UnsendableError:

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
            ids = _listed(ids)
            wanted = [_strict(i) for i in ids]
        except _UnsendableError:
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
        query: VectorLike,
        *,
        limit: int = 10,
        filter: Filter | None = None,
        ef_search: int | None = None,
        exact: bool = False,
    ) -> list[Match]:
        path = self._path(tenant, collection, "/search")
        try:
            body = {
                "vector": _vector(query),
                **_search_options(limit, filter, ef_search, exact),
            }
        except _UnsendableError:

            def check(pin: Collection) -> None:
                validate_query(pin.name, pin.dimensions, pin.metric, query)
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
            vectors = _queries(queries)
            options = _search_options(limit, filter, ef_search, exact)
        except _UnsendableError:

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
            body = {"m": _strict(m), "ef_construction": _strict(ef_construction)}
        except _UnsendableError:
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
        if self._owns_client:
            self._client.close()

    def __repr__(self) -> str:
        return f"RemoteStore({self._base!r})"  # never the key


def _base_url(url: str) -> tuple[str, str | None]:
    """The service's base URL without credentials, and the API key the URL carries, if any."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise InvalidArgumentError(f"not a valid service URL: {url!r}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InvalidArgumentError(f"a service URL is http(s)://host[:port][/prefix], not {url!r}")
    if parsed.query or parsed.fragment:
        raise InvalidArgumentError("a service URL takes no query string or fragment")
    key = parsed.password or parsed.username or None
    return str(parsed.copy_with(userinfo=b"")).rstrip("/"), key


def _search_options(
    limit: object, filter: object, ef_search: object, exact: object
) -> dict[str, Any]:
    """The body fields of the search routes. ``ef_search``/``exact`` are sent only when given,
    so a search without them also works against a service that predates them."""
    options = {"limit": _strict(limit), "filter": _strict(filter)}
    if ef_search is not None:
        options["ef_search"] = _strict(ef_search)
    if exact is not False:
        options["exact"] = _strict(exact)
    return options


def _check_search_options(
    limit: object, filter: Filter | None, ef_search: object, exact: object
) -> None:
    """The store's checks of the search keywords, in its order, for values never sent."""
    check_limit(limit)
    parse_filter(filter)
    check_ef_search(ef_search)
    check_exact(exact)


def _sendable_page(after: object, limit: object) -> bool:
    if after is not None and not isinstance(after, str):
        return False
    if isinstance(after, str):
        try:
            after.encode("utf-8")
        except UnicodeEncodeError:
            return False
    return limit is None or (isinstance(limit, int) and not isinstance(limit, bool))


if TYPE_CHECKING:
    from ..store import Store

    def _conforms(store: RemoteStore) -> Store:
        """mypy proves here that the remote backend satisfies the ``Store`` protocol."""
        return store
