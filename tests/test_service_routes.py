"""Every route of contract §9, in-process over an httpx transport: bodies, statuses, envelopes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from nighdb import Collection
from nighdb.errors import lookup
from nighdb.wire import encode_segment

from .service_support import InProcessService


class Keys:
    def __init__(self, service: InProcessService) -> None:
        self.acme = service.create_key(tenant="acme")
        self.globex = service.create_key(tenant="globex")
        self.admin = service.create_key()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[InProcessService]:
    with InProcessService(f"sqlite:///{tmp_path / 'store.db'}") as svc:
        yield svc


@pytest.fixture
def keys(service: InProcessService) -> Keys:
    return Keys(service)


@pytest.fixture
def client(service: InProcessService) -> httpx.Client:
    return service.client


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def call(
    client: httpx.Client, key: str | None, method: str, path: str, body: Any = None, **kw: Any
) -> httpx.Response:
    headers = auth(key) if key else {}
    return client.request(method, path, json=body, headers=headers, **kw)


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The envelope of an error answer, checked against contract §7 (status matches the code)."""
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "details"}
    assert isinstance(error["message"], str) and error["message"]
    cls = lookup(error["code"])
    if cls.code == error["code"]:  # one of ours: its class decides the status
        assert response.status_code == cls.http_status
    return dict(error)


