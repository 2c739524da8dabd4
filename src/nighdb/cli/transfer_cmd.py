"""``nigh import|export``: a collection to and from JSONL, or ``.npy`` + a JSONL sidecar.

The form follows FILE's name: ``NAME.npy`` is the numpy form (its sidecar defaults to
``NAME.meta.jsonl``), anything else JSONL; ``-`` is stdin or stdout. Export writes to a
temporary file beside FILE and renames it at the end, so an interrupted export never leaves
a truncated FILE behind.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, Any

import click

from ..lines import jsonl_records, npy_records, open_input
from ..models import METRICS
from ..transfer import ImportResult, export_jsonl, export_npy, import_records
from ..wire import collection_to_wire
from .common import echo_json, json_option, open_cli_store, store_option
from .output import JsonValue, batch_option, cli_progress, count

__all__ = ["export", "import_"]

_SIDECAR_HELP = (
    "The JSONL sidecar of a .npy FILE: ids, metadata, text. Default: NAME.meta.jsonl for NAME.npy."
)


def _sidecar(file: str, sidecar: Path | None) -> Path | None:
    if not file.endswith(".npy"):
        if sidecar is not None:
            raise click.UsageError("--sidecar goes with a .npy FILE only")
        return None
    # Not NAME.jsonl: an export would overwrite a JSONL file of the same name.
    return sidecar or Path(file).with_suffix(".meta.jsonl")


@click.command(name="import")
@click.argument("tenant")
@click.argument("collection")
@click.argument("file", metavar="FILE")
@click.option("--sidecar", type=click.Path(path_type=Path, dir_okay=False), help=_SIDECAR_HELP)
@click.option(
    "--model",
    help="Embedding model of a collection this creates (or must have); must agree with "
    "FILE's collection header if that names one.",
)
@click.option(
    "--metric",
    type=click.Choice(METRICS),
    help="Metric of a collection this creates, or must have; default: FILE's collection "
    "header, else cosine. Must agree with the header if that names one.",
)
@batch_option
@json_option
@store_option
def import_(
    tenant: str,
    collection: str,
    file: str,
    sidecar: Path | None,
    model: str | None,
    metric: str | None,
    batch_size: int,
    as_json: bool,
) -> None:
    """Upsert FILE's items into COLLECTION, in batches (idempotent; not atomic as a whole).

    FILE is JSONL ({"id", "vector", "metadata"?, "text"?} per line, after an optional
    {"collection": {...}} header that export writes; - reads stdin; gzip is read as is) or a
    .npy matrix with a JSONL sidecar. A missing collection is created with the header's pin,
    else from the first vector. A line with any other top-level field is refused.
    """
    side = _sidecar(file, sidecar)
    with ExitStack() as stack:
        if side is not None:
            records = npy_records(Path(file), side)
            total: int | None = _size(file) + _size(side)
        elif file == "-":
            records = jsonl_records(sys.stdin.buffer, "stdin")
            total = None
        else:
            records = jsonl_records(stack.enter_context(_open_input(file)), file)
            total = _size(file)
        store = stack.enter_context(open_cli_store(create=True))
        progress = stack.enter_context(cli_progress())
        result = import_records(
            store,
            tenant,
            collection,
            records,
            source=file,
            model=model,
            metric=metric,
            batch_size=batch_size,
            total_bytes=total,
            progress=progress,
        )
    report_import(result, tenant, collection, source=str(file), as_json=as_json)


def report_import(
    result: ImportResult, tenant: str, collection: str, *, source: str, as_json: bool
) -> None:
    """What an import did: the wire JSON, or a line on stderr naming ``source`` when it
    held no items. Shared by ``nigh import`` and ``nigh import-from``."""
    pin = result.collection
    if as_json:
        wire = None if pin is None else collection_to_wire(pin)
        echo_json({"collection": wire, "created": result.created, "imported": result.items})
        return
    where = f"{tenant}/{collection}"
    if pin is None:
        click.echo(f"{source} holds no items; {where} was not created", err=True)
        return
    made = f" (created: {pin.dimensions} dimensions, {pin.metric})" if result.created else ""
    click.echo(f"imported {count(result.items, 'item')} into {where}{made}", err=True)


def _size(path: str | Path) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0  # reported when it is opened


@contextmanager
def _open_input(file: str) -> Iterator[IO[bytes]]:
    try:
        f = open_input(Path(file))
    except OSError as exc:
        raise click.FileError(file, exc.strerror) from None
    with f:
        yield f


@click.command()
@click.argument("tenant")
@click.argument("collection")
@click.argument("file", metavar="FILE")
@click.option("--sidecar", type=click.Path(path_type=Path, dir_okay=False), help=_SIDECAR_HELP)
@click.option(
    "--filter",
    "filter_",
    type=JsonValue(dict, "a JSON object"),
    help="Export only the items that pass this filter (docs/contract.md §6), or @FILE.",
)
@batch_option
@store_option
def export(
    tenant: str,
    collection: str,
    file: str,
    sidecar: Path | None,
    filter_: dict[str, Any] | None,
    batch_size: int,
) -> None:
    """Write COLLECTION's pin and every item to FILE, items in byte order of id.

    FILE is JSONL (- writes stdout) or, for a name ending in .npy, a float32 matrix plus a
    JSONL sidecar. The first line is the collection header (name, dimensions, model, metric).
    Importing the result restores the pin, ids, vectors (bit for bit), metadata and text.
    """
    side = _sidecar(file, sidecar)
    with open_cli_store(create=False) as store, cli_progress() as progress:
        # A missing collection or a bad filter: fail before creating FILE.
        store.count(tenant, collection, filter=filter_)
        if side is not None:
            with _replacing(Path(file), "wb") as vectors, _replacing(side, "w") as meta:
                n = export_npy(
                    store,
                    tenant,
                    collection,
                    vectors,
                    meta,
                    batch_size=batch_size,
                    progress=progress,
                    filter=filter_,
                )
        elif file == "-":
            out = sys.stdout
            n = export_jsonl(
                store,
                tenant,
                collection,
                out,
                batch_size=batch_size,
                progress=progress,
                filter=filter_,
            )
        else:
            with _replacing(Path(file), "w") as out_file:
                n = export_jsonl(
                    store,
                    tenant,
                    collection,
                    out_file,
                    batch_size=batch_size,
                    progress=progress,
                    filter=filter_,
                )
    to = "stdout" if file == "-" else (file if side is None else f"{file} and {side}")
    click.echo(f"exported {count(n, 'item')} of {tenant}/{collection} to {to}", err=True)


@contextmanager
def _replacing(path: Path, mode: str) -> Iterator[Any]:
    """A temporary file beside ``path`` that replaces it only if the block succeeds."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise click.FileError(str(path), exc.strerror) from None
    try:
        encoding = None if "b" in mode else "utf-8"
        with open(fd, mode, encoding=encoding, newline=None if encoding is None else "\n") as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
