"""The OpenAPI 3.1 document of the service (``/openapi.json``), which ``/docs`` renders.

Written out by hand from the route table (``routes.ROUTES``) rather than generated from
request models: the service deliberately hands bodies to the store unparsed, so the store's
validation (the same on every backend) decides every error, and this document describes the
shapes that validation accepts.
"""

from __future__ import annotations

from typing import Any

from .. import __version__
from .limits import ServiceLimits
from .routes import ROUTES, RouteSpec

__all__ = ["openapi_document"]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _schemas(limits: ServiceLimits) -> dict[str, Any]:
    vector = {"type": "array", "items": {"type": "number"}, "minItems": 1}
    search_options = {
        "ef_search": {
            "type": ["integer", "null"],
            "minimum": 1,
            "maximum": 1000,
            "default": None,
            "description": "an approximate index's candidate list size (null: the store's "
            "default); checked, and without effect, on a collection without an index",
        },
        "exact": {
            "type": "boolean",
            "default": False,
            "description": "true: ignore the collection's approximate index, rank exactly",
        },
    }
    # An index's options: what a build request may give and what describing an index returns.
    index_options = {
        "m": {"type": "integer", "minimum": 2, "maximum": 100, "default": 16},
        "ef_construction": {
            "type": "integer",
            "minimum": 4,
            "maximum": 1000,
            "default": 64,
            "description": "at least 2 * m",
        },
    }
    return {
        "Collection": {
            "type": "object",
            "required": ["name", "dimensions", "embedding_model", "metric"],
            "properties": {
                "name": {"type": "string"},
                "dimensions": {"type": "integer"},
                "embedding_model": {"type": "string"},
                "metric": {"type": "string", "enum": ["cosine", "l2", "ip"]},
                "text_analyzer": {"type": "string", "enum": ["plain", "english"]},
            },
        },
        "CollectionRequest": {
            "type": "object",
            "properties": {
                "dimensions": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": limits.max_dimensions,
                    "description": "0: don't care (only for an existing collection)",
                },
                "embedding_model": {"type": "string", "default": ""},
                "metric": {"type": "string", "enum": ["cosine", "l2", "ip", ""]},
                "text_analyzer": {
                    "type": "string",
                    "enum": ["plain", "english", ""],
                    "default": "plain",
                    "description": "how item texts are analyzed for text search; '': don't care",
                },
            },
        },
        "Item": {
            "type": "object",
            "required": ["id", "vector"],
            "properties": {
                "id": {"type": "string", "minLength": 1, "maxLength": 1024},
                "vector": vector,
                "metadata": {"type": "object", "default": {}},
                "text": {"type": "string", "default": ""},
            },
        },
        "Patch": {
            "type": "object",
            "required": ["id"],
            "description": "a partial update: at least one of vector, text, metadata and "
            "metadata_patch (null counts as absent); metadata and metadata_patch exclude each "
            "other; fields not named keep their stored values",
            "properties": {
                "id": {"type": "string", "minLength": 1, "maxLength": 1024},
                "vector": vector,
                "text": {"type": "string"},
                "metadata": {"type": "object", "description": "replaces the whole object"},
                "metadata_patch": {
                    "type": "object",
                    "description": "merged at the top level; a key whose value is null is removed",
                },
            },
        },
        "ScrollRequest": {
            "type": "object",
            "properties": {
                "filter": _ref("Filter"),
                "after": {"type": "string", "description": "the `next` of the previous page"},
                "limit": {
                    "type": "integer",
                    "minimum": 1,
                    "default": 100,
                    "description": f"lowered to this service's maximum of {limits.max_scroll}",
                },
            },
        },
        "IdsRequest": {
            "type": "object",
            "properties": {
                "filter": _ref("Filter"),
                "after": {"type": "string", "description": "the `next` of the previous page"},
                "limit": {
                    "type": "integer",
                    "minimum": 1,
                    "default": limits.default_page,
                    "maximum": limits.max_page,
                },
            },
        },
        "Match": {
            "type": "object",
            "required": ["id", "distance", "score", "metadata", "text"],
            "properties": {
                "id": {"type": "string"},
                "distance": {"type": "number"},
                "score": {"type": "number"},
                "metadata": {"type": "object"},
                "text": {"type": "string"},
            },
        },
        "Filter": {
            "type": "object",
            "description": (
                "docs/contract.md §6: {field: value | [values] | {op: operand}}, $and/$or/$not"
            ),
        },
        "SearchRequest": {
            "type": "object",
            "description": "vector, text, or both (hybrid: reciprocal rank fusion)",
            "properties": {
                "vector": vector,
                "text": {"type": "string", "description": "BM25 text query (contract §14)"},
                "text_weight": {
                    "type": "number",
                    "minimum": 0,
                    "maximum": 1,
                    "default": 0.5,
                    "description": "the text ranking's share of a hybrid search",
                },
                "limit": {"type": "integer", "default": 10, "maximum": limits.max_search_limit},
                "filter": _ref("Filter"),
                **search_options,
            },
        },
        "SearchManyRequest": {
            "type": "object",
            "required": ["vectors"],
            "properties": {
                "vectors": {"type": "array", "items": vector, "maxItems": limits.max_queries},
                "limit": {"type": "integer", "default": 10, "maximum": limits.max_search_limit},
                "filter": _ref("Filter"),
                **search_options,
            },
        },
        "Index": {
            "type": "object",
            "required": ["m", "ef_construction"],
            "properties": index_options,
        },
        "IndexRequest": {
            "type": "object",
            "properties": index_options,
        },
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message", "details"],
                    "properties": {
                        "code": {
                            "type": "string",
                            "examples": [
                                "collection_not_found",
                                "collection_conflict",
                                "dimension_mismatch",
                                "invalid_argument",
                                "unauthenticated",
                                "permission_denied",
                                "unavailable",
                                "payload_too_large",
                                "quota_exceeded",
                                "internal",
                            ],
                        },
                        "message": {"type": "string"},
                        "details": {"type": "object"},
                    },
                }
            },
        },
    }


