"""``nigh index create|describe|drop``: a collection's approximate index (contract §15).

Each command is one library call (``create_index``, ``describe_index``, ``drop_index``) and
``--json`` prints the HTTP API's shapes (``{"index": …}``, ``{"dropped": …}``).
"""

from __future__ import annotations

import click

from ..wire import index_to_wire
from .common import echo_json, json_option, open_cli_store, store_option

__all__ = ["index"]


@click.group()
def index() -> None:
    """Build, describe and drop a collection's approximate (HNSW) index."""


@index.command()
@click.argument("tenant")
@click.argument("collection")
@click.option("--m", "m", type=int, default=16, show_default=True, help="Graph degree (2-100).")
@click.option(
    "--ef-construction",
    type=int,
    default=64,
    show_default=True,
    help="Build effort (4-1000, at least 2*m): higher builds slower, finds more.",
)
@json_option
@store_option
def create(tenant: str, collection: str, m: int, ef_construction: int, as_json: bool) -> None:
    """Build (or rebuild) COLLECTION's index; searches use it unless told to be exact."""
    with open_cli_store(create=False) as store:
        built = store.create_index(tenant, collection, m=m, ef_construction=ef_construction)
    if as_json:
        echo_json({"index": index_to_wire(built)})
    else:
        click.echo(
            f"built an index on collection {collection!r} of tenant {tenant!r} "
            f"(m={built.m}, ef_construction={built.ef_construction})"
        )


@index.command()
@click.argument("tenant")
@click.argument("collection")
@json_option
@store_option
def describe(tenant: str, collection: str, as_json: bool) -> None:
    """Print COLLECTION's index options, or say that it has none (search is exact)."""
    with open_cli_store(create=False) as store:
        found = store.describe_index(tenant, collection)
    if as_json:
        echo_json({"index": index_to_wire(found)})
    elif found is None:
        click.echo(f"collection {collection!r} has no index: searches are exact")
    else:
        click.echo(f"m={found.m} ef_construction={found.ef_construction}")


@index.command()
@click.argument("tenant")
@click.argument("collection")
@json_option
@store_option
def drop(tenant: str, collection: str, as_json: bool) -> None:
    """Drop COLLECTION's index (its items stay; searches are exact again)."""
    with open_cli_store(create=False) as store:
        dropped = store.drop_index(tenant, collection)
    if as_json:
        echo_json({"dropped": dropped})
    elif dropped:
        click.echo(f"dropped the index of collection {collection!r}")
    else:
        click.echo(f"collection {collection!r} had no index")
