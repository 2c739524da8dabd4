"""Input validation shared by every backend (contract §1, §4, §12), done before anything is written.

Validated input comes out in the shape backends write: a batch of items becomes one
``float32`` matrix plus parallel lists of ids, canonical metadata JSON and texts, so a
backend never re-checks and never meets a Python object it did not expect.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from .errors import CollectionConflictError, DimensionMismatchError, InvalidArgumentError
from .jsontext import check_unicode, encode_json
from .models import INT64_MAX, INT64_MIN, METRICS, Collection, Item, ItemLike

__all__ = [
    "MAX_DIMENSIONS",
    "MAX_ID_LENGTH",
    "MAX_METADATA_DEPTH",
    "MAX_NAME_LENGTH",
    "ItemBatch",
    "check_collection_name",
    "check_dimensions_for_ensure",
    "check_id",
    "check_limit",
    "check_tenant",
    "normalize_metric",
    "validate_items",
    "validate_queries",
    "validate_query",
]

MAX_NAME_LENGTH = 256
MAX_ID_LENGTH = 1024
MAX_DIMENSIONS = 16000
MAX_METADATA_DEPTH = 64
"""Metadata nested deeper is rejected: it bounds recursion in JSON codecs and SQL engines."""

Matrix = npt.NDArray[np.float32]


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
    return Collection(collection.name, dims, model, metric)


def check_limit(limit: object, *, name: str = "limit") -> int:
    """``limit <= 0`` means 10 (contract §5)."""
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise InvalidArgumentError(f"{name} must be an integer")
    return 10 if limit <= 0 else limit


def _as_vector(raw: object) -> npt.NDArray[Any]:
    if isinstance(raw, (str, bytes, Mapping)) or raw is None:
        raise InvalidArgumentError("a vector must be a sequence of numbers")
    try:
        arr = np.asarray(raw)
    except (ValueError, TypeError) as exc:
        raise InvalidArgumentError("a vector must be a flat sequence of numbers") from exc
    if arr.ndim != 1 or arr.dtype.kind not in "fiu":
        raise InvalidArgumentError("a vector must be a flat sequence of numbers")
    return arr


def _check_values(collection: str, vec: npt.NDArray[Any], metric: str, what: str) -> Matrix:
    with np.errstate(over="ignore", invalid="ignore"):  # overflow becomes inf, rejected below
        v32 = vec.astype(np.float32, copy=False)
    if not np.isfinite(v32).all():
        raise InvalidArgumentError(
            f"{what} for collection {collection!r} contains NaN, infinity, or a value "
            "outside the float32 range"
        )
    if metric == "cosine" and not v32.any():
        raise InvalidArgumentError(
            f"{what} for collection {collection!r} is a zero vector, which has no direction "
            "under the cosine metric"
        )
    return v32


def validate_query(collection: str, dimensions: int, metric: str, query: object) -> Matrix:
    """One query vector as float32 (contract §5: wrong length → dimension_mismatch)."""
    vec = _as_vector(query)
    if vec.shape[0] != dimensions:
        raise DimensionMismatchError(collection, dimensions, int(vec.shape[0]))
    return _check_values(collection, vec, metric, "the query vector")


def validate_queries(collection: str, dimensions: int, metric: str, queries: object) -> Matrix:
    """A batch of queries as a float32 ``(n, dimensions)`` matrix."""
    if isinstance(queries, np.ndarray):
        if queries.ndim == 2:
            if queries.shape[0] == 0:
                return np.empty((0, dimensions), dtype=np.float32)
            if queries.dtype.kind not in "fiu":
                raise InvalidArgumentError("queries must be numbers")
            if queries.shape[1] != dimensions:
                raise DimensionMismatchError(collection, dimensions, int(queries.shape[1]))
            with np.errstate(over="ignore", invalid="ignore"):
                mat = queries.astype(np.float32, copy=False)
            if not np.isfinite(mat).all():
                raise InvalidArgumentError(
                    f"a query for collection {collection!r} contains NaN or infinity"
                )
            if metric == "cosine" and not mat.any(axis=1).all():
                raise InvalidArgumentError(
                    f"a query for collection {collection!r} is a zero vector, which has no "
                    "direction under the cosine metric"
                )
            return mat
        raise InvalidArgumentError("queries must be a 2-D array or a list of vectors")
    if isinstance(queries, (str, bytes, Mapping)) or not isinstance(queries, Iterable):
        raise InvalidArgumentError("queries must be a list of vectors")
    rows = [validate_query(collection, dimensions, metric, q) for q in queries]
    if not rows:
        return np.empty((0, dimensions), dtype=np.float32)
    return np.stack(rows)


@dataclass(frozen=True)
class ItemBatch:
    """A validated upsert batch, in the order given (duplicates kept: the last one wins).

    ``metadata`` holds the validated metadata as plain JSON data (fresh objects the caller
    cannot change afterwards), parallel to its canonical text ``metadata_json``, so a backend
    that derives something from metadata need not parse the text again.
    """

    ids: list[str]
    vectors: Matrix
    metadata_json: list[str]
    texts: list[str]
    metadata: list[dict[str, object]]

    def __len__(self) -> int:
        return len(self.ids)


_MISSING: Any = object()


def _item_fields(item: object) -> tuple[object, object, object, object]:
    if type(item) is dict:  # the common case, without the abc check of Mapping below
        raw_id = item.get("id", _MISSING)
        if raw_id is _MISSING:
            raise InvalidArgumentError("an item needs an 'id'")
        raw_vec = item.get("vector", _MISSING)
        if raw_vec is _MISSING:
            raise InvalidArgumentError(f"item {raw_id!r} needs a 'vector'")
        return raw_id, raw_vec, item.get("metadata"), item.get("text")
    if isinstance(item, Item):
        return item.id, item.vector, item.metadata, item.text
    if isinstance(item, Mapping):
        if "id" not in item:
            raise InvalidArgumentError("an item needs an 'id'")
        if "vector" not in item:
            raise InvalidArgumentError(f"item {item['id']!r} needs a 'vector'")
        return item["id"], item["vector"], item.get("metadata"), item.get("text")
    raise InvalidArgumentError(
        f"each item must be an object with an id and a vector, got {type(item).__name__}"
    )


def validate_items(
    collection: str, dimensions: int, metric: str, items: Iterable[ItemLike]
) -> ItemBatch:
    """Validate every item, in order, before anything is written (contract §4).

    Per item: id, then the vector's shape and length, then its values, then metadata and
    text; the first failing item decides the error. Vector values are checked for the whole
    batch at once (one vectorised pass instead of several numpy calls per item); when an
    item fails on something else, the values of the items before it are checked first, so
    the order above still decides which error is raised.

    The common shapes (a ``str`` id, a numpy vector, flat metadata of plain scalars, a
    ``str`` text) take fast paths that accept exactly what the general checks accept;
    anything else, valid or not, goes through the general checks, which word every error.
    """
    if isinstance(items, (str, bytes, Mapping, Item)) or not isinstance(items, Iterable):
        raise InvalidArgumentError("items must be a list of items")
    ids: list[str] = []
    rows: list[npt.NDArray[Any]] = []
    metas: list[str] = []
    plains: list[dict[str, object]] = []
    texts: list[str] = []
    position = 0
    ndarray = np.ndarray
    last_dtype: np.dtype[Any] | None = None
    shape = (dimensions,)
    try:
        for position, item in enumerate(items):
            if type(item) is dict and "id" in item and "vector" in item:
                raw_id = item["id"]
                raw_vec = item["vector"]
                raw_meta = item.get("metadata")
                raw_text = item.get("text")
            else:
                raw_id, raw_vec, raw_meta, raw_text = _item_fields(item)
            if (
                type(raw_id) is str
                and 0 < len(raw_id) <= MAX_ID_LENGTH
                and raw_id.isascii()
                and "\x00" not in raw_id
            ):
                item_id = raw_id
            else:
                item_id = check_id(raw_id)
            vec = raw_vec if type(raw_vec) is ndarray else _as_vector(raw_vec)
            if vec.dtype is not last_dtype:  # most batches have one dtype: check it once
                if vec.dtype.kind not in "fiu":
                    raise InvalidArgumentError("a vector must be a flat sequence of numbers")
                last_dtype = vec.dtype
            if vec.shape != shape:
                if vec.ndim != 1:
                    raise InvalidArgumentError("a vector must be a flat sequence of numbers")
                raise DimensionMismatchError(
                    collection,
                    dimensions,
                    int(vec.shape[0]),
                    f"item {item_id!r} (position {position}) has a {vec.shape[0]}-dimensional "
                    f"vector; collection {collection!r} holds {dimensions}-dimensional vectors",
                )
            ids.append(item_id)
            rows.append(vec)
            plain = _flat_metadata(raw_meta) if type(raw_meta) is dict else None
            if plain is None:
                plain = _metadata(raw_meta, item_id)
            text = encode_json(plain)
            if not text.isascii():
                check_unicode(f"the metadata of item {item_id!r}", text)
            metas.append(text)
            plains.append(plain)
            if type(raw_text) is str and raw_text.isascii() and "\x00" not in raw_text:
                texts.append(raw_text)
            else:
                texts.append(_check_item_text(raw_text, item_id))
    except InvalidArgumentError as exc:
        _check_batch_values(collection, metric, ids, rows)  # an earlier bad vector wins
        raise InvalidArgumentError(
            exc.reason,
            f"upsert into collection {collection!r}, item at position {position}: "
            f"{exc.reason}; nothing was written",
        ) from None
    except DimensionMismatchError:
        _check_batch_values(collection, metric, ids, rows)
        raise
    vectors = _check_batch_values(collection, metric, ids, rows)
    if vectors is None:
        vectors = np.empty((0, dimensions), dtype=np.float32)
    return ItemBatch(ids, vectors, metas, texts, plains)


def _check_batch_values(
    collection: str, metric: str, ids: list[str], rows: list[npt.NDArray[Any]]
) -> Matrix | None:
    """The rows as one float32 matrix; raises for the first row with a bad value."""
    if not rows:
        return None
    with np.errstate(over="ignore", invalid="ignore"):  # overflow becomes inf, rejected below
        # concatenate + reshape is np.stack without creating a view per row.
        matrix = np.concatenate(rows).reshape(len(rows), -1).astype(np.float32, copy=False)
    good = np.isfinite(matrix).all(axis=1)
    if metric == "cosine":
        good &= matrix.any(axis=1)
    if not good.all():
        first = int(np.flatnonzero(~good)[0])
        _check_values(collection, matrix[first], metric, f"the vector of item {ids[first]!r}")
    return matrix


def _check_item_text(raw: object, item_id: str) -> str:
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise InvalidArgumentError(f"the text of item {item_id!r} must be a string")
    if "\x00" in raw:
        raise InvalidArgumentError(f"the text of item {item_id!r} contains a NUL character")
    check_unicode(f"the text of item {item_id!r}", raw)
    return raw


def metadata_json(raw: object, item_id: str) -> str:
    """Validate metadata and return its canonical JSON text (compact, UTF-8, no NaN)."""
    text = encode_json(_metadata(raw, item_id))
    check_unicode(f"the metadata of item {item_id!r}", text)
    return text


def _metadata(raw: object, item_id: str) -> dict[str, object]:
    """Validated metadata as a fresh plain dict (the general path: every check, every message)."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise InvalidArgumentError(f"the metadata of item {item_id!r} must be a JSON object")
    return cast("dict[str, object]", _plain_json(raw, item_id, 1))


