"""``nigh diff|apply``: packs, the desired content of collections as JSONL (contract §11)."""

from __future__ import annotations

from pathlib import Path

import click

from ..packs import apply_pack, diff_pack, pack_paths, read_pack
from .common import echo_json, json_option, open_cli_store, store_option
from .output import batch_option, cli_progress

__all__ = ["apply", "diff"]

_PACK = click.Path(exists=True, path_type=Path)


@click.command()
@click.argument("tenant")
@click.argument("collection")
@click.argument("pack", metavar="PACK.jsonl", type=_PACK)
@json_option
@store_option
def diff(tenant: str, collection: str, pack: Path, as_json: bool) -> None:
    """What applying PACK.jsonl to COLLECTION would change: ids added, removed, changed.

    Nothing is written. The pack is validated in full first, as apply does.
    """
    with open_cli_store(create=False) as store:
        result = diff_pack(store, tenant, read_pack(pack, collection))
    if as_json:
        echo_json(result.to_json())
        return
    counts = result.to_json()["counts"]
    summary = ", ".join(f"{n} {what}" for what, n in counts.items())
    created = "" if result.exists else " (the collection does not exist: apply creates it)"
    click.echo(f"{tenant}/{collection} <- {pack}: {summary}{created}")
    for mark, ids in (("+", result.added), ("-", result.removed), ("~", result.changed)):
        for item_id in ids:
            click.echo(f"{mark} {item_id}")


@click.command()
@click.argument("tenant")
@click.argument("pack", metavar="PACK.jsonl|DIR", type=_PACK)
@batch_option
@json_option
@store_option
def apply(tenant: str, pack: Path, batch_size: int, as_json: bool) -> None:
    """Make collections hold exactly what their packs say (desired-state sync).

    PACK.jsonl describes collection PACK; a DIR applies its *.jsonl files in name order and
    stops at the first bad one (those before it stay applied). Each pack is validated in full
    before its writes: a bad pack changes nothing. Only added and changed items are written;
    the report counts added, changed, deleted and unchanged items, as diff does. Not atomic:
    re-run an interrupted apply.
    """
    paths = pack_paths(pack)
    if not paths:
        click.echo(f"{pack} holds no *.jsonl packs; nothing to apply", err=True)
    results = []
    with open_cli_store(create=True) as store, cli_progress() as progress:
        for path in paths:
            result = apply_pack(
                store, tenant, read_pack(path), batch_size=batch_size, progress=progress
            )
            results.append(result)
            click.echo(f"{path} -> {tenant}/{result.collection}: {result.summary()}", err=as_json)
    if as_json:
        echo_json({"applied": [r.to_json() for r in results]})
