"""Keeping a collection's int8 copy (``quantized``) current: cached, refreshed, persisted.

The copy in the byte-budgeted cache is tagged with the collection version it reflects and
used only at the version the caller's transaction reads (another process's writes bump it).
A stale copy takes the rows written since (``seq`` newer than its version) and drops the
rows deleted since (the rowids still present, read from the ``seq`` index). A process
without a copy starts from the one persisted beside the database (``quantized_file``) when
that one is sound, else builds from every row, in bounded chunks written straight into the
final arrays, and persists the result.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import cast

import apsw
import numpy as np

from ...models import F32
from .cache import BlockCache
from .quantized import I64, QuantizedBlock, quantize, quantized_bytes
from .quantized_file import load, path_for, save
from .schema import Pin, count_rows, items_table
from .transactions import version_token

__all__ = ["current_int8", "int8_block"]

# Rows read from SQLite per chunk while building or refreshing.
_CHUNK_BYTES = 8 * 1024 * 1024


def current_int8(cache: BlockCache, pin: Pin) -> QuantizedBlock | None:
    """The cached int8 copy if it reflects exactly ``pin``'s version."""
    hit = cache.get((pin.id, "int8"))
    if hit is not None and hit[0] == pin.version and isinstance(hit[1], QuantizedBlock):
        return hit[1]
    return None


def int8_block(
    conn: apsw.Connection, cache: BlockCache, pin: Pin, db_path: str | None
) -> QuantizedBlock | None:
    """The int8 copy as of ``conn``'s transaction, or None when it does not fit the budget."""
    key = (pin.id, "int8")
    hit = cache.get(key)
    if hit is not None and isinstance(hit[1], QuantizedBlock) and hit[0] == pin.version:
        return hit[1]
    table = items_table(pin.id)
    dims = pin.collection.dimensions
    count = count_rows(conn, table)
    if not cache.fits(quantized_bytes(count, dims)):
        cache.discard(key)
        return None
    start: tuple[int, QuantizedBlock] | None = None
    if hit is not None and isinstance(hit[1], QuantizedBlock) and hit[0] < pin.version:
        start = (hit[0], hit[1])
    path = None if db_path is None else path_for(db_path, pin.id)
    created_at = _created_at(conn, pin.id)
    if start is None and path is not None:
        start = load(
            path,
            collection_id=pin.id,
            created_at=created_at,
            dims=dims,
            version=pin.version,
            token_at=lambda version: version_token(conn, pin.id, version),
        )
    block = None if start is None else _refresh(conn, table, dims, start, count)
    if block is None:
        block = _build(conn, table, dims, count)
        if path is not None:
            save(
                path,
                block,
                collection_id=pin.id,
                created_at=created_at,
                version=pin.version,
                token=version_token(conn, pin.id, pin.version),
            )
    cache.put(key, pin.version, block)
    return block


def _created_at(conn: apsw.Connection, collection_id: int) -> float:
    row = conn.execute(
        "SELECT created_at FROM nigh_collections WHERE id = ?", (collection_id,)
    ).fetchone()
    return float(row[0]) if row else 0.0


def _chunks(conn: apsw.Connection, table: str, dims: int) -> Iterator[tuple[I64, F32]]:
    """(rowids, float32 vectors) of every row in rowid order, a bounded chunk at a time."""
    rows_per_chunk = max(1, _CHUNK_BYTES // (dims * 4))
    last = -(2**63)
    while True:
        rows = conn.execute(
            f"SELECT rowid, vector FROM {table} WHERE rowid > ? ORDER BY rowid LIMIT ?",
            (last, rows_per_chunk),
        ).fetchall()
        if not rows:
            return
        last = cast(int, rows[-1][0])
        yield _decode(rows, dims)


def _changed_chunks(
    conn: apsw.Connection, table: str, dims: int, version: int
) -> Iterator[tuple[I64, F32]]:
    """Like ``_chunks``, for the rows written after ``version`` only: their rowids come from
    the ``seq`` index, so a small change costs a small read whatever the collection's size."""
    rowids = [r[0] for r in conn.execute(f"SELECT rowid FROM {table} WHERE seq > ?", (version,))]
    rowids.sort()
    rows_per_chunk = max(1, _CHUNK_BYTES // (dims * 4))
    for at in range(0, len(rowids), rows_per_chunk):
        rows = conn.execute(
            f"SELECT rowid, vector FROM {table} "
            "WHERE rowid IN (SELECT value FROM json_each(?)) ORDER BY rowid",
            (json.dumps(rowids[at : at + rows_per_chunk]),),
        ).fetchall()
        yield _decode(rows, dims)


def _decode(rows: list[tuple[object, ...]], dims: int) -> tuple[I64, F32]:
    rowids = np.fromiter((cast(int, r[0]) for r in rows), dtype=np.int64, count=len(rows))
    raw = b"".join(cast(bytes, r[1]) for r in rows)
    vectors = np.frombuffer(raw, dtype="<f4").reshape(-1, dims).astype(np.float32, copy=False)
    return rowids, vectors


def _build(conn: apsw.Connection, table: str, dims: int, count: int) -> QuantizedBlock:
    """Every row quantized, chunk by chunk, into arrays allocated once at their final size."""
    out = QuantizedBlock(
        np.empty(count, dtype=np.int64),
        np.empty((count, dims), dtype=np.int8),
        np.empty(count),
        np.empty(count),
        np.empty(count),
        np.empty(count),
    )
    at = 0
    for rowids, vectors in _chunks(conn, table, dims):
        part = quantize(rowids, vectors)
        end = at + len(part)
        for field in ("rowids", "codes", "scales", "code_norms", "residuals", "norms"):
            getattr(out, field)[at:end] = getattr(part, field)
        at = end
    return out if at == count else out.take(np.arange(at))


def _refresh(
    conn: apsw.Connection, table: str, dims: int, start: tuple[int, QuantizedBlock], count: int
) -> QuantizedBlock | None:
    """``start`` with the rows written since its version applied and the deleted rows
    dropped; None if that cannot give the table's rows (the caller then rebuilds)."""
    version, old = start
    parts = [quantize(r, v) for r, v in _changed_chunks(conn, table, dims, version)]
    keep = np.ones(len(old), dtype=bool)
    if parts:
        delta = QuantizedBlock.concat(parts) if len(parts) > 1 else parts[0]
        keep &= ~np.isin(old.rowids, delta.rowids, assume_unique=True)
    if int(keep.sum()) + sum(len(p) for p in parts) != count:
        # Deletes leave no row behind: the rows still present are read from the seq index,
        # whose entries hold only (seq, rowid), a small fraction of the table's pages.
        row = conn.execute(
            f"SELECT json_group_array(rowid) FROM {table} INDEXED BY {table}_seq"
        ).fetchone()
        present = np.asarray(json.loads(row[0]) if row else [], dtype=np.int64)
        keep &= np.isin(old.rowids, present)
        if int(keep.sum()) + sum(len(p) for p in parts) != count:
            return None
    if not parts:
        return old if bool(keep.all()) else old.take(keep)
    merged = QuantizedBlock.concat([old.take(keep), *parts])
    return merged.take(np.argsort(merged.rowids, kind="stable"))
