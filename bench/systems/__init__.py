"""The benchmarked systems, in report order (baselines before the quiverdb system they
bound)."""

from __future__ import annotations

from .base import Context, System
from .numpy_bf import NumpySystem
from .postgres import PgvectorRaw, QuiverPostgres
from .quiver_sqlite import QuiverSqlite
from .sqlite_vec_raw import SqliteVecPlain, SqliteVecVec0

__all__ = ["SYSTEMS", "Context", "System", "get"]

SYSTEMS: dict[str, System] = {
    s.key: s
    for s in (
        NumpySystem(),
        SqliteVecPlain(),
        SqliteVecVec0(),
        QuiverSqlite(),
        PgvectorRaw(),
        QuiverPostgres(),
    )
}


def get(key: str) -> System:
    return SYSTEMS[key]