def test_healthz_needs_no_key(client: httpx.Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_collection_lifecycle(client: httpx.Client, keys: Keys) -> None:
    k = keys.acme
    assert call(client, k, "GET", "/v1/collections").json() == {"collections": []}

    created = call(client, k, "PUT", "/v1/collections/docs", {"dimensions": 3, "metric": "l2"})
    assert created.status_code == 201
    pin = {"name": "docs", "dimensions": 3, "embedding_model": "", "metric": "l2"}
    pin["text_analyzer"] = "plain"
    assert created.json() == {"collection": pin}
    again = call(client, k, "PUT", "/v1/collections/docs", {"dimensions": 0, "metric": "l2"})
    assert again.status_code == 200
    assert again.json() == {"collection": pin}

    items = [
        {"id": "a", "vector": [1, 0, 0], "metadata": {"lang": "en"}, "text": "first"},
        {"id": "b", "vector": [0, 1, 0]},
        {"id": "c", "vector": [0, 0, 1], "metadata": {"lang": "de"}},
    ]
    upserted = call(client, k, "POST", "/v1/collections/docs/upsert", {"items": items})
    assert upserted.status_code == 200
    assert upserted.json() == {"upserted": 3}

    described = call(client, k, "GET", "/v1/collections/docs")
    assert described.json() == {"collection": pin, "count": 3}
    listed = call(client, k, "GET", "/v1/collections")
    assert listed.json() == {"collections": [{**pin, "count": 3}]}

    found = call(client, k, "POST", "/v1/collections/docs/search", {"vector": [1, 0, 0]})
    assert found.status_code == 200
    matches = found.json()["matches"]
    assert [m["id"] for m in matches] == ["a", "b", "c"]
    assert matches[0] == {
        "id": "a",
        "distance": 0.0,
        "score": -0.0,
        "metadata": {"lang": "en"},
        "text": "first",
    }
    assert matches[1]["metadata"] == {} and matches[1]["text"] == ""
    filtered = call(
        client,
        k,
        "POST",
        "/v1/collections/docs/search",
        {"vector": [0, 0, 1], "limit": 1, "filter": {"lang": ["en", "de"]}},
    )
    assert [m["id"] for m in filtered.json()["matches"]] == ["c"]

    many = call(
        client,
        k,
        "POST",
        "/v1/collections/docs/search_many",
        {"vectors": [[1, 0, 0], [0, 1, 0]], "limit": 1},
    )
    assert [[m["id"] for m in row] for row in many.json()["results"]] == [["a"], ["b"]]

    deleted = call(client, k, "POST", "/v1/collections/docs/delete", {"ids": ["a", "a", "zz"]})
    assert deleted.json() == {"deleted": 1}
    dropped = call(client, k, "DELETE", "/v1/collections/docs")
    assert dropped.json() == {"removed_items": 2}
    assert call(client, k, "DELETE", "/v1/collections/docs").json() == {"removed_items": 0}
    assert error_of(call(client, k, "GET", "/v1/collections/docs"))["code"] == (
        "collection_not_found"
    )


def test_ids_pages_with_a_next_cursor(service: InProcessService, keys: Keys) -> None:
    client = service.client
    service.store.ensure_collection("acme", Collection("docs", 2))
    ids = [f"id{n:04d}" for n in range(2500)]
    service.store.upsert("acme", "docs", [{"id": i, "vector": [1.0, 0.5]} for i in ids])

    first = call(client, keys.acme, "GET", "/v1/collections/docs/ids").json()
    assert first["ids"] == ids[:1000]  # the default page
    assert first["next"] == ids[999]
    got = list(first["ids"])
    cursor = first["next"]
    while cursor is not None:
        page = call(
            client, keys.acme, "GET", "/v1/collections/docs/ids", params={"after": cursor}
        ).json()
        got += page["ids"]
        cursor = page["next"]
    assert got == ids

    exact = call(
        client, keys.acme, "GET", "/v1/collections/docs/ids", params={"limit": 2500}
    ).json()
    assert exact == {"ids": ids, "next": None}  # nothing follows: null, not a cursor
    big = call(client, keys.acme, "GET", "/v1/collections/docs/ids", params={"limit": 99999})
    assert big.json()["ids"] == ids  # lowered to the page maximum (10,000)
    last = call(
        client, keys.acme, "GET", "/v1/collections/docs/ids", params={"after": ids[-1]}
    ).json()
    assert last == {"ids": [], "next": None}
    for bad in ("0", "-3", "ten", "1.5"):
        response = call(client, keys.acme, "GET", "/v1/collections/docs/ids", params={"limit": bad})
        assert error_of(response)["code"] == "invalid_argument"


NAMES = ["a/b", ".", "..", "%2F", "a%b", "../globex", "sp ace", "ü-名前", "?q=1", "#frag", "a+b"]


@pytest.mark.parametrize("name", NAMES)
def test_any_name_is_one_percent_encoded_segment(
    client: httpx.Client, keys: Keys, name: str
) -> None:
    path = f"/v1/collections/{encode_segment(name)}"
    created = call(client, keys.acme, "PUT", path, {"dimensions": 2})
    assert created.status_code == 201, created.text
    assert created.json()["collection"]["name"] == name
    assert call(
        client, keys.acme, "POST", path + "/upsert", {"items": [{"id": name, "vector": [1, 2]}]}
    ).json() == {"upserted": 1}
    assert call(client, keys.acme, "GET", path + "/ids").json() == {"ids": [name], "next": None}
    listed = call(client, keys.acme, "GET", "/v1/collections").json()["collections"]
    assert [c["name"] for c in listed] == [name]
    # The same name through the admin route of the tenant, with an encoded tenant segment.
    admin_path = f"/v1/tenants/{encode_segment('acme')}/collections/{encode_segment(name)}"
    assert call(client, keys.admin, "GET", admin_path).json()["count"] == 1


def test_dot_names_are_distinct_collections(client: httpx.Client, keys: Keys) -> None:
    for dims, name in enumerate([".", "..", "x"], start=1):
        path = f"/v1/collections/{encode_segment(name)}"
        assert call(client, keys.acme, "PUT", path, {"dimensions": dims}).status_code == 201
    listed = call(client, keys.acme, "GET", "/v1/collections").json()["collections"]
    assert [(c["name"], c["dimensions"]) for c in listed] == [(".", 1), ("..", 2), ("x", 3)]


def test_put_defaults_and_conflicts(client: httpx.Client, keys: Keys) -> None:
    k = keys.acme
    created = call(
        client, k, "PUT", "/v1/collections/m", {"dimensions": 4, "embedding_model": "e5"}
    )
    assert created.json()["collection"] == {
        "name": "m",
        "dimensions": 4,
        "embedding_model": "e5",
        "metric": "cosine",
        "text_analyzer": "plain",
    }
    conflict = error_of(call(client, k, "PUT", "/v1/collections/m", {"dimensions": 5}))
    assert conflict["code"] == "collection_conflict"
    assert conflict["details"] == {
        "collection": "m",
        "field": "dimensions",
        "existing": "4",
        "requested": "5",
    }
    # No dimensions for a collection that does not exist yet: nothing to create it with.
    assert error_of(call(client, k, "PUT", "/v1/collections/new", {}))["code"] == (
        "invalid_argument"
    )
    bad_metric = error_of(call(client, k, "PUT", "/v1/collections/m", {"metric": "hamming"}))
    assert bad_metric["code"] == "invalid_argument"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/v1/collections/x", {"dimensions": "three"}),
        ("PUT", "/v1/collections/x", {"dimensions": 2, "metric": 5}),
        ("POST", "/v1/collections/docs/upsert", {"items": "nope"}),
        ("POST", "/v1/collections/docs/upsert", {"items": [{"id": 5, "vector": [1, 0]}]}),
        ("POST", "/v1/collections/docs/upsert", {"items": [{"id": "a", "vector": ["x", 0]}]}),
        ("POST", "/v1/collections/docs/upsert", {}),
        ("POST", "/v1/collections/docs/search", {"vector": [1, 0], "limit": "5"}),
        ("POST", "/v1/collections/docs/search", {"vector": [1, 0], "limit": None}),
        ("POST", "/v1/collections/docs/search", {"vector": [1, 0], "filter": {"f": {"re": 1}}}),
        ("POST", "/v1/collections/docs/search", {"vector": "1,0"}),
        ("POST", "/v1/collections/docs/search", {}),
        ("POST", "/v1/collections/docs/search_many", {"vectors": [1, 0]}),
        ("POST", "/v1/collections/docs/delete", {"ids": [""]}),
        ("POST", "/v1/collections/docs/delete", {"ids": "a"}),
        ("POST", "/v1/collections/docs/delete", [1, 2]),
    ],
)
def test_wrong_types_are_invalid_argument(
    client: httpx.Client, keys: Keys, method: str, path: str, body: Any
) -> None:
    call(client, keys.acme, "PUT", "/v1/collections/docs", {"dimensions": 2})
    error = error_of(call(client, keys.acme, method, path, body))
    assert error["code"] == "invalid_argument"
    assert error["details"]["reason"]


