"""Text postings of the pgvector backend (contract §14): kept exact, read for BM25.

Per collection, ``nigh_postings_<id>(term_hash, item_hash, item, tf, length)``: one row
per distinct term of each item's analyzed text (``item`` the item's id, ``length`` the
item's length in terms, repeated so an unfiltered search reads no other table), keyed by
the hashes of the term and of the id (``item_hash`` is the items table's ``id_hash``, which
a filtered search joins on): a term is a run of letters of any length and an id may be
4 KiB, more than a btree entry holds. A query term's postings are one index range.
``nigh_collections.text_items``/``text_length`` hold the
collection's item count and total length, the N and average length of BM25.

Every write of items takes the collection's registry row ``FOR UPDATE`` first
(``lock_collection``): the writes of one collection run one at a time, so the texts read
before a write are the ones it replaces and the counts stay exact. Old postings are found
by analyzing the stored text again (the same analyzer gives the same terms). New postings
go in with one binary ``COPY`` in the table's key order, built by ``analyze_new`` for the
whole batch (each hash computed once, no Python object per posting). Scores are computed by
``nighdb.text.bm25_scores``, as on SQLite: of every match here (hybrid search needs the
whole text ranking), of the best rows the server picked for text-only search (``textrank``).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from psycopg import sql

from ...text import F64, I64, BatchPostings, analyze_batch, analyze_batch_arrays, bm25_scores
from .schema import Conn, Layout
from .write import COPY_SIGNATURE, COPY_TRAILER

__all__ = [
    "NewPostings",
    "add_postings",
    "analyze_new",
    "clear_postings",
    "lock_collection",
    "remove_postings",
    "stored_texts",
    "term_key",
    "term_statistics",
    "text_postings",
]


def postings_table(layout: Layout, collection_id: int) -> sql.Identifier:
    return layout.postings(collection_id)


def term_key(term: str) -> bytes:
    """The key of a term (16 bytes of BLAKE2b: collisions are out of reach)."""
    return hashlib.blake2b(term.encode("utf-8"), digest_size=16).digest()


def item_key(item_id: str) -> bytes:
    """An id's key: the items table's ``id_hash`` (SHA-256 of the UTF-8 bytes)."""
    return hashlib.sha256(item_id.encode("utf-8")).digest()


def lock_collection(conn: Conn, layout: Layout, collection_id: int) -> None:
    """Serialize this transaction with every other write of the collection (see above)."""
    conn.execute(
        sql.SQL("SELECT 1 FROM {} WHERE id = %s FOR UPDATE").format(layout.collections),
        (collection_id,),
    )


def stored_texts(
    conn: Conn, layout: Layout, collection_id: int, condition: tuple[sql.Composable, list[object]]
) -> list[tuple[str, str]]:
    """(id, text) of the stored items that match ``condition``."""
    rows = conn.execute(
        sql.SQL("SELECT id, text FROM {} WHERE {}").format(
            layout.items(collection_id), condition[0]
        ),
        condition[1],
    ).fetchall()
    return [(str(i), str(t)) for i, t in rows]


def _analyzed(
    analyzer: str, items: Iterable[tuple[str, str]]
) -> tuple[list[str], list[bytes], BatchPostings, dict[str, bytes]]:
    """The items' ids and id keys, their postings, and the key of each distinct term: every
    hash is computed once per batch, not once per posting."""
    indexed = [(item_id, text) for item_id, text in items if text]
    batch = analyze_batch([text for _, text in indexed], analyzer)
    ids = [item_id for item_id, _ in indexed]
    keys = {term: term_key(term) for term in dict.fromkeys(batch.terms)}
    return ids, [item_key(i) for i in ids], batch, keys


def remove_postings(
    conn: Conn,
    layout: Layout,
    collection_id: int,
    analyzer: str,
    old: Iterable[tuple[str, str]],
    removed_items: int,
) -> None:
    """Forget the postings of ``old`` (id, text) items and ``removed_items`` from the count."""
    _, id_keys, batch, term_keys = _analyzed(analyzer, old)
    if len(batch):
        conn.execute(
            sql.SQL(
                "DELETE FROM {} AS p USING unnest(%s::bytea[], %s::bytea[]) AS d(t, i) "
                "WHERE p.term_hash = d.t AND p.item_hash = d.i"
            ).format(postings_table(layout, collection_id)),
            ([term_keys[t] for t in batch.terms], [id_keys[i] for i in batch.texts]),
        )
    _add_stats(conn, layout, collection_id, -removed_items, -batch.total_length)


@dataclass(frozen=True)
class NewPostings:
    """The postings of items about to be indexed, as the binary ``COPY`` stream of their rows
    (``_COPY_COLUMNS``) in the order of the postings' primary key; their count, and the
    items' total length."""

    payload: bytes
    count: int
    total_length: int

    def __len__(self) -> int:
        return self.count


