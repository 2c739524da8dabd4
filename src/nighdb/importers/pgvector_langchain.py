"""Import a collection LangChain's PGVector keeps in PostgreSQL (``langchain-postgres``).

PGVector's tables: ``langchain_pg_collection (uuid, name, cmetadata)`` and
``langchain_pg_embedding (id, collection_id, embedding vector, document, cmetadata)``; they
are found on the URL's ``search_path``. Rows are read in id order through a server-side
cursor, so memory stays bounded. Vectors are read as ``real[]`` (pgvector's float32, exactly).
PGVector does not record its distance strategy in the tables: its default is cosine, which is
the default here too (``metric=`` for another). The collection and table names are bound as
parameters or fixed; nothing from the caller reaches the SQL text.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError, StoreUnavailableError
from ..lines import Header, Record
from ..store import Store
from ..transfer import DEFAULT_BATCH_SIZE, SILENT, ImportResult, Progress, import_records

__all__ = ["import_pgvector_langchain", "pgvector_langchain_records"]

_ROWS = """
SELECT e.id, e.embedding::real[], e.document, e.cmetadata
FROM langchain_pg_embedding AS e
JOIN langchain_pg_collection AS c ON c.uuid = e.collection_id
WHERE c.name = %s
ORDER BY e.id
"""
_DIMENSIONS = """
SELECT vector_dims(e.embedding)
FROM langchain_pg_embedding AS e
JOIN langchain_pg_collection AS c ON c.uuid = e.collection_id
WHERE c.name = %s
LIMIT 1
"""


def _connect(url: str) -> Any:
    try:
        import psycopg
    except ImportError as exc:
        raise InvalidArgumentError(
            "importing from PostgreSQL needs the postgres extra: pip install 'nighdb[postgres]'"
        ) from exc
    try:
        return psycopg.connect(url)
    except psycopg.Error as exc:
        raise StoreUnavailableError(f"cannot connect to the source database: {exc}") from None


def pgvector_langchain_records(
    url: str, name: str, *, page: int = DEFAULT_BATCH_SIZE
) -> Iterator[Record]:
    """A header, then one record per row of PGVector collection ``name`` at ``url``."""
    import psycopg

    with _connect(url) as connection:
        try:
            known = connection.execute(
                "SELECT name FROM langchain_pg_collection ORDER BY name"
            ).fetchall()
            if name not in {row[0] for row in known}:
                raise InvalidArgumentError(
                    f"no PGVector collection {name!r} in langchain_pg_collection; it has "
                    f"{[row[0] for row in known]}"
                )
            first = connection.execute(_DIMENSIONS, (name,)).fetchone()
            yield Record(0, {}, 0, Header(0, name, first[0] if first else 0, "", ""))
            with connection.cursor(name="nigh_import") as cursor:
                cursor.itersize = page
                cursor.execute(_ROWS, (name,))
                for number, (item_id, vector, document, metadata) in enumerate(cursor, 1):
                    values = np.asarray(vector, dtype=np.float32)
                    item = {
                        "id": item_id,
                        "vector": values,
                        "metadata": metadata or {},
                        "text": document or "",
                    }
                    yield Record(number, item, values.nbytes)
        except psycopg.errors.UndefinedTable:
            raise InvalidArgumentError(
                "the source database has no langchain_pg_collection/langchain_pg_embedding "
                "tables on its search_path: is it a LangChain PGVector database?"
            ) from None
        except psycopg.Error as exc:
            raise StoreUnavailableError(f"reading the source database failed: {exc}") from None


def import_pgvector_langchain(
    store: Store,
    tenant: str,
    collection: str,
    url: str,
    *,
    source_collection: str | None = None,
    model: str | None = None,
    metric: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress = SILENT,
) -> ImportResult:
    """Copy PGVector collection ``source_collection`` (default: ``collection``) at ``url``
    into ``tenant``/``collection``."""
    name = source_collection or collection
    return import_records(
        store,
        tenant,
        collection,
        pgvector_langchain_records(url, name, page=batch_size),
        source=f"PGVector collection {name!r}",
        model=model,
        metric=metric,
        batch_size=batch_size,
        progress=progress,
    )
