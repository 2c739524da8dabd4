"""An upsert's items written by one SQLite statement per chunk, with no Python step per row.

``executemany`` binds each row from Python and steps once per row, taking the GIL back
every time; here a chunk of rows goes to SQLite as two bound values (carray's array of one
blob per row, and one blob of all the vectors) and ``INSERT ... SELECT`` writes them in a
single ``sqlite3_step``, during which apsw releases the GIL, so another thread (the
analysis of the batch's texts, ``item_writes``) runs meanwhile. The rowids are then read
back by one statement returning one value.

A row's blob is its id, canonical metadata JSON and text in UTF-8, separated by NUL bytes:
validation lets none of the three hold a NUL (ids and texts are refused with one, and JSON
escapes it), so the separators are unambiguous and ``CAST(... AS TEXT)`` gives each string
back exactly. The rows are written in the batch's order, so a repeated id's last row wins
(contract §4), as with one ``INSERT`` per row. There is no ``RETURNING`` clause: SQLite
would copy every row of the ``SELECT`` into a temporary table before the first insert.
"""

from __future__ import annotations

import json
from typing import cast

import apsw
import numpy as np

from ...errors import InvalidArgumentError
from ...text import I64
from ...validation import ItemBatch

__all__ = ["insert_items"]

# Rows per statement: bounds the memory of a statement's bound values and of its rowids' JSON.
_CHUNK = 10_000
# apsw's PyPI wheels build SQLite with carray; a build from other sources may not.
_CARRAY = hasattr(apsw, "carray") and "ENABLE_CARRAY" in apsw.compile_options


def insert_items(conn: apsw.Connection, table: str, batch: ItemBatch, version: int) -> I64:
    """Write ``batch`` into ``table`` (each row's ``seq`` = ``version``), an existing id's row
    replaced in place; return the rowid of each item of the batch, in its order."""
    if not _CARRAY:
        raise InvalidArgumentError(
            "writing items on the SQLite backend needs apsw 3.51 or later built with SQLite's "
            "carray extension, as apsw's wheels on PyPI are: pip install --upgrade apsw"
        )
    vectors = np.ascontiguousarray(batch.vectors, dtype="<f4")
    row_bytes = vectors.shape[1] * vectors.itemsize
    insert = (
        f"INSERT INTO {table} (id, vector, metadata, text, seq) "
        "SELECT CAST(substr(r, 1, a - 1) AS TEXT), "
        f"substr(?1, (k - 1) * {row_bytes} + 1, {row_bytes}), "
        "jsonb(CAST(substr(r, a + 1, b - a - 1) AS TEXT)), CAST(substr(r, b + 1) AS TEXT), ?3 "
        "FROM (SELECT k, r, a, a + instr(substr(r, a + 1), x'00') AS b "
        "FROM (SELECT rowid AS k, value AS r, instr(value, x'00') AS a FROM carray(?2))) "
        # WHERE true: without it SQLite would read ON CONFLICT as a join's ON.
        "WHERE true ON CONFLICT (id) DO UPDATE SET vector = excluded.vector, "
        "metadata = excluded.metadata, text = excluded.text, seq = excluded.seq"
    )
    # The ids are read from the rows' blobs too: a str subclass such as numpy's str_ is a
    # valid id, but carray would take its buffer (UTF-32) for a blob.
    select = (
        "SELECT json_group_array(t.rowid ORDER BY c.rowid) FROM carray(?) AS c "
        f"JOIN {table} AS t ON t.id = CAST(substr(c.value, 1, instr(c.value, x'00') - 1) AS TEXT)"
    )
    parts: list[I64] = []
    for start in range(0, len(batch), _CHUNK):
        chunk = slice(start, start + _CHUNK)
        fields = zip(batch.ids[chunk], batch.metadata_json[chunk], batch.texts[chunk], strict=True)
        rows = apsw.carray(tuple(map(str.encode, map("\0".join, fields))))
        conn.execute(insert, (vectors[chunk], rows, version))
        row = conn.execute(select, (rows,)).fetchone()
        parts.append(np.array(json.loads(cast(str, row[0] if row else "[]")), dtype=np.int64))
    return np.concatenate(parts)