def _flat_metadata(raw: dict[Any, Any]) -> dict[str, object] | None:
    """A copy of ``raw`` if it is flat and plainly valid, else ``None`` (use ``_metadata``).

    Flat means string keys and values of exactly ``str``, ``int``, ``float``, ``bool`` or
    ``None``: the values ``_plain_json`` would return unchanged. The copy is taken first and
    checked, so a caller changing ``raw`` meanwhile cannot slip anything past the checks.
    """
    snapshot = raw.copy()
    for key, value in snapshot.items():
        if type(key) is not str or "\x00" in key:
            return None
        kind = type(value)
        if kind is str:
            if "\x00" in value:
                return None
        elif kind is int:
            if not INT64_MIN <= value <= INT64_MAX:
                return None
        elif kind is float:
            if value - value != 0.0:  # NaN or infinity
                return None
        elif not (kind is bool or value is None):
            return None
    return snapshot


def _plain_json(value: object, item_id: str, depth: int) -> object:
    """Check one metadata value and return it as plain dict/list/scalar JSON data."""
    if isinstance(value, np.generic):  # numpy scalars are common in embedding pipelines
        value = value.item()
    if depth > MAX_METADATA_DEPTH:
        raise InvalidArgumentError(
            f"the metadata of item {item_id!r} nests deeper than {MAX_METADATA_DEPTH} levels"
        )
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise InvalidArgumentError(
                f"the metadata of item {item_id!r} has an integer outside the 64-bit range"
            )
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidArgumentError(f"the metadata of item {item_id!r} has a non-finite number")
        return float(value)
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidArgumentError(
                f"the metadata of item {item_id!r} has a string with a NUL character"
            )
        return str(value)
    if isinstance(value, Mapping):
        plain: dict[str, object] = {}
        for key, child in value.items():
            if not isinstance(key, str):
                raise InvalidArgumentError(
                    f"the metadata of item {item_id!r} has a non-string key {key!r}"
                )
            if "\x00" in key:
                raise InvalidArgumentError(
                    f"the metadata of item {item_id!r} has a key with a NUL character"
                )
            plain[key] = _plain_json(child, item_id, depth + 1)
        return plain
    if isinstance(value, (list, tuple)):
        return [_plain_json(child, item_id, depth + 1) for child in value]
    raise InvalidArgumentError(
        f"the metadata of item {item_id!r} has a value of type {type(value).__name__}, "
        "which JSON cannot hold"
    )


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
    return existing


