"""``nigh migrate SRC_URL DST_URL``: every tenant, collection, pin, item and API key."""

from __future__ import annotations

import click

from ..migrate import migrate as migrate_stores
from ..store import open_store, redacted_url
from .common import echo_json, json_option
from .output import batch_option, cli_progress, count

__all__ = ["migrate"]


@click.command()
@click.argument("src_url", metavar="SRC_URL")
@click.argument("dst_url", metavar="DST_URL")
@click.option(
    "--tenant",
    "tenants",
    multiple=True,
    metavar="TENANT",
    help="Copy only this tenant (repeat for several). Default: every tenant.",
)
@batch_option
@json_option
def migrate(
    src_url: str, dst_url: str, tenants: tuple[str, ...], batch_size: int, as_json: bool
) -> None:
    """Copy every tenant, collection (pin and items) and API key from SRC_URL to DST_URL.

    E.g. sqlite:///nigh.db to postgresql://…, without re-embedding. Streams in batches;
    re-running an interrupted migration finishes it without duplicates. Into a non-empty
    destination it merges (pins must match). Verifies at the end that every source item
    arrived: exit 2 if not.
    """
    with (
        open_store(src_url, create=False) as source,  # a mistyped source is an error
        open_store(dst_url) as destination,
        cli_progress() as progress,
    ):
        report = migrate_stores(
            source, destination, tenants=tenants, batch_size=batch_size, progress=progress
        )
    if as_json:
        echo_json(report.to_json())
        return
    for c in report.collections:
        made = "created" if c.created else "merged"
        copied = count(c.copied, "item")
        click.echo(f"{c.tenant}/{c.collection.name}: {copied} copied ({made}), verified")
    data = report.to_json()
    parts = [
        count(len({c.tenant for c in report.collections}), "tenant"),
        count(len(report.collections), "collection"),
        count(data["items"], "item"),
        count(report.keys, "API key"),
    ]
    click.echo(
        f"migrated {', '.join(parts)} from {redacted_url(src_url)} to {redacted_url(dst_url)}",
        err=True,
    )
