"""The PostgreSQL + pgvector backend (extra ``nighdb[postgres]``): psycopg is imported here only.

``store`` is the ``Store``; ``schema`` the layout; ``bootstrap`` what every open finds or
creates; ``conninfo`` the connections' options; ``driver_errors`` the driver's error
translation; ``registry`` the collections table's statements; ``pins`` the pin cache and the
runner of per-collection calls (retries); ``rows`` the item statements besides upsert and
search; ``filter`` the filter's SQL leaves over jsonb; ``write`` the
upsert path (binary arrays and COPY); ``search`` the ranking statements; ``scan`` the
client-side streamed ranking of many queries; ``index`` the HNSW index; ``vector`` pgvector's
binary vector codec; ``keys`` the API-key table.
"""

from .index import HnswIndex
from .store import PostgresStore

__all__ = ["HnswIndex", "PostgresStore"]
