"""The interactive API docs at ``/docs``: Swagger UI served by the service itself.

Nothing is loaded from another host, so the page works offline and behind firewalls. The
Swagger UI files come from the ``swagger-ui-py`` package (in the ``server`` extra), which
ships a current Swagger UI 5 build (OpenAPI 3.1, the version of ``/openapi.json``) as
plain static files; only its ``static/`` folder is used, never its framework glue. The page
runs no inline script (the start-up code is ``/docs/static/init.js``), so it is served with
a strict Content-Security-Policy: scripts, fetches, images and fonts from this origin only.

URLs in the page are relative (``docs/static/…``, ``openapi.json``), so the page also works
when a proxy serves the service under a path prefix.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Route

__all__ = ["CONTENT_SECURITY_POLICY", "docs_routes"]

# Swagger UI sets some styles inline (React style attributes), hence 'unsafe-inline' for
# styles only; scripts never run inline.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

_INIT_JS = """\
// Starts Swagger UI over this service's OpenAPI document (a file, not an inline script,
// so the page's Content-Security-Policy can forbid inline scripts).
window.ui = SwaggerUIBundle({
  url: new URL("openapi.json", document.baseURI).href,
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,  // the default would ask a public validator about this API
  presets: [SwaggerUIBundle.presets.apis],
});
"""

_PAGE = """\
<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>nighdb API</title>
<link rel="icon" type="image/png" href="docs/static/favicon-32x32.png">
<link rel="stylesheet" href="docs/static/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="docs/static/swagger-ui-bundle.js"></script>
<script src="docs/static/init.js"></script>
</body></html>
"""

_MISSING = """\
<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>nighdb API</title></head>
<body><p>The interactive docs need the swagger-ui-py package:
<code>pip install 'nighdb[server]'</code>. The OpenAPI document is at
<a href="openapi.json">openapi.json</a>.</p></body></html>
"""

# The Swagger UI files the page uses: name -> media type. Nothing else is served.
_ASSETS = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_CACHE = {"Cache-Control": "public, max-age=86400"}


def _swagger_dir() -> Path | None:
    """The ``static`` folder of the installed ``swagger_ui`` package, without importing it."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or spec.origin is None:
        return None
    static = Path(spec.origin).parent / "static"
    return static if all((static / name).is_file() for name in _ASSETS) else None


def docs_routes() -> list[Route]:
    """``GET /docs`` and the files it loads, all from this service."""
    static = _swagger_dir()

    async def page(request: Request) -> Response:
        if static is None:
            return HTMLResponse(_MISSING, 503, headers=_HEADERS)
        return HTMLResponse(_PAGE, headers=_HEADERS)

    async def init_js(request: Request) -> Response:
        return Response(_INIT_JS, media_type="text/javascript", headers={**_HEADERS, **_CACHE})

    async def asset(request: Request) -> Response:
        name = request.path_params["file"]
        if static is None or name not in _ASSETS:
            return Response(b"not found\n", 404, media_type="text/plain", headers=_HEADERS)
        return FileResponse(static / name, media_type=_ASSETS[name], headers={**_HEADERS, **_CACHE})

    return [
        Route("/docs", page, methods=["GET"]),
        Route("/docs/static/init.js", init_js, methods=["GET"]),
        Route("/docs/static/{file}", asset, methods=["GET"]),
    ]
