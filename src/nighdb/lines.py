"""The line format of import, export and packs: reading and writing one item per JSONL line.

An item line is ``{"id", "vector", "metadata"?, "text"?, "model"?, "metric"?}``, the same for
``nigh import`` and for packs: one parser, one set of fields, and a line with any other
top-level field is refused, never silently dropped. The first line may instead be a
*collection header*, ``{"collection": {"name", "dimensions", "embedding_model", "metric",
"text_analyzer"}}``: the pin the items belong to (its text analyzer too, so texts are searched
the same way after a round trip), which export writes and import recreates or checks. The numpy
form keeps the vectors as an ``(n, dimensions)`` ``.npy`` (read through a memory map) and row
*i*'s ``{"id", "metadata"?, "text"?}`` on item line *i* of a JSONL sidecar. Inputs compressed
with gzip are read as they are.

This module knows the format and nothing about a store: it turns bytes into records (and
items and pins back into lines); ``nighdb.transfer`` and ``nighdb.packs`` decide what to do
with them. It is kept apart from that orchestration so the format has one home, whichever of
import, export or packs reads or writes it.

Floats: ``item_json`` writes each float32 as the shortest decimal of its exact float64 value,
which parses back to the very same float32, so export then import is bit for bit.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .errors import InvalidArgumentError
from .jsontext import decode_json
from .models import Collection, Item
from .validation import MAX_DIMENSIONS, check_analyzer, normalize_metric

__all__ = [
    "HEADER_KEY",
    "Header",
    "LINE_FIELDS",
    "Record",
    "header_json",
    "item_json",
    "jsonl_records",
    "line_pin",
    "npy_records",
    "open_input",
    "parse_line",
]


LINE_FIELDS = ("id", "vector", "metadata", "text", "model", "metric")
"""The top-level fields of an item line, for import and packs alike."""
HEADER_KEY = "collection"
"""The one key of a collection header line: ``{"collection": {...pin...}}``."""
_PIN_FIELDS = ("name", "dimensions", "embedding_model", "metric", "text_analyzer")


@dataclass(frozen=True)
class Header:
    """The pin a file's header line names; a field it leaves out is ``""``/``0`` (unnamed)."""

    line: int
    name: str = ""
    dimensions: int = 0
    model: str = ""
    metric: str = ""
    text_analyzer: str = ""


@dataclass(frozen=True)
class Record:
    """One input item: where it came from (for messages), the item, its size in the input.

    A collection header is a ``Record`` too, with ``header`` set and an empty ``item``; it is
    only ever the first record of a source."""

    line: int
    item: Mapping[str, Any]
    nbytes: int
    header: Header | None = None


