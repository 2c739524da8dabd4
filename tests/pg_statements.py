"""What the PostgreSQL store sends: a spy on ``psycopg.Connection.execute`` for tests that
check the shape of a statement (one copy for every module that needs it)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg import sql

__all__ = ["ranking_statements"]


def ranking_statements(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, Any]]:
    """Record the search statements the store sends (those with an ORDER BY)."""
    seen: list[tuple[Any, Any]] = []
    original = psycopg.Connection.execute

    def spy(self: Any, query: Any, params: Any = None, **kw: Any) -> Any:
        text = query.as_string(self) if isinstance(query, sql.Composable) else str(query)
        if "ORDER BY" in text:
            seen.append((query, params))
        return original(self, query, params, **kw)

    monkeypatch.setattr(psycopg.Connection, "execute", spy)
    return seen