def check_new_collection(requested: Collection) -> Collection:
    """contract §3 step 4: a collection being created needs real dimensions."""
    if not 1 <= requested.dimensions <= MAX_DIMENSIONS:
        raise InvalidArgumentError(
            f"collection {requested.name!r} does not exist, so dimensions must be between 1 "
            f'and {MAX_DIMENSIONS} to create it (0 means "don\'t care" only for an '
            "existing collection)"
        )
    return requested


# -- operations by filter and partial updates (contract §13) -------------------------------


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


_PATCH_FIELDS = ("vector", "text", "metadata", "metadata_patch")


@dataclass(frozen=True)
class Patch:
    """One validated partial update; ``None`` means "keep the stored value"."""

    id: str
    vector: Matrix | None
    text: str | None
    metadata: dict[str, object] | None
    metadata_patch: dict[str, object] | None
    """Top-level keys to set; a key whose value is ``None`` is removed."""


def validate_patches(collection: str, dimensions: int, metric: str, patches: object) -> list[Patch]:
    """Validate every patch of ``update``, in order, before anything is read or written.

    A patch names an ``id`` and at least one of ``vector``, ``text``, ``metadata`` and
    ``metadata_patch`` (a field whose value is ``None``/null counts as not given); ``metadata``
    and ``metadata_patch`` exclude each other. Each value follows the item rules of contract
    §1. The first failing patch decides the error. Whether the ids exist is the backend's
    check, made afterwards inside the write transaction.
    """
    if isinstance(patches, (str, bytes, Mapping, Item)) or not isinstance(patches, Iterable):
        raise InvalidArgumentError("patches must be a list of objects, each with an id")
    out: list[Patch] = []
    for position, raw in enumerate(patches):
        try:
            out.append(_patch(collection, dimensions, metric, raw))
        except InvalidArgumentError as exc:
            raise InvalidArgumentError(
                exc.reason,
                f"update of collection {collection!r}, patch at position {position}: "
                f"{exc.reason}; nothing was written",
            ) from None
    return out


