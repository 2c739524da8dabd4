"""Driver errors turned into coded ``NighError``s, once, at the backend boundary.

``translate_errors`` wraps every call of the store: a pool timeout, a lost server or an
overloaded one is ``StoreUnavailableError``, a refused value ``InvalidArgumentError``, and
anything else a plain ``NighError`` naming the SQLSTATE. ``ended_on_error`` rolls back what
a failed pipelined statement left open, so the connection goes back to the pool clean.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg
from psycopg.pq import TransactionStatus
from psycopg_pool import PoolTimeout

from ...errors import InvalidArgumentError, NighError, StoreUnavailableError
from .schema import Conn

__all__ = ["ended_on_error", "translate_errors"]


# SQLSTATE classes that mean "the server cannot serve us right now": connection exceptions
# (08), insufficient resources (53), operator intervention (57: shutdown, cancel), system
# errors (58), and transaction rollbacks (40) that outlived our retries.
_UNAVAILABLE_CLASSES = ("08", "40", "53", "57", "58")


@contextlib.contextmanager
def ended_on_error(conn: Conn) -> Iterator[None]:
    """Roll back the transaction a failed statement left open, for a transaction begun and
    committed by statements in a pipeline (the happy path commits). Not while a statement is
    still running (an interrupt): the pool ends that connection."""
    try:
        yield
    except BaseException:
        if not conn.broken and conn.info.transaction_status in _OPEN:
            conn.execute("ROLLBACK")
        raise


_OPEN = (TransactionStatus.INTRANS, TransactionStatus.INERROR)


@contextlib.contextmanager
def translate_errors(timeout: float) -> Iterator[None]:
    """Turn driver exceptions into coded ``NighError``s at the backend boundary."""
    try:
        yield
    except NighError:
        raise
    except PoolTimeout as exc:
        raise StoreUnavailableError(
            f"no PostgreSQL connection became available within {timeout:g}s: the server is "
            "unreachable or every pooled connection is busy; retry later (a store opened with a "
            "longer timeout or a larger pool waits longer)"
        ) from exc
    except psycopg.errors.InsufficientPrivilege as exc:
        raise StoreUnavailableError(
            f"the database role lacks a privilege nighdb needs: {_first_line(exc)}; see "
            "docs/postgres.md for the privileges a store needs"
        ) from exc
    except psycopg.errors.ProgramLimitExceeded as exc:
        raise InvalidArgumentError(
            f"PostgreSQL refused a value as too large: {_first_line(exc)}"
        ) from exc
    except UnicodeEncodeError as exc:  # the driver cannot send it (a lone surrogate)
        raise InvalidArgumentError(f"a string is not valid Unicode text ({exc.reason})") from exc
    except psycopg.Error as exc:
        state = exc.sqlstate or ""
        if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)) or (
            state[:2] in _UNAVAILABLE_CLASSES
        ):
            raise StoreUnavailableError(
                f"PostgreSQL is unavailable: {_first_line(exc)}; retry later"
            ) from exc
        raise NighError(f"unexpected PostgreSQL error {state}: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
