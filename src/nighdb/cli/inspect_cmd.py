"""``nigh ls|show|rm|search``: look into a tenant's collections, drop one, search one.

``--json`` prints the HTTP API's shapes (contract §9): ``ls`` is ``GET /v1/collections``,
``show`` is ``GET /v1/collections/{name}``, ``search`` is ``POST …/search``, ``rm`` is
``DELETE …``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import click

from ..errors import CollectionNotFoundError
from ..models import Match
from ..store import Store, id_pages
from ..wire import collection_to_wire, match_to_wire
from .common import echo_json, json_option, open_cli_store, store_option
from .output import JsonValue, RefusedError, count, print_table

__all__ = ["list_collections", "remove", "search", "show"]

_PAGE = 10_000


@click.command(name="ls")
@click.argument("tenant")
@json_option
@store_option
def list_collections(tenant: str, as_json: bool) -> None:
    """List TENANT's collections: name, model, dimensions, metric and item count."""
    with open_cli_store(create=False) as store:
        listed = [(pin, _count(store, tenant, pin.name)) for pin in store.list_collections(tenant)]
    rows = [(pin, n) for pin, n in listed if n is not None]  # dropped meanwhile: left out
    if as_json:
        echo_json({"collections": [{**collection_to_wire(p), "count": n} for p, n in rows]})
    elif not rows:
        click.echo(f"tenant {tenant!r} has no collections", err=True)
    else:
        print_table(
            ("NAME", "MODEL", "DIMS", "METRIC", "ITEMS"),
            [(p.name, p.embedding_model, str(p.dimensions), p.metric, str(n)) for p, n in rows],
            right=(2, 4),
        )


def _count(store: Store, tenant: str, name: str) -> int | None:
    try:
        return store.count(tenant, name)
    except CollectionNotFoundError:
        return None


@click.command()
@click.argument("tenant")
@click.argument("collection")
@click.option("--ids", "with_ids", is_flag=True, help="Also list every item id (byte order).")
@json_option
@store_option
def show(tenant: str, collection: str, with_ids: bool, as_json: bool) -> None:
    """Show COLLECTION's pin (dimensions, model, metric) and item count."""
    with open_cli_store(create=False) as store:
        pin = store.describe_collection(tenant, collection)
        if pin is None:
            raise CollectionNotFoundError(tenant, collection)
        count = store.count(tenant, collection)
        head: dict[str, object] = {"collection": collection_to_wire(pin), "count": count}
        if as_json:
            # Every id is read before anything is printed: a failure on a later page leaves
            # stdout empty (the error on stderr), never a truncated document.
            if with_ids:
                head["ids"] = list(_ids(store, tenant, collection))
            echo_json(head)
            return
        print_table(
            ("", ""),
            [
                ("tenant", tenant),
                ("collection", pin.name),
                ("dimensions", str(pin.dimensions)),
                ("model", pin.embedding_model),
                ("metric", pin.metric),
                ("items", str(count)),
            ],
            show_header=False,
        )
        if with_ids:
            click.echo()
            for item_id in _ids(store, tenant, collection):
                click.echo(item_id)


def _ids(store: Store, tenant: str, collection: str) -> Iterator[str]:
    for page in id_pages(store, tenant, collection, _PAGE):
        yield from page


@click.command(name="rm")
@click.argument("tenant")
@click.argument("collection")
@click.option("--yes", is_flag=True, help="Confirm: drop the collection and all its items.")
@json_option
@store_option
def remove(tenant: str, collection: str, yes: bool, as_json: bool) -> None:
    """Drop COLLECTION and every item in it (needs --yes; a missing one removes nothing)."""
    if not yes:
        raise RefusedError(
            f"'nigh rm' drops collection {collection!r} of tenant {tenant!r} and all its "
            "items; add --yes to confirm"
        )
    with open_cli_store(create=False) as store:
        existed = store.describe_collection(tenant, collection) is not None
        removed = store.drop_collection(tenant, collection)
    if as_json:
        echo_json({"removed_items": removed})
    elif existed:
        click.echo(
            f"dropped collection {collection!r} of tenant {tenant!r} ({count(removed, 'item')})"
        )
    else:
        click.echo(f"collection {collection!r} of tenant {tenant!r} does not exist", err=True)


@click.command()
@click.argument("tenant")
@click.argument("collection")
@click.option(
    "--vector",
    type=JsonValue(list, "a JSON array of numbers"),
    help="The query vector: a JSON array, or @FILE holding one (@- reads stdin).",
)
@click.option(
    "--text",
    help="A text query (BM25); with --vector, a hybrid search (docs/contract.md §14).",
)
@click.option(
    "--text-weight",
    type=float,
    default=0.5,
    show_default=True,
    help="The text ranking's share of a hybrid search, between 0 and 1.",
)
@click.option(
    "--limit",
    type=int,
    default=10,
    show_default=True,
    help="How many matches at most; 0 or less means 10, as in the library and HTTP API.",
)
@click.option(
    "--filter",
    "filter_",
    type=JsonValue(dict, "a JSON object"),
    help='A metadata filter (docs/contract.md §6), e.g. \'{"lang": "en"}\', or @FILE.',
)
@click.option("--exact", is_flag=True, help="Ignore the collection's approximate index.")
@click.option(
    "--ef-search",
    type=int,
    default=None,
    help="An index's search width (1-1000): higher finds more, slower.",
)
@json_option
@store_option
def search(
    tenant: str,
    collection: str,
    vector: list[Any] | None,
    text: str | None,
    text_weight: float,
    limit: int,
    filter_: dict[str, Any] | None,
    exact: bool,
    ef_search: int | None,
    as_json: bool,
) -> None:
    """Search COLLECTION by a vector (nearest neighbours), a text (BM25), or both (hybrid),
    filtered before ranking."""
    if vector is None and text is None:
        raise click.UsageError("give --vector, --text, or both")
    with open_cli_store(create=False) as store:
        matches = store.search(
            tenant,
            collection,
            vector,
            text=text,
            limit=limit,
            filter=filter_,
            text_weight=text_weight,
            ef_search=ef_search,
            exact=exact,
        )
    if as_json:
        echo_json({"matches": [match_to_wire(m) for m in matches]})
    elif not matches:
        click.echo("no matches", err=True)
    else:
        print_table(
            ("ID", "DISTANCE", "SCORE", "TEXT", "METADATA"),
            [_row(m) for m in matches],
            right=(1, 2),
        )


def _row(m: Match) -> tuple[str, ...]:
    metadata = json.dumps(m.metadata, ensure_ascii=False) if m.metadata else ""
    return (m.id, f"{m.distance:.6f}", f"{m.score:.6f}", m.text, metadata)
