"""Streaming import and export of a collection, in bounded memory: JSONL lines, or a ``.npy``
matrix with a JSONL sidecar.

The file format itself (item lines, the collection header, the unknown-field rule, the
``.npy`` + sidecar pairing, gzip input, the float-exact line writer) is ``nighdb.lines``,
shared with packs; this module is the orchestration over a ``Store``. Its names stay
importable from here (``Record``, ``jsonl_records``, ``npy_records``, ``item_json``, ...).

Import takes the pin from the input's collection header, the lines naming a model or metric,
and the caller; they must agree. The ``.npy`` is read through a memory map, so a file larger
than RAM still imports.

Memory stays bounded by the batch (``batch_size`` items, at most ``batch_bytes`` of input):
import reads one batch, upserts it, and reads the next; export pages through ``list_ids`` and
``fetch``. Each batch is one upsert (all or nothing); a whole import is not atomic, but it
is idempotent, so re-running an interrupted import finishes it. Export is not a snapshot:
items written while it runs may or may not be in the file. Export then import is bit for bit
(see ``nighdb.lines.item_json``).
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import IO, Any, BinaryIO, Protocol, TextIO

import numpy as np

from .errors import (
    CollectionConflictError,
    DimensionMismatchError,
    InvalidArgumentError,
    NighError,
)
from .lines import (
    HEADER_KEY,
    LINE_FIELDS,
    Header,
    Record,
    header_json,
    item_json,
    jsonl_records,
    line_pin,
    npy_records,
    open_input,
    parse_line,
)
from .models import Collection, Item
from .store import Store, id_pages
from .validation import (
    check_collection_name,
    check_tenant,
    normalize_metric,
    validate_items,
)

__all__ = [
    "DEFAULT_BATCH_BYTES",
    "DEFAULT_BATCH_SIZE",
    "HEADER_KEY",
    "Header",
    "ImportResult",
    "LINE_FIELDS",
    "Progress",
    "Record",
    "SILENT",
    "at_line",
    "export_jsonl",
    "export_npy",
    "header_json",
    "import_records",
    "item_json",
    "iter_batches",
    "jsonl_records",
    "locate",
    "line_pin",
    "npy_records",
    "open_input",
    "parse_line",
    "prefixed",
]

DEFAULT_BATCH_SIZE = 1000
DEFAULT_BATCH_BYTES = 4 * 1024 * 1024
"""Input bytes per upsert: well under the service's 64 MiB body limit once sent as JSON."""


class Progress(Protocol):
    """Where long work reports how far it got (the CLI draws a bar; the library needs none)."""

    def start(self, label: str, total: int | None) -> None:
        """A new phase: ``total`` in the unit of ``update``'s ``done`` (None: unknown)."""

    def update(self, done: int, items: int) -> None:
        """``done`` of ``total`` so far, and the items written or read so far."""


class _Silent:
    def start(self, label: str, total: int | None) -> None:
        pass

    def update(self, done: int, items: int) -> None:
        pass


SILENT: Progress = _Silent()


@dataclass(frozen=True)
class ImportResult:
    collection: Collection | None
    """The collection's pin; None when the input was empty and the collection absent."""
    created: bool
    items: int


def at_line(exc: NighError, where: str) -> NighError:
    """The same error, its message saying which input line caused it."""
    if isinstance(exc, InvalidArgumentError):
        return exc.with_message(f"{where}: {exc.reason}")
    if isinstance(exc, DimensionMismatchError):
        return exc.with_message(
            f"{where}: a {exc.got}-dimensional vector; collection {exc.collection!r} holds "
            f"{exc.expected}-dimensional vectors"
        )
    return exc


def prefixed(exc: NighError, where: str) -> NighError:
    """A copy of ``exc`` (same class and details) whose message starts with ``where``."""
    return exc.with_message(f"{where}: {exc.message}")


def import_records(
    store: Store,
    tenant: str,
    collection: str,
    records: Iterable[Record],
    *,
    source: str,
    model: str | None = None,
    metric: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    total_bytes: int | None = None,
    progress: Progress = SILENT,
) -> ImportResult:
    """Upsert ``records`` in batches into ``collection``.

    The requested pin comes from the input's collection header, the first lines naming a
    ``model``/``metric``, and the ``model``/``metric`` arguments; where several name the same
    field they must agree (else ``InvalidArgumentError``, nothing written). A missing
    collection is created with that pin (dimensions from the header, else the first vector;
    cosine if no metric is named); a header-only input creates the empty collection. An
    existing collection must be compatible with it (else ``CollectionConflictError``,
    nothing written) and is kept as it is.

    A bad item stops the import with its line in the message; the batches before it stay.
    """
    check_tenant(tenant)
    check_collection_name(collection)
    metric = None if metric is None else normalize_metric(metric)
    stream = iter(records)
    first = next(stream, None)
    header = first.header if first is not None else None
    if first is not None and header is None:
        stream = itertools.chain([first], stream)
    pin: Collection | None = None
    created = False
    done = items = 0
    progress.start(f"{tenant}/{collection}", total_bytes)
    for batch in _batches(stream, batch_size, batch_bytes):
        if pin is None:
            wanted = _requested(collection, source, header, batch, model, metric)
            pin, created = _ensure(store, tenant, wanted, batch, source)
        _check_line_pins(batch, pin, source, items)
        try:
            store.upsert(tenant, collection, [r.item for r in batch])
        except (InvalidArgumentError, DimensionMismatchError) as exc:
            raise locate(exc, pin, batch, source, items) from None
        items += len(batch)
        done += sum(r.nbytes for r in batch)
        progress.update(done, items)
    if pin is None:
        if header is not None:  # no items: the header alone still pins (or checks) it
            wanted = _requested(collection, source, header, [], model, metric)
            pin, created = _ensure(store, tenant, wanted, [], source)
        else:
            pin = store.describe_collection(tenant, collection)
    return ImportResult(pin, created, items)


