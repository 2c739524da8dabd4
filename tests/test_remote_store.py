"""The remote backend beyond the conformance suite: keys, transport failures, wire fidelity."""

from __future__ import annotations

import asyncio
import math
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

import nighdb
from nighdb import Collection
from nighdb.backends.remote import RemoteStore
from nighdb.service import ServiceLimits, create_app

from .service_support import InProcessService, InProcessTransport

URL = InProcessService.base_url


@pytest.fixture
def service(tmp_path: Path) -> Iterator[InProcessService]:
    limits = ServiceLimits(default_page=3, max_page=4)
    with InProcessService(f"sqlite:///{tmp_path / 'store.db'}", limits=limits) as svc:
        yield svc


@pytest.fixture
def admin(service: InProcessService) -> Iterator[RemoteStore]:
    with service.remote_store(service.create_key()) as store:
        yield store


class Recorder:
    """An httpx client over the in-process service that records every request it sends."""

    def __init__(self, service: InProcessService) -> None:
        self.requests: list[tuple[str, str]] = []
        self.client = httpx.Client(
            transport=InProcessTransport(service.app),
            event_hooks={"request": [self.record]},
        )

    def record(self, request: httpx.Request) -> None:
        self.requests.append((request.method, request.url.path))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- keys and tenants ----------------------------------------------------------------------


def test_a_tenant_key_reaches_only_its_tenant(service: InProcessService) -> None:
    with service.remote_store(service.create_key(tenant="acme")) as acme:
        assert acme.ensure_collection("acme", Collection("docs", 2)) == Collection("docs", 2)
        acme.upsert("acme", "docs", [{"id": "a", "vector": [1.0, 0.0]}])
        assert acme.count("acme", "docs") == 1
        for attempt in [
            lambda: acme.describe_collection("globex", "docs"),
            lambda: acme.ensure_collection("globex", Collection("docs", 2)),
            lambda: acme.list_collections("globex"),
            lambda: acme.upsert("globex", "docs", [{"id": "a", "vector": [1.0, 0.0]}]),
            lambda: acme.drop_collection("globex", "docs"),
            acme.list_tenants,
        ]:
            with pytest.raises(nighdb.PermissionDeniedError):
                attempt()
    assert service.store.list_tenants() == ["acme"]


def test_an_admin_key_reaches_every_tenant(admin: RemoteStore) -> None:
    for tenant in ("b", "a", "c/d"):
        admin.ensure_collection(tenant, Collection("docs", 2))
    assert admin.list_tenants() == ["a", "b", "c/d"]


def test_no_key_or_a_wrong_key_is_unauthenticated(
    service: InProcessService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NIGH_API_KEY", raising=False)
    with (
        RemoteStore(URL, client=service.client) as anonymous,
        pytest.raises(nighdb.UnauthenticatedError),
    ):
        anonymous.list_collections("acme")
    with (
        service.remote_store("nigh_0123456789abcdef_wrong") as wrong,
        pytest.raises(nighdb.UnauthenticatedError),
    ):
        wrong.list_collections("acme")


def test_the_key_comes_from_the_argument_the_url_or_the_environment(
    service: InProcessService, monkeypatch: pytest.MonkeyPatch
) -> None:
    acme, globex = service.create_key(tenant="acme"), service.create_key(tenant="globex")
    monkeypatch.setenv("NIGH_API_KEY", acme)
    with RemoteStore(URL, client=service.client) as from_env:
        assert from_env.list_collections("acme") == []
    with RemoteStore(URL.replace("//", f"//{globex}@"), client=service.client) as from_url:
        assert from_url.list_collections("globex") == []  # the URL's key beats the variable
        assert globex not in repr(from_url)
    with RemoteStore(
        URL.replace("//", f"//{globex}@"), api_key=acme, client=service.client
    ) as explicit:
        assert explicit.list_collections("acme") == []  # the argument beats both


def test_open_store_chooses_the_remote_backend(service: InProcessService) -> None:
    key = service.create_key()
    transport = InProcessTransport(service.app)
    with nighdb.open_store(URL, api_key=key, transport=transport) as store:
        assert isinstance(store, RemoteStore)
        store.ensure_collection("t", Collection("c", 3))
        assert store.describe_collection("t", "c") == Collection("c", 3)


def test_the_async_twin_works_over_the_remote_backend(service: InProcessService) -> None:
    key = service.create_key()

    async def main() -> list[str]:
        transport = InProcessTransport(service.app)
        async with nighdb.open_async_store(URL, api_key=key, transport=transport) as store:
            await store.ensure_collection("t", Collection("c", 2))
            await store.upsert("t", "c", [{"id": "x", "vector": [1.0, 2.0]}])
            return [m.id for m in await store.search("t", "c", [1.0, 2.0])]

    assert asyncio.run(main()) == ["x"]


# -- failures are translated at the boundary ---------------------------------------------------


def test_an_unreachable_service_is_unavailable_on_the_first_call() -> None:
    with RemoteStore(f"http://127.0.0.1:{free_port()}", api_key="k", timeout=5) as store:
        with pytest.raises(nighdb.StoreUnavailableError) as info:
            store.describe_collection("t", "c")  # not None: we cannot know
        assert info.value.retryable
        assert isinstance(info.value.__cause__, httpx.ConnectError)
        with pytest.raises(nighdb.StoreUnavailableError):
            store.list_tenants()


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("slow"),
        httpx.ConnectTimeout("slow"),
        httpx.RemoteProtocolError("garbled"),
        httpx.ReadError("reset"),
    ],
)
def test_httpx_exceptions_never_leak(failure: Exception) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise failure

    with RemoteStore(URL, api_key="k", transport=httpx.MockTransport(handler)) as store:
        with pytest.raises(nighdb.StoreUnavailableError) as info:
            store.count("t", "c")
        assert info.value.__cause__ is failure


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (502, b"<html>Bad Gateway</html>", nighdb.StoreUnavailableError),
        (503, b"", nighdb.StoreUnavailableError),
        (401, b"nope", nighdb.UnauthenticatedError),
        (403, b"{}", nighdb.PermissionDeniedError),
        (413, b"too big", nighdb.PayloadTooLargeError),
        (500, b"oops", nighdb.NighError),
        (404, b'{"error": {"code": "not_found", "message": "no route", "details": {}}}', None),
    ],
)
def test_answers_without_our_envelope_map_by_status(
    status: int, body: bytes, cls: type[nighdb.NighError] | None
) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(status, content=body))
    with RemoteStore(URL, api_key="k", transport=transport) as store:
        with pytest.raises(nighdb.NighError) as info:
            store.count("t", "c")
        if cls is not None:
            assert type(info.value) is cls
        else:  # an unknown code: the root class, never something more specific
            assert type(info.value) is nighdb.NighError


