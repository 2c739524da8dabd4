"""The embedded backend: one SQLite file, searched in-process with numpy (core install).

``store`` is the ``Store`` (transactions and methods); ``search`` ranks a collection in
memory or streamed; ``keys`` the API keys; ``schema`` the tables and the driver's error
translation; ``filter`` the filter's SQL leaves; ``cache`` the byte-budgeted vector copies
and ``columnar`` the metadata columns that filters are evaluated on in memory.
"""

from .store import SQLiteStore

__all__ = ["SQLiteStore"]
