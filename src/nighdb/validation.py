"""Input validation shared by every backend (contract §1, §3, §4, §12, §13): the one import path.

Every check runs before anything is written, the same on every backend. The checks live in
three modules by what they look at, and this module re-exports their public names so that a
backend, the service or a test imports every check from one place:

- ``arguments``: tenants, names and ids, collection pins, limits, pages, delete targets;
- ``items``: vectors (of items and of queries), metadata, text, and whole upsert batches;
- ``patches``: the patches of ``update`` and how they apply to stored items.
"""

from __future__ import annotations

from .arguments import (
    DEFAULT_SCROLL_LIMIT,
    MAX_DIMENSIONS,
    MAX_ID_LENGTH,
    MAX_NAME_LENGTH,
    check_analyzer,
    check_collection,
    check_collection_name,
    check_compatible,
    check_delete_target,
    check_dimensions_for_ensure,
    check_id,
    check_ids,
    check_limit,
    check_new_collection,
    check_page,
    check_scroll,
    check_search_text,
    check_tenant,
    check_text_weight,
    normalize_metric,
)
from .items import (
    MAX_METADATA_DEPTH,
    ItemBatch,
    Matrix,
    SearchInputs,
    validate_items,
    validate_queries,
    validate_query,
    validate_search,
)
from .patches import Patch, PatchedRow, apply_patches, merge_metadata, validate_patches

__all__ = [
    "DEFAULT_SCROLL_LIMIT",
    "MAX_DIMENSIONS",
    "MAX_ID_LENGTH",
    "MAX_METADATA_DEPTH",
    "MAX_NAME_LENGTH",
    "ItemBatch",
    "Matrix",
    "Patch",
    "PatchedRow",
    "SearchInputs",
    "apply_patches",
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
    "merge_metadata",
    "normalize_metric",
    "validate_items",
    "validate_patches",
    "validate_queries",
    "validate_query",
    "validate_search",
]
