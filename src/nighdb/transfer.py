"""Streaming import and export of a collection: JSONL lines, or a ``.npy`` matrix with a JSONL
sidecar, in bounded memory.

JSONL lines are ``{"id", "vector", "metadata"?, "text"?}``. The numpy form keeps the vectors
as an ``(n, dimensions)`` float32 ``.npy`` and row *i*'s ``{"id", "metadata"?, "text"?}`` on
line *i* of the sidecar; the ``.npy`` is read through a memory map, so a file larger than
RAM still imports.

Memory stays bounded by the batch (``batch_size`` items, at most ``batch_bytes`` of input):
import reads one batch, upserts it, and reads the next; export pages through ``list_ids`` and
``fetch``. Each batch is one upsert (all or nothing); a whole import is not atomic, but it
is idempotent, so re-running an interrupted import finishes it. Export is not a snapshot:
items written while it runs may or may not be in the file.

Floats: export writes each float32 as the shortest decimal of its exact float64 value, which
parses back to the very same float32, so export then import is bit for bit.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO, Protocol, TextIO

import numpy as np

from .errors import DimensionMismatchError, InvalidArgumentError, NighError
from .models import Collection, Item
from .store import Store
from .validation import check_collection_name, check_tenant, normalize_metric, validate_items

__all__ = [
    "DEFAULT_BATCH_BYTES",
    "DEFAULT_BATCH_SIZE",
    "ImportResult",
    "Progress",
    "Record",
    "SILENT",
    "at_line",
    "export_jsonl",
    "export_npy",
    "import_records",
    "item_json",
    "iter_batches",
    "jsonl_records",
    "locate",
    "npy_records",
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
class Record:
    """One input item: where it came from (for messages), the item, its size in the input."""

    line: int
    item: Mapping[str, Any]
    nbytes: int


@dataclass(frozen=True)
class ImportResult:
    collection: Collection | None
    """The collection's pin; None when the input was empty and the collection absent."""
    created: bool
    items: int


def at_line(exc: NighError, where: str) -> NighError:
    """The same error, its message saying which input line caused it."""
    if isinstance(exc, InvalidArgumentError):
        return InvalidArgumentError(exc.reason, f"{where}: {exc.reason}")
    if isinstance(exc, DimensionMismatchError):
        return DimensionMismatchError(
            exc.collection,
            exc.expected,
            exc.got,
            f"{where}: a {exc.got}-dimensional vector; collection {exc.collection!r} holds "
            f"{exc.expected}-dimensional vectors",
        )
    return exc


def prefixed(exc: NighError, where: str) -> NighError:
    """A copy of ``exc`` (same class and details) whose message starts with ``where``."""
    return exc.with_message(f"{where}: {exc.message}")


def _no_constants(token: str) -> Any:
    raise ValueError(f"{token} is not JSON")