# Each row of the stream: its field count, then tf, length and the term's key, fixed-size
# fields built for every posting at once by numpy; then the item's key and id, the same
# bytes for every posting of an item, built once per item.
_COPY_COLUMNS = sql.SQL("(tf, length, term_hash, item_hash, item)")
_FIXED = np.dtype(
    [
        ("fields", ">i2"),
        ("tf_size", ">i4"),
        ("tf", ">i4"),
        ("length_size", ">i4"),
        ("length", ">i4"),
        ("term_size", ">i4"),
        ("term", "S16"),  # numpy keeps a key's trailing zero bytes in the array's memory
    ]
)
_INT4 = struct.Struct(">i").pack
_ITEM_KEY_SIZE = _INT4(32)


def analyze_new(analyzer: str, new: Iterable[tuple[str, str]]) -> NewPostings:
    """The postings of ``new`` (id, text) items, ready to send. Client work only (no
    connection): ``upsert`` runs it while the server merges the items (``write_items``'s
    ``meanwhile``).

    The rows are in the index's order, term key then item key: each leaf of the
    ``(term_hash, item_hash)`` btree is filled by consecutive rows of the ``COPY``. In term
    order then text order (before), a term's items, by their hash, landed anywhere in its
    range of the index, a leaf visited at random once per posting."""
    indexed = [(item_id, text) for item_id, text in new if text]
    batch = analyze_batch_arrays([text for _, text in indexed], analyzer)
    ids = [item_id for item_id, _ in indexed]
    term_keys = list(map(term_key, batch.vocabulary))
    item_keys = list(map(item_key, ids))
    # One integer per posting whose order is (term key, item key): one argsort.
    order = np.argsort(
        _byte_rank(term_keys)[batch.term_ranks] * max(len(ids), 1)
        + _byte_rank(item_keys)[batch.texts]
    )
    texts = batch.texts[order]
    fixed = np.empty(len(order), dtype=_FIXED)
    fixed["fields"] = 5
    fixed["tf_size"] = fixed["length_size"] = 4
    fixed["tf"] = batch.tf[order]
    fixed["length"] = batch.lengths[texts]
    fixed["term_size"] = 16
    fixed["term"] = np.array(term_keys, dtype="S16")[batch.term_ranks[order]]
    items = [
        _ITEM_KEY_SIZE + key + _INT4(len(encoded)) + encoded
        for key, encoded in zip(item_keys, map(str.encode, ids), strict=True)
    ]
    payload = b"".join([COPY_SIGNATURE, *_rows(fixed, items, texts), COPY_TRAILER])
    return NewPostings(payload, len(fixed), int(batch.lengths.sum()))


def _rows(fixed: npt.NDArray[np.void], items: list[bytes], texts: I64) -> list[memoryview]:
    """The rows of the stream: each posting's ``fixed`` fields, then the fields of its item
    (``items[texts[i]]``), as one 2-D array of bytes per size of an item's fields (a single
    block in the usual batch, ids of one length): no Python object per posting (joining
    ~145,000 of them cost 0.1 s a batch). The rows keep their order within each block, each
    block one more pass in order through the index."""
    width = _FIXED.itemsize
    fixed_bytes = fixed.view(np.uint8).reshape(len(fixed), width)
    sizes = np.fromiter(map(len, items), dtype=np.int64, count=len(items))
    row_sizes = sizes[texts]
    rows_by_size = np.argsort(row_sizes, kind="stable")
    items_by_size = np.argsort(sizes, kind="stable")
    block_sizes = np.unique(row_sizes)
    row_starts = np.searchsorted(row_sizes[rows_by_size], block_sizes)
    row_ends = np.searchsorted(row_sizes[rows_by_size], block_sizes, side="right")
    item_starts = np.searchsorted(sizes[items_by_size], block_sizes)
    item_ends = np.searchsorted(sizes[items_by_size], block_sizes, side="right")
    place = np.empty(len(items), dtype=np.int64)  # an item's row in its block's items
    blocks: list[memoryview] = []
    for size, r0, r1, i0, i1 in zip(
        block_sizes.tolist(),
        row_starts.tolist(),
        row_ends.tolist(),
        item_starts.tolist(),
        item_ends.tolist(),
        strict=True,
    ):
        members = items_by_size[i0:i1]
        place[members] = np.arange(len(members))
        fields = b"".join([items[i] for i in members.tolist()])
        member_bytes = np.frombuffer(fields, dtype=np.uint8).reshape(len(members), size)
        picked = rows_by_size[r0:r1]
        block = np.empty((len(picked), width + size), dtype=np.uint8)
        block[:, :width] = fixed_bytes[picked]
        block[:, width:] = member_bytes[place[texts[picked]]]
        blocks.append(block.data)
    return blocks


