"""Checks and semantics of partial updates (contract §13: ``update`` and its patches).

``validate_patches`` checks every patch before anything is read or written, with the item
value rules of ``items``; ``apply_patches`` then turns the patches and the stored metadata
into the final rows a backend writes, and ``merge_metadata`` is the one definition of
``metadata_patch``. Every backend (and the remote client, before it sends) uses these, so
an update means the same everywhere. Import these names from ``nighdb.validation``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .arguments import check_id
from .errors import DimensionMismatchError, InvalidArgumentError
from .items import Matrix, as_vector, check_item_text, check_vector_values, plain_metadata
from .jsontext import check_unicode, encode_json
from .models import Item

__all__ = ["Patch", "PatchedRow", "apply_patches", "merge_metadata", "validate_patches"]

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
        vec = as_vector(given["vector"])
        if vec.shape != (dimensions,):
            raise DimensionMismatchError(
                collection,
                dimensions,
                int(vec.shape[0]),
                f"the patch of item {item_id!r} has a {vec.shape[0]}-dimensional vector; "
                f"collection {collection!r} holds {dimensions}-dimensional vectors",
            )
        vector = check_vector_values(collection, vec, metric, f"the vector of item {item_id!r}")
    text = check_item_text(given["text"], item_id) if "text" in given else None
    metadata = None
    if "metadata" in given:
        metadata = plain_metadata(given["metadata"], item_id)
        check_unicode(f"the metadata of item {item_id!r}", encode_json(metadata))
    patch = None
    if "metadata_patch" in given:
        raw_patch = given["metadata_patch"]
        if not isinstance(raw_patch, Mapping):
            raise InvalidArgumentError(
                f"the metadata_patch of item {item_id!r} must be a JSON object"
            )
        patch = plain_metadata(raw_patch, item_id)  # null values survive: they mean "remove"
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
