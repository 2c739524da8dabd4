"""``/docs`` works offline: Swagger UI and everything it loads come from the service itself.

``assert_docs_offline`` is also run against a real ``nigh serve`` process
(``tests/test_service_process.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .service_support import InProcessService

# Anything that could make a browser contact a host: absolute and protocol-relative URLs.
_EXTERNAL = re.compile(r"""(?:https?:)?//[^\s"'<>)]+""", re.I)
_REFERENCES = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", re.I)
_TYPES = {".css": "text/css", ".js": "text/javascript", ".png": "image/png"}


def _external_urls(text: str, origin: httpx.URL) -> list[str]:
    """URLs in ``text`` that point at a host other than ``origin``'s."""
    out = []
    for found in _EXTERNAL.findall(text):
        url = httpx.URL(found if ":" in found.split("//")[0] else f"{origin.scheme}:{found}")
        if (url.host, url.port) != (origin.host, origin.port):
            out.append(found)
    return out


def assert_docs_offline(http: httpx.Client) -> None:
    """GET /docs and every file it references; nothing may come from another host."""
    page = http.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"  # no inline or foreign script
    assert directives["connect-src"] == "'self'"
    assert "<script>" not in page.text  # every script is a file (CSP: no inline scripts)
    assert _external_urls(page.text, page.url) == []

    references = _REFERENCES.findall(page.text)
    kinds = {Path(r).suffix for r in references}
    assert {".css", ".js", ".png"} <= kinds, references
    for ref in references:
        url = page.url.join(ref)
        assert (url.host, url.port) == (page.url.host, page.url.port), ref
        asset = http.get(url)
        assert asset.status_code == 200, ref
        assert asset.headers["content-type"].startswith(_TYPES[Path(ref).suffix]), ref
        assert asset.headers["x-content-type-options"] == "nosniff"
        assert len(asset.content) > 0
        if ref.endswith("init.js"):
            # The start-up script: it names the OpenAPI document relatively, and turns off
            # Swagger UI's default call to a public validator.
            assert _external_urls(asset.text, page.url) == []
            assert "validatorUrl: null" in asset.text
            assert '"openapi.json"' in asset.text
    assert any(r.endswith("/init.js") for r in references)
    assert any(r.endswith("swagger-ui-bundle.js") for r in references)

    document = http.get(page.url.join("openapi.json"))
    assert document.status_code == 200
    assert document.json()["openapi"].startswith("3.1")  # what Swagger UI 5 renders


@pytest.fixture
def service(tmp_path: Path) -> Iterator[InProcessService]:
    with InProcessService(f"sqlite:///{tmp_path / 'store.db'}") as svc:
        yield svc


def test_docs_load_nothing_from_another_host(service: InProcessService) -> None:
    assert_docs_offline(service.client)


def test_docs_serve_only_the_files_the_page_uses(service: InProcessService) -> None:
    http = service.client
    for name in ["swagger-editor-bundle.js", "LICENSE", "..%2F__init__.py", "nope.js"]:
        missing = http.get(f"/docs/static/{name}")
        assert missing.status_code == 404, name


def test_the_external_url_check_itself() -> None:
    origin = httpx.URL("http://127.0.0.1:8080/docs")
    page = '<link href="https://cdn.jsdelivr.net/x.css"><script src="//cdn.x/y.js">'
    assert _external_urls(page, origin) == ["https://cdn.jsdelivr.net/x.css", "//cdn.x/y.js"]
    assert _external_urls('<a href="http://127.0.0.1:8080/openapi.json">', origin) == []
