"""nighdb: a durable, multi-tenant vector store with one interface over several backends.

Start embedded (SQLite, zero set-up), move to PostgreSQL + pgvector for HA, or
talk to a ``nigh serve`` service: the same calls, the same results, the same errors.
"""

from importlib import metadata as _metadata

from .aio import AsyncStore, open_async_store
from .errors import (
    CollectionConflictError,
    CollectionNotFoundError,
    DimensionMismatchError,
    InvalidArgumentError,
    NighError,
    PayloadTooLargeError,
    PermissionDeniedError,
    QuotaExceededError,
    RateLimitedError,
    StoreUnavailableError,
    UnauthenticatedError,
)
from .indexes import IndexOptions
from .models import METRICS, Collection, Item, Match
from .store import Store, open_store

try:
    # One source for the version: pyproject.toml, as recorded in the installed metadata.
    __version__: str = _metadata.version("nighdb")
except _metadata.PackageNotFoundError:  # pragma: no cover - a source tree never installed
    __version__ = "0+unknown"

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
    "QuotaExceededError",
    "RateLimitedError",
    "NighError",
    "Store",
    "StoreUnavailableError",
    "UnauthenticatedError",
    "__version__",
    "open_async_store",
    "open_store",
]
