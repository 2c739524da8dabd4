"""Checks of the values an item carries (contract §1, §4, §5), shared by every backend.

Vectors (one item's, or a query's: the same rules of length, finite values and, under the
cosine metric, a direction), metadata and text, and whole upsert batches. Validated input
comes out in the shape backends write: a batch of items becomes one ``float32`` matrix plus
parallel lists of ids, canonical metadata JSON and texts, so a backend never re-checks and
never meets a Python object it did not expect. ``patches`` checks the fields of a partial
update with the helpers here. Import these names from ``nighdb.validation``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from .arguments import MAX_ID_LENGTH, check_id, check_search_text, check_text_weight
from .errors import DimensionMismatchError, InvalidArgumentError
from .jsontext import check_unicode, encode_json
from .models import INT64_MAX, INT64_MIN, Collection, Item, ItemLike
from .text import analyze_query

__all__ = [
    "MAX_METADATA_DEPTH",
    "ItemBatch",
    "Matrix",
    "SearchInputs",
    "validate_search",
    "as_vector",
    "check_item_text",
    "check_vector_values",
    "plain_metadata",
    "validate_items",
    "validate_queries",
    "validate_query",
]

MAX_METADATA_DEPTH = 64
"""Metadata nested deeper is rejected: it bounds recursion in JSON codecs and SQL engines."""

Matrix = npt.NDArray[np.float32]


def as_vector(raw: object) -> npt.NDArray[Any]:
    if isinstance(raw, (str, bytes, Mapping)) or raw is None:
        raise InvalidArgumentError("a vector must be a sequence of numbers")
    try:
        arr = np.asarray(raw)
    except (ValueError, TypeError) as exc:
        raise InvalidArgumentError("a vector must be a flat sequence of numbers") from exc
    if arr.ndim != 1 or arr.dtype.kind not in "fiu":
        raise InvalidArgumentError("a vector must be a flat sequence of numbers")
    return arr


def check_vector_values(collection: str, vec: npt.NDArray[Any], metric: str, what: str) -> Matrix:
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
    vec = as_vector(query)
    if vec.shape[0] != dimensions:
        raise DimensionMismatchError(collection, dimensions, int(vec.shape[0]))
    return check_vector_values(collection, vec, metric, "the query vector")


@dataclass(frozen=True)
class SearchInputs:
    """A checked ``search`` call (contract §5, §14): the query vector and the text's terms,
    each ``None`` when not given, and the text ranking's weight."""

    query: Matrix | None
    terms: list[str] | None
    text_weight: float


def validate_search(
    pin: Collection, query: object, text: object, text_weight: object
) -> SearchInputs:
    """``search``'s query, text and weight, in this order, on every backend."""
    if query is None and text is None:
        raise InvalidArgumentError("search needs a query vector, a text, or both (hybrid search)")
    vec = None if query is None else validate_query(pin.name, pin.dimensions, pin.metric, query)
    checked = check_search_text(text)
    weight = check_text_weight(text_weight)
    terms = None if checked is None else analyze_query(checked, pin.text_analyzer)
    if vec is None and not terms:
        raise InvalidArgumentError(
            "the search text has no searchable token (letters or digits"
            + (", other than stop words" if pin.text_analyzer == "english" else "")
            + ")"
        )
    return SearchInputs(vec, terms, weight)


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
            vec = raw_vec if type(raw_vec) is ndarray else as_vector(raw_vec)
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
                plain = plain_metadata(raw_meta, item_id)
            text = encode_json(plain)
            if not text.isascii():
                check_unicode(f"the metadata of item {item_id!r}", text)
            metas.append(text)
            plains.append(plain)
            if type(raw_text) is str and raw_text.isascii() and "\x00" not in raw_text:
                texts.append(raw_text)
            else:
                texts.append(check_item_text(raw_text, item_id))
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
        check_vector_values(collection, matrix[first], metric, f"the vector of item {ids[first]!r}")
    return matrix


def check_item_text(raw: object, item_id: str) -> str:
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise InvalidArgumentError(f"the text of item {item_id!r} must be a string")
    if "\x00" in raw:
        raise InvalidArgumentError(f"the text of item {item_id!r} contains a NUL character")
    check_unicode(f"the text of item {item_id!r}", raw)
    return raw


def plain_metadata(raw: object, item_id: str) -> dict[str, object]:
    """Validated metadata as a fresh plain dict (the general path: every check, every message)."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise InvalidArgumentError(f"the metadata of item {item_id!r} must be a JSON object")
    return cast("dict[str, object]", _plain_json(raw, item_id, 1))


def _flat_metadata(raw: dict[Any, Any]) -> dict[str, object] | None:
    """A copy of ``raw`` if it is flat and plainly valid, else ``None`` (use ``plain_metadata``).

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
