"""Upserts for the pgvector backend: one transaction, rows written in id order.

A batch is deduplicated first (the last occurrence of an id wins, contract §4): ``ON CONFLICT
DO UPDATE`` may not touch one row twice in a statement. Rows go in byte order of id, so two
writers with overlapping batches take their row locks in the same order and cannot deadlock
each other.

Small batches are one ``INSERT ... SELECT FROM unnest(arrays)``; larger ones are streamed
with binary ``COPY`` into a temporary staging table and merged by one ``INSERT ... SELECT
... ON CONFLICT``, so no statement meets a parameter limit and the batch stays all or
nothing.

Both paths send PostgreSQL's binary formats, built here for the whole batch at once (numpy
for the vectors, C-level ``map``/``join`` for the strings) instead of one psycopg adaptation
per value, whose Python cost per batch rivalled the server's own work on the rows (the
ingest figures are in docs/benchmarks.md, "Ingest"). Vectors are pgvector's binary ``vector``
(``vector.binary_fields``).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from itertools import chain, repeat
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
from psycopg import sql
from psycopg.adapt import Dumper
from psycopg.pq import Format

from ...validation import ItemBatch
from .filter import filter_document
from .schema import Conn, Layout, id_hash
from .vector import binary_fields

__all__ = ["COPY_SIGNATURE", "COPY_THRESHOLD", "COPY_TRAILER", "write_items"]

T = TypeVar("T")

COPY_THRESHOLD = 1000
"""Batches with more distinct ids than this go through COPY."""

_WORK_MEM_DEFAULT = 4 * 2**20  # PostgreSQL's default work_mem
_WORK_MEM_MAX = 512 * 2**20  # a batch never asks for more sort memory than this

_MERGE = sql.SQL("""
    ORDER BY id COLLATE "C"
    ON CONFLICT (id_hash) DO UPDATE SET
        embedding = excluded.embedding,
        metadata = excluded.metadata,
        metadata_json = excluded.metadata_json,
        text = excluded.text
""")

_TEXT_OID = 25
_INT4 = struct.Struct(">i").pack
# A one-dimensional binary array without NULLs: ndim, has-nulls flag, element type oid,
# then the dimension's length and lower bound; then the elements, each a length and bytes.
_ARRAY_HEADER = struct.Struct(">iiIii").pack
COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)  # flags, extension
"""The start of a binary ``COPY`` stream (its header: signature, flags, extension length)."""
COPY_TRAILER = struct.pack(">h", -1)
"""The end of a binary ``COPY`` stream."""
_COPY_FIELDS = struct.pack(">h", 5)  # each COPY tuple starts with its field count
_COPY_CHUNK = 1000
"""Rows per COPY write: a batch of any size is sent in bounded pieces."""


@dataclass(frozen=True)
class _Rows:
    """The rows to write, deduplicated and in id order; vectors as binary fields."""

    ids: list[str]
    vectors: npt.NDArray[np.uint8]  # one binary vector field per row
    filters: list[str]
    metadata_json: list[str]
    texts: list[str]


def write_items(
    conn: Conn,
    layout: Layout,
    collection_id: int,
    vector_oid: int,
    batch: ItemBatch,
    meanwhile: Callable[[], T],
) -> T:
    """Insert or replace every item of ``batch`` in one transaction; return ``meanwhile()``,
    called while the server merges the rows into the table (``_overlapped``)."""
    order = _last_wins_in_id_order(batch.ids)
    rows = _Rows(
        ids=[batch.ids[i] for i in order],
        vectors=binary_fields(batch.vectors[order]),
        filters=[filter_document(batch.metadata_json[i], batch.metadata[i]) for i in order],
        metadata_json=[batch.metadata_json[i] for i in order],
        texts=[batch.texts[i] for i in order],
    )
    table = layout.items(collection_id)
    with conn.transaction():
        # The merge sorts the batch by id with its vectors (row locks in id order). Past
        # work_mem (4 MB by default: ~2,500 rows of 384 dimensions) that sort spills to disk
        # as an external merge, which made batches of 10,000 slower per row than batches
        # of 1,000. The batch is in this process's memory already; let the sort have as
        # much, for this transaction only.
        sort_bytes = rows.vectors.nbytes + sum(map(len, rows.metadata_json)) * 2
        if sort_bytes > _WORK_MEM_DEFAULT:
            megabytes = min(_WORK_MEM_MAX, 2 * sort_bytes) // 2**20 + 1
            conn.execute("SELECT set_config('work_mem', %s, true)", (f"{megabytes}MB",))
        if len(order) <= COPY_THRESHOLD:
            return _insert_unnest(conn, layout, table, vector_oid, rows, meanwhile)
        return _insert_copy(conn, layout, table, rows, meanwhile)


def _last_wins_in_id_order(ids: list[str]) -> list[int]:
    """Positions of the last occurrence of each id, ordered by id (code point = byte order)."""
    last = {item_id: i for i, item_id in enumerate(ids)}
    return [last[item_id] for item_id in sorted(last)]


def _fields(values: list[str]) -> list[bytes]:
    """Each string as a binary field: its int32 byte length, then its UTF-8 bytes."""
    encoded = list(map(str.encode, values))
    return list(map(bytes.__add__, map(_INT4, map(len, encoded)), encoded))


class _BinaryArray:
    """A parameter already in PostgreSQL's binary array format."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