_BODIES: dict[str, dict[str, Any]] = {
    "put_collection": _ref("CollectionRequest"),
    "upsert": {
        "type": "object",
        "required": ["items"],
        "properties": {"items": {"type": "array", "items": _ref("Item")}},
    },
    "search": _ref("SearchRequest"),
    "search_many": _ref("SearchManyRequest"),
    "delete": {
        "type": "object",
        "description": "exactly one of ids and filter; the filter {} empties the collection",
        "properties": {
            "ids": {"type": "array", "items": {"type": "string"}},
            "filter": _ref("Filter"),
        },
    },
    "count": {"type": "object", "properties": {"filter": _ref("Filter")}},
    "scroll": _ref("ScrollRequest"),
    "list_ids_filtered": _ref("IdsRequest"),
    "update": {
        "type": "object",
        "required": ["items"],
        "properties": {"items": {"type": "array", "items": _ref("Patch")}},
        "description": "all or nothing: every patch is checked (ids must exist) first",
    },
    "fetch": {
        "type": "object",
        "required": ["ids"],
        "properties": {"ids": {"type": "array", "items": {"type": "string"}}},
    },
    "create_index": _ref("IndexRequest"),
}

_ANSWERS: dict[str, dict[str, Any]] = {
    "list_collections": {
        "type": "object",
        "properties": {
            "collections": {
                "type": "array",
                "items": {
                    "allOf": [
                        _ref("Collection"),
                        {"type": "object", "properties": {"count": {"type": "integer"}}},
                    ]
                },
            }
        },
    },
    "put_collection": {"type": "object", "properties": {"collection": _ref("Collection")}},
    "get_collection": {
        "type": "object",
        "properties": {"collection": _ref("Collection"), "count": {"type": "integer"}},
    },
    "drop_collection": {"type": "object", "properties": {"removed_items": {"type": "integer"}}},
    "upsert": {"type": "object", "properties": {"upserted": {"type": "integer"}}},
    "search": {
        "type": "object",
        "properties": {"matches": {"type": "array", "items": _ref("Match")}},
    },
    "search_many": {
        "type": "object",
        "properties": {
            "results": {"type": "array", "items": {"type": "array", "items": _ref("Match")}}
        },
    },
    "delete": {"type": "object", "properties": {"deleted": {"type": "integer"}}},
    "count": {"type": "object", "properties": {"count": {"type": "integer"}}},
    "update": {"type": "object", "properties": {"updated": {"type": "integer"}}},
    "scroll": {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": _ref("Item")},
            "next": {"type": ["string", "null"], "description": "the `after` of the next page"},
        },
        "description": "whole items in byte order of id",
    },
    "fetch": {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": _ref("Item")},
        },
        "description": "in the order asked, each id once; absent ids are omitted",
    },
    "list_ids": {
        "type": "object",
        "properties": {
            "ids": {"type": "array", "items": {"type": "string"}},
            "next": {"type": ["string", "null"], "description": "the `after` of the next page"},
        },
    },
    "create_index": {"type": "object", "properties": {"index": _ref("Index")}},
    "describe_index": {
        "type": "object",
        "properties": {"index": {"oneOf": [_ref("Index"), {"type": "null"}]}},
        "description": "null when the collection has no index",
    },
    "drop_index": {
        "type": "object",
        "properties": {"dropped": {"type": "boolean"}},
        "description": "false when the collection had no index",
    },
    "list_tenants": {
        "type": "object",
        "properties": {"tenants": {"type": "array", "items": {"type": "string"}}},
    },
}