def parse_line(raw: str | bytes, where: str) -> dict[str, Any]:
    """One JSONL line as an object (NaN and Infinity are not JSON: refused)."""
    try:
        value = json.loads(raw, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        raise InvalidArgumentError(f"{where}: not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise InvalidArgumentError(f"{where}: each line must be a JSON object")
    return value


def jsonl_records(lines: Iterable[bytes], source: str) -> Iterator[Record]:
    """The items of JSONL ``lines`` (blank lines skipped), read lazily."""
    for number, raw in enumerate(lines, start=1):
        if raw.strip():
            yield Record(number, parse_line(raw, f"{source} line {number}"), len(raw))


def npy_records(vectors: Path, sidecar: Path) -> Iterator[Record]:
    """Items from a ``(n, d)`` ``.npy`` (memory-mapped) and its JSONL sidecar of ids, metadata
    and text. The sidecar's line count is checked before the first item is yielded."""
    try:
        matrix = np.load(vectors, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InvalidArgumentError(f"{vectors}: not a readable .npy file ({exc})") from None
    if not isinstance(matrix, np.ndarray) or matrix.ndim != 2 or matrix.dtype.kind not in "fiu":
        raise InvalidArgumentError(f"{vectors}: expected a 2-D array of numbers (rows = items)")
    try:
        with sidecar.open("rb") as f:
            lines = sum(1 for raw in f if raw.strip())
    except OSError as exc:
        raise InvalidArgumentError(f"{sidecar}: cannot read the sidecar ({exc.strerror})") from None
    if lines != matrix.shape[0]:
        raise InvalidArgumentError(
            f"{sidecar} has {lines} items but {vectors} has {matrix.shape[0]} rows; "
            "line i of the sidecar describes row i"
        )
    row_bytes = matrix.shape[1] * matrix.dtype.itemsize
    with sidecar.open("rb") as f:
        for row, record in enumerate(jsonl_records(f, str(sidecar))):
            if "vector" in record.item:
                raise InvalidArgumentError(
                    f"{sidecar} line {record.line}: the sidecar holds ids, metadata and text; "
                    f"the vector is row {row} of {vectors}"
                )
            item = {**record.item, "vector": matrix[row]}
            yield Record(record.line, item, record.nbytes + row_bytes)


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
    """Upsert ``records`` in batches, creating a missing collection from the first vector
    (``model``, ``metric``; cosine by default). An existing collection is kept as it is;
    ``model``/``metric`` given for it must match (else ``CollectionConflictError``).

    A bad item stops the import with its line in the message; the batches before it stay.
    """
    check_tenant(tenant)
    check_collection_name(collection)
    metric = None if metric is None else normalize_metric(metric)
    pin: Collection | None = None
    created = False
    done = items = 0
    progress.start(f"{tenant}/{collection}", total_bytes)
    for batch in _batches(records, batch_size, batch_bytes):
        if pin is None:
            pin, created = _ensure(store, tenant, collection, batch, source, model, metric)
        try:
            store.upsert(tenant, collection, [r.item for r in batch])
        except (InvalidArgumentError, DimensionMismatchError) as exc:
            raise locate(exc, pin, batch, source, items) from None
        items += len(batch)
        done += sum(r.nbytes for r in batch)
        progress.update(done, items)
    if pin is None:
        pin = store.describe_collection(tenant, collection)
    return ImportResult(pin, created, items)


def _batches(records: Iterable[Record], size: int, max_bytes: int) -> Iterator[list[Record]]:
    batch: list[Record] = []
    nbytes = 0
    for record in records:
        batch.append(record)
        nbytes += record.nbytes
        if len(batch) >= size or nbytes >= max_bytes:
            yield batch
            batch, nbytes = [], 0
    if batch:
        yield batch


def _ensure(
    store: Store,
    tenant: str,
    name: str,
    batch: list[Record],
    source: str,
    model: str | None,
    metric: str | None,
) -> tuple[Collection, bool]:
    existing = store.describe_collection(tenant, name)
    if existing is not None:
        if model is not None or metric is not None:  # asked for a pin: it must match
            wanted = Collection(name, 0, model or "", metric or existing.metric)
            return store.ensure_collection(tenant, wanted), False
        return existing, False
    first = batch[0]
    vector = first.item.get("vector")
    dims = len(vector) if isinstance(vector, (list, np.ndarray)) else 1
    if dims == 0:
        raise InvalidArgumentError(
            f"{source} line {first.line}: an empty vector; the first vector sets the "
            f"dimensions of the new collection {name!r}"
        )
    wanted = Collection(name, dims, model or "", metric or "cosine")
    # The first batch is validated before the collection exists: bad input creates nothing.
    try:
        validate_items(name, dims, wanted.metric, [r.item for r in batch])
    except (InvalidArgumentError, DimensionMismatchError) as exc:
        raise locate(exc, wanted, batch, source) from None
    return store.ensure_collection(tenant, wanted), True


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
    store: Store, tenant: str, collection: str, *, batch_size: int = DEFAULT_BATCH_SIZE
) -> Iterator[list[Item]]:
    """Every item of a collection, a page at a time, in byte order of id."""
    after: str | None = None
    while True:
        ids = store.list_ids(tenant, collection, after=after, limit=batch_size)
        if not ids:
            return
        items = store.fetch(tenant, collection, ids)  # deleted meanwhile: left out
        if items:
            yield items
        after = ids[-1]


def item_json(item: Item, *, vector: bool = True) -> str:
    """One JSONL line (without newline); empty metadata and text are left out."""
    out: dict[str, Any] = {"id": item.id}
    if vector:
        # tolist() gives each float32's exact value as a Python float: its repr round-trips.
        out["vector"] = np.asarray(item.vector, dtype=np.float32).tolist()
    if item.metadata:
        out["metadata"] = item.metadata
    if item.text:
        out["text"] = item.text
    return json.dumps(out, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def export_jsonl(
    store: Store,
    tenant: str,
    collection: str,
    out: TextIO | IO[str],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress = SILENT,
) -> int:
    """Write every item as a JSONL line; returns the number written."""
    progress.start(f"{tenant}/{collection}", store.count(tenant, collection))
    written = 0
    for items in iter_batches(store, tenant, collection, batch_size=batch_size):
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
) -> int:
    """Write the vectors as an ``(n, dimensions)`` float32 ``.npy`` to the seekable
    ``vectors`` and row *i*'s id, metadata and text as line *i* of ``sidecar``."""
    pin = store.describe_collection(tenant, collection)
    total = store.count(tenant, collection)  # raises CollectionNotFoundError if pin is None
    assert pin is not None
    progress.start(f"{tenant}/{collection}", total)
    vectors.write(_npy_header(0, pin.dimensions))
    written = 0
    for items in iter_batches(store, tenant, collection, batch_size=batch_size):
        matrix = np.stack([np.asarray(i.vector, dtype="<f4") for i in items])
        vectors.write(matrix.tobytes())
        sidecar.write("".join(item_json(i, vector=False) + "\n" for i in items))
        written += len(items)
        progress.update(written, written)
    vectors.seek(0)
    vectors.write(_npy_header(written, pin.dimensions))
    return written