def _batches(records: Iterable[Record], size: int, max_bytes: int) -> Iterator[list[Record]]:
    batch: list[Record] = []
    nbytes = 0
    for record in records:
        if record.header is not None:  # only the first record may be one
            raise InvalidArgumentError(f"line {record.line}: a collection header goes first")
        batch.append(record)
        nbytes += record.nbytes
        if len(batch) >= size or nbytes >= max_bytes:
            yield batch
            batch, nbytes = [], 0
    if batch:
        yield batch


def _requested(
    name: str,
    source: str,
    header: Header | None,
    batch: Sequence[Record],
    model: str | None,
    metric: str | None,
) -> Collection:
    """The pin an import asks for, ``""``/``0`` where nothing names a field (metric included:
    resolved against the stored pin, or to cosine, by ``_ensure``)."""
    named: dict[str, list[tuple[str, str]]] = {"model": [], "metric": []}
    if header is not None:
        where = f"the collection header ({source} line {header.line})"
        if header.model:
            named["model"].append((header.model, where))
        if header.metric:
            named["metric"].append((header.metric, where))
    for field_, value in (("model", model), ("metric", metric)):
        if value is not None:
            named[field_].append((value, "the request"))
    for record in batch:
        where = f"{source} line {record.line}"
        line_model, line_metric = line_pin(record, where)
        if line_model:
            named["model"].append((line_model, where))
        if line_metric:
            named["metric"].append((line_metric, where))
    for field_, values in named.items():
        for value, where in values[1:]:
            if value != values[0][0]:
                raise InvalidArgumentError(
                    f"{values[0][1]} names {field_} {values[0][0]!r} but {where} names "
                    f"{value!r}; one import is one vector space: leave one of them out, or "
                    "import into a collection of the other"
                )
    return Collection(
        name,
        header.dimensions if header is not None else 0,
        named["model"][0][0] if named["model"] else "",
        named["metric"][0][0] if named["metric"] else "",
        # Only the header names an analyzer: without one the stored analyzer is kept and a
        # new collection gets plain.
        header.text_analyzer if header is not None else "",
    )


def _ensure(
    store: Store, tenant: str, wanted: Collection, batch: list[Record], source: str
) -> tuple[Collection, bool]:
    name = wanted.name
    existing = store.describe_collection(tenant, name)
    if existing is not None:
        if wanted.dimensions or wanted.embedding_model or wanted.metric or wanted.text_analyzer:
            # It must match.
            metric = wanted.metric or existing.metric
            return store.ensure_collection(tenant, replace(wanted, metric=metric)), False
        return existing, False
    dims = wanted.dimensions
    if not dims and batch:
        first = batch[0]
        vector = first.item.get("vector")
        dims = len(vector) if isinstance(vector, (list, np.ndarray)) else 1
        if dims == 0:
            raise InvalidArgumentError(
                f"{source} line {first.line}: an empty vector; the first vector sets the "
                f"dimensions of the new collection {name!r}"
            )
    wanted = replace(wanted, dimensions=dims, metric=wanted.metric or "cosine")
    # The first batch is validated before the collection exists: bad input creates nothing.
    try:
        validate_items(name, dims, wanted.metric, [r.item for r in batch])
    except (InvalidArgumentError, DimensionMismatchError) as exc:
        located = locate(exc, wanted, batch, source)
        if isinstance(located, DimensionMismatchError):
            raise _unlike_first(located, wanted, batch, source) from None
        raise located from None
    return store.ensure_collection(tenant, wanted), True


def _check_line_pins(batch: Sequence[Record], pin: Collection, source: str, before: int) -> None:
    """Lines naming a model or metric must name the collection's (as in a pack)."""
    for record in batch:
        where = f"{source} line {record.line}"
        model, metric = line_pin(record, where)
        for field_, value, stored in (
            ("model", model, pin.embedding_model),
            ("metric", metric, pin.metric),
        ):
            if value and value != stored:
                kept = f"; the {before} items before it were imported" if before else ""
                raise CollectionConflictError(
                    pin.name,
                    "embedding_model" if field_ == "model" else field_,
                    stored,
                    value,
                    f"{where}{kept}: names {field_} {value!r}, but collection {pin.name!r} "
                    f"has {field_} {stored!r}; one import is one vector space",
                )