@pytest.mark.parametrize(
    "content", [b"{", b"[1, 2", b'{"vector": NaN}', b'{"vector": [Infinity, 1]}', b"\xff\xfe"]
)
def test_malformed_json_is_invalid_argument(
    client: httpx.Client, keys: Keys, content: bytes
) -> None:
    call(client, keys.acme, "PUT", "/v1/collections/docs", {"dimensions": 2})
    response = client.post("/v1/collections/docs/search", content=content, headers=auth(keys.acme))
    assert error_of(response)["code"] == "invalid_argument"


def test_store_errors_keep_their_details(client: httpx.Client, keys: Keys) -> None:
    call(client, keys.acme, "PUT", "/v1/collections/docs", {"dimensions": 3})
    mismatch = error_of(
        call(client, keys.acme, "POST", "/v1/collections/docs/search", {"vector": [1, 2]})
    )
    assert mismatch["code"] == "dimension_mismatch"
    assert mismatch["details"] == {"collection": "docs", "expected": 3, "got": 2}
    missing = error_of(call(client, keys.acme, "POST", "/v1/collections/nope/delete", {"ids": []}))
    assert missing["code"] == "collection_not_found"
    assert missing["details"] == {"tenant": "acme", "collection": "nope"}


def test_unknown_body_fields_are_ignored(service: InProcessService, keys: Keys) -> None:
    client = service.client
    body = {"dimensions": 2, "tenant": "globex", "colour": "blue"}
    assert call(client, keys.acme, "PUT", "/v1/collections/docs", body).status_code == 201
    items = {"items": [{"id": "a", "vector": [1, 0], "extra": 1}], "tenant": "globex"}
    assert call(client, keys.acme, "POST", "/v1/collections/docs/upsert", items).json() == {
        "upserted": 1
    }
    search = {"vector": [1, 0], "tenant": "globex", "unknown": [1, 2]}
    found = call(client, keys.acme, "POST", "/v1/collections/docs/search", search).json()
    assert [m["id"] for m in found["matches"]] == ["a"]
    # The `tenant` field changed nothing: it all happened in acme.
    assert service.store.list_tenants() == ["acme"]
    assert service.store.count("acme", "docs") == 1


