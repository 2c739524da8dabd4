"""``nigh serve`` as a real process on a loopback port, keys from the real ``nigh`` command.

The centre piece is the tenant-isolation attack (contract §9): with tenant A's key every route is
tried against tenant B's names and data (same names, look-alikes, B's tenant routes, encoded
slashes and dots, raw ``..`` steps, a ``tenant`` field in bodies, tenant headers and query
parameters). Nothing about B leaks, and B's data is byte-for-byte unchanged afterwards.
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

import nighdb
from nighdb import Collection
from nighdb.wire import encode_segment

from .harness import ServeNode, nigh

BODY_LIMIT = 1024 * 1024
SECRETS = ["globex-secret", "B secret text", "secret-b", "model-of-b"]


@dataclass
class Server:
    url: str
    host: str
    port: int
    store_url: str
    keys: dict[str, str]
    log: list[str]
    http: httpx.Client


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    store_url = f"sqlite:///{tmp_path_factory.mktemp('served') / 'store.db'}"
    keys = {}
    for name, flags in [("A", ["--tenant", "acme"]), ("B", ["--tenant", "globex"])]:
        created = json.loads(nigh("keys", "create", *flags, "--json", "--store", store_url))
        assert created["tenant"] == flags[1] and created["admin"] is False
        keys[name] = created["key"]
    keys["admin"] = json.loads(nigh("--store", store_url, "keys", "create", "--admin", "--json"))[
        "key"
    ]
    with (
        ServeNode.nigh_serve(
            store_url,
            *("--max-body-bytes", str(BODY_LIMIT), "--log-level", "warning", "--no-access-log"),
        ) as node,
        httpx.Client(base_url=node.url, timeout=30) as http,  # one pool: fast, like a real client
    ):
        yield Server(node.url, "127.0.0.1", node.port, store_url, keys, node.log, http)


def api(
    server: Server, who: str | None, method: str, path: str, body: Any = None
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {server.keys[who]}"} if who else {}
    return server.http.request(method, path, json=body, headers=headers)


def raw(server: Server, who: str, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
    """A request whose path is sent exactly as written (httpx would remove `..` steps)."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        headers = {"Authorization": f"Bearer {server.keys[who]}"}
        conn.request(method, path, body=body or None, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


B_NAMES = ["docs", "Docs", "docs ", "docs/x", ".", "..", "shared"]
LOOK_ALIKES = [
    "DOCS",
    "docs\u200b",
    "d\u043ecs",  # a Cyrillic o
    "docs/",
    "docs%2Fx",
    "../globex/collections/docs",
    "..%2Fglobex",
    "globex/docs",
]
TENANT_SPELLINGS = [
    "globex",
    "%67%6C%6F%62%65%78",  # "globex", every letter percent-encoded
    "GLOBEX",
    "globex%2F",
    "globex%00",
    "%20globex",
    "nobody",
]


def seed_b(server: Server) -> None:
    for n, name in enumerate(B_NAMES):
        path = f"/v1/collections/{encode_segment(name)}"
        pin = {"dimensions": 3, "embedding_model": "model-of-b"}
        assert api(server, "B", "PUT", path, pin).status_code == 201
        items = [
            {
                "id": item_id,
                "vector": [1.0, float(n), float(k)],
                "metadata": {"owner": "globex-secret", "k": k},
                "text": "B secret text",
            }
            for k, item_id in enumerate(["a", "b", "secret-b"])
        ]
        assert api(server, "B", "POST", path + "/upsert", {"items": items}).status_code == 200


def snapshot_b(server: Server) -> list[bytes]:
    """Everything B can observe, as raw bytes."""
    out = [api(server, "B", "GET", "/v1/collections").content]
    for name in B_NAMES:
        path = f"/v1/collections/{encode_segment(name)}"
        out.append(api(server, "B", "GET", path).content)
        out.append(api(server, "B", "GET", path + "/ids?limit=10000").content)
        query = {"vector": [1.0, 1.0, 1.0], "limit": 100}
        out.append(api(server, "B", "POST", path + "/search", query).content)
    return out


def attack_requests(names: list[str]) -> Iterator[tuple[str, str, Any]]:
    """Every route, with bodies that name tenant B wherever a body can name anything."""
    item = {"id": "a", "vector": [9.0, 9.0, 9.0], "metadata": {"owner": "A"}, "tenant": "globex"}
    for name in names:
        c = f"/collections/{encode_segment(name)}"
        yield "GET", c, None
        yield "GET", c + "/ids", None
        yield "PUT", c, {"dimensions": 3, "embedding_model": "a-guess", "tenant": "globex"}
        yield "POST", c + "/upsert", {"items": [item], "tenant": "globex"}
        yield "POST", c + "/search", {"vector": [1.0, 1.0, 1.0], "tenant": "globex"}
        yield "POST", c + "/search_many", {"vectors": [[1.0, 1.0, 1.0]], "tenant": "globex"}
        yield "POST", c + "/delete", {"ids": ["a", "b", "secret-b"], "tenant": "globex"}
        yield "DELETE", c, None
    yield "GET", "/collections", None


def assert_no_secret(content: bytes) -> None:
    for secret in SECRETS:
        assert secret.encode() not in content, content


def test_tenant_isolation_attack(server: Server) -> None:
    seed_b(server)
    # A has a collection of the same name, with its own data.
    assert api(server, "A", "PUT", "/v1/collections/docs", {"dimensions": 3}).status_code == 201
    before = snapshot_b(server)
    forbidden: set[bytes] = set()

    for method, route, body in attack_requests(B_NAMES + LOOK_ALIKES):
        # 1. The tenant-less routes: A's own namespace, whatever the body says.
        response = api(server, "A", method, "/v1" + route, body)
        assert response.status_code < 500, response.text
        assert_no_secret(response.content)
        # 2. B's tenant routes, however B's name is spelled: 403, the same bytes every time.
        for tenant in TENANT_SPELLINGS:
            response = server.http.request(
                method,
                f"/v1/tenants/{tenant}{route}",
                json=body,
                headers={"Authorization": f"Bearer {server.keys['A']}"},
            )
            assert response.status_code == 403, (tenant, route, response.text)
            forbidden.add(response.content)
        # 3. Tenant hints in headers and the query string change nothing.
        response = server.http.request(
            method,
            f"/v1{route}",
            params={"tenant": "globex"},
            json=body,
            headers={
                "Authorization": f"Bearer {server.keys['A']}",
                "X-Tenant": "globex",
                "X-Forwarded-Prefix": "/v1/tenants/globex",
            },
        )
        assert response.status_code < 500
        assert_no_secret(response.content)

    # One fixed answer for every forbidden request: nothing about B, not even its existence.
    assert len(forbidden) == 1
    [answer] = forbidden
    assert json.loads(answer)["error"]["code"] == "permission_denied"
    assert b"globex" not in answer

    # Raw paths with `..` steps are not normalised by the server: no route, or A's own space.
    for path in [
        "/v1/tenants/acme/../globex/collections/docs",
        "/v1/collections/../tenants/globex/collections/docs",
        "/v1/tenants/acme/collections/../../globex/collections/docs",
        "/v1/tenants/acme/collections/..%2F..%2Fglobex%2Fcollections%2Fdocs",
        "/v1/tenants/acme/collections/docs/../../../globex/collections/docs",
        "/v1/tenants/globex/collections/docs/../../../acme/collections/docs",
    ]:
        status, content = raw(server, "A", "GET", path)
        assert status in (403, 404), (path, status, content)
        assert_no_secret(content)

    # Listing tenants needs an admin key.
    assert api(server, "A", "GET", "/v1/tenants").status_code == 403

    # The remote backend with A's key gets PermissionDeniedError for B.
    with nighdb.open_store(server.url, api_key=server.keys["A"]) as remote:
        with pytest.raises(nighdb.PermissionDeniedError):
            remote.describe_collection("globex", "docs")
        with pytest.raises(nighdb.PermissionDeniedError):
            remote.upsert("globex", "docs", [{"id": "x", "vector": [1.0, 1.0, 1.0]}])
        for pin in remote.list_collections("acme"):
            for match in remote.search("acme", pin.name, [1.0, 1.0, 1.0], limit=100):
                assert match.metadata.get("owner") != "globex-secret"

    # B's data: byte for byte what it was.
    assert snapshot_b(server) == before


def test_the_remote_backend_over_http(server: Server) -> None:
    with nighdb.open_store(server.url, api_key=server.keys["admin"]) as store:
        store.ensure_collection("remote-t", Collection("r", 2, "", "l2"))
        store.upsert("remote-t", "r", [{"id": f"{n}", "vector": [float(n), 0.0]} for n in range(5)])
        assert [m.id for m in store.search("remote-t", "r", [3.2, 0.0], limit=2)] == ["3", "4"]
        assert "remote-t" in store.list_tenants()
        # An upsert larger than the service's body limit: the coded 413, not a broken pipe.
        big = [{"id": f"big{n}", "vector": [1.0, 2.0], "text": "x" * 1000} for n in range(2000)]
        with pytest.raises(nighdb.PayloadTooLargeError):
            store.upsert("remote-t", "r", big)
        assert store.count("remote-t", "r") == 5


def test_a_streamed_body_is_cut_off_at_the_limit(server: Server) -> None:
    """A chunked upload that never ends is answered 413 once it passes the limit."""
    with socket.create_connection((server.host, server.port), timeout=30) as sock:
        head = (
            "POST /v1/collections/docs/upsert HTTP/1.1\r\n"
            f"Host: {server.host}\r\nAuthorization: Bearer {server.keys['A']}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        sock.sendall(head.encode())
        chunk = b" " * 65536
        frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        sent = 0
        sock.settimeout(0.005)
        answer = b""
        while sent < 16 * BODY_LIMIT:
            try:
                answer = sock.recv(65536)
                break
            except TimeoutError:
                pass
            try:
                sock.sendall(frame)
                sent += len(chunk)
            except OSError:
                break
        sock.settimeout(30)
        while b"\r\n\r\n" not in answer:
            more = sock.recv(65536)
            if not more:
                break
            answer += more
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < 4 * BODY_LIMIT  # answered long before the client stopped sending


def test_metrics_over_http(server: Server) -> None:
    api(server, "A", "GET", "/v1/collections")
    response = server.http.get("/metrics")
    assert response.status_code == 200
    text = response.text
    assert 'nigh_http_requests_total{method="GET",route="/v1/collections",status="200"}' in text
    assert "nigh_http_request_duration_seconds_bucket" in text
    assert "nigh_errors_total" in text
    for secret in [*SECRETS, "acme", "globex"]:
        assert secret not in text


def test_openapi_over_http(server: Server) -> None:
    document = server.http.get("/openapi.json").json()
    assert "/v1/collections/{name}/search" in document["paths"]
    assert server.http.get("/docs").status_code == 200


def test_keys_revoked_with_the_cli_stop_working_at_once(server: Server) -> None:
    created = json.loads(
        nigh("keys", "create", "--tenant", "temp", "--json", "--store", server.store_url)
    )
    headers = {"Authorization": f"Bearer {created['key']}"}
    assert server.http.get("/v1/collections", headers=headers).status_code == 200
    nigh("keys", "revoke", created["id"], "--store", server.store_url)
    assert server.http.get("/v1/collections", headers=headers).status_code == 401
    listed = nigh("keys", "ls", "--store", server.store_url)
    assert created["id"] in listed and created["key"] not in listed


def test_docs_work_offline_on_a_real_server(server: Server) -> None:
    """``/docs`` and every file it loads come from the process itself, over real HTTP."""
    from .test_service_docs import assert_docs_offline

    assert_docs_offline(server.http)
