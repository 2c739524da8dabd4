"""The service's limits (contract §12): each answers a coded 4xx, never a 500."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from nighdb.errors import InvalidArgumentError
from nighdb.service import ServiceLimits

from .service_support import InProcessService

LIMITS = ServiceLimits(
    max_body_bytes=64 * 1024,
    max_items=10,
    max_search_limit=50,
    max_dimensions=8,
    default_page=2,
    max_page=3,
    max_queries=4,
    max_scroll=3,
    max_patches=5,
)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[InProcessService]:
    with InProcessService(f"sqlite:///{tmp_path / 'store.db'}", limits=LIMITS) as svc:
        yield svc


@pytest.fixture
def client(service: InProcessService) -> httpx.Client:
    key = service.create_key(tenant="acme")
    service.client.headers["Authorization"] = f"Bearer {key}"
    assert service.client.put("/v1/collections/docs", json={"dimensions": 2}).status_code == 201
    return service.client


def coded(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    return dict(error)


def test_defaults_are_those_of_the_spec() -> None:
    d = ServiceLimits()
    assert d.max_body_bytes == 64 * 1024 * 1024
    assert (d.max_items, d.max_search_limit, d.max_dimensions) == (100_000, 10_000, 16_000)
    assert (d.default_page, d.max_page) == (1_000, 10_000)


@pytest.mark.parametrize(
    "bad", [{"max_items": 0}, {"max_page": -1}, {"default_page": 20, "max_page": 10}]
)
def test_limits_must_be_positive_and_consistent(bad: dict[str, int]) -> None:
    with pytest.raises(InvalidArgumentError):
        ServiceLimits(**bad)


def test_a_body_over_the_limit_is_413(client: httpx.Client) -> None:
    items = [{"id": f"{n}", "vector": [1.0, 2.0], "text": "x" * 10_000} for n in range(8)]
    response = client.post("/v1/collections/docs/upsert", json={"items": items})
    error = coded(response, 413, "payload_too_large")
    assert str(LIMITS.max_body_bytes) in error["message"]


def test_a_chunked_body_over_the_limit_is_413(client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: only the stream tells the size
        yield b'{"items": ['
        for _ in range(100):
            yield b" " * 1024
        yield b"]}"

    response = client.post("/v1/collections/docs/upsert", content=chunks())
    coded(response, 413, "payload_too_large")


def upload_scope(key: str) -> dict[str, Any]:
    """An ASGI scope for an upsert, to drive the app with a hand-made body stream."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/collections/docs/upsert",
        "raw_path": b"/v1/collections/docs/upsert",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"authorization", f"Bearer {key}".encode())],
        "server": ("test", 80),
        "client": ("127.0.0.1", 1234),
    }


def test_the_body_is_measured_while_it_streams(service: InProcessService) -> None:
    """The app stops reading once the limit is passed: it never buffers the whole upload."""
    key = service.create_key(tenant="acme")
    chunk = b" " * 4096
    pulled = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": chunk, "more_body": True}  # endless

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(service.app(upload_scope(key), receive, send))  # type: ignore[arg-type]
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["error"]["code"] == "payload_too_large"
    assert pulled == LIMITS.max_body_bytes // len(chunk) + 1


def test_a_client_gone_mid_upload_is_not_an_internal_error(
    service: InProcessService, caplog: pytest.LogCaptureFixture
) -> None:
    key = service.create_key(tenant="acme")
    messages: Iterator[dict[str, Any]] = iter(
        [
            {"type": "http.request", "body": b'{"items": [', "more_body": True},
            {"type": "http.disconnect"},
        ]
    )
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return next(messages)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(service.app(upload_scope(key), receive, send))  # type: ignore[arg-type]
    assert sent[0]["status"] == 400
    assert "internal error" not in caplog.text


def test_too_many_items_is_413(client: httpx.Client) -> None:
    items = [{"id": f"{n}", "vector": [1.0, 2.0]} for n in range(LIMITS.max_items + 1)]
    coded(
        client.post("/v1/collections/docs/upsert", json={"items": items}), 413, "payload_too_large"
    )
    ok = client.post("/v1/collections/docs/upsert", json={"items": items[:-1]})
    assert ok.json() == {"upserted": LIMITS.max_items}


def test_too_many_queries_is_413(client: httpx.Client) -> None:
    body = {"vectors": [[1.0, 0.0]] * (LIMITS.max_queries + 1)}
    coded(client.post("/v1/collections/docs/search_many", json=body), 413, "payload_too_large")