# -- authentication and tenancy ------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer nigh_0000000000000000_unknown",
        "Bearer not-a-key",
        "Bearer nigh__x",
    ],
)
def test_missing_or_unknown_key_is_401(
    client: httpx.Client, keys: Keys, header: str | None
) -> None:
    headers = {} if header is None else {"Authorization": header}
    for method, path in [("GET", "/v1/collections"), ("GET", "/v1/tenants/acme/collections")]:
        response = client.request(method, path, headers=headers)
        assert error_of(response)["code"] == "unauthenticated"


def test_a_tampered_key_is_401(client: httpx.Client, keys: Keys) -> None:
    tampered = keys.acme[:-1] + ("A" if keys.acme[-1] != "A" else "B")
    assert error_of(call(client, tampered, "GET", "/v1/collections"))["code"] == ("unauthenticated")


def test_a_revoked_key_is_401_at_once(service: InProcessService, keys: Keys) -> None:
    assert call(service.client, keys.acme, "GET", "/v1/collections").status_code == 200
    key_id = keys.acme.split("_")[1]
    assert service.store.revoke_key(key_id)  # type: ignore[attr-defined]
    response = call(service.client, keys.acme, "GET", "/v1/collections")
    assert error_of(response)["code"] == "unauthenticated"


def test_tenant_key_may_use_its_own_tenant_route(client: httpx.Client, keys: Keys) -> None:
    path = "/v1/tenants/acme/collections/docs"
    assert call(client, keys.acme, "PUT", path, {"dimensions": 2}).status_code == 201
    assert call(client, keys.acme, "GET", "/v1/collections/docs").json()["count"] == 0


def test_tenant_key_on_another_tenant_is_403_and_says_nothing(
    client: httpx.Client, keys: Keys
) -> None:
    call(client, keys.globex, "PUT", "/v1/collections/docs", {"dimensions": 2})
    existing = call(client, keys.acme, "GET", "/v1/tenants/globex/collections/docs")
    absent = call(client, keys.acme, "GET", "/v1/tenants/nobody/collections/docs")
    assert error_of(existing)["code"] == "permission_denied"
    # Byte for byte the same answer whether the tenant/collection exists or not.
    assert existing.content == absent.content
    assert b"globex" not in existing.content


def test_admin_key_needs_a_tenant_in_the_path(client: httpx.Client, keys: Keys) -> None:
    error = error_of(call(client, keys.admin, "GET", "/v1/collections"))
    assert error["code"] == "invalid_argument"
    assert (
        error_of(call(client, keys.admin, "PUT", "/v1/collections/x", {"dimensions": 2}))["code"]
        == "invalid_argument"
    )
    path = "/v1/tenants/globex/collections/docs"
    assert call(client, keys.admin, "PUT", path, {"dimensions": 2}).status_code == 201
    assert call(client, keys.globex, "GET", "/v1/collections/docs").json()["count"] == 0


def test_list_tenants_is_admin_only(client: httpx.Client, keys: Keys) -> None:
    call(client, keys.globex, "PUT", "/v1/collections/docs", {"dimensions": 2})
    call(client, keys.acme, "PUT", "/v1/collections/docs", {"dimensions": 2})
    assert call(client, keys.admin, "GET", "/v1/tenants").json() == {"tenants": ["acme", "globex"]}
    assert error_of(call(client, keys.acme, "GET", "/v1/tenants"))["code"] == "permission_denied"


# -- everything else -------------------------------------------------------------------------


def test_unknown_routes_and_methods_answer_in_the_envelope(
    client: httpx.Client, keys: Keys
) -> None:
    missing = call(client, keys.acme, "GET", "/v2/collections")
    assert missing.status_code == 404
    assert error_of(missing)["code"] == "not_found"
    # An empty name is no segment at all: no route.
    assert call(client, keys.acme, "GET", "/v1/collections/").status_code == 404
    wrong = call(client, keys.acme, "PATCH", "/v1/collections/docs")
    assert wrong.status_code == 405
    assert error_of(wrong)["code"] == "method_not_allowed"


