"""Imports from other vector stores: a Chroma persistent directory, and the tables
LangChain's PGVector (``langchain-postgres``) keeps in PostgreSQL.

Each source module turns the foreign collection into the same ``Record`` stream a JSONL
import reads (``nighdb.lines``), with a collection header carrying the dimensions and the
metric, so ``nighdb.transfer.import_records`` does the rest exactly as for ``nigh import``:
batched upserts in bounded memory, the pin created or checked, progress, errors naming the
source row. Ids, metadata and documents (as the item's text) are copied as they are, and
vectors bit for bit: both sources store float32, which is what nighdb stores.

The sources' drivers are optional: ``chromadb`` (``nighdb[chroma]``) and ``psycopg``
(``nighdb[postgres]``), imported only when their import runs.
"""

from __future__ import annotations

from .chroma import import_chroma
from .pgvector_langchain import import_pgvector_langchain

__all__ = ["import_chroma", "import_pgvector_langchain"]