def test_too_large_a_search_limit_is_400(client: httpx.Client) -> None:
    too_big = {"vector": [1.0, 0.0], "limit": LIMITS.max_search_limit + 1}
    error = coded(client.post("/v1/collections/docs/search", json=too_big), 400, "invalid_argument")
    assert str(LIMITS.max_search_limit) in error["message"]
    many = {"vectors": [[1.0, 0.0]], "limit": LIMITS.max_search_limit + 1}
    coded(client.post("/v1/collections/docs/search_many", json=many), 400, "invalid_argument")
    at_max = {"vector": [1.0, 0.0], "limit": LIMITS.max_search_limit}
    assert client.post("/v1/collections/docs/search", json=at_max).status_code == 200


def test_too_many_dimensions_is_400(client: httpx.Client) -> None:
    wide = {"dimensions": LIMITS.max_dimensions + 1}
    coded(client.put("/v1/collections/wide", json=wide), 400, "invalid_argument")
    coded(client.put("/v1/collections/wide", json={"dimensions": 10**12}), 400, "invalid_argument")
    ok = client.put("/v1/collections/wide", json={"dimensions": LIMITS.max_dimensions})
    assert ok.status_code == 201


def test_id_pages_follow_the_configured_sizes(client: httpx.Client) -> None:
    items = [{"id": f"i{n}", "vector": [1.0, 2.0]} for n in range(5)]
    client.post("/v1/collections/docs/upsert", json={"items": items})
    assert client.get("/v1/collections/docs/ids").json() == {"ids": ["i0", "i1"], "next": "i1"}
    lowered = client.get("/v1/collections/docs/ids", params={"limit": 100}).json()
    assert lowered == {"ids": ["i0", "i1", "i2"], "next": "i2"}


def test_nothing_huge_is_a_500(client: httpx.Client) -> None:
    deep = b"[" * 30_000 + b"1" + b"]" * 30_000  # deeper than any JSON parser recurses
    body = json.dumps({"vector": [1.0, 0.0], "filter": {"f": 1}}).encode()
    for content in [
        b'{"vector": ' + deep + b"}",
        b'{"vector": [' + b"1e999," * 10 + b"1]}",
        b'{"vector": [1, 0], "limit": ' + b"9" * 5000 + b"}",
        body.replace(b'"f": 1', b'"f": ' + b"9" * 5000),
    ]:
        response = client.post("/v1/collections/docs/search", content=content)
        assert 400 <= response.status_code < 500, response.text


def test_scroll_pages_are_lowered_to_max_scroll(client: httpx.Client) -> None:
    items = [{"id": f"i{n}", "vector": [1.0, 2.0], "metadata": {"n": n}} for n in range(8)]
    assert client.post("/v1/collections/docs/upsert", json={"items": items}).status_code == 200
    seen: list[str] = []
    body: dict[str, Any] = {"filter": {"n": {"gte": 1}}, "limit": 100}
    while True:
        page = client.post("/v1/collections/docs/scroll", json=body).json()
        assert len(page["items"]) <= LIMITS.max_scroll
        seen += [i["id"] for i in page["items"]]
        if page["next"] is None:
            break
        assert page["next"] == seen[-1]
        body["after"] = page["next"]
    assert seen == [f"i{n}" for n in range(1, 8)]
    ids = client.post("/v1/collections/docs/ids", json={"filter": {"n": 2}, "limit": 50})
    assert ids.json() == {"ids": ["i2"], "next": None}


def test_an_update_over_max_patches_is_413(client: httpx.Client) -> None:
    assert client.post(
        "/v1/collections/docs/upsert", json={"items": [{"id": "a", "vector": [1.0, 2.0]}]}
    ).is_success
    patches = [{"id": "a", "text": str(n)} for n in range(LIMITS.max_patches + 1)]
    error = coded(
        client.post("/v1/collections/docs/update", json={"items": patches}),
        413,
        "payload_too_large",
    )
    assert str(LIMITS.max_patches) in error["message"]
    done = client.post("/v1/collections/docs/update", json={"items": patches[:-1]})
    assert done.json() == {"updated": LIMITS.max_patches}
    count = client.post("/v1/collections/docs/count", json={"filter": {"id": "a"}})
    assert count.json() == {"count": 1}
