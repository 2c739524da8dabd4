"""The options every PostgreSQL connection of a store opens with, read from its URL.

A URL's own settings win; the rest (timeouts, the application name, autocommit, no
server-side prepared statements) are what the backend needs whatever the URL says. The store's
pool and the replicas' pools open with the same options.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from ...errors import InvalidArgumentError

__all__ = ["connect_options"]


def connect_options(
    url: str, *, connect_timeout: int, timeout: float, prepare: bool = False
) -> dict[str, Any]:
    """Connection options the URL does not set itself; rejects a malformed URL early.

    Without ``prepare``, psycopg never prepares statements on the server: a transaction-mode
    pooler (PgBouncer before 1.21) hands each transaction to any server connection, where a
    statement prepared on another one does not exist (contract §17)."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.Error as exc:
        raise InvalidArgumentError(f"invalid PostgreSQL URL: {exc}") from exc
    if isinstance(connect_timeout, bool) or not isinstance(connect_timeout, int):
        raise InvalidArgumentError("connect_timeout must be an integer number of seconds")
    defaults: dict[str, Any] = {
        "connect_timeout": connect_timeout,
        # A server that vanished without closing the socket (a dead host, a partition) would
        # otherwise hold a call for the kernel's retransmission timeout, many minutes.
        "tcp_user_timeout": int(timeout * 1000),
        "application_name": "nighdb",
    }
    options = {k: v for k, v in defaults.items() if k not in params}
    options["autocommit"] = True
    if not prepare:
        options["prepare_threshold"] = None
    return options