def test_error_attributes_round_trip(admin: RemoteStore) -> None:
    admin.ensure_collection("t", Collection("docs", 3, "model-a", "l2"))
    with pytest.raises(nighdb.CollectionConflictError) as conflict:
        admin.ensure_collection("t", Collection("docs", 3, "model-b", "l2"))
    err = conflict.value
    assert (err.collection, err.field, err.existing, err.requested) == (
        "docs",
        "embedding_model",
        "model-a",
        "model-b",
    )
    with pytest.raises(nighdb.DimensionMismatchError) as mismatch:
        admin.search("t", "docs", [1.0, 2.0])
    assert (mismatch.value.collection, mismatch.value.expected, mismatch.value.got) == (
        "docs",
        3,
        2,
    )
    with pytest.raises(nighdb.CollectionNotFoundError) as missing:
        admin.count("t", "nope")
    assert (missing.value.tenant, missing.value.collection) == ("t", "nope")
    with pytest.raises(nighdb.InvalidArgumentError) as invalid:
        admin.search("t", "docs", [1.0, 2.0, 3.0], filter={"f": {"regex": "x"}})
    assert "regex" in invalid.value.reason


def test_bad_urls_and_keys_are_invalid_arguments() -> None:
    for url in ["ftp://host", "http://", "http://host/?q=1", "not a url at all"]:
        with pytest.raises(nighdb.InvalidArgumentError):
            RemoteStore(url, api_key="k")
    with pytest.raises(nighdb.InvalidArgumentError):
        RemoteStore(URL, api_key="two words")


def test_a_closed_store_refuses_calls(admin: RemoteStore) -> None:
    admin.close()
    admin.close()  # idempotent
    with pytest.raises(nighdb.InvalidArgumentError):
        admin.list_tenants()


# -- what JSON cannot carry never leaves the client -----------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.upsert("t", "docs", [{"id": "a", "vector": [math.nan, 1.0]}]),
        lambda s: s.upsert("t", "docs", [{"id": "a", "vector": np.array([np.inf, 1.0])}]),
        lambda s: s.upsert(
            "t", "docs", [{"id": "a", "vector": [1, 2], "metadata": {"x": -math.inf}}]
        ),
        lambda s: s.search("t", "docs", [1.0, math.nan]),
        lambda s: s.search_many("t", "docs", np.array([[1.0, 0.0], [math.nan, 0.0]])),
        lambda s: s.search("t", "docs", [1.0, 0.0], filter={"x": {"gt": math.inf}}),
    ],
)
def test_nan_and_infinity_are_refused_without_sending_them(
    service: InProcessService, call: object
) -> None:
    recorder = Recorder(service)
    with RemoteStore(URL, api_key=service.create_key(), client=recorder.client) as store:
        store.ensure_collection("t", Collection("docs", 2))
        recorder.requests.clear()
        with pytest.raises(nighdb.InvalidArgumentError):
            call(store)  # type: ignore[operator]
        # Only the existence check went out (contract §2: a missing collection is reported first).
        assert recorder.requests == [("GET", "/v1/tenants/t/collections/docs")]
        with pytest.raises(nighdb.CollectionNotFoundError):
            store.upsert("t", "missing", [{"id": "a", "vector": [math.nan, 1.0]}])
    recorder.client.close()


