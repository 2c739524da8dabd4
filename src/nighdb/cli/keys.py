"""``nigh keys create|ls|revoke``: the service's API keys, kept hashed in the store's database.

A key is printed once, when it is created; listings show ids, never secrets.
"""

from __future__ import annotations

import datetime as dt

import click

from ..errors import InvalidArgumentError
from ..keys import KeyRecord, KeyRegistry, key_id_of, new_key
from ..store import Store
from ..validation import check_tenant
from .common import echo_json, json_option, open_cli_store, store_option

__all__ = ["keys"]


def _registry(store: Store) -> KeyRegistry:
    if not isinstance(store, KeyRegistry):
        raise InvalidArgumentError(
            "this store keeps no API keys: manage keys on the database itself (a sqlite:// or "
            "postgresql:// URL), not through a service"
        )
    return store


def _created(record: KeyRecord) -> str:
    return dt.datetime.fromtimestamp(record.created_at, dt.timezone.utc).isoformat(
        timespec="seconds"
    )


def _as_json(record: KeyRecord) -> dict[str, object]:
    return {
        "id": record.id,
        "tenant": record.tenant,
        "admin": record.admin,
        "created_at": _created(record),
        "revoked": record.revoked,
    }


@click.group()
def keys() -> None:
    """Create, list and revoke the service's API keys."""


@keys.command()
@click.option("--tenant", metavar="TENANT", help="Create a key that acts for this tenant only.")
@click.option("--admin", is_flag=True, help="Create an admin key (any tenant, /v1/tenants/…).")
@json_option
@store_option
def create(tenant: str | None, admin: bool, as_json: bool) -> None:
    """Create an API key and print it (shown this once; only its hash is stored)."""
    if (tenant is None) == (not admin):
        raise click.UsageError("give exactly one of --tenant TENANT or --admin")
    if tenant is not None:
        check_tenant(tenant)
    with open_cli_store(create=True) as store:
        key, record = new_key(tenant=tenant, admin=admin)
        _registry(store).add_key(record)
    if as_json:
        echo_json({"key": key, "id": record.id, "tenant": record.tenant, "admin": record.admin})
        return
    click.echo(key)
    who = "an admin key" if admin else f"a key for tenant {tenant!r}"
    click.echo(f"created {who} (id {record.id}); store it now: it cannot be shown again", err=True)


@keys.command(name="ls")
@json_option
@store_option
def list_keys(as_json: bool) -> None:
    """List API keys: id, tenant, creation time, status. Secrets are never shown."""
    with open_cli_store(create=False) as store:
        records = _registry(store).list_keys()
    if as_json:
        echo_json([_as_json(r) for r in records])
        return
    if not records:
        click.echo("no API keys (create one with 'nigh keys create')", err=True)
        return
    rows = [
        (
            r.id,
            "(admin)" if r.admin else str(r.tenant),
            _created(r),
            "revoked" if r.revoked else "active",
        )
        for r in records
    ]
    header = ("ID", "TENANT", "CREATED", "STATUS")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(3)]
    for row in [header, *rows]:
        cells = [c.ljust(w) for c, w in zip(row[:3], widths, strict=True)]
        click.echo("  ".join([*cells, row[3]]))


@keys.command()
@click.argument("key_id", metavar="ID")
@store_option
def revoke(key_id: str) -> None:
    """Revoke the key with this ID (or the key itself): it stops working at once."""
    key_id = key_id_of(key_id) or key_id
    with open_cli_store(create=False) as store:
        registry = _registry(store)
        record = registry.find_key(key_id)
        if record is None:
            raise InvalidArgumentError(f"no API key has id {key_id!r}; 'nigh keys ls' lists them")
        if record.revoked:
            click.echo(f"key {key_id} was already revoked", err=True)
            return
        registry.revoke_key(key_id)
    click.echo(f"revoked key {key_id}", err=True)
