"""The service's wire format, shared by the server and the remote client (no third-party imports).

Keeping both directions in one module means the JSON shapes of contract §9 are written down once:
the server encodes with these functions and the remote backend decodes with their twins.

Path segments: tenants and collection names travel as one percent-encoded segment each.
``/`` becomes ``%2F`` and the names ``.`` and ``..`` become ``%2E``/``%2E%2E``, because HTTP
clients (httpx, curl, browsers) remove literal dot segments from a URL before sending it.
The server routes on the raw path and decodes each segment itself, so nothing in between can
merge or drop segments.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, unquote_to_bytes

from .errors import (
    InvalidArgumentError,
    NighError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitedError,
    StoreUnavailableError,
    UnauthenticatedError,
    from_wire,
)
from .indexes import IndexOptions
from .models import Collection, Item, Match

__all__ = [
    "collection_from_wire",
    "collection_to_wire",
    "decode_segment",
    "dumps",
    "encode_segment",
    "error_body",
    "error_from_response",
    "index_from_wire",
    "index_to_wire",
    "item_to_wire",
    "match_from_wire",
    "match_to_wire",
]


def dumps(payload: object) -> bytes:
    """Compact JSON; ASCII-only so any text (even text a store will reject) can be encoded."""
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode("ascii")


def encode_segment(value: str) -> str:
    """One path segment for a tenant or name; ``surrogatepass`` lets the server reject it."""
    encoded = quote(value.encode("utf-8", "surrogatepass"), safe="")
    if encoded in (".", ".."):
        return encoded.replace(".", "%2E")
    return encoded


def decode_segment(raw: str) -> str:
    """The name a percent-encoded raw path segment carries."""
    try:
        return unquote_to_bytes(raw).decode("utf-8", "surrogatepass")
    except UnicodeDecodeError as exc:
        raise InvalidArgumentError("a name in the URL path is not valid UTF-8") from exc


def collection_to_wire(collection: Collection) -> dict[str, Any]:
    return {
        "name": collection.name,
        "dimensions": collection.dimensions,
        "embedding_model": collection.embedding_model,
        "metric": collection.metric,
        "text_analyzer": collection.text_analyzer,
    }


def collection_from_wire(data: Mapping[str, Any]) -> Collection:
    return Collection(
        str(data["name"]),
        int(data["dimensions"]),
        str(data["embedding_model"]),
        str(data["metric"]),
        str(data.get("text_analyzer", "plain")),
    )


def index_to_wire(index: IndexOptions | None) -> dict[str, Any] | None:
    if index is None:
        return None
    return {"m": index.m, "ef_construction": index.ef_construction}


def index_from_wire(data: Mapping[str, Any] | None) -> IndexOptions | None:
    if data is None:
        return None
    return IndexOptions(int(data["m"]), int(data["ef_construction"]))


def match_to_wire(match: Match) -> dict[str, Any]:
    return {
        "id": match.id,
        "distance": match.distance,
        "score": match.score,
        "metadata": match.metadata,
        "text": match.text,
    }


def item_to_wire(item: Item) -> dict[str, Any]:
    # float() of a float32 is its exact value, whose repr parses back to the same float32.
    return {
        "id": item.id,
        "vector": [float(x) for x in item.vector],
        "metadata": dict(item.metadata),
        "text": item.text,
    }


def match_from_wire(data: Mapping[str, Any]) -> Match:
    return Match(
        id=str(data["id"]),
        distance=float(data["distance"]),
        score=float(data["score"]),
        metadata=dict(data["metadata"]),
        text=str(data["text"]),
    )


def error_body(code: str, message: str, details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The error envelope of contract §9: ``{"error": {"code", "message", "details"}}``.

    The only place it is built: the service answers every failure with it (a ``NighError``
    with ``err.code, err.message, err.details``; an unknown route; an internal error), and
    ``error_from_response`` reads it back.
    """
    return {"error": {"code": code, "message": message, "details": dict(details or {})}}


# What a status means when the body is not our envelope (a proxy's error page, say).
_BY_STATUS: dict[int, Callable[[], NighError]] = {
    401: UnauthenticatedError,
    403: PermissionDeniedError,
    413: PayloadTooLargeError,
    429: RateLimitedError,  # a proxy's own rate limit: retryable like ours
    502: StoreUnavailableError,
    503: StoreUnavailableError,
    504: StoreUnavailableError,
}


def error_from_response(status: int, content: bytes) -> NighError:
    """Rebuild the error a service answered with, as the class the local backends raise."""
    try:
        envelope = json.loads(content)
        error = envelope["error"]
        code, message = error["code"], error["message"]
        details = error.get("details") or {}
        if isinstance(code, str) and isinstance(message, str) and isinstance(details, dict):
            return from_wire(code, message, details)
    except (ValueError, KeyError, TypeError):
        pass
    make = _BY_STATUS.get(status)
    if make is not None:
        return make()
    return NighError(f"the service answered HTTP {status} without a nighdb error body")
