"""The nighdb error tree: one root, a stable ``code`` per class, one HTTP status each.

Every backend raises exactly these classes for the same mistake, and the service sends
``code`` over the wire so the remote backend can raise the same class again (``lookup``)::

    NighError                       internal               500
     ├── CollectionNotFoundError    collection_not_found   404  tenant, collection
     ├── CollectionConflictError    collection_conflict    409  collection, field, existing,
     │                                                           requested
     ├── DimensionMismatchError     dimension_mismatch     400  collection, expected, got
     ├── InvalidArgumentError       invalid_argument       400  reason
     ├── UnauthenticatedError       unauthenticated        401
     ├── PermissionDeniedError      permission_denied      403
     ├── StoreUnavailableError      unavailable            503  (retryable)
     ├── PayloadTooLargeError       payload_too_large      413
     ├── RateLimitedError           rate_limited           429  retry_after (retryable)
     └── QuotaExceededError         quota_exceeded         409  tenant, quota, limit

How the tree is built (the pattern of psycopg's ``errors`` module):

- A class declares its code and HTTP status once, in its ``class`` statement, and registers
  itself there (``__init_subclass__``); ``lookup(code)`` is a dict lookup. A code can belong
  to one class only.
- An error's whole state is its ``message`` and its ``details`` mapping, the two things the
  HTTP envelope carries. The documented attributes (``err.tenant``, ``err.expected``, ...)
  are ``Detail`` fields that read ``details``, so they are typed and cannot drift from it.
- ``NighError.from_details(message, details)`` is the one generic constructor: the remote
  backend rebuilds a service's error with it, pickle and ``copy`` restore errors with it,
  and ``with_message`` uses it to reword an error without changing its class or details.

Adding a class is a few lines, e.g. one without details::

    class PermissionDeniedError(NighError, code="permission_denied", http_status=403):
        default_message = "this API key may not access that tenant"

and, with details, one ``Detail`` field each plus an ``__init__`` that writes the message.

Driver exceptions never reach a user: backends translate them at their boundary with
``raise ... from exc``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Generic, NoReturn, TypeVar, overload

__all__ = [
    "CollectionConflictError",
    "CollectionNotFoundError",
    "Detail",
    "DimensionMismatchError",
    "InvalidArgumentError",
    "NighError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "QuotaExceededError",
    "RateLimitedError",
    "StoreUnavailableError",
    "UnauthenticatedError",
    "from_wire",
    "lookup",
]

_T = TypeVar("_T", str, int)
_E = TypeVar("_E", bound="NighError")

_REGISTRY: dict[str, type[NighError]] = {}


class Detail(Generic[_T]):
    """A documented attribute of an error class: ``err.<name>`` reads ``err.details[<name>]``.

    ``kind`` is the value's type (``str`` or ``int``); ``from_details`` converts what arrives
    (from the wire, say) to it, so the attribute is always of that type. Read-only: an
    error's state is fixed when it is built.
    """

    __slots__ = ("kind", "name")
    kind: type[_T]
    name: str

    def __init__(self, kind: type[_T]) -> None:
        self.kind = kind
        self.name = ""

    def __set_name__(self, owner: type[object], name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type[object]) -> Detail[_T]: ...
    @overload
    def __get__(self, obj: NighError, owner: type[object]) -> _T: ...
    def __get__(self, obj: NighError | None, owner: type[object]) -> Detail[_T] | _T:
        if obj is None:
            return self
        try:
            value: _T = obj.details[self.name]
        except KeyError:
            raise AttributeError(f"{type(obj).__name__} has no detail {self.name!r}") from None
        return value

    def __set__(self, obj: NighError, value: NoReturn) -> NoReturn:  # mypy flags assignments
        raise AttributeError(
            f"{type(obj).__name__}.{self.name} is read-only; build a new error instead"
        )

    def coerce(self, value: Any) -> _T:
        """``value`` as this field's type; a missing value (None) is the type's zero."""
        converted: _T = self.kind() if value is None else self.kind(value)
        return converted


class NighError(Exception):
    """Root of every error nighdb raises on purpose.

    ``code`` and ``http_status`` are the class's, declared in its ``class`` statement;
    ``message`` is the text (also ``str(err)``); ``details`` holds the values the message
    is about, the same ones the service sends in its error envelope.

    A subclass's ``__init__`` only composes the message and the details and keeps no other
    state: ``from_details`` (the wire, pickle, copy, ``with_message``) does not call it.
    """

    code: ClassVar[str] = "internal"
    """Stable, machine-readable; the key of ``lookup``."""
    http_status: ClassVar[int] = 500
    """The status the service answers this error with."""
    retryable: ClassVar[bool] = False
    """Whether the same call may succeed later without any change."""
    default_message: ClassVar[str] = "nighdb failed unexpectedly"
    """The message of an error built without one."""
    detail_fields: ClassVar[tuple[Detail[Any], ...]] = ()
    """The ``Detail`` fields of the class (its documented attributes), collected for it."""

    def __init_subclass__(
        cls,
        *,
        code: str | None = None,
        http_status: int | None = None,
        retryable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init_subclass__(**kwargs)
        found = {
            name: value
            for klass in reversed(cls.__mro__)
            for name, value in vars(klass).items()
            if isinstance(value, Detail)
        }
        cls.detail_fields = tuple(found.values())
        if retryable is not None:
            cls.retryable = retryable
        if code is None:
            if http_status is not None:
                raise TypeError(f"{cls.__name__}: an http_status needs its own code")
            return  # an intermediate class: it shares its parent's code
        if http_status is None:
            raise TypeError(f"{cls.__name__}: code {code!r} needs its http_status")
        if code in _REGISTRY or code == NighError.code:
            taken = _REGISTRY.get(code, NighError).__name__
            raise TypeError(f"{cls.__name__}: error code {code!r} already belongs to {taken}")
        cls.code = code
        cls.http_status = http_status
        _REGISTRY[code] = cls

    def __init__(
        self, message: str | None = None, details: Mapping[str, Any] | None = None
    ) -> None:
        self.message = message or self.default_message
        self.details: Mapping[str, Any] = dict(details or {})
        super().__init__(self.message)

    @classmethod
    def from_details(cls: type[_E], message: str, details: Mapping[str, Any] | None = None) -> _E:
        """The error of this class with ``message`` and ``details``, whatever ``__init__`` takes.

        The one generic constructor: every ``Detail`` field gets a value of its type (the
        type's zero when ``details`` lacks it); other entries are kept as they are.
        """
        values = dict(details or {})
        for field in cls.detail_fields:
            values[field.name] = field.coerce(values.get(field.name))
        err = cls.__new__(cls)
        NighError.__init__(err, message, values)
        return err

    def with_message(self: _E, message: str) -> _E:
        """A copy of this error (same class and details) that says ``message`` instead."""
        return type(self).from_details(message, self.details)

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception's default would call ``cls(*args)``, which is not every class's
        # signature; rebuild through the generic constructor instead. Anything else set
        # on the instance (``add_note``'s ``__notes__``, say) travels as state.
        extra = {k: v for k, v in vars(self).items() if k not in ("message", "details")}
        return (_restore, (type(self), self.message, dict(self.details)), extra or None)


def _restore(cls: type[NighError], message: str, details: Mapping[str, Any]) -> NighError:
    return cls.from_details(message, details)


class CollectionNotFoundError(NighError, code="collection_not_found", http_status=404):
    """A data call named a collection that does not exist for the tenant."""

    tenant = Detail(str)
    collection = Detail(str)

    def __init__(self, tenant: str, collection: str, message: str | None = None) -> None:
        super().__init__(
            message
            or f"collection {collection!r} does not exist for tenant {tenant!r}; check the "
            "name (names are case-sensitive), or create the collection first",
            {"tenant": tenant, "collection": collection},
        )


class CollectionConflictError(NighError, code="collection_conflict", http_status=409):
    """``ensure_collection`` asked for a different vector space than the collection has."""

    collection = Detail(str)
    field = Detail(str)
    existing = Detail(str)
    requested = Detail(str)

    def __init__(
        self,
        collection: str,
        field: str,
        existing: str,
        requested: str,
        message: str | None = None,
    ) -> None:
        super().__init__(
            message
            or f"collection {collection!r} exists with {field}={existing!r}, but "
            f"{requested!r} was requested; a collection's vector space is fixed, so use a "
            "new collection (and re-embed) for a different one",
            {
                "collection": collection,
                "field": field,
                "existing": existing,
                "requested": requested,
            },
        )


class DimensionMismatchError(NighError, code="dimension_mismatch", http_status=400):
    """A vector's length differs from the collection's dimensions."""

    collection = Detail(str)
    expected = Detail(int)
    got = Detail(int)

    def __init__(
        self, collection: str, expected: int, got: int, message: str | None = None
    ) -> None:
        super().__init__(
            message
            or f"collection {collection!r} holds {expected}-dimensional vectors, got a "
            f"vector of {got}; embed with the collection's model",
            {"collection": collection, "expected": expected, "got": got},
        )


class InvalidArgumentError(NighError, code="invalid_argument", http_status=400):
    """A bad name, id, vector, metadata, filter or option; ``reason`` says which and why."""

    reason = Detail(str)

    def __init__(self, reason: str, message: str | None = None) -> None:
        super().__init__(message or reason, {"reason": reason})


class UnauthenticatedError(NighError, code="unauthenticated", http_status=401):
    """The request carried no API key, or one the service does not know."""

    default_message = "a valid API key is required"


class PermissionDeniedError(NighError, code="permission_denied", http_status=403):
    """The API key may not do this (another tenant's data, or an admin route)."""

    default_message = "this API key may not access that tenant"


class StoreUnavailableError(NighError, code="unavailable", http_status=503, retryable=True):
    """The database cannot be reached, is locked too long, read-only or full."""

    default_message = "the database is unreachable; retry later"


class PayloadTooLargeError(NighError, code="payload_too_large", http_status=413):
    """A request is larger than the service allows (body, items, queries or ids)."""

    default_message = "the request body is larger than the service allows"


class RateLimitedError(NighError, code="rate_limited", http_status=429, retryable=True):
    """The tenant is over its concurrent-request or rate budget; ``retry_after`` is the
    number of seconds to wait (the HTTP answer's ``Retry-After``)."""

    retry_after = Detail(int)

    def __init__(self, retry_after: int = 1, message: str | None = None) -> None:
        super().__init__(
            message or f"too many requests for this tenant at once; retry after {retry_after} s",
            {"retry_after": retry_after},
        )


class QuotaExceededError(NighError, code="quota_exceeded", http_status=409):
    """A write would take the tenant past one of its quotas (``collections`` or ``items``);
    nothing was written."""

    tenant = Detail(str)
    quota = Detail(str)
    limit = Detail(int)

    def __init__(self, tenant: str, quota: str, limit: int, message: str | None = None) -> None:
        super().__init__(
            message
            or f"tenant {tenant!r} may have at most {limit} {quota}; nothing was written. "
            "Delete some first, or ask the service's operator for a larger quota",
            {"tenant": tenant, "quota": quota, "limit": limit},
        )


def lookup(code: str) -> type[NighError]:
    """The error class for a wire ``code`` (the root class for an unknown one)."""
    return _REGISTRY.get(code, NighError)


def from_wire(code: str, message: str, details: Mapping[str, Any] | None = None) -> NighError:
    """Rebuild the error a service sent, with its details, as the same class."""
    return lookup(code).from_details(message, details)