class _BinaryArrayDumper(Dumper):
    format = Format.BINARY
    oid = 0  # unspecified: the cast in the statement (``%b::text[]``) gives the type

    def dump(self, obj: Any) -> bytes:
        data: bytes = obj.data
        return data


def _array(element_oid: int, count: int, elements: bytes) -> _BinaryArray:
    return _BinaryArray(_ARRAY_HEADER(1, 0, element_oid, count, 1) + elements)


def _text_array(values: list[str]) -> _BinaryArray:
    return _array(_TEXT_OID, len(values), b"".join(_fields(values)))


def _overlapped(conn: Conn, statement: Callable[[], object], meanwhile: Callable[[], T]) -> T:
    """Run ``statement`` (one ``execute``) in pipeline mode: it is sent and the server
    works on it while this thread runs ``meanwhile`` (the upsert's analysis of the texts,
    ~0.1-0.2 s of Python per 10,000 items, as long as the merge itself), instead of the
    client and the server taking turns. The pipeline's end waits for the statement and
    raises its error, if any. Not a thread: the client's work and the wait share no GIL."""
    with conn.pipeline():
        statement()
        return meanwhile()


def _insert_unnest(
    conn: Conn,
    layout: Layout,
    table: sql.Identifier,
    vector_oid: int,
    rows: _Rows,
    meanwhile: Callable[[], T],
) -> T:
    params = (
        _text_array(rows.ids),
        _array(vector_oid, len(rows.ids), rows.vectors.tobytes()),
        _text_array(rows.filters),
        _text_array(rows.metadata_json),
        _text_array(rows.texts),
    )
    with conn.cursor() as cur:
        cur.adapters.register_dumper(_BinaryArray, _BinaryArrayDumper)
        query = sql.SQL(
            "INSERT INTO {table} (id_hash, id, embedding, metadata, metadata_json, text) "
            "SELECT {hash}, u.id, u.embedding, u.filter::jsonb, u.metadata_json, u.body "
            "FROM unnest(%b::text[], %b::{vector}[], %b::text[], %b::text[], %b::text[]) "
            "AS u(id, embedding, filter, metadata_json, body) {merge}"
        ).format(
            table=table,
            hash=id_hash(sql.SQL("u.id")),
            vector=layout.vector_type,
            merge=_MERGE,
        )
        return _overlapped(conn, lambda: cur.execute(query, params), meanwhile)


def _insert_copy(
    conn: Conn,
    layout: Layout,
    table: sql.Identifier,
    rows: _Rows,
    meanwhile: Callable[[], T],
) -> T:
    conn.execute(
        sql.SQL(
            'CREATE TEMPORARY TABLE nigh_staging (id text COLLATE "C", embedding {vector}, '
            "filter text, metadata_json text, body text) ON COMMIT DROP"
        ).format(vector=layout.vector_type)
    )
    with (
        conn.cursor() as cur,
        cur.copy(
            "COPY nigh_staging (id, embedding, filter, metadata_json, body) "
            "FROM STDIN (FORMAT BINARY)"
        ) as copy,
    ):
        # Block mode: this writes the whole binary stream, signature and trailer included.
        copy.write(COPY_SIGNATURE)
        for start in range(0, len(rows.ids), _COPY_CHUNK):
            copy.write(_copy_tuples(rows, start, start + _COPY_CHUNK))
        copy.write(COPY_TRAILER)
    merge = sql.SQL(
        "INSERT INTO {table} (id_hash, id, embedding, metadata, metadata_json, text) "
        "SELECT {hash}, id, embedding, filter::jsonb, metadata_json, body "
        "FROM nigh_staging {merge}"
    ).format(table=table, hash=id_hash(sql.SQL("id")), merge=_MERGE)
    return _overlapped(conn, lambda: conn.execute(merge), meanwhile)


def _copy_tuples(rows: _Rows, start: int, stop: int) -> bytes:
    """Rows ``start:stop`` as binary COPY tuples: the field count, then the five fields."""
    vectors = rows.vectors[start:stop]
    columns = (
        repeat(_COPY_FIELDS, vectors.shape[0]),
        _fields(rows.ids[start:stop]),
        list(map(bytes, vectors)),
        _fields(rows.filters[start:stop]),
        _fields(rows.metadata_json[start:stop]),
        _fields(rows.texts[start:stop]),
    )
    return b"".join(chain.from_iterable(zip(*columns, strict=True)))
