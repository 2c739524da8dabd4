"""``nigh tenants|count|get|delete``: operations on items by id or by filter (contract §13).

Each command is one library call: ``list_tenants``, ``count(filter=)``, ``fetch`` and
``delete(ids=|filter=)``. ``--json`` prints the HTTP API's shapes (``{"tenants": …}``,
``POST …/count``, ``POST …/fetch``, ``POST …/delete``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..lines import item_json
from ..wire import item_to_wire
from .common import echo_json, json_option, open_cli_store, store_option
from .output import JsonValue, RefusedError, count

__all__ = ["count_items", "delete_items", "get_items", "tenants"]

_FILTER_HELP = (
    "A filter (docs/contract.md §6), e.g. '{\"lang\": \"en\"}', or @FILE; '{}' matches every item."
)


F = TypeVar("F", bound=Callable[..., Any])


def filter_option(help_text: str = _FILTER_HELP) -> Callable[[F], F]:
    option: Callable[[F], F] = click.option(
        "--filter", "filter_", type=JsonValue(dict, "a JSON object"), help=help_text
    )
    return option


@click.command()
@json_option
@store_option
def tenants(as_json: bool) -> None:
    """List the tenants that have at least one collection, in byte order."""
    with open_cli_store(create=False) as store:
        found = store.list_tenants()
    if as_json:
        echo_json({"tenants": found})
    elif not found:
        click.echo("the store has no tenants", err=True)
    else:
        for tenant in found:
            click.echo(tenant)


@click.command(name="count")
@click.argument("tenant")
@click.argument("collection")
@filter_option()
@json_option
@store_option
def count_items(
    tenant: str, collection: str, filter_: dict[str, Any] | None, as_json: bool
) -> None:
    """Count COLLECTION's items (those that pass --filter, if given)."""
    with open_cli_store(create=False) as store:
        n = store.count(tenant, collection, filter=filter_)
    if as_json:
        echo_json({"count": n})
    else:
        click.echo(str(n))


@click.command(name="get")
@click.argument("tenant")
@click.argument("collection")
@click.argument("ids", nargs=-1, required=True, metavar="ID...")
@json_option
@store_option
def get_items(tenant: str, collection: str, ids: tuple[str, ...], as_json: bool) -> None:
    """Print the stored items with these ids (absent ids are left out, exit 0).

    Without --json, one JSONL line per item in the import/export line format; with --json,
    {"items": [...]} as the HTTP API's fetch answers.
    """
    with open_cli_store(create=False) as store:
        items = store.fetch(tenant, collection, list(ids))
    if as_json:
        echo_json({"items": [item_to_wire(i) for i in items]})
        return
    for item in items:
        click.echo(item_json(item))
    missing = len(dict.fromkeys(ids)) - len(items)
    if missing:
        click.echo(f"{count(missing, 'id')} not found", err=True)


@click.command(name="delete")
@click.argument("tenant")
@click.argument("collection")
@click.option(
    "--ids",
    "ids",
    multiple=True,
    metavar="ID",
    help="An id to delete (repeat the option for several).",
)
@filter_option("Delete the items that pass this filter (docs/contract.md §6); '{}' deletes all.")
@click.option("--yes", is_flag=True, help="Confirm: delete the items.")
@json_option
@store_option
def delete_items(
    tenant: str,
    collection: str,
    ids: tuple[str, ...],
    filter_: dict[str, Any] | None,
    yes: bool,
    as_json: bool,
) -> None:
    """Delete items of COLLECTION by --ids or by --filter (exactly one; needs --yes)."""
    if bool(ids) == (filter_ is not None):
        raise click.UsageError("give exactly one of --ids and --filter")
    if not yes:
        what = f"{count(len(ids), 'id')}" if ids else f"the filter {json.dumps(filter_)}"
        raise RefusedError(
            f"'nigh delete' removes the items of {tenant}/{collection} matching {what}; "
            "add --yes to confirm"
        )
    with open_cli_store(create=False) as store:
        if ids:
            removed = store.delete(tenant, collection, list(ids))
        else:
            removed = store.delete(tenant, collection, filter=filter_)
    if as_json:
        echo_json({"deleted": removed})
    else:
        click.echo(f"deleted {count(removed, 'item')} of {tenant}/{collection}")
