"""nighdb: a durable, multi-tenant vector store with one interface over several backends.

Start embedded (SQLite, zero set-up), move to PostgreSQL + pgvector for HA, or
talk to a ``nigh serve`` service: the same calls, the same results, the same errors.
"""

from .aio import AsyncStore, open_async_store
from .errors import (
    CollectionConflictError,
    CollectionNotFoundError,
    DimensionMismatchError,
    InvalidArgumentError,
    NighError,
    PayloadTooLargeError,
    PermissionDeniedError,
    StoreUnavailableError,
    UnauthenticatedError,
)
from .indexes import IndexOptions
from .models import METRICS, Collection, Item, Match
from .store import Store, open_store

__version__ = "0.1.0"

__all__ = [
    "METRICS",
    "AsyncStore",
    "Collection",
    "CollectionConflictError",
    "CollectionNotFoundError",
    "DimensionMismatchError",
    "IndexOptions",
    "InvalidArgumentError",
    "Item",
    "Match",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "NighError",
    "Store",
    "StoreUnavailableError",
    "UnauthenticatedError",
    "__version__",
    "open_async_store",
    "open_store",
]