def _patch(collection: str, dimensions: int, metric: str, raw: object) -> Patch:
    if not isinstance(raw, Mapping):
        raise InvalidArgumentError(
            f"each patch must be an object with an id, got {type(raw).__name__}"
        )
    if "id" not in raw:
        raise InvalidArgumentError("a patch needs an 'id'")
    item_id = check_id(raw["id"])
    given = {f: raw[f] for f in _PATCH_FIELDS if raw.get(f) is not None}
    if not given:
        raise InvalidArgumentError(
            f"the patch of item {item_id!r} changes nothing: give at least one of vector, "
            "text, metadata and metadata_patch"
        )
    if "metadata" in given and "metadata_patch" in given:
        raise InvalidArgumentError(
            f"the patch of item {item_id!r} has both metadata (replaces the whole object) and "
            "metadata_patch (merges into it); send one of them"
        )
    vector = None
    if "vector" in given:
        vec = _as_vector(given["vector"])
        if vec.shape != (dimensions,):
            raise DimensionMismatchError(
                collection,
                dimensions,
                int(vec.shape[0]),
                f"the patch of item {item_id!r} has a {vec.shape[0]}-dimensional vector; "
                f"collection {collection!r} holds {dimensions}-dimensional vectors",
            )
        vector = _check_values(collection, vec, metric, f"the vector of item {item_id!r}")
    text = _check_item_text(given["text"], item_id) if "text" in given else None
    metadata = None
    if "metadata" in given:
        metadata = _metadata(given["metadata"], item_id)
        check_unicode(f"the metadata of item {item_id!r}", encode_json(metadata))
    patch = None
    if "metadata_patch" in given:
        raw_patch = given["metadata_patch"]
        if not isinstance(raw_patch, Mapping):
            raise InvalidArgumentError(
                f"the metadata_patch of item {item_id!r} must be a JSON object"
            )
        patch = _metadata(raw_patch, item_id)  # null values survive: they mean "remove"
        check_unicode(f"the metadata of item {item_id!r}", encode_json(patch))
    return Patch(item_id, vector, text, metadata, patch)


