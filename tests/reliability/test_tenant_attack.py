"""Tenant isolation as an attack, and key handling (issue 7).

Extends ``tests/test_service_process.py::test_tenant_isolation_attack`` (same names,
look-alikes, B's tenant routes, encoded slashes, ``..``) with what it does not try: case and
unicode variants (NFC/NFD, fullwidth, compatibility forms) of B's names on every route and
method, including fetch and ids paging; existence hints (A's answers for a name B has and
a name nobody has are identical once the name itself is blanked out); and key handling:
constant-time comparison, hashed storage (the key is nowhere in the database file or its
WAL), and never logged (a real ``nigh serve`` at debug level with its access log on).
"""

from __future__ import annotations

import hmac
import json
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import nighdb.keys
from nighdb.wire import encode_segment

from ..harness import ServeNode, create_key
from ..service_support import InProcessService
from .conftest import Figures

B_NAMES = ["docs", "Café", "e\u0301t\u00e9", "ﬁle"]  # "ﬁ" is a ligature (NFKC: "fi")
SECRET = "b-secret-payload"


def variants(name: str) -> set[str]:
    out = {
        name.upper(),
        name.lower(),
        name.swapcase(),
        unicodedata.normalize("NFC", name),
        unicodedata.normalize("NFD", name),
        unicodedata.normalize("NFKC", name),
        unicodedata.normalize("NFKD", name),
        "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in name),  # fullwidth
        name + "\u200b",
        "\u202e" + name,
        name + "/",
        name + "%2F",
        "./" + name,
        "../" + name,
        name.replace("o", "\u043e"),  # Cyrillic o
    }
    out.discard(name)
    return out


@pytest.fixture
def two_tenants(tmp_path: Path) -> Iterator[tuple[InProcessService, dict[str, str]]]:
    with InProcessService(f"sqlite:///{tmp_path / 'store.db'}") as svc:
        keys = {"A": svc.create_key(tenant="acme"), "B": svc.create_key(tenant="globex")}
        yield svc, keys


def call(
    svc: InProcessService, key: str, method: str, path: str, body: Any = None
) -> httpx.Response:
    return svc.client.request(method, path, json=body, headers={"Authorization": f"Bearer {key}"})


def requests_for(name: str) -> Iterator[tuple[str, str, Any]]:
    c = f"/v1/collections/{encode_segment(name)}"
    yield "GET", c, None
    yield "GET", c + "/ids?limit=1000", None
    yield "POST", c + "/search", {"vector": [1.0, 1.0, 1.0], "limit": 100}
    yield "POST", c + "/search_many", {"vectors": [[1.0, 1.0, 1.0]]}
    yield "POST", c + "/fetch", {"ids": ["b1", "b2"]}
    yield "POST", c + "/delete", {"ids": ["b1", "b2"]}
    yield "POST", c + "/upsert", {"items": [{"id": "b1", "vector": [9.0, 9.0, 9.0]}]}
    yield "PUT", c, {"dimensions": 3}
    yield "DELETE", c, None


def snapshot(svc: InProcessService, key: str) -> list[bytes]:
    out = [call(svc, key, "GET", "/v1/collections").content]
    for name in B_NAMES:
        c = f"/v1/collections/{encode_segment(name)}"
        out.append(call(svc, key, "GET", c + "/ids?limit=1000").content)
        out.append(call(svc, key, "POST", c + "/fetch", {"ids": ["b1", "b2"]}).content)
    return out


def test_unicode_and_case_variants_never_reach_b(
    two_tenants: tuple[InProcessService, dict[str, str]], figures: Figures
) -> None:
    svc, keys = two_tenants
    for name in B_NAMES:
        c = f"/v1/collections/{encode_segment(name)}"
        assert call(svc, keys["B"], "PUT", c, {"dimensions": 3}).status_code == 201
        items = [
            {"id": i, "vector": [1.0, 2.0, 3.0], "metadata": {"s": SECRET}, "text": SECRET}
            for i in ("b1", "b2")
        ]
        assert call(svc, keys["B"], "POST", c + "/upsert", {"items": items}).status_code == 200
    before = snapshot(svc, keys["B"])
    tried = 0
    for name in B_NAMES:
        for variant in [*sorted(variants(name)), name]:
            for method, path, body in requests_for(variant):
                answer = call(svc, keys["A"], method, path, body)
                tried += 1
                assert answer.status_code < 500, answer.text
                assert SECRET.encode() not in answer.content and b"globex" not in answer.content
                # Through B's tenant route too, with every spelling of B's tenant.
                for tenant in (
                    "globex",
                    "GLOBEX",
                    "\uff47\uff4c\uff4f\uff42\uff45\uff58",
                    "glob\u0435x",
                ):
                    scoped = path.replace("/v1/", f"/v1/tenants/{encode_segment(tenant)}/", 1)
                    answer = call(svc, keys["A"], method, scoped, body)
                    tried += 1
                    assert answer.status_code == 403, (scoped, answer.text)
                    assert SECRET.encode() not in answer.content and b"globex" not in answer.content
    # A's own namespace got whatever A created; B's data is byte for byte unchanged.
    assert snapshot(svc, keys["B"]) == before
    figures.add("requests", tried)


