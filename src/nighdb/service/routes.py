"""What each route of contract §9 does, as plain blocking functions over a ``Store``.

The HTTP layer (``app.py``) authenticates, picks the tenant and reads the body; these
functions run in a worker thread, parse the body and call the store. Body values go to the
store as they came, so the store's own validation decides every error, in the store's order
(existence before items, contract §2), exactly as on a local backend. Only the service's limits
are checked here, before the store.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import CollectionNotFoundError, InvalidArgumentError, QuotaExceededError
from ..models import Collection
from ..store import Store
from ..validation import check_collection
from ..wire import collection_to_wire, index_to_wire, item_to_wire, match_to_wire
from .auth import Principal, require_admin
from .body import parse_object
from .limits import ServiceLimits

__all__ = ["ROUTES", "Answer", "Call", "Operation", "RouteSpec"]

Answer = tuple[int, dict[str, Any]]


@dataclass(frozen=True)
class Call:
    """One authenticated request: the tenant is the key's (or the admin's chosen) tenant."""

    store: Store
    limits: ServiceLimits
    principal: Principal
    tenant: str
    name: str
    query: Mapping[str, str]
    body: bytes
    checks_existence_first: bool = True
    """False where validation precedes existence (``PUT`` of a collection)."""

    def json(self, *fields: str) -> dict[str, Any]:
        """The body's ``fields`` (those present) from a JSON object; 400 for anything else.

        Other members are checked to be JSON but never built (``body.parse_object``). On a
        collection route a large body is parsed only once the collection is known to exist,
        and a body that fails to parse is ``collection_not_found`` first where that applies,
        as the store would answer (existence before validation, contract §2): the answer is
        the same whatever the body's size, only the work is not.
        """
        existence = bool(self.name) and self.checks_existence_first
        if existence and len(self.body) > _PARSE_AFTER_EXISTENCE:
            self._require_collection()
        try:
            return parse_object(self.body, fields)
        except InvalidArgumentError:
            if existence:
                self._require_collection()
            raise

    def _require_collection(self) -> None:
        if self.store.describe_collection(self.tenant, self.name) is None:
            raise CollectionNotFoundError(self.tenant, self.name)


Operation = Callable[[Call], Answer]

# Smaller bodies parse faster than the extra existence query costs; larger ones are parsed
# only for a collection that exists (the store checks again, so a drop in between is safe).
_PARSE_AFTER_EXISTENCE = 64 * 1024


def list_collections(c: Call) -> Answer:
    out = []
    for pin in c.store.list_collections(c.tenant):
        try:
            count = c.store.count(c.tenant, pin.name)
        except CollectionNotFoundError:  # dropped since it was listed
            continue
        out.append({**collection_to_wire(pin), "count": count})
    return 200, {"collections": out}


def put_collection(c: Call) -> Answer:
    body = c.json("dimensions", "embedding_model", "metric", "text_analyzer")
    dimensions = body.get("dimensions", 0)
    c.limits.check_dimensions(dimensions)
    wanted = Collection(
        c.name,
        dimensions,
        body.get("embedding_model", ""),
        body.get("metric", ""),
        body.get("text_analyzer", "plain"),
    )
    # Two concurrent first PUTs may both answer 201; the store still creates one collection.
    existed = c.store.describe_collection(c.tenant, c.name) is not None
    quota = c.limits.max_collections_per_tenant
    if not existed and quota is not None:
        check_collection(wanted)  # a bad request stays invalid_argument, not a quota
        if len(c.store.list_collections(c.tenant)) >= quota:
            raise QuotaExceededError(c.tenant, "collections", quota)
    pin = c.store.ensure_collection(c.tenant, wanted)
    return (200 if existed else 201), {"collection": collection_to_wire(pin)}


def _check_item_quota(c: Call, items: Any) -> None:
    """Refuse an upsert that would take the tenant past its item quota, before writing.

    New ids count; replacing an existing item does not. Checked before the write, not in its
    transaction: writes racing each other can pass the quota by one batch each.
    """
    quota = c.limits.max_items_per_tenant
    if quota is None or not isinstance(items, list):
        return
    c._require_collection()  # existence first, as the store orders it
    given = (i.get("id") for i in items if isinstance(i, dict))
    ids: list[str] = list(dict.fromkeys(i for i in given if isinstance(i, str)))
    held = 0
    for pin in c.store.list_collections(c.tenant):
        try:
            held += c.store.count(c.tenant, pin.name)
        except CollectionNotFoundError:  # dropped since it was listed
            continue
    if held + len(ids) <= quota:
        return
    existing = 0  # only near the quota: which of the ids are replacements
    for start in range(0, len(ids), 1_000):
        chunk = ids[start : start + 1_000]
        existing += len(c.store.fetch(c.tenant, c.name, chunk))
    if held + len(ids) - existing > quota:
        raise QuotaExceededError(c.tenant, "items", quota)


def get_collection(c: Call) -> Answer:
    pin = c.store.describe_collection(c.tenant, c.name)
    if pin is None:
        raise CollectionNotFoundError(c.tenant, c.name)
    count = c.store.count(c.tenant, c.name)
    return 200, {"collection": collection_to_wire(pin), "count": count}


def drop_collection(c: Call) -> Answer:
    return 200, {"removed_items": c.store.drop_collection(c.tenant, c.name)}


def upsert(c: Call) -> Answer:
    items: Any = c.json("items").get("items")
    c.limits.check_items(items)
    _check_item_quota(c, items)
    return 200, {"upserted": c.store.upsert(c.tenant, c.name, items)}


def _search_options(c: Call, body: dict[str, Any]) -> dict[str, Any]:
    """The keywords of ``Store.search``/``search_many``, as sent: the store checks them."""
    limit = body.get("limit", 10)  # null is not "default": the store refuses it
    c.limits.check_search_limit(limit)
    return {
        "limit": limit,
        "filter": body.get("filter"),
        "ef_search": body.get("ef_search"),  # null: the store's default
        "exact": body.get("exact", False),
    }


_SEARCH_FIELDS = ("limit", "filter", "ef_search", "exact")


def search(c: Call) -> Answer:
    """``{vector?, text?, text_weight?, ...}``: a vector, a text or both (contract §14)."""
    body = c.json("vector", "text", "text_weight", *_SEARCH_FIELDS)
    options = _search_options(c, body)
    vector: Any = body.get("vector")
    text: Any = body.get("text")
    weight: Any = body.get("text_weight", 0.5)
    matches = c.store.search(c.tenant, c.name, vector, text=text, text_weight=weight, **options)
    return 200, {"matches": [match_to_wire(m) for m in matches]}


def search_many(c: Call) -> Answer:
    """Not in contract §9: one request (and one snapshot) for ``Store.search_many``."""
    body = c.json("vectors", *_SEARCH_FIELDS)
    vectors = body.get("vectors")
    c.limits.check_queries(vectors)
    options = _search_options(c, body)
    c.limits.check_results(vectors, options["limit"])
    results = c.store.search_many(c.tenant, c.name, vectors, **options)
    return 200, {"results": [[match_to_wire(m) for m in row] for row in results]}


def delete(c: Call) -> Answer:
    """By ``{"ids": [...]}`` or by ``{"filter": {...}}`` (contract §13; null is "not given")."""
    body = c.json("ids", "filter")
    ids: Any = body.get("ids")
    filter: Any = body.get("filter")
    if ids is not None:
        c.limits.check_ids("delete", ids)
    return 200, {"deleted": c.store.delete(c.tenant, c.name, ids, filter=filter)}


def count(c: Call) -> Answer:
    """Contract §13: ``{filter?}`` → ``{"count": n}``."""
    filter: Any = c.json("filter").get("filter")
    return 200, {"count": c.store.count(c.tenant, c.name, filter=filter)}


def update(c: Call) -> Answer:
    """Contract §13: ``{"items": [patch, ...]}`` → ``{"updated": n}``, all or nothing."""
    patches: Any = c.json("items").get("items")
    c.limits.check_patches(patches)
    return 200, {"updated": c.store.update(c.tenant, c.name, patches)}


def scroll(c: Call) -> Answer:
    """Contract §13: ``{filter?, after?, limit?}`` → ``{"items": [...], "next": cursor}``.

    A ``limit`` above the service's ``max_scroll`` is lowered to it; ``next`` (the last id of
    this page, or null when no item follows) is the ``after`` of the following page.
    """
    body = c.json("filter", "after", "limit")
    filter: Any = body.get("filter")
    after: Any = body.get("after")
    limit: Any = c.limits.scroll_page(body.get("limit", 100))
    if not (isinstance(limit, int) and not isinstance(limit, bool) and limit >= 1):
        # Let the store refuse it, in its order (existence, filter, then the page).
        c.store.scroll(c.tenant, c.name, filter=filter, after=after, limit=limit)
        raise AssertionError("the store accepted an invalid scroll limit")  # pragma: no cover
    # One item more than the page tells whether another page follows.
    items = c.store.scroll(c.tenant, c.name, filter=filter, after=after, limit=limit + 1)
    following = items[limit - 1].id if len(items) > limit else None
    return 200, {"items": [item_to_wire(i) for i in items[:limit]], "next": following}


def _ids_page(c: Call, after: Any, page: int, filter: Any) -> Answer:
    if page < 1:  # let the store refuse it, after its existence check
        c.store.list_ids(c.tenant, c.name, after=after, limit=page, filter=filter)
    # One id more than the page tells whether another page follows.
    ids = c.store.list_ids(c.tenant, c.name, after=after, limit=page + 1, filter=filter)
    following = ids[page - 1] if len(ids) > page else None
    return 200, {"ids": ids[:page], "next": following}


def list_ids(c: Call) -> Answer:
    page = c.limits.page_size(c.query.get("limit"))
    return _ids_page(c, c.query.get("after") or None, page, None)


def list_ids_filtered(c: Call) -> Answer:
    """``list_ids`` with a filter (contract §13): the ``GET …/ids`` page, its parameters in a
    JSON body ``{filter?, after?, limit?}`` so a filter of any size fits."""
    body = c.json("filter", "after", "limit")
    after, raw, filter = body.get("after"), body.get("limit"), body.get("filter")
    if raw is None:
        page = c.limits.default_page
    elif isinstance(raw, int) and not isinstance(raw, bool):
        page = min(raw, c.limits.max_page)
    else:  # the store's own error, after its existence check
        c.store.list_ids(c.tenant, c.name, after=after, limit=raw, filter=filter)
        raise AssertionError("the store accepted an invalid ids limit")  # pragma: no cover
    return _ids_page(c, after, page, filter)


def fetch(c: Call) -> Answer:
    """Beyond §9: ``Store.fetch``, the stored items by id (what export and migrate read)."""
    ids: Any = c.json("ids").get("ids")
    c.limits.check_ids("fetch", ids)
    return 200, {"items": [item_to_wire(i) for i in c.store.fetch(c.tenant, c.name, ids)]}


def create_index(c: Call) -> Answer:
    """Contract §15: build (or rebuild) the collection's approximate index, where the backend
    has one (else ``invalid_argument``, after the existence check)."""
    body = c.json("m", "ef_construction")
    m, ef_construction = body.get("m", 16), body.get("ef_construction", 64)
    index = c.store.create_index(c.tenant, c.name, m=m, ef_construction=ef_construction)
    return 200, {"index": index_to_wire(index)}


def describe_index(c: Call) -> Answer:
    return 200, {"index": index_to_wire(c.store.describe_index(c.tenant, c.name))}


def drop_index(c: Call) -> Answer:
    return 200, {"dropped": c.store.drop_index(c.tenant, c.name)}


def list_tenants(c: Call) -> Answer:
    """Not in contract §9: ``Store.list_tenants`` for admin keys (what ``migrate`` walks)."""
    require_admin(c.principal)
    return 200, {"tenants": c.store.list_tenants()}


def whoami(c: Call) -> Answer:
    """Not in contract §9: who the key is (its tenant, or null for an admin key), so a client
    such as the console (contract §19) can say which tenant it shows without being told."""
    return 200, {"tenant": c.principal.tenant, "admin": c.principal.admin}


@dataclass(frozen=True)
class RouteSpec:
    """One route. Tenant-scoped routes are served at ``/v1{path}`` (the key's tenant) and at
    ``/v1/tenants/{tenant}{path}`` (admin keys, or a tenant key naming its own tenant)."""

    method: str
    path: str
    operation: Operation
    summary: str
    reads_body: bool = False
    tenant_scoped: bool = True
    existence_first: bool = True
    """The collection's existence is checked before its body is validated (contract §2)."""


ROUTES: tuple[RouteSpec, ...] = (
    RouteSpec("GET", "/collections", list_collections, "List the tenant's collections"),
    RouteSpec(
        "PUT",
        "/collections/{name}",
        put_collection,
        "Create or check a collection",
        reads_body=True,
        existence_first=False,  # dimensions are checked before existence (contract §12)
    ),
    RouteSpec("GET", "/collections/{name}", get_collection, "Describe a collection"),
    RouteSpec("DELETE", "/collections/{name}", drop_collection, "Drop a collection"),
    RouteSpec("POST", "/collections/{name}/upsert", upsert, "Insert or replace items", True),
    RouteSpec("POST", "/collections/{name}/search", search, "Nearest neighbours", True),
    RouteSpec(
        "POST",
        "/collections/{name}/search_many",
        search_many,
        "Nearest neighbours of several queries",
        True,
    ),
    RouteSpec("POST", "/collections/{name}/delete", delete, "Delete items by id or filter", True),
    RouteSpec("GET", "/collections/{name}/ids", list_ids, "Page through item ids"),
    RouteSpec(
        "POST",
        "/collections/{name}/ids",
        list_ids_filtered,
        "Page through the ids of items that pass a filter",
        True,
    ),
    RouteSpec("POST", "/collections/{name}/count", count, "Count items (by filter)", True),
    RouteSpec("POST", "/collections/{name}/scroll", scroll, "Page through whole items", True),
    RouteSpec("POST", "/collections/{name}/update", update, "Partial updates of items", True),
    RouteSpec("POST", "/collections/{name}/fetch", fetch, "Stored items by id", True),
    RouteSpec("PUT", "/collections/{name}/index", create_index, "Build an approximate index", True),
    RouteSpec("GET", "/collections/{name}/index", describe_index, "Describe the index"),
    RouteSpec("DELETE", "/collections/{name}/index", drop_index, "Drop the index"),
    RouteSpec("GET", "/tenants", list_tenants, "List tenants (admin)", tenant_scoped=False),
    RouteSpec("GET", "/whoami", whoami, "The key's tenant and role", tenant_scoped=False),
)