def _byte_rank(keys: list[bytes]) -> I64:
    """The rank of each key (all of one length, a multiple of 8) in byte order, PostgreSQL's
    order of ``bytea``: the keys as big-endian 64-bit words, sorted most significant first."""
    rank = np.empty(len(keys), dtype=np.int64)
    if keys:
        words = np.frombuffer(b"".join(keys), dtype=">u8").reshape(len(keys), -1)
        rank[np.lexsort(words.T[::-1])] = np.arange(len(keys))
    return rank


def add_postings(
    conn: Conn, layout: Layout, collection_id: int, new: NewPostings, added_items: int
) -> None:
    """Index ``new`` postings, whose items' old postings are gone, with one binary ``COPY``."""
    if len(new):
        query = sql.SQL("COPY {} {} FROM STDIN (FORMAT BINARY)").format(
            postings_table(layout, collection_id), _COPY_COLUMNS
        )
        with conn.cursor() as cur, cur.copy(query) as copy:
            copy.write(new.payload)
    _add_stats(conn, layout, collection_id, added_items, new.total_length)


def _add_stats(conn: Conn, layout: Layout, collection_id: int, items: int, length: int) -> None:
    if items or length:
        conn.execute(
            sql.SQL(
                "UPDATE {} SET text_items = text_items + %s, text_length = text_length + %s "
                "WHERE id = %s"
            ).format(layout.collections),
            (items, length, collection_id),
        )


def clear_postings(conn: Conn, layout: Layout, collection_id: int) -> None:
    conn.execute(sql.SQL("TRUNCATE {}").format(postings_table(layout, collection_id)))
    conn.execute(
        sql.SQL("UPDATE {} SET text_items = 0, text_length = 0 WHERE id = %s").format(
            layout.collections
        ),
        (collection_id,),
    )


def term_statistics(
    conn: Conn, layout: Layout, collection_id: int, hashes: list[bytes]
) -> tuple[int, int, dict[bytes, int]]:
    """BM25's collection statistics: the item count, the total length, and the document
    frequency of each query term (by its key) that has postings."""
    stats = conn.execute(
        sql.SQL("SELECT text_items, text_length FROM {} WHERE id = %s").format(layout.collections),
        (collection_id,),
    ).fetchone()
    n_items, total_length = (0, 0) if stats is None else (int(stats[0]), int(stats[1]))
    dfs: dict[bytes, int] = {
        bytes(term): int(count)
        for term, count in conn.execute(
            sql.SQL(
                "SELECT term_hash, count(*) FROM {} WHERE term_hash = ANY(%s::bytea[]) "
                "GROUP BY term_hash"
            ).format(postings_table(layout, collection_id)),
            (hashes,),
        )
    }
    return n_items, total_length, dfs


def text_postings(
    conn: Conn,
    layout: Layout,
    collection_id: int,
    terms: list[str],
    where: tuple[sql.Composable, list[object]] | None,
) -> tuple[list[str], F64]:
    """BM25 of the items that pass ``where`` and hold a query term: (ids, scores)."""
    hashes = [term_key(t) for t in terms]
    n_items, total_length, dfs = term_statistics(conn, layout, collection_id, hashes)
    postings = postings_table(layout, collection_id)
    if where is None:
        query = sql.SQL(
            "SELECT term_hash, item, tf, length FROM {} WHERE term_hash = ANY(%s::bytea[])"
        ).format(postings)
        params: list[object] = [hashes]
    else:
        query = sql.SQL(
            "SELECT p.term_hash, p.item, p.tf, p.length FROM {} AS p "
            "JOIN {} AS t ON t.id_hash = p.item_hash "
            "WHERE p.term_hash = ANY(%s::bytea[]) AND ({})"
        ).format(postings, layout.items(collection_id), where[0])
        params = [hashes, *where[1]]
    rows = conn.execute(query, params).fetchall() if dfs else []
    keys: dict[str, int] = {}
    per_term: dict[bytes, list[tuple[int, int, int]]] = {h: [] for h in hashes}
    for term, item, tf, length in rows:
        key = keys.setdefault(str(item), len(keys))
        per_term[bytes(term)].append((key, int(tf), int(length)))
    parts: list[tuple[int, I64, I64, I64]] = []
    for h in hashes:
        arr = np.array(per_term[h], dtype=np.int64).reshape(-1, 3)
        parts.append((int(dfs.get(h, 0)), arr[:, 0], arr[:, 1], arr[:, 2]))
    key_array, scores = bm25_scores(n_items, total_length, parts)
    ids = list(keys)
    return [ids[k] for k in key_array.tolist()], scores