def _blank(content: bytes, name: str) -> bytes:
    text = content.decode()
    for shown in {name, json.dumps(name)[1:-1], encode_segment(name)}:
        text = text.replace(shown, "NAME")
    return text.encode()


def test_no_existence_hint(
    two_tenants: tuple[InProcessService, dict[str, str]], figures: Figures
) -> None:
    """A's answers for B's existing names equal its answers for names nobody has."""
    svc, keys = two_tenants
    existing, absent = "b-exists", "b-absent"
    c = f"/v1/collections/{existing}"
    assert call(svc, keys["B"], "PUT", c, {"dimensions": 3}).status_code == 201
    items = [{"id": "b1", "vector": [1.0, 2.0, 3.0]}]
    assert call(svc, keys["B"], "POST", c + "/upsert", {"items": items}).status_code == 200
    compared = 0
    for prefix in ("/v1", "/v1/tenants/globex"):
        pairs = zip(requests_for(existing), requests_for(absent), strict=True)
        for (method, path_e, body), (_, path_a, _) in pairs:
            if method in ("PUT", "POST") and path_e.endswith(("/upsert", existing)):
                continue  # these create in A's own namespace: not a probe of B
            one = call(svc, keys["A"], method, path_e.replace("/v1", prefix, 1), body)
            two = call(svc, keys["A"], method, path_a.replace("/v1", prefix, 1), body)
            assert one.status_code == two.status_code, (method, path_e, one.text, two.text)
            assert _blank(one.content, existing) == _blank(two.content, absent), (method, path_e)
            compared += 1
    assert call(svc, keys["B"], "GET", c).json()["count"] == 1
    figures.add("pairs_compared", compared)


def test_keys_are_compared_in_constant_time(
    two_tenants: tuple[InProcessService, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    svc, keys = two_tenants
    seen: list[tuple[str, str]] = []
    original = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        seen.append((a, b))
        return original(a, b)

    monkeypatch.setattr(nighdb.keys, "compare_digest", spy)  # this module's name only
    assert call(svc, keys["A"], "GET", "/v1/collections").status_code == 200
    key_id = keys["A"].split("_")[1]
    forged = f"nigh_{key_id}_{'x' * 43}"  # a real id, a wrong secret
    assert call(svc, forged, "GET", "/v1/collections").status_code == 401
    assert len(seen) == 2  # both decisions went through hmac.compare_digest
    assert all(a != keys["A"] and b != keys["A"] for a, b in seen)  # hashes, not the key


def test_keys_are_stored_hashed_and_never_logged(tmp_path: Path, figures: Figures) -> None:
    db = tmp_path / "keys.db"
    url = f"sqlite:///{db}"
    key = create_key(url, "acme")
    admin = create_key(url, None)
    secret = key.split("_", 2)[2]
    bad = f"nigh_{key.split('_')[1]}_{'y' * len(secret)}"
    node = ServeNode.nigh_serve(url, "--log-level", "debug", "--access-log")
    with node, httpx.Client(base_url=node.url, timeout=30) as http:
        for token in (key, bad, "nigh_nope_" + secret, secret, admin):
            for path in ("/v1/collections", "/v1/tenants/acme/collections", "/v1/tenants"):
                http.get(path, headers={"Authorization": f"Bearer {token}"})
        # The key in places it does not belong: query string, a name, the body.
        http.get(f"/v1/collections?key={secret}", headers={"Authorization": f"Bearer {key}"})
        http.put(
            "/v1/collections/docs",
            json={"dimensions": 3, "embedding_model": "m"},
            headers={"Authorization": f"Bearer {key}"},
        )
        ok = http.get("/v1/collections", headers={"Authorization": f"Bearer {key}"})
        assert ok.status_code == 200
        assert (
            http.get("/v1/collections", headers={"Authorization": f"Bearer {bad}"}).status_code
            == 401
        )
    log = node.text()  # complete: closing the node waited for its output to end
    assert "GET /v1/collections" in log  # the access log was on: requests were logged
    assert secret not in log.replace(f"key={secret}", "")  # only where the client put it itself
    assert admin.split("_", 2)[2] not in log and "y" * len(secret) not in log
    # Hashed: neither the key nor its secret is anywhere in the database file or its WAL.
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("keys.db"))
    for token in (key, admin):
        assert token.encode() not in raw and token.split("_", 2)[2].encode() not in raw
        assert nighdb.keys.hash_key(token).encode() in raw  # what is stored instead
    figures.set("log_lines_checked", len(log.splitlines()))
