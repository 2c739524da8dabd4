"""The benchmarked systems, in report order (baselines before the nighdb system they
bound)."""

from __future__ import annotations

from .base import Context, System
from .nigh_sqlite import NighSqlite
from .numpy_bf import NumpySystem
from .postgres import NighPostgres, PgvectorRaw
from .sqlite_vec_raw import SqliteVecPlain, SqliteVecVec0

__all__ = ["SYSTEMS", "Context", "System", "get"]

SYSTEMS: dict[str, System] = {
    s.key: s
    for s in (
        NumpySystem(),
        SqliteVecPlain(),
        SqliteVecVec0(),
        NighSqlite(),
        PgvectorRaw(),
        NighPostgres(),
    )
}


def get(key: str) -> System:
    return SYSTEMS[key]