_ANSWERS["list_ids_filtered"] = _ANSWERS["list_ids"]
_ANSWERS["whoami"] = {
    "type": "object",
    "required": ["tenant", "admin"],
    "properties": {
        "tenant": {"type": ["string", "null"], "description": "null for an admin key"},
        "admin": {"type": "boolean"},
    },
}

_ERRORS = {
    "400": "invalid_argument or dimension_mismatch",
    "401": "unauthenticated: missing, unknown or revoked key",
    "403": "permission_denied: the key may not act for that tenant",
    "404": "collection_not_found",
    "413": "payload_too_large",
    "429": (
        "rate_limited: this tenant is over its share of the node (running and waiting "
        "requests, rate, or queue wait); nothing was done, retry after Retry-After seconds"
    ),
    "503": "unavailable: the database is unreachable (retry)",
}
_CONFLICTS = {
    "put_collection": (
        "collection_conflict (exists with other settings), or quota_exceeded (the tenant's "
        "collection quota; nothing written)"
    ),
    "upsert": "quota_exceeded: the tenant's item quota (nothing written)",
}
"""The operations that can answer 409, and with which codes (contract §16 quotas)."""
_RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before sending the request again",
        "schema": {"type": "integer", "minimum": 1},
    }
}


def _segment(name: str, what: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": f"the {what}, percent-encoded as one segment ('/' as %2F, '.' as %2E)",
    }


def _operation(spec: RouteSpec, tenant_in_path: bool, limits: ServiceLimits) -> dict[str, Any]:
    op_name = spec.operation.__name__
    params: list[dict[str, Any]] = []
    if tenant_in_path:
        params.append(_segment("tenant", "tenant (admin keys, or a tenant key's own tenant)"))
    if "{name}" in spec.path:
        params.append(_segment("name", "collection name"))
    if op_name == "list_ids":
        params += [
            {"name": "after", "in": "query", "schema": {"type": "string"}},
            {
                "name": "limit",
                "in": "query",
                "schema": {
                    "type": "integer",
                    "default": limits.default_page,
                    "maximum": limits.max_page,
                },
            },
        ]
    ok = "201" if op_name == "put_collection" else "200"
    responses: dict[str, Any] = {ok: {"description": "OK", **_json(_ANSWERS[op_name])}}
    if op_name == "put_collection":
        responses["200"] = {"description": "already existed", **_json(_ANSWERS[op_name])}
        responses["201"]["description"] = "created"
    for status, text in _ERRORS.items():
        responses[status] = {"description": text, **_json(_ref("Error"))}
    if op_name in _CONFLICTS:
        responses["409"] = {"description": _CONFLICTS[op_name], **_json(_ref("Error"))}
    responses["429"]["headers"] = _RETRY_AFTER
    operation: dict[str, Any] = {
        "summary": spec.summary,
        "operationId": op_name + ("_for_tenant" if tenant_in_path else ""),
        "parameters": params,
        "responses": responses,
        "security": [{"apiKey": []}],
    }
    if spec.reads_body:
        operation["requestBody"] = {"required": True, **_json(_BODIES[op_name])}
    return operation


def openapi_document(limits: ServiceLimits) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {
        "/healthz": {
            "get": {
                "summary": "Liveness (no key needed)",
                "operationId": "healthz",
                "responses": {"200": {"description": 'always {"status": "ok"}'}},
            }
        },
        "/readyz": {
            "get": {
                "summary": "Readiness (no key needed): can this node serve now",
                "operationId": "readyz",
                "responses": {
                    "200": {"description": '{"status": "ready"}'},
                    "503": {"description": '{"status": "unavailable", "reason": …}'},
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics (no key needed; no tenant data)",
                "operationId": "metrics",
                "responses": {"200": {"description": "Prometheus text format"}},
            }
        },
    }
    for spec in ROUTES:
        forms = [(f"/v1{spec.path}", False)]
        if spec.tenant_scoped:
            forms.append((f"/v1/tenants/{{tenant}}{spec.path}", True))
        for path, tenant_in_path in forms:
            op = _operation(spec, tenant_in_path, limits)
            paths.setdefault(path, {})[spec.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "nighdb",
            "version": __version__,
            "description": (
                "A multi-tenant vector store. The tenant always comes from the API key. "
                "Tenant keys use /v1/collections…; admin keys use "
                "/v1/tenants/{tenant}/collections…."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": _schemas(limits),
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
        },
    }