def parse_line(raw: str | bytes, where: str) -> dict[str, Any]:
    """One JSONL line as an object (NaN and Infinity are not JSON: refused)."""
    try:
        value = decode_json(raw)
    except (ValueError, RecursionError) as exc:
        raise InvalidArgumentError(f"{where}: not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise InvalidArgumentError(f"{where}: each line must be a JSON object")
    return value


def _header(value: object, where: str, line: int) -> Header:
    if not isinstance(value, dict):
        raise InvalidArgumentError(f"{where}: {HEADER_KEY!r} must be an object (the pin)")
    unknown = sorted(set(value) - set(_PIN_FIELDS))
    if unknown:
        raise InvalidArgumentError(
            f"{where}: unknown field {unknown[0]!r} in the collection header; it has "
            "name, dimensions, embedding_model, metric and text_analyzer"
        )
    for key in ("name", "embedding_model", "metric", "text_analyzer"):
        if not isinstance(value.get(key, ""), str):
            raise InvalidArgumentError(f"{where}: the header's {key} must be a string")
    dims = value.get("dimensions", 0)
    if isinstance(dims, bool) or not isinstance(dims, int) or not 0 <= dims <= MAX_DIMENSIONS:
        raise InvalidArgumentError(
            f"{where}: the header's dimensions must be an integer from 1 to {MAX_DIMENSIONS}"
        )
    metric = value.get("metric", "")
    if metric:
        metric = _named(where, normalize_metric, metric)
    analyzer = _named(where, check_analyzer, value.get("text_analyzer", ""))
    return Header(
        line, value.get("name", ""), dims, value.get("embedding_model", ""), metric, analyzer
    )


def _named(where: str, check: Any, value: object) -> str:
    try:
        return str(check(value))
    except InvalidArgumentError as exc:
        raise InvalidArgumentError(exc.reason, f"{where}: {exc.reason}") from None


def line_pin(record: Record, where: str) -> tuple[str | None, str | None]:
    """The ``model`` and ``metric`` an item line names (None where it names none), checked."""
    model = record.item.get("model")
    if model is not None and not isinstance(model, str):
        raise InvalidArgumentError(f"{where}: model must be a string")
    metric = record.item.get("metric")
    if metric is not None:
        if not isinstance(metric, str):
            raise InvalidArgumentError(f"{where}: metric must be a string")
        metric = _named(where, normalize_metric, metric)
    return model, metric


def jsonl_records(lines: Iterable[bytes], source: str) -> Iterator[Record]:
    """The records of JSONL ``lines`` (blank lines skipped), read lazily: a collection header
    if the first line is one, then the items. The rule for every line, shared by import and
    packs: a field outside ``LINE_FIELDS`` is ``invalid_argument`` naming the line and the
    field, because a silently dropped field is lost data (a typo such as ``metdata``, or
    metadata written at the top level)."""
    first = True
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        where = f"{source} line {number}"
        item = parse_line(raw, where)
        if HEADER_KEY in item and "id" not in item:
            if not first or len(item) != 1:
                where_ok = "alone on the first line" if first else "on the first line only"
                raise InvalidArgumentError(
                    f"{where}: a collection header {{{HEADER_KEY!r}: {{...}}}} goes {where_ok}"
                )
            yield Record(number, {}, len(raw), _header(item[HEADER_KEY], where, number))
        else:
            unknown = sorted(set(item) - set(LINE_FIELDS))
            if unknown:
                raise InvalidArgumentError(
                    f"{where}: unknown field {unknown[0]!r}; a line has id, vector, metadata "
                    "(an object: put filterable fields there), text, model and metric"
                )
            yield Record(number, item, len(raw))
        first = False


_GZIP_MAGIC = b"\x1f\x8b"


def open_input(path: Path) -> BinaryIO:
    """A file opened for reading its bytes, decompressed if it is gzip (by content, not name)."""
    f: BinaryIO = path.open("rb")
    try:
        magic = f.read(2)
        f.seek(0)
    except OSError:
        f.close()
        raise
    if magic == _GZIP_MAGIC:
        f.close()  # a GzipFile given a file object would not close it
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return f


def npy_records(vectors: Path, sidecar: Path) -> Iterator[Record]:
    """Items from a ``(n, d)`` ``.npy`` (memory-mapped) and its JSONL sidecar of ids, metadata
    and text (after an optional collection header). The sidecar's item count is checked
    before the first item is yielded."""
    try:
        matrix = np.load(vectors, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InvalidArgumentError(f"{vectors}: not a readable .npy file ({exc})") from None
    if not isinstance(matrix, np.ndarray) or matrix.ndim != 2 or matrix.dtype.kind not in "fiu":
        raise InvalidArgumentError(f"{vectors}: expected a 2-D array of numbers (rows = items)")
    try:
        with open_input(sidecar) as f:
            lines = sum(1 for r in jsonl_records(f, str(sidecar)) if r.header is None)
    except OSError as exc:
        raise InvalidArgumentError(f"{sidecar}: cannot read the sidecar ({exc})") from None
    if lines != matrix.shape[0]:
        raise InvalidArgumentError(
            f"{sidecar} has {lines} items but {vectors} has {matrix.shape[0]} rows; "
            "item line i of the sidecar describes row i"
        )
    row_bytes = matrix.shape[1] * matrix.dtype.itemsize
    with open_input(sidecar) as f:
        row = 0
        for record in jsonl_records(f, str(sidecar)):
            if record.header is not None:
                yield record
                continue
            if "vector" in record.item:
                raise InvalidArgumentError(
                    f"{sidecar} line {record.line}: the sidecar holds ids, metadata and text; "
                    f"the vector is row {row} of {vectors}"
                )
            item = {**record.item, "vector": matrix[row]}
            yield Record(record.line, item, record.nbytes + row_bytes)
            row += 1


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


def header_json(pin: Collection) -> str:
    """The collection header line (without newline) that export writes first."""
    wire = {
        "name": pin.name,
        "dimensions": pin.dimensions,
        "embedding_model": pin.embedding_model,
        "metric": pin.metric,
        "text_analyzer": pin.text_analyzer,
    }
    return json.dumps({HEADER_KEY: wire}, ensure_ascii=False, separators=(",", ":"))