def _unlike_first(
    exc: DimensionMismatchError, pin: Collection, batch: Sequence[Record], source: str
) -> DimensionMismatchError:
    """A length mismatch before the collection exists: the first vector set the length, not a
    stored collection, so the message says so (and that nothing was created)."""
    first = batch[0]
    for record in batch:
        try:
            validate_items(pin.name, pin.dimensions, pin.metric, [record.item])
        except DimensionMismatchError as found:
            return DimensionMismatchError(
                found.collection,
                found.expected,
                found.got,
                f"{source} line {record.line}: the vector has {found.got} values, but the "
                f"first vector (line {first.line}) has {found.expected}; collection "
                f"{pin.name!r} does not exist yet, so nothing was created or imported",
            )
        except InvalidArgumentError:
            break
    return exc


def locate(
    exc: NighError, pin: Collection, batch: Sequence[Record], source: str, before: int = 0
) -> NighError:
    """Which line of a refused batch was bad (the error says only its place in the batch)."""
    for record in batch:
        try:
            validate_items(pin.name, pin.dimensions, pin.metric, [record.item])
        except (InvalidArgumentError, DimensionMismatchError) as found:
            kept = f"; the {before} items before it were imported" if before else ""
            return at_line(found, f"{source} line {record.line}{kept}")
    return exc


# -- export ----------------------------------------------------------------------------------


def iter_batches(
    store: Store,
    tenant: str,
    collection: str,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    filter: Mapping[str, Any] | None = None,
) -> Iterator[list[Item]]:
    """Every item of a collection (that passes ``filter``), a page at a time, in byte order
    of id."""
    if filter is None:
        pages: Iterator[list[str]] = id_pages(store, tenant, collection, batch_size)
    else:
        pages = _filtered_id_pages(store, tenant, collection, batch_size, filter)
    for ids in pages:
        items = store.fetch(tenant, collection, ids)  # deleted meanwhile: left out
        if items:
            yield items


def _filtered_id_pages(
    store: Store, tenant: str, collection: str, page: int, filter: Mapping[str, Any]
) -> Iterator[list[str]]:
    after: str | None = None
    while ids := store.list_ids(tenant, collection, after=after, limit=page, filter=filter):
        yield ids
        after = ids[-1]


def _pin(
    store: Store, tenant: str, collection: str, filter: Mapping[str, Any] | None = None
) -> tuple[Collection, int]:
    # Raises CollectionNotFoundError if it is absent, then checks the filter.
    total = store.count(tenant, collection, filter=filter)
    pin = store.describe_collection(tenant, collection)
    if pin is None:  # dropped between the two calls
        return _pin(store, tenant, collection, filter)
    return pin, total


def export_jsonl(
    store: Store,
    tenant: str,
    collection: str,
    out: TextIO | IO[str],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress = SILENT,
    filter: Mapping[str, Any] | None = None,
) -> int:
    """Write the collection header, then every item as a JSONL line; returns the number of
    items written. With ``filter``, only the items that pass it."""
    pin, total = _pin(store, tenant, collection, filter)
    progress.start(f"{tenant}/{collection}", total)
    out.write(header_json(pin) + "\n")
    written = 0
    for items in iter_batches(store, tenant, collection, batch_size=batch_size, filter=filter):
        out.write("".join(item_json(i) + "\n" for i in items))
        written += len(items)
        progress.update(written, written)
    return written


_NPY_HEADER_BYTES = 128


def _npy_header(rows: int, dims: int) -> bytes:
    """A version 1.0 .npy header for a little-endian float32 (rows, dims) matrix, padded to a
    fixed size so it can be written first and rewritten once the row count is known."""
    meta = f"{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {dims}), }}"
    body = meta.encode("latin-1").ljust(_NPY_HEADER_BYTES - 10 - 1) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(body)) + body


def export_npy(
    store: Store,
    tenant: str,
    collection: str,
    vectors: BinaryIO,
    sidecar: TextIO | IO[str],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress = SILENT,
    filter: Mapping[str, Any] | None = None,
) -> int:
    """Write the vectors as an ``(n, dimensions)`` float32 ``.npy`` to the seekable
    ``vectors`` and, after the collection header, row *i*'s id, metadata and text as item
    line *i* of ``sidecar``. With ``filter``, only the items that pass it."""
    pin, total = _pin(store, tenant, collection, filter)
    progress.start(f"{tenant}/{collection}", total)
    vectors.write(_npy_header(0, pin.dimensions))
    sidecar.write(header_json(pin) + "\n")
    written = 0
    for items in iter_batches(store, tenant, collection, batch_size=batch_size, filter=filter):
        matrix = np.stack([np.asarray(i.vector, dtype="<f4") for i in items])
        vectors.write(matrix.tobytes())
        sidecar.write("".join(item_json(i, vector=False) + "\n" for i in items))
        written += len(items)
        progress.update(written, written)
    vectors.seek(0)
    vectors.write(_npy_header(written, pin.dimensions))
    return written
