"""A real PgBouncer in transaction mode in front of the tests' PostgreSQL (contract §17).

The ``postgres-pgbouncer`` backend of ``tests/conftest.py`` runs the whole conformance suite
through it: every transaction may land on another server connection, so anything a store
left on a session (a ``SET``, a prepared statement) would break some later call.

It is Debian's ``pgbouncer`` (1.18; ``make test`` installs it on a fresh machine), started
once per test session on a free loopback port, in front of the session's server
(``pg_server.session_database``) over its Unix socket. A test's isolation is its own schema,
as elsewhere; libpq's ``options=-csearch_path=…`` cannot pass PgBouncer 1.18, so each test
gets its own role whose default ``search_path`` is that schema (``ALTER ROLE … SET``), added
to PgBouncer's ``auth_file`` (then ``RELOAD``). A test that cannot start it fails, never
skips.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import psycopg

from . import pg_server

__all__ = ["PgBouncer", "url_for"]

# The role PgBouncer runs as when the tests run as root (it refuses root), the same one the
# embedded PostgreSQL runs as.
_SERVICE_USER = "pgserver"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgBouncer:
    """``pgbouncer`` in transaction mode in front of the server at ``url`` (a Unix-socket URL
    of the embedded server, or any ``host``/``port`` libpq URL)."""

    def __init__(self, url: str) -> None:
        binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        if not Path(binary).exists():
            raise RuntimeError(
                "pgbouncer is not installed: `apt-get install -y pgbouncer` (make test does it)"
            )
        parts = urllib.parse.urlsplit(url)
        query = dict(urllib.parse.parse_qsl(parts.query))
        host = query.get("host") or parts.hostname or "localhost"
        port = parts.port or int(query.get("port", "5432"))
        self.port = _free_port()
        self._dir = Path(tempfile.mkdtemp(prefix="nigh-pgbouncer-"))
        (self._dir / "users.txt").write_text('"postgres" ""\n')
        (self._dir / "pgbouncer.ini").write_text(
            f"""[databases]
* = host={host} port={port}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
pool_mode = transaction
auth_type = trust
auth_file = {self._dir}/users.txt
admin_users = postgres
max_client_conn = 1000
default_pool_size = 10
server_idle_timeout = 2
max_db_connections = 50
logfile = {self._dir}/pgbouncer.log
pidfile = {self._dir}/pgbouncer.pid
"""
        )
        command = [binary, str(self._dir / "pgbouncer.ini")]
        if os.geteuid() == 0:
            entry = pwd.getpwnam(_SERVICE_USER)
            for path in (self._dir, *self._dir.iterdir()):
                os.chown(path, entry.pw_uid, entry.pw_gid)
            command[1:1] = ["-u", _SERVICE_USER]
        # -q: its log goes to the logfile only (an unread stderr pipe would fill and stop it).
        command.insert(1, "-q")
        self._process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self._wait_listening()

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"pgbouncer exited: {self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"pgbouncer did not listen within 20 s: {self.log()}")

    def add_user(self, user: str) -> None:
        """Let ``user`` (a role of the server) log in: PgBouncer 1.18 checks client names
        against its ``auth_file``, read again on ``RELOAD`` (which answers once done)."""
        with (self._dir / "users.txt").open("a") as users:
            users.write(f'"{user}" ""\n')
        with psycopg.connect(self.url("postgres", "pgbouncer"), autocommit=True) as admin:
            admin.execute("RELOAD", prepare=False)

    def url(self, user: str, database: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def log(self) -> str:
        path = self._dir / "pgbouncer.log"
        return path.read_text() if path.exists() else ""

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        shutil.rmtree(self._dir, ignore_errors=True)


_bouncer: PgBouncer | None = None
_roles: dict[str, str] = {}
_lock = threading.Lock()


def _session_bouncer() -> PgBouncer:
    global _bouncer
    with _lock:
        if _bouncer is None:
            _bouncer = PgBouncer(pg_server.session_database().url)
            atexit.register(_close)
        return _bouncer


def close_session_bouncer() -> None:
    """Stop the session's PgBouncer, if one was started (again: a no-op)."""
    if _bouncer is not None:
        _close()


def _close() -> None:
    global _bouncer
    with _lock:
        if _bouncer is not None:
            _bouncer.close()
            _bouncer = None
        database = pg_server.session_database()
        if database.server is None:  # a shared server: leave no role behind
            for role in _roles.values():
                database.admin.execute(f'DROP OWNED BY "{role}"')
                database.admin.execute(f'DROP ROLE "{role}"')
        _roles.clear()


def url_for(tmp_path: Path) -> str:
    """A test's store URL through PgBouncer: its own schema (``pg_server.url_for``), reached
    by a role of its own whose ``search_path`` is that schema."""
    direct = pg_server.url_for(tmp_path)
    options = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(direct).query))["options"]
    schema = options.removeprefix("-csearch_path=")
    bouncer = _session_bouncer()
    with _lock:
        role = _roles.get(schema)
        if role is None:
            role = "nigh_role_" + hashlib.sha1(schema.encode()).hexdigest()[:16]
            admin = pg_server.session_database().admin
            admin.execute(f'CREATE ROLE "{role}" LOGIN')
            admin.execute(f'GRANT ALL ON SCHEMA "{schema}" TO "{role}"')
            admin.execute(f'ALTER ROLE "{role}" SET search_path = "{schema}"')
            bouncer.add_user(role)
            _roles[schema] = role
    return bouncer.url(role)
