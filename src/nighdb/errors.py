"""The nighdb error tree: one root, a stable ``code`` per class, one HTTP status each.

Every backend raises exactly these classes for the same mistake, and the service sends
``code`` over the wire so the remote backend can raise the same class again (``lookup``)::

    NighError
     ├── CollectionNotFoundError    collection_not_found   404
     ├── CollectionConflictError    collection_conflict    409
     ├── DimensionMismatchError     dimension_mismatch     400
     ├── InvalidArgumentError       invalid_argument       400
     ├── UnauthenticatedError       unauthenticated        401
     ├── PermissionDeniedError      permission_denied      403
     ├── StoreUnavailableError      unavailable            503  (retryable)
     └── PayloadTooLargeError       payload_too_large      413

Driver exceptions never reach a user: backends translate them at their boundary with
``raise ... from exc``.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "CollectionConflictError",
    "CollectionNotFoundError",
    "DimensionMismatchError",
    "InvalidArgumentError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "NighError",
    "StoreUnavailableError",
    "UnauthenticatedError",
    "lookup",
]


class NighError(Exception):
    """Root of every error nighdb raises on purpose."""

    code: ClassVar[str] = "internal"
    http_status: ClassVar[int] = 500
    retryable: ClassVar[bool] = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def details(self) -> dict[str, Any]:
        """The attributes that travel in the HTTP envelope's ``error.details``."""
        return {}

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class CollectionNotFoundError(NighError):
    """A data call named a collection that does not exist for the tenant."""

    code = "collection_not_found"
    http_status = 404

    def __init__(self, tenant: str, collection: str, message: str | None = None) -> None:
        self.tenant = tenant
        self.collection = collection
        super().__init__(
            message
            or f"collection {collection!r} does not exist for tenant {tenant!r}; check the "
            "name (names are case-sensitive), or create the collection first"
        )

    @property
    def details(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "collection": self.collection}


class CollectionConflictError(NighError):
    """``ensure_collection`` asked for a different vector space than the collection has."""

    code = "collection_conflict"
    http_status = 409

    def __init__(
        self,
        collection: str,
        field: str,
        existing: str,
        requested: str,
        message: str | None = None,
    ) -> None:
        self.collection = collection
        self.field = field
        self.existing = existing
        self.requested = requested
        super().__init__(
            message
            or f"collection {collection!r} exists with {field}={existing!r}, but "
            f"{requested!r} was requested; a collection's vector space is fixed, so use a "
            "new collection (and re-embed) for a different one"
        )

    @property
    def details(self) -> dict[str, Any]:
        return {
            "collection": self.collection,
            "field": self.field,
            "existing": self.existing,
            "requested": self.requested,
        }


class DimensionMismatchError(NighError):
    """A vector's length differs from the collection's dimensions."""

    code = "dimension_mismatch"
    http_status = 400

    def __init__(
        self, collection: str, expected: int, got: int, message: str | None = None
    ) -> None:
        self.collection = collection
        self.expected = expected
        self.got = got
        super().__init__(
            message
            or f"collection {collection!r} holds {expected}-dimensional vectors, got a "
            f"vector of {got}; embed with the collection's model"
        )

    @property
    def details(self) -> dict[str, Any]:
        return {"collection": self.collection, "expected": self.expected, "got": self.got}


class InvalidArgumentError(NighError):
    """A bad name, id, vector, metadata, filter or option; ``reason`` says which and why."""

    code = "invalid_argument"
    http_status = 400

    def __init__(self, reason: str, message: str | None = None) -> None:
        self.reason = reason
        super().__init__(message or reason)

    @property
    def details(self) -> dict[str, Any]:
        return {"reason": self.reason}


class UnauthenticatedError(NighError):
    """The request carried no API key, or one the service does not know."""

    code = "unauthenticated"
    http_status = 401

    def __init__(self, message: str = "a valid API key is required") -> None:
        super().__init__(message)


class PermissionDeniedError(NighError):
    """The API key may not do this (another tenant's data, or an admin route)."""

    code = "permission_denied"
    http_status = 403

    def __init__(self, message: str = "this API key may not access that tenant") -> None:
        super().__init__(message)


class StoreUnavailableError(NighError):
    """The database cannot be reached, is locked too long, read-only or full."""

    code = "unavailable"
    http_status = 503
    retryable = True

    def __init__(self, message: str = "the database is unreachable; retry later") -> None:
        super().__init__(message)


class PayloadTooLargeError(NighError):
    """A request is larger than the service allows (body, items, queries or ids)."""

    code = "payload_too_large"
    http_status = 413

    def __init__(self, message: str = "the request body is larger than the service allows") -> None:
        super().__init__(message)


_REGISTRY: dict[str, type[NighError]] = {
    cls.code: cls
    for cls in (
        CollectionNotFoundError,
        CollectionConflictError,
        DimensionMismatchError,
        InvalidArgumentError,
        UnauthenticatedError,
        PermissionDeniedError,
        StoreUnavailableError,
        PayloadTooLargeError,
    )
}


def lookup(code: str) -> type[NighError]:
    """The error class for a wire ``code`` (the root class for an unknown one)."""
    return _REGISTRY.get(code, NighError)


def from_wire(code: str, message: str, details: dict[str, Any] | None = None) -> NighError:
    """Rebuild the error a service sent, with its attributes, as the same class."""
    cls = lookup(code)
    d = details or {}
    err: NighError
    if cls is CollectionNotFoundError:
        err = CollectionNotFoundError(
            str(d.get("tenant", "")), str(d.get("collection", "")), message
        )
    elif cls is CollectionConflictError:
        err = CollectionConflictError(
            str(d.get("collection", "")),
            str(d.get("field", "")),
            str(d.get("existing", "")),
            str(d.get("requested", "")),
            message,
        )
    elif cls is DimensionMismatchError:
        err = DimensionMismatchError(
            str(d.get("collection", "")),
            int(d.get("expected", 0)),
            int(d.get("got", 0)),
            message,
        )
    elif cls is InvalidArgumentError:
        err = InvalidArgumentError(str(d.get("reason", message)), message)
    else:
        err = cls(message)
    return err
