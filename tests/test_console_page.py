"""The console's page and files (contract §19), in-process: served from the package, nothing
from another host, a strict Content-Security-Policy, and the one route it adds to the API
(``GET /v1/whoami``), which needs a key like every other. The console in a real browser is
``tests/console_browser/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from nighdb.service.console import STATIC

from .service_support import InProcessService
from .test_service_docs import _external_urls

_REFERENCES = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", re.I)
_IMPORTS = re.compile(r"""from\s+["'](\./[^"']+)["']""")
# Files a script loads by address rather than by import: umap.js its worker, the worker the
# vendored bundle.
_LOADS = (
    re.compile(r"""new URL\(\s*["']([^"']+)["']\s*,\s*import\.meta\.url\s*\)"""),
    re.compile(r"""importScripts\(\s*["']([^"']+)["']\s*\)"""),
)
# Shipped beside the vendored bundle for its licence, not loaded by the page.
_NOTICES = {"vendor/LICENSE", "vendor/README.md"}
_TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}


@pytest.fixture
def service(tmp_path: Path) -> Iterator[InProcessService]:
    with InProcessService(f"sqlite:///{tmp_path / 'store.db'}") as svc:
        yield svc


def _directives(policy: str) -> dict[str, str]:
    return dict(d.strip().split(" ", 1) for d in policy.split(";"))


def assert_console_offline(http: httpx.Client) -> None:
    """GET /console and every file it loads (scripts' imports too): all from this service,
    under a policy that forbids inline code and other hosts."""
    page = http.get("/console")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = _directives(page.headers["content-security-policy"])
    assert policy["default-src"] == "'self'"
    for directive in ("script-src", "style-src", "connect-src", "img-src"):
        assert policy[directive] == "'self'", directive  # no 'unsafe-inline', no other host
    assert policy["frame-ancestors"] == "'none'"
    assert re.search(r"<script(?![^>]*\ssrc=)", page.text) is None  # no inline script
    assert "<style" not in page.text and " style=" not in page.text
    assert _external_urls(page.text, page.url) == []

    pending = [page.url.join(ref) for ref in _REFERENCES.findall(page.text)]
    seen: set[str] = set()
    while pending:
        url = pending.pop()
        if str(url) in seen:
            continue
        seen.add(str(url))
        assert (url.host, url.port) == (page.url.host, page.url.port), url
        asset = http.get(url)
        assert asset.status_code == 200, url
        suffix = Path(url.path).suffix
        assert asset.headers["content-type"].startswith(_TYPES[suffix]), url
        assert asset.headers["x-content-type-options"] == "nosniff"
        if suffix == ".js":
            assert _external_urls(asset.text, page.url) == [], url
            assert "innerHTML" not in asset.text, url  # data is shown as text, never parsed
            # code made from strings, which the policy (no 'unsafe-eval') would refuse
            assert re.search(r"\beval\(|\bFunction\(", asset.text) is None, url
            found = _IMPORTS.findall(asset.text)
            for loads in _LOADS:
                found += loads.findall(asset.text)
            pending += [url.join(ref) for ref in found]
    # every shipped file is reachable from the page, so none is dead weight
    shipped = {p.relative_to(STATIC).as_posix() for p in STATIC.rglob("*") if p.is_file()}
    static = page.url.join("console/static/").path
    reached = {httpx.URL(u).path.removeprefix(static) for u in seen}
    assert reached == shipped - {"index.html"} - _NOTICES
    assert {"umap-worker.js", "vendor/umap-js.min.js"} <= reached


def test_console_is_offline_and_strict(service: InProcessService) -> None:
    assert_console_offline(service.client)


def test_only_the_console_files_are_served(service: InProcessService) -> None:
    http = service.client
    for path in (
        "/console/static/index.py",
        "/console/static/..%2F__init__.py",
        "/console/x",
        "/console/static/vendor/README.md",  # the bundle's notices ship, but are not served
        "/console/static/vendor/..%2F..%2F__init__.py",
    ):
        answer = http.get(path)
        assert answer.status_code == 404, path
        assert b"STATIC" not in answer.content


def test_whoami_names_the_keys_tenant(service: InProcessService) -> None:
    http = service.client
    tenant_key = service.create_key(tenant="acme")
    admin_key = service.create_key()
    me = http.get("/v1/whoami", headers={"Authorization": f"Bearer {tenant_key}"})
    assert me.status_code == 200
    assert me.json() == {"tenant": "acme", "admin": False}
    admin = http.get("/v1/whoami", headers={"Authorization": f"Bearer {admin_key}"})
    assert admin.json() == {"tenant": None, "admin": True}
    for headers in ({}, {"Authorization": "Bearer nigh_wrong"}):
        refused = http.get("/v1/whoami", headers=headers)
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "unauthenticated"
    document = http.get("/openapi.json").json()
    operation = document["paths"]["/v1/whoami"]["get"]
    assert operation["security"] == [{"apiKey": []}]
    assert set(
        operation["responses"]["200"]["content"]["application/json"]["schema"]["properties"]
    ) == {
        "tenant",
        "admin",
    }
