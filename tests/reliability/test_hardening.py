"""No request can exhaust a real ``nigh serve`` (contract §16, issue 13's findings).

Each test is one finding of the attack on the service, run against a real process on
loopback: bounds checked before work is spent, bodies parsed without amplification,
ambiguous requests refused, secrets kept out of the access log, slow clients cut off,
readiness, and per-tenant quotas.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import nighdb
from nighdb import Collection
from nighdb.errors import QuotaExceededError

from ..harness import ServeNode, create_key

Served = tuple[ServeNode, dict[str, str]]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    url = f"sqlite:///{tmp_path_factory.mktemp('hardening') / 'store.db'}"
    key = create_key(url, "acme")
    other = create_key(url, "quota")
    with ServeNode.nigh_serve(
        url,
        *("--max-results", "1000", "--max-search-limit", "100", "--max-ids", "50"),
        *("--max-collections-per-tenant", "2", "--max-items-per-tenant", "3"),
    ) as served:
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=served.url, headers=headers, timeout=30) as http:
            assert http.put("/v1/collections/docs", json={"dimensions": 2}).is_success
            items = [{"id": f"{n}", "vector": [1.0, float(n)]} for n in range(3)]
            assert http.post("/v1/collections/docs/upsert", json={"items": items}).is_success
        yield served, {"acme": key, "quota": other}


@pytest.fixture(scope="module")
def impatient(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A node with one-second timeouts, for slow clients."""
    url = f"sqlite:///{tmp_path_factory.mktemp('impatient') / 'store.db'}"
    key = create_key(url, "acme")
    with ServeNode.nigh_serve(
        url, *("--header-timeout", "1", "--body-timeout", "1", "--idle-timeout", "1")
    ) as served:
        yield served, {"acme": key}


def _client(served: ServeNode, key: str) -> httpx.Client:
    return httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {key}"}, timeout=60)