def test_unexpected_failures_are_500_internal_without_a_traceback(
    service: InProcessService, keys: Keys, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret detail /etc/passwd")

    monkeypatch.setattr(service.store, "list_collections", explode)
    response = call(service.client, keys.acme, "GET", "/v1/collections")
    assert response.status_code == 500
    error = error_of(response)
    assert error["code"] == "internal"
    assert b"secret" not in response.content and b"Traceback" not in response.content
    assert "secret detail" in caplog.text  # ...but the server log has it


def test_openapi_and_docs(client: httpx.Client) -> None:
    document = client.get("/openapi.json").json()
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    for path, method in [
        ("/v1/collections", "get"),
        ("/v1/collections/{name}", "put"),
        ("/v1/collections/{name}", "get"),
        ("/v1/collections/{name}", "delete"),
        ("/v1/collections/{name}/upsert", "post"),
        ("/v1/collections/{name}/search", "post"),
        ("/v1/collections/{name}/search_many", "post"),
        ("/v1/collections/{name}/delete", "post"),
        ("/v1/collections/{name}/ids", "get"),
        ("/v1/collections/{name}/index", "put"),
        ("/v1/collections/{name}/index", "get"),
        ("/v1/collections/{name}/index", "delete"),
        ("/v1/tenants/{tenant}/collections/{name}/search", "post"),
        ("/v1/tenants", "get"),
        ("/healthz", "get"),
    ]:
        assert method in paths[path], (path, method)
    put = paths["/v1/collections/{name}"]["put"]["responses"]
    assert {"200", "201", "400", "401", "403", "409", "413"} <= set(put)
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text  # offline and its CSP: tests/test_service_docs.py
    search = document["components"]["schemas"]["SearchRequest"]["properties"]
    assert {"exact", "ef_search"} <= set(search)


def test_index_routes_and_search_options(client: httpx.Client, keys: Keys) -> None:
    """Contract §15 over HTTP, on a SQLite store (its usearch graph beside the file)."""
    k = keys.acme
    missing = call(client, k, "GET", "/v1/collections/docs/index")
    assert missing.status_code == 404
    assert error_of(missing)["code"] == "collection_not_found"
    call(client, k, "PUT", "/v1/collections/docs", {"dimensions": 2})
    call(
        client, k, "POST", "/v1/collections/docs/upsert", {"items": [{"id": "a", "vector": [1, 0]}]}
    )
    assert call(client, k, "GET", "/v1/collections/docs/index").json() == {"index": None}
    assert call(client, k, "DELETE", "/v1/collections/docs/index").json() == {"dropped": False}
    built = call(client, k, "PUT", "/v1/collections/docs/index", {"m": 8})
    assert built.status_code == 200
    assert built.json() == {"index": {"m": 8, "ef_construction": 64}}
    assert call(client, k, "GET", "/v1/collections/docs/index").json() == built.json()
    assert call(client, k, "DELETE", "/v1/collections/docs/index").json() == {"dropped": True}
    bad = call(client, k, "PUT", "/v1/collections/docs/index", {"m": 1})
    assert "m must be" in error_of(bad)["message"]
    body: dict[str, Any] = {"vector": [1, 0], "exact": True, "ef_search": 64}
    found = call(client, k, "POST", "/v1/collections/docs/search", body)
    assert [m["id"] for m in found.json()["matches"]] == ["a"]
    many = call(
        client, k, "POST", "/v1/collections/docs/search_many", {"vectors": [[1, 0]], **body}
    )
    assert [[m["id"] for m in row] for row in many.json()["results"]] == [["a"]]
    wrongs: list[dict[str, Any]] = [{"exact": "yes"}, {"ef_search": 0}, {"ef_search": "40"}]
    for wrong in wrongs:
        answer = call(client, k, "POST", "/v1/collections/docs/search", {"vector": [1, 0], **wrong})
        assert answer.status_code == 400, wrong
        assert error_of(answer)["code"] == "invalid_argument"