def test_values_json_would_distort_are_not_coerced(admin: RemoteStore) -> None:
    admin.ensure_collection("t", Collection("docs", 2))
    admin.upsert("t", "docs", [{"id": "a", "vector": [1.0, 0.0], "metadata": {"n": 1}}])
    with pytest.raises(nighdb.InvalidArgumentError):  # json.dumps would make it "1"
        admin.upsert("t", "docs", [{"id": "b", "vector": [1.0, 0.0], "metadata": {1: "x"}}])
    with pytest.raises(nighdb.InvalidArgumentError):  # a tuple is not a list of values
        admin.search("t", "docs", [1.0, 0.0], filter={"n": (1, 2)})
    with pytest.raises(nighdb.InvalidArgumentError):
        admin.search("t", "docs", [1.0, 0.0], limit=np.int64(3))
    with pytest.raises(nighdb.InvalidArgumentError):
        admin.delete("t", "docs", "a")  # a string is not a list of ids
    # numpy where the local backends accept numpy: vectors and metadata scalars.
    admin.upsert(
        "t",
        "docs",
        [{"id": "c", "vector": np.array([0.5, 0.5], np.float32), "metadata": {"n": np.int64(7)}}],
    )
    [match] = admin.search("t", "docs", np.array([0.5, 0.5]), limit=1)
    assert (match.id, match.metadata) == ("c", {"n": 7})


# -- congruence with the local backend -------------------------------------------------------


def test_remote_answers_equal_the_local_backends(admin: RemoteStore, tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    with nighdb.open_store(f"sqlite:///{tmp_path / 'local.db'}") as local:
        for metric in ("cosine", "l2", "ip"):
            pin = Collection(f"c-{metric}", 16, "m", metric)
            vectors = rng.standard_normal((300, 16)).astype(np.float32)
            items = [
                {
                    "id": f"{n:03d}",
                    "vector": vectors[n],
                    "metadata": {"g": int(n % 5), "w": float(rng.random()), "s": f"s{n % 3}"},
                    "text": f"text {n}",
                }
                for n in range(300)
            ]
            for store in (local, admin):
                store.ensure_collection("t", pin)
                store.upsert("t", pin.name, items)
            queries = rng.standard_normal((5, 16))
            for flt in (None, {"g": [1, 2]}, {"$or": [{"s": "s0"}, {"w": {"lt": 0.3}}]}):
                assert admin.search_many("t", pin.name, queries, limit=20, filter=flt) == (
                    local.search_many("t", pin.name, queries, limit=20, filter=flt)
                )
                assert admin.search("t", pin.name, queries[0], filter=flt) == local.search(
                    "t", pin.name, queries[0], filter=flt
                )
            assert sorted(admin.list_ids("t", pin.name)) == sorted(local.list_ids("t", pin.name))


def test_search_many_sends_large_batches_in_chunks(admin: RemoteStore) -> None:
    admin.ensure_collection("t", Collection("docs", 2, "", "l2"))
    admin.upsert("t", "docs", [{"id": f"{n}", "vector": [float(n), 0.0]} for n in range(50)])
    queries = [[float(n % 50), 0.0] for n in range(700)]  # more than one request's worth
    results = admin.search_many("t", "docs", queries, limit=1)
    assert [r[0].id for r in results] == [str(n % 50) for n in range(700)]


def test_list_ids_walks_every_page(admin: RemoteStore) -> None:
    admin.ensure_collection("t", Collection("docs", 2))
    ids = sorted(f"id{n}" for n in range(10))
    admin.upsert("t", "docs", [{"id": i, "vector": [1.0, 0.0]} for i in ids])
    assert sorted(admin.list_ids("t", "docs")) == ids  # pages of 3 on this service
    assert admin.list_ids("t", "docs", limit=7) == ids[:7]  # more than one page of 4
    assert admin.list_ids("t", "docs", after=ids[2], limit=5) == ids[3:8]
    assert admin.list_ids("t", "docs", after=ids[5]) == ids[6:]
    assert admin.list_ids("t", "docs", after=ids[-1], limit=3) == []


def test_names_that_look_like_paths_survive_the_trip(admin: RemoteStore) -> None:
    names = [".", "..", "a/b", "../..", "%2F", "?", "#", " "]
    for n, name in enumerate(names):
        admin.ensure_collection(name, Collection(name, n + 1))
    for n, name in enumerate(names):
        assert admin.list_collections(name) == [Collection(name, n + 1)]


def test_create_app_needs_a_store_that_keeps_keys(service: InProcessService) -> None:
    remote = service.remote_store(service.create_key())
    with remote, pytest.raises(nighdb.InvalidArgumentError, match="API keys"):
        create_app(remote)