def _code(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text[:300]
    return str(response.json()["error"]["code"])


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_a_limit_of_thousands_of_digits_is_400_not_500(node: Served) -> None:
    served, keys = node
    with _client(served, keys["acme"]) as http:
        for digits in ("9" * 5000, "-" + "9" * 5000, "0" * 5000 + "2"):
            response = http.get("/v1/collections/docs/ids", params={"limit": digits})
            assert response.status_code in (200, 400), response.text[:200]
        assert _code(http.get("/v1/collections/docs/ids?limit=-" + "9" * 5000), 400)
        assert http.get("/v1/collections/docs/ids?limit=" + "9" * 5000).json()["ids"]
    assert "Traceback" not in served.text()


def test_search_many_is_bounded_by_queries_times_limit(node: Served) -> None:
    served, keys = node
    with _client(served, keys["acme"]) as http:
        body = {"vectors": [[1.0, 0.0]] * 11, "limit": 100}
        response = http.post("/v1/collections/docs/search_many", json=body)
        assert _code(response, 413) == "payload_too_large"
        assert "1000" in response.json()["error"]["message"]
        body = {"vectors": [[1.0, 0.0]] * 10, "limit": 100}
        assert http.post("/v1/collections/docs/search_many", json=body).is_success


def test_delete_has_the_same_id_cap_as_fetch(node: Served) -> None:
    served, keys = node
    with _client(served, keys["acme"]) as http:
        ids = ["0", *(f"x{n}" for n in range(50))]
        for route in ("delete", "fetch"):
            response = http.post(f"/v1/collections/docs/{route}", json={"ids": ids})
            assert _code(response, 413) == "payload_too_large"
        assert http.get("/v1/collections/docs").json()["count"] == 3  # nothing deleted


@pytest.mark.parametrize(
    "body",
    [
        b'{"ids": ["0"], "ids": ["1"]}',
        b'{"\\u0069ds": ["0"], "ids": ["1"]}',
        b'{"items": [{"id": "9", "id": "8", "vector": [1, 2]}]}',
        b'{"items": [{"id": "9", "vector": [1, 2], "metadata": {"a": 1, "a": 2}}]}',
    ],
)
def test_duplicate_keys_are_invalid_and_change_nothing(node: Served, body: bytes) -> None:
    served, keys = node
    route = "delete" if b'"ids"' in body or b"0069" in body else "upsert"
    with _client(served, keys["acme"]) as http:
        headers = {"Content-Type": "application/json"}
        response = http.post(f"/v1/collections/docs/{route}", content=body, headers=headers)
        assert _code(response, 400) == "invalid_argument"
        assert "more than once" in response.json()["error"]["message"]
        assert sorted(http.get("/v1/collections/docs/ids").json()["ids"]) == ["0", "1", "2"]


def test_a_nested_key_named_like_a_field_is_not_a_duplicate(node: Served) -> None:
    served, keys = node
    with _client(served, keys["acme"]) as http:
        body = {"filter": {"ids": 1}, "vector": [1.0, 0.0], "extra": {"vector": 2}}
        assert http.post("/v1/collections/docs/search", json=body).is_success


def test_unknown_fields_cost_no_memory(node: Served) -> None:
    served, keys = node
    junk = b'{"junk": [' + b"[]," * 20_000_000 + b'[]], "vector": [1, 0]}'  # 60 MB
    before = _rss_kib(served.proc.pid)
    with _client(served, keys["acme"]) as http:
        headers = {"Content-Type": "application/json"}
        response = http.post("/v1/collections/docs/search", content=junk, headers=headers)
        assert response.is_success, response.text[:300]
        missing = http.post("/v1/collections/nope/search", content=junk, headers=headers)
        assert _code(missing, 404) == "collection_not_found"
    grown_mib = (_rss_kib(served.proc.pid) - before) / 1024
    # The body itself is buffered (60 MB, perhaps twice while joining chunks); twenty
    # million lists would be over 1,300 MiB.
    assert grown_mib < 300, grown_mib


def test_two_authorization_headers_are_refused(node: Served) -> None:
    served, keys = node
    headers = [("Authorization", f"Bearer {keys['acme']}"), ("Authorization", "Bearer x")]
    with httpx.Client(base_url=served.url, timeout=30) as http:
        for pair in (headers, headers[::-1]):
            response = http.get("/v1/collections", headers=pair)
            assert _code(response, 401) == "unauthenticated"


def test_a_key_in_the_query_string_never_reaches_the_access_log(node: Served) -> None:
    served, _ = node
    secret = "nigh_0123456789abcdef_query-string-secret"
    with httpx.Client(base_url=served.url, timeout=30) as http:
        assert http.get("/v1/collections", params={"api_key": secret}).status_code == 401
        assert http.get("/healthz", params={"api_key": secret}).status_code == 200
    time.sleep(0.5)
    assert "/v1/collections?[redacted]" in served.text()
    assert secret not in served.text()


def test_readyz_answers_without_a_key(node: Served) -> None:
    served, _ = node
    with httpx.Client(base_url=served.url, timeout=30) as http:
        response = http.get("/readyz")
        assert response.status_code == 200 and response.json()["status"] == "ready"


def _closed_within(sock: socket.socket, seconds: float) -> float:
    """Seconds until the server closes ``sock`` (reading whatever it answers first)."""
    start = time.monotonic()
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        raise AssertionError(f"still open after {seconds} s") from None
    except ConnectionResetError:
        pass
    return time.monotonic() - start


def test_slow_headers_are_cut_off(impatient: Served) -> None:
    served, _ = impatient
    silent = socket.create_connection(("127.0.0.1", served.port))
    trickle = socket.create_connection(("127.0.0.1", served.port))
    with silent, trickle:
        start = time.monotonic()
        try:
            for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\n" * 10:
                trickle.sendall(bytes([byte]))
                time.sleep(0.05)
            raise AssertionError("a head trickled for 15 s was never cut off")
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed by the server
        assert time.monotonic() - start < 5
        assert _closed_within(silent, 5) < 5


def test_a_slow_body_is_cut_off(impatient: Served) -> None:
    served, keys = impatient
    with socket.create_connection(("127.0.0.1", served.port)) as sock:
        head = (
            "POST /v1/collections/docs/search HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {keys['acme']}\r\nContent-Type: application/json\r\n"
            "Content-Length: 1000\r\n\r\n"
        )
        sock.sendall(head.encode() + b'{"vector": [1,')
        sock.settimeout(10)
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
        assert b"body timeout" in answer


def test_idle_keep_alive_connections_are_closed(impatient: Served) -> None:
    served, _ = impatient
    with socket.create_connection(("127.0.0.1", served.port)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(5)
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        assert _closed_within(sock, 5) < 5


def test_quotas_refuse_and_write_nothing(node: Served) -> None:
    served, keys = node
    with _client(served, keys["quota"]) as http:
        for name in ("one", "two"):
            assert http.put(f"/v1/collections/{name}", json={"dimensions": 2}).status_code == 201
        third = http.put("/v1/collections/three", json={"dimensions": 2})
        assert _code(third, 409) == "quota_exceeded"
        assert third.json()["error"]["details"] == {
            "tenant": "quota",
            "quota": "collections",
            "limit": 2,
        }
        assert [c["name"] for c in http.get("/v1/collections").json()["collections"]] == [
            "one",
            "two",
        ]
        assert http.put("/v1/collections/two", json={"dimensions": 2}).status_code == 200
        items = [{"id": f"{n}", "vector": [1.0, 0.0]} for n in range(3)]
        assert http.post("/v1/collections/one/upsert", json={"items": items}).is_success
        assert http.post("/v1/collections/one/upsert", json={"items": items}).is_success
        more = [{"id": "new", "vector": [1.0, 0.0]}]
        refused = http.post("/v1/collections/two/upsert", json={"items": more})
        assert _code(refused, 409) == "quota_exceeded"
        assert refused.json()["error"]["details"]["quota"] == "items"
        assert http.get("/v1/collections/two").json()["count"] == 0
    # The remote client raises the same class, with its details, and writes nothing either.
    with nighdb.open_store(served.url, api_key=keys["quota"]) as remote:
        with pytest.raises(QuotaExceededError) as over:
            remote.ensure_collection("quota", Collection("four", 2))
        assert (over.value.tenant, over.value.quota, over.value.limit) == (
            "quota",
            "collections",
            2,
        )
        with pytest.raises(QuotaExceededError) as over:
            remote.upsert("quota", "two", [{"id": "new", "vector": [1.0, 0.0]}])
        assert over.value.quota == "items"
        assert remote.count("quota", "two") == 0
        assert [c.name for c in remote.list_collections("quota")] == ["one", "two"]