def merge_metadata(stored: dict[str, object], patch: Mapping[str, object]) -> dict[str, object]:
    """``metadata_patch`` semantics: a top-level merge; a key whose value is null is removed.

    Top level only: a nested object in the patch replaces the stored value whole (RFC 7396
    merge patches, such as SQLite's ``json_patch``, would recurse into it instead).
    """
    merged = dict(stored)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


@dataclass
class PatchedRow:
    """The final state of one patched item: ``None`` fields keep the stored value."""

    id: str
    vector: Matrix | None = None
    text: str | None = None
    metadata: dict[str, object] | None = None


def apply_patches(
    collection: str,
    patches: list[Patch],
    stored_metadata: Mapping[str, dict[str, object]],
) -> list[PatchedRow]:
    """The rows ``update`` writes, one per distinct id in byte order of id.

    ``stored_metadata`` maps every existing patched id to its stored metadata; an id missing
    from it does not exist, which is ``InvalidArgumentError`` naming the id (the first such
    patch decides). Patches of one id apply in order.
    """
    rows: dict[str, PatchedRow] = {}
    for position, patch in enumerate(patches):
        if patch.id not in stored_metadata:
            raise InvalidArgumentError(
                f"item {patch.id!r} does not exist",
                f"update of collection {collection!r}, patch at position {position}: item "
                f"{patch.id!r} does not exist (update changes stored items only; upsert "
                "creates them); nothing was written",
            )
        row = rows.setdefault(patch.id, PatchedRow(patch.id))
        if patch.vector is not None:
            row.vector = patch.vector
        if patch.text is not None:
            row.text = patch.text
        if patch.metadata is not None:
            row.metadata = patch.metadata
        elif patch.metadata_patch is not None:
            base = row.metadata if row.metadata is not None else stored_metadata[patch.id]
            row.metadata = merge_metadata(base, patch.metadata_patch)
    return [rows[i] for i in sorted(rows)]
