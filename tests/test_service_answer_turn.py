"""A request keeps its turn until its answer is written (contract §16, ``service/answer.py``).

On a real ``nigh serve`` with one worker slot (``--max-concurrency 1``), ``/readyz`` says
whether that slot is taken. A client asks for a 10 MB page of ids over a socket with a tiny
receive buffer and stops reading after the status line and headers: the work is done by then
(the answer has started), but the answer cannot be written, so the turn must still be held.
It must be released when the client hangs up, and, for a client that just stops reading,
after ``--answer-timeout``. No timing is asserted: each test waits, within a generous
deadline, for a state the node must reach.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

import nighdb
from nighdb import Collection

from .harness import ServeNode, create_key

IDS, ID_LENGTH = 10_000, 1_000
"""One page of ids of 1,000 characters each: a 10 MB answer, more than a client's receive
buffer, the server's largest socket send buffer (4 MB on Linux by default) and uvicorn's
write buffer together, so most of it stays unsent while the client does not read."""


@pytest.fixture(scope="module")
def store_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = f"sqlite:///{tmp_path_factory.mktemp('answer') / 'store.db'}"
    with nighdb.open_store(url) as store:
        store.ensure_collection("acme", Collection("c", 2))
        items = [{"id": f"{n:06d}".ljust(ID_LENGTH, "x"), "vector": [1.0, 0.5]} for n in range(IDS)]
        store.upsert("acme", "c", items)
    yield url


def serve(store_url: str, *extra: str) -> ServeNode:
    flags = ["--max-concurrency", "1", "--tenant-concurrency", "1", "--no-access-log"]
    return ServeNode.nigh_serve(store_url, *flags, *extra)


def stalled_page(url: str, key: str) -> socket.socket:
    """A ``GET …/ids`` of the whole page whose client reads only the head of the answer."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting: the window
    sock.settimeout(60)
    sock.connect((host, int(port)))
    sock.sendall(
        (
            f"GET /v1/collections/c/ids?limit={IDS} HTTP/1.1\r\n"
            f"Host: {host}\r\nAuthorization: Bearer {key}\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        received = sock.recv(1024)
        assert received, head
        head += received
    assert head.startswith(b"HTTP/1.1 200 "), head
    return sock


def readiness(http: httpx.Client) -> int:
    return http.get("/readyz").status_code


def eventually(check: Callable[[], bool], within: float = 30.0) -> bool:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_the_turn_is_held_until_the_answer_is_sent_and_released_on_hang_up(
    store_url: str,
) -> None:
    key = create_key(store_url, "acme")
    with serve(store_url) as node, httpx.Client(base_url=node.url, timeout=30) as http:
        auth = {"Authorization": f"Bearer {key}"}
        read_whole = http.get(f"/v1/collections/c/ids?limit={IDS}", headers=auth)
        assert len(read_whole.json()["ids"]) == IDS
        assert readiness(http) == 200  # an answer read to its end gives the turn back
        sock = stalled_page(node.url, key)
        try:
            # The work is done (the answer has begun), the answer is not written: the one
            # slot is still this request's.
            assert readiness(http) == 503
            assert http.get("/readyz").json()["reason"] == "saturated: every worker is busy"
        finally:
            sock.close()  # hangs up mid-answer
        assert eventually(lambda: readiness(http) == 200)
        assert http.get("/v1/collections", headers=auth).status_code == 200
        assert "Traceback" not in node.text(), node.text()


def test_a_client_that_stops_reading_holds_the_turn_no_longer_than_the_answer_timeout(
    store_url: str,
) -> None:
    key = create_key(store_url, "acme")
    with serve(store_url, "--answer-timeout", "1") as node:
        with httpx.Client(base_url=node.url, timeout=30) as http:
            sock = stalled_page(node.url, key)
            try:
                # Still connected and not reading: released after the timeout all the same.
                assert eventually(lambda: readiness(http) == 200)
                auth = {"Authorization": f"Bearer {key}"}
                assert http.get("/v1/collections", headers=auth).status_code == 200
            finally:
                sock.close()
        assert "Traceback" not in node.text(), node.text()
