"""Limits under attack (issue 7), beyond ``tests/test_service_limits.py``.

That file covers each limit's coded answer in process (body size, items, queries, search
limit, dimensions, pages, huge numbers). Here: deeply nested filters and metadata in JSON
bodies (deeper than any recursive parser goes) are coded 4xx, and a real ``nigh serve``
keeps serving other clients, promptly, while an oversized upload is streaming in and being
refused.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from ..harness import ServeNode, create_key
from .conftest import Figures

BODY_LIMIT = 1024 * 1024


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServeNode, str]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('limits') / 'store.db'}"
    key = create_key(url, "acme")
    with ServeNode.nigh_serve(
        url, "--max-body-bytes", str(BODY_LIMIT), "--max-items", "1000", "--no-access-log"
    ) as served:
        with httpx.Client(base_url=served.url, timeout=30) as http:
            headers = {"Authorization": f"Bearer {key}"}
            assert http.put(
                "/v1/collections/docs", json={"dimensions": 2}, headers=headers
            ).is_success
            items = [{"id": f"{n}", "vector": [1.0, float(n)]} for n in range(20)]
            http.post("/v1/collections/docs/upsert", json={"items": items}, headers=headers)
        yield served, key


def _coded_4xx(response: httpx.Response) -> str:
    assert 400 <= response.status_code < 500, response.text[:300]
    return str(response.json()["error"]["code"])


@pytest.mark.parametrize("depth", [100, 10_000, 200_000])
def test_deep_nesting_is_a_coded_4xx(node: tuple[ServeNode, str], depth: int) -> None:
    served, key = node
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    not_chain = b'{"$not": ' * depth + b'{"k": 1}' + b"}" * depth
    and_chain = b'{"$and": [' * depth + b'{"k": 1}' + b"]}" * depth
    deep_meta = b'{"m": ' + b"[" * depth + b"]" * depth + b"}"
    bodies = {
        "/search": [
            b'{"vector": [1, 0], "filter": ' + chain + b"}" for chain in (not_chain, and_chain)
        ],
        "/upsert": [b'{"items": [{"id": "d", "vector": [1, 0], "metadata": ' + deep_meta + b"}]}"],
    }
    with httpx.Client(base_url=served.url, timeout=60) as http:
        for route, contents in bodies.items():
            for content in contents:
                if len(content) > BODY_LIMIT:
                    expected = {"payload_too_large"}
                else:
                    expected = {"invalid_argument"} if depth > 100 else {"invalid_argument", "ok"}
                answer = http.post(f"/v1/collections/docs{route}", content=content, headers=headers)
                code = "ok" if answer.status_code == 200 else _coded_4xx(answer)
                assert code in expected, (route, depth, code)
        assert http.get("/v1/collections/docs", headers=headers).json()["count"] in (20, 21)
    assert "Traceback" not in served.text()


def test_serving_goes_on_while_a_huge_body_is_refused(
    node: tuple[ServeNode, str], figures: Figures
) -> None:
    served, key = node
    halfway = threading.Event()
    go_on = threading.Event()
    answer: list[bytes] = []

    def upload() -> None:
        with socket.create_connection(("127.0.0.1", served.port), timeout=30) as sock:
            head = (
                "POST /v1/collections/docs/upsert HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
                "Transfer-Encoding: chunked\r\n\r\n"
            )
            sock.sendall(head.encode())
            chunk = b" " * 65536
            frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
            for _ in range(BODY_LIMIT // len(chunk) // 2):
                sock.sendall(frame)
            halfway.set()
            go_on.wait(timeout=60)  # the other clients are served while this upload hangs
            try:
                for _ in range(BODY_LIMIT // len(chunk) * 4):
                    sock.sendall(frame)
            except OSError:
                pass  # the server answered and closed: expected
            data = b""
            while b"\r\n\r\n" not in data:
                more = sock.recv(65536)
                if not more:
                    break
                data += more
            answer.append(data)

    thread = threading.Thread(target=upload)
    thread.start()
    try:
        assert halfway.wait(timeout=60)
        headers = {"Authorization": f"Bearer {key}"}
        slowest = 0.0
        with httpx.Client(base_url=served.url, timeout=30) as http:
            for _ in range(20):
                started = time.monotonic()
                assert http.get("/healthz").json() == {"status": "ok"}
                found = http.post(
                    "/v1/collections/docs/search",
                    json={"vector": [1.0, 0.0], "limit": 3},
                    headers=headers,
                )
                assert found.status_code == 200 and len(found.json()["matches"]) == 3
                slowest = max(slowest, time.monotonic() - started)
        assert slowest < 2.0, slowest
    finally:
        go_on.set()
        thread.join(timeout=60)
    assert not thread.is_alive()
    assert answer and answer[0].startswith(b"HTTP/1.1 413"), answer[:1]
    figures.set("slowest_concurrent_request_s", round(slowest, 3))
