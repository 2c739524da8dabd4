"""``nigh import-from chroma|pgvector-langchain``: a collection of another vector store into
nighdb (ids, vectors bit for bit, metadata, documents as text). See ``nighdb.importers``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..importers import import_chroma, import_pgvector_langchain
from ..models import METRICS
from ..transfer import ImportResult
from .common import json_option, open_cli_store, store_option
from .output import batch_option, cli_progress
from .transfer_cmd import report_import

__all__ = ["import_from"]

F = TypeVar("F", bound=Callable[..., Any])


def _import_options(f: F) -> F:
    """The options every source shares: which source collection, the pin, batches, output."""
    for option in reversed(
        [
            click.option(
                "--from-collection",
                "source_collection",
                metavar="NAME",
                help="The source's collection to read (default: COLLECTION).",
            ),
            click.option("--model", help="Embedding model pinned on a collection this creates."),
            click.option(
                "--metric",
                type=click.Choice(METRICS),
                help="Metric of a collection this creates (default: the source's).",
            ),
            batch_option,
            json_option,
            store_option,
        ]
    ):
        f = option(f)
    return f


@click.group(name="import-from")
def import_from() -> None:
    """Copy a collection of another vector store into nighdb.

    Ids, vectors (bit for bit), metadata and documents (as the items' text) are copied in
    batches: idempotent, not atomic as a whole. A missing collection is created with the
    source's dimensions and metric.
    """


@import_from.command(name="chroma")
@click.argument("path", type=click.Path(exists=True, file_okay=False))
@click.argument("tenant")
@click.argument("collection")
@_import_options
def chroma(path: str, tenant: str, collection: str, **options: Any) -> None:
    """Import a collection of the Chroma persistent directory PATH (needs nighdb[chroma])."""
    _run(import_chroma, path, tenant, collection, options)


@import_from.command(name="pgvector-langchain")
@click.argument("url")
@click.argument("tenant")
@click.argument("collection")
@_import_options
def pgvector_langchain(url: str, tenant: str, collection: str, **options: Any) -> None:
    """Import a LangChain PGVector collection (tables langchain_pg_collection and
    langchain_pg_embedding) from the PostgreSQL database at URL (needs nighdb[postgres])."""
    _run(import_pgvector_langchain, url, tenant, collection, options)


def _run(
    importer: Callable[..., ImportResult],
    source: str,
    tenant: str,
    collection: str,
    options: dict[str, Any],
) -> None:
    as_json = options.pop("as_json")
    with open_cli_store(create=True) as store, cli_progress() as progress:
        result = importer(store, tenant, collection, source, progress=progress, **options)
    report_import(result, tenant, collection, source="the source", as_json=as_json)
