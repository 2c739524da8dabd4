"""The browser console at ``/console`` (contract §19): static files shipped in this package.

The console is a client like any other. Its page and scripts are served here without a key;
everything it shows comes from the public ``/v1`` API, called from the browser with the key
the user typed in ``Authorization: Bearer …``, so the same authentication, tenancy and limits
apply as to every client, and this module holds no route that reads data.

The files are plain JavaScript modules and one style sheet (no build step, no CDN), and one
vendored script, umap-js's prebuilt bundle (``static/vendor/``, loaded in a Web Worker for a
UMAP map),
so the console works offline and under a strict Content-Security-Policy: scripts, styles, images and
fetches from this origin only, nothing inline, no frames, no forms posted anywhere. URLs in
the page are relative (``console/static/…``, ``v1/…``), so it also works behind a proxy that
serves the service under a path prefix.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

__all__ = ["CONTENT_SECURITY_POLICY", "console_routes"]

STATIC = Path(__file__).parent / "static"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)

# The files the page loads: name -> media type. Nothing else under /console is served.
_ASSETS = {
    "console.css": "text/css; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "api.js": "text/javascript; charset=utf-8",
    "pca.js": "text/javascript; charset=utf-8",
    "plot.js": "text/javascript; charset=utf-8",
    "sample.js": "text/javascript; charset=utf-8",
    "umap.js": "text/javascript; charset=utf-8",
    "umap-worker.js": "text/javascript; charset=utf-8",
    # umap-js, loaded by umap-worker.js when the map's projection is UMAP (vendor/README.md)
    "vendor/umap-js.min.js": "text/javascript; charset=utf-8",
    "icon.svg": "image/svg+xml",
}
_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Revalidate every time (the ETag makes that cheap): an upgraded service never runs
    # yesterday's script against today's API.
    "Cache-Control": "no-cache",
}


def console_routes() -> list[Route]:
    """``GET /console`` and the files it loads."""

    async def page(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", media_type="text/html", headers=_HEADERS)

    async def asset(request: Request) -> Response:
        name = request.path_params["file"]
        if name not in _ASSETS:
            return Response(b"not found\n", 404, media_type="text/plain", headers=_HEADERS)
        return FileResponse(STATIC / name, media_type=_ASSETS[name], headers=_HEADERS)

    return [
        Route("/console", page, methods=["GET"]),
        # `path`: the vendored files sit one folder down; only names in _ASSETS are served.
        Route("/console/static/{file:path}", asset, methods=["GET"]),
    ]
