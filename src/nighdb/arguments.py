"""Checks of a call's plain arguments (contract §1, §3, §5, §13), shared by every backend.

Tenants, collection names and ids, the metric and dimensions of a collection pin and how a
requested pin compares with a stored one, limits, pages and scroll cursors, and which of ids
or filter a ``delete`` names. These are the checks made before any vector or metadata is
looked at (contract §12: names first), so they live apart from the value checks in
``items`` and ``patches``, which build on them. Import them from ``nighdb.validation``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import replace

from .errors import CollectionConflictError, InvalidArgumentError
from .jsontext import check_unicode
from .models import METRICS, Collection
from .text import ANALYZERS, DEFAULT_ANALYZER

__all__ = [
    "DEFAULT_SCROLL_LIMIT",
    "MAX_DIMENSIONS",
    "MAX_ID_LENGTH",
    "MAX_NAME_LENGTH",
    "check_analyzer",
    "check_collection",
    "check_collection_name",
    "check_compatible",
    "check_delete_target",
    "check_dimensions_for_ensure",
    "check_id",
    "check_ids",
    "check_limit",
    "check_new_collection",
    "check_page",
    "check_scroll",
    "check_search_text",
    "check_tenant",
    "check_text_weight",
    "normalize_metric",
]

MAX_NAME_LENGTH = 256
MAX_ID_LENGTH = 1024
MAX_DIMENSIONS = 16000


def _check_text_key(kind: str, value: object, max_len: int) -> str:
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{kind} must be a string, got {type(value).__name__}")
    if not value:
        raise InvalidArgumentError(f"{kind} must not be empty")
    if len(value) > max_len:
        raise InvalidArgumentError(f"{kind} is {len(value)} characters; the limit is {max_len}")
    if "\x00" in value:
        raise InvalidArgumentError(f"{kind} must not contain a NUL character")
    check_unicode(kind, value)
    return value


def check_tenant(tenant: object) -> str:
    return _check_text_key("tenant", tenant, MAX_NAME_LENGTH)


def check_collection_name(name: object) -> str:
    return _check_text_key("collection name", name, MAX_NAME_LENGTH)


def check_id(item_id: object) -> str:
    return _check_text_key("item id", item_id, MAX_ID_LENGTH)


def normalize_metric(metric: object) -> str:
    if metric is None or metric == "":
        return "cosine"
    if metric not in METRICS:
        raise InvalidArgumentError(f"unknown metric {metric!r}; use one of {', '.join(METRICS)}")
    return str(metric)


def check_dimensions_for_ensure(dimensions: object) -> int:
    """0 means "don't care" (only meaningful for an existing collection)."""
    if isinstance(dimensions, bool) or not isinstance(dimensions, int):
        raise InvalidArgumentError("dimensions must be an integer")
    if dimensions != 0 and not 1 <= dimensions <= MAX_DIMENSIONS:
        raise InvalidArgumentError(f"dimensions must be between 1 and {MAX_DIMENSIONS}")
    return dimensions


def check_collection(collection: object) -> Collection:
    """Validate an ``ensure_collection`` argument in contract §3 order, metric normalised."""
    if not isinstance(collection, Collection):
        raise InvalidArgumentError("ensure_collection takes a nighdb.Collection")
    check_collection_name(collection.name)
    metric = normalize_metric(collection.metric)
    dims = check_dimensions_for_ensure(collection.dimensions)
    model = collection.embedding_model
    if model is None:
        model = ""
    if not isinstance(model, str):
        raise InvalidArgumentError("embedding_model must be a string")
    if "\x00" in model:
        raise InvalidArgumentError("embedding_model must not contain a NUL character")
    check_unicode("embedding_model", model)
    return Collection(
        collection.name, dims, model, metric, check_analyzer(collection.text_analyzer)
    )


def check_analyzer(analyzer: object) -> str:
    """A requested ``text_analyzer``: a known name, or ``""`` (don't care)."""
    if analyzer is None:
        return ""
    if not isinstance(analyzer, str) or (analyzer and analyzer not in ANALYZERS):
        raise InvalidArgumentError(
            f"unknown text_analyzer {analyzer!r}; use one of {', '.join(ANALYZERS)}"
        )
    return analyzer


def check_limit(limit: object, *, name: str = "limit") -> int:
    """``limit <= 0`` means 10 (contract §5)."""
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise InvalidArgumentError(f"{name} must be an integer")
    return 10 if limit <= 0 else limit


def check_ids(ids: object) -> list[str]:
    """Ids for ``delete``: every one valid, or nothing is deleted."""
    if isinstance(ids, (str, bytes, Mapping)) or not isinstance(ids, Iterable):
        raise InvalidArgumentError("ids must be a list of strings")
    return [check_id(i) for i in ids]


def check_page(after: object, limit: object) -> tuple[str | None, int | None]:
    if after is not None and not isinstance(after, str):
        raise InvalidArgumentError("after must be a string id or None")
    if after is not None and "\x00" in after:
        raise InvalidArgumentError("after must not contain a NUL character")
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise InvalidArgumentError("limit must be an integer")
        if limit < 1:
            raise InvalidArgumentError("limit must be at least 1")
    return after, limit


def check_compatible(existing: Collection, requested: Collection) -> Collection:
    """contract §3 step 3: compare a requested pin with the stored one; return the stored pin.

    Dimensions first, then model, then metric; zero dimensions and an empty model mean
    "don't care". ``requested`` must already be normalised by ``check_collection``.
    """
    if requested.dimensions != 0 and requested.dimensions != existing.dimensions:
        raise CollectionConflictError(
            existing.name, "dimensions", str(existing.dimensions), str(requested.dimensions)
        )
    if requested.embedding_model and requested.embedding_model != existing.embedding_model:
        raise CollectionConflictError(
            existing.name, "embedding_model", existing.embedding_model, requested.embedding_model
        )
    if requested.metric != existing.metric:
        raise CollectionConflictError(existing.name, "metric", existing.metric, requested.metric)
    if requested.text_analyzer and requested.text_analyzer != existing.text_analyzer:
        raise CollectionConflictError(
            existing.name, "text_analyzer", existing.text_analyzer, requested.text_analyzer
        )
    return existing


def check_new_collection(requested: Collection) -> Collection:
    """contract §3 step 4: a collection being created needs real dimensions."""
    if not 1 <= requested.dimensions <= MAX_DIMENSIONS:
        raise InvalidArgumentError(
            f"collection {requested.name!r} does not exist, so dimensions must be between 1 "
            f'and {MAX_DIMENSIONS} to create it (0 means "don\'t care" only for an '
            "existing collection)"
        )
    if not requested.text_analyzer:
        return replace(requested, text_analyzer=DEFAULT_ANALYZER)
    return requested


def check_delete_target(ids: object, filter: object) -> list[str] | None:
    """``delete``'s arguments: exactly one of ``ids`` and ``filter`` (``None`` is "not given").

    Returns the checked ids, or ``None`` when the call deletes by filter (the caller parses the
    filter itself, so every backend reports a bad filter with the same words).
    """
    if (ids is None) == (filter is None):
        raise InvalidArgumentError(
            "delete takes exactly one of ids (a list of item ids) and filter (a filter "
            "object; {} matches every item)"
            + (", not both" if ids is not None else "; neither was given")
        )
    return None if ids is None else check_ids(ids)


DEFAULT_SCROLL_LIMIT = 100


def check_scroll(after: object, limit: object) -> tuple[str | None, int]:
    """``scroll``'s cursor and page size: ``limit`` must be an integer of at least 1."""
    if limit is None:
        raise InvalidArgumentError("limit must be an integer of at least 1")
    checked_after, checked_limit = check_page(after, limit)
    assert checked_limit is not None
    return checked_after, checked_limit


def check_search_text(text: object) -> str | None:
    """``search``'s ``text``: ``None`` (no text ranking) or a string (contract §14)."""
    if text is None:
        return None
    if not isinstance(text, str):
        raise InvalidArgumentError("text must be a string")
    check_unicode("text", text)
    return text


def check_text_weight(weight: object) -> float:
    """``text_weight``: a number in [0, 1], the text ranking's share of a hybrid search."""
    if isinstance(weight, bool) or not isinstance(weight, (int, float)):
        raise InvalidArgumentError("text_weight must be a number between 0 and 1")
    value = float(weight)
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise InvalidArgumentError(f"text_weight must be between 0 and 1, not {weight!r}")
    return value
