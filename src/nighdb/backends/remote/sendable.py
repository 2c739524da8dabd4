"""What JSON can carry faithfully: the remote client's arguments turned into request bodies.

Faithful errors need care where JSON cannot say what Python can. Values the service would
validate anyway are sent as they are, so the store decides the error after its existence
check, exactly as locally. Values JSON cannot carry (NaN, infinities) or would distort (a
tuple in a filter, a non-string metadata key, a numpy integer ``limit``) are never sent: each
function here raises ``UnsendableError`` for them, and the store (``store.RemoteStore``) then asks
the service only whether the collection exists and runs the shared validation locally, which
raises the local backends' error.

This module only converts and refuses; it decides no error and sends nothing, so the rules
of what is sendable sit in one place, apart from the routes that use them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ...models import Item

__all__ = [
    "UnsendableError",
    "item",
    "listed",
    "metadata",
    "page_is_sendable",
    "patch",
    "queries",
    "search_options",
    "strict",
    "vector",
]

MAX_DEPTH = 256
"""Deeper values are not sent; the local validation (limit 64) refuses them instead."""


class UnsendableError(Exception):
    """A value JSON would distort: decide its error with the local validation instead."""


def _float(value: float) -> float:
    if not math.isfinite(value):
        raise UnsendableError  # JSON has no NaN or infinity
    return float(value)


def strict(value: object, depth: int = 0) -> Any:
    """Exactly the JSON types (filters, ids, texts, limits): nothing is coerced."""
    if depth > MAX_DEPTH:
        raise UnsendableError
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int) and not isinstance(value, np.generic):
        return int(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, list):
        return [strict(v, depth + 1) for v in value]
    if isinstance(value, Mapping):
        return {_key(k): strict(v, depth + 1) for k, v in value.items()}
    raise UnsendableError


def _key(key: object) -> str:
    # json.dumps would turn 1 into "1": the store refuses non-string keys instead.
    if not isinstance(key, str):
        raise UnsendableError
    return key


def metadata(value: object, depth: int = 0) -> Any:
    """Metadata as the local validation reads it: numpy scalars become numbers, tuples lists."""
    if depth > MAX_DEPTH:
        raise UnsendableError
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, (list, tuple)):
        return [metadata(v, depth + 1) for v in value]
    if isinstance(value, Mapping):
        return {_key(k): metadata(v, depth + 1) for k, v in value.items()}
    raise UnsendableError


def vector(value: object) -> Any:
    """A vector as numpy reads it; anything else is sent as is for the store to refuse."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            raise UnsendableError
        if value.dtype.kind not in "fiub":
            raise UnsendableError
        if value.dtype.kind == "f" and value.dtype.itemsize > 8:
            value = value.astype(np.float64)  # tolist() would keep numpy long doubles
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [metadata(v) if isinstance(v, np.generic) else strict(v) for v in value]
    return strict(value)


def queries(values: object) -> list[Any]:
    """The vectors of ``search_many``: a 2-d array's rows, or any iterable of vectors."""
    if isinstance(values, np.ndarray):
        if values.ndim != 2:
            raise UnsendableError
        return [vector(row) for row in values]
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
        raise UnsendableError
    return [vector(q) for q in values]


def item(value: object) -> dict[str, Any]:
    """An ``Item`` or an item mapping as the body of ``upsert`` carries it."""
    if isinstance(value, Item):
        fields: Mapping[str, Any] = {
            "id": value.id,
            "vector": value.vector,
            "metadata": value.metadata,
            "text": value.text,
        }
    elif isinstance(value, Mapping):
        fields = value
    else:
        raise UnsendableError
    out: dict[str, Any] = {}
    if "id" in fields:
        out["id"] = strict(fields["id"])
    if "vector" in fields:
        out["vector"] = vector(fields["vector"])
    if fields.get("metadata") is not None:
        out["metadata"] = metadata(fields["metadata"])
    if fields.get("text") is not None:
        out["text"] = strict(fields["text"])
    return out


def patch(value: object) -> dict[str, Any]:
    """One patch of ``update``: the fields it knows, each converted as its kind requires."""
    if not isinstance(value, Mapping):
        raise UnsendableError
    out: dict[str, Any] = {}
    for key, field in value.items():
        if key == "vector" and field is not None:
            out[key] = vector(field)
        elif key in ("metadata", "metadata_patch"):
            out[key] = metadata(field)
        elif key in ("id", "text"):
            out[key] = strict(field)
    return out


def listed(values: object) -> list[Any]:
    """A sequence argument as a list (an iterator is read once, here); a lone value is not."""
    if isinstance(values, (str, bytes, Mapping, Item)) or not isinstance(values, Iterable):
        raise UnsendableError
    return list(values)


def search_options(
    limit: object, filter: object, ef_search: object, exact: object
) -> dict[str, Any]:
    """The body fields of the search routes. ``ef_search``/``exact`` are sent only when given,
    so a search without them also works against a service that predates them."""
    options = {"limit": strict(limit), "filter": strict(filter)}
    if ef_search is not None:
        options["ef_search"] = strict(ef_search)
    if exact is not False:
        options["exact"] = strict(exact)
    return options


def page_is_sendable(after: object, limit: object) -> bool:
    """Whether ``list_ids``'s ``after`` and ``limit`` travel as query parameters unchanged."""
    if after is not None and not isinstance(after, str):
        return False
    if isinstance(after, str):
        try:
            after.encode("utf-8")
        except UnicodeEncodeError:
            return False
    return limit is None or (isinstance(limit, int) and not isinstance(limit, bool))
