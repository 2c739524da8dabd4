"""Who is calling, and which tenant they act for: the service's one security decision.

The tenant always comes from the API key, never from the request (contract §9):

* a tenant key acts for its own tenant, on ``/v1/collections…`` or on
  ``/v1/tenants/{its own tenant}/…``; any other tenant in the path is 403 with nothing about
  that tenant (the answer is the same whether it exists or not);
* an admin key acts for the tenant named in ``/v1/tenants/{tenant}/…``; on the tenant-less
  routes it is 400, since there is no tenant to act for.

Keys are looked up on every request (no cache), so a revocation takes effect at once on every
node sharing the database.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InvalidArgumentError, PermissionDeniedError, UnauthenticatedError
from ..keys import KeyRegistry, verify_key

__all__ = ["Principal", "authenticate", "require_admin", "tenant_for"]


@dataclass(frozen=True)
class Principal:
    """The holder of a verified key."""

    key_id: str
    tenant: str | None
    admin: bool


def _bearer(header: str | None) -> str:
    if not header:
        raise UnauthenticatedError(
            "this route needs an API key: send 'Authorization: Bearer <key>' "
            "(create one with 'nigh keys create')"
        )
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise UnauthenticatedError("the Authorization header must be 'Bearer <key>'")
    return token


def authenticate(registry: KeyRegistry, header: str | None) -> Principal:
    """The principal of an ``Authorization`` header; 401 for a missing, unknown or revoked key.

    Blocking (a database read): call it from a worker thread.
    """
    record = verify_key(registry, _bearer(header))
    if record is None:
        raise UnauthenticatedError("the API key is unknown or revoked")
    return Principal(record.id, record.tenant, record.admin)


def tenant_for(principal: Principal, path_tenant: str | None) -> str:
    """The tenant this request acts for (``path_tenant`` is the decoded ``{tenant}`` segment)."""
    if path_tenant is None:
        if principal.admin or principal.tenant is None:
            raise InvalidArgumentError(
                "an admin key belongs to no tenant: use /v1/tenants/{tenant}/collections…"
            )
        return principal.tenant
    if principal.admin:
        return path_tenant
    if path_tenant != principal.tenant:
        raise PermissionDeniedError()  # the default message names no tenant
    return path_tenant


def require_admin(principal: Principal) -> None:
    if not principal.admin:
        raise PermissionDeniedError("this route needs an admin key")
