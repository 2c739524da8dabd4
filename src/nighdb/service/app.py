"""The ASGI app of ``nigh serve``: ``create_app(store)`` serves contract §9 over any ``Store``.

Every request goes: admission by the fair scheduler (its tenant's budget, a turn on one of
the node's worker slots: ``fairness.py``) → authenticate (the key decides the tenant) → read
the body within the limit → run the route's operation in a worker thread (store calls block)
→ answer JSON, still on the request's turn: the turn is released once the answer is written
(``answer.py``).
Every failure is the envelope ``{"error": {"code", "message", "details"}}`` with the status
of the error class (contract §7); anything unexpected is a 500 ``internal`` whose details stay in
the server log.

Routing uses the raw, still percent-encoded path, so ``%2F`` inside a name stays inside its
segment and ``.``/``..`` are names, never path steps (see ``wire.py``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable, Mapping
from functools import partial
from typing import Any
from urllib.parse import quote

import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import (
    InvalidArgumentError,
    NighError,
    RateLimitedError,
    StoreUnavailableError,
    UnauthenticatedError,
)
from ..keys import KeyRegistry
from ..store import Store
from ..wire import decode_segment, dumps, error_body
from .answer import AnswerOnTurn
from .auth import authenticate, tenant_for
from .console import console_routes
from .docs_page import docs_routes
from .execute import encode_in_slices, run_route
from .fairness import UNVERIFIED, FairScheduler, FairShare, KeyHints, Turn
from .limits import ServiceLimits, SlowBodyError, read_body
from .metrics import MetricsMiddleware, ServiceMetrics
from .routes import ROUTES, Call, RouteSpec
from .schemas import openapi_document
from .workers import Worker, WorkerPool

__all__ = ["create_app", "encode_in_slices"]

log = logging.getLogger("nighdb.service")

JSON = "application/json"
_ROUTE_INDEX = {spec: n for n, spec in enumerate(ROUTES)}
Endpoint = Callable[[Request], Awaitable[Response]]


def create_app(
    store: Store,
    *,
    limits: ServiceLimits | None = None,
    share: FairShare | None = None,
    workers: WorkerPool | None = None,
) -> Starlette:
    """The service over ``store``, which must also keep the API keys (``KeyRegistry``).

    ``limits`` bound each request, ``share`` how the node's work is shared between tenants.
    With ``workers`` (over the same store, ``share.max_concurrency`` slots), requests run in
    those worker processes; without, in worker threads over ``store``. The app owns neither:
    close them yourself after the server stops.
    """
    if not isinstance(store, KeyRegistry):
        raise InvalidArgumentError(
            f"the service needs a store that keeps API keys (SQLite or PostgreSQL); "
            f"{type(store).__name__} does not"
        )
    limits = limits or ServiceLimits()
    metrics = ServiceMetrics()
    share = share or FairShare()
    service = _Service(store, store, limits, metrics, FairScheduler(share), workers)
    openapi = openapi_document(limits)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        reason = await _not_ready(store, service.scheduler, workers, limits.ready_timeout)
        if reason is None:
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "unavailable", "reason": reason}, 503)

    async def metrics_endpoint(request: Request) -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    async def openapi_endpoint(request: Request) -> Response:
        return JSONResponse(openapi)

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route("/openapi.json", openapi_endpoint, methods=["GET"]),
        *docs_routes(),
        *console_routes(),
    ]
    for spec in ROUTES:
        endpoint = service.endpoint(spec)
        if spec.tenant_scoped:
            routes.append(Route(f"/v1{spec.path}", endpoint, methods=[spec.method]))
            routes.append(
                Route(f"/v1/tenants/{{tenant}}{spec.path}", endpoint, methods=[spec.method])
            )
        else:
            routes.append(Route(f"/v1{spec.path}", endpoint, methods=[spec.method]))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "bad_request")
        message = f"no route {request.method} {request.url.path}"
        if exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        return _error_response(metrics, exc.status_code, code, message, headers=exc.headers)

    async def internal_error(request: Request, exc: Exception) -> Response:
        # Only middleware bugs land here: endpoints answer their own failures.
        return _internal(metrics)

    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: http_error, Exception: internal_error},
    )
    app.router.redirect_slashes = False  # a trailing slash is not a name: answer 404
    app.add_middleware(_RawPathRouting)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.state.limits = limits
    app.state.share = share
    app.state.scheduler = service.scheduler
    app.state.metrics = metrics
    return app


class _Service:
    def __init__(
        self,
        store: Store,
        keys: KeyRegistry,
        limits: ServiceLimits,
        metrics: ServiceMetrics,
        scheduler: FairScheduler,
        workers: WorkerPool | None,
    ) -> None:
        self.store = store
        self.workers = workers
        self.keys = keys
        self.limits = limits
        self.metrics = metrics
        self.scheduler = scheduler
        self.hints = KeyHints()
        # The normal-priority workers busy with each budget key's requests, so that they can be
        # made nicer when their tenant goes over its share mid-request (``_demote_over_share``).
        self.normal_running: dict[Hashable, set[Worker]] = {}

    def endpoint(self, spec: RouteSpec) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            try:
                return await self._handle(spec, request)
            except SlowBodyError as slow:  # the rest of the body is not read: close
                err = slow.error
                return _error_response(
                    self.metrics,
                    err.http_status,
                    err.code,
                    err.message,
                    err.details,
                    headers={"Connection": "close"},
                )
            except NighError as err:
                headers = None
                if isinstance(err, RateLimitedError):
                    headers = {"Retry-After": str(err.retry_after)}
                return _error_response(
                    self.metrics, err.http_status, err.code, err.message, err.details, headers
                )
            except ClientDisconnect:  # gone mid-upload: nobody to answer, nothing to log
                return Response(status_code=400)
            except Exception:
                log.exception("internal error on %s %s", request.method, spec.path)
                return _internal(self.metrics)

        return endpoint

    async def _handle(self, spec: RouteSpec, request: Request) -> Response:
        headers = request.headers.getlist("authorization")
        if len(headers) > 1:  # which one would count is a guess: refuse rather than pick
            raise UnauthenticatedError("send one Authorization header, not several")
        header = headers[0] if headers else None
        raw_tenant = request.path_params.get("tenant")
        # Admission first, before any work: over its budget the request is 429 at once, or
        # after a pause when its tenant resends refused requests at once (fairness.py).
        key = self.hints.budget_key(header, raw_tenant)
        try:
            turn = self.scheduler.admit(key)
        except RateLimitedError:
            await self.scheduler.hold_refusal(key)
            raise
        self._demote_over_share()
        try:
            status, content = await self._work(spec, request, turn, header, raw_tenant)
        except BaseException:
            turn.leave()  # refused, failed or cancelled: nothing to send on its turn
            raise
        # The turn is held until the answer has been written (``answer.py``).
        return AnswerOnTurn(content, status, turn.leave, self.limits.answer_timeout)

    async def _work(
        self,
        spec: RouteSpec,
        request: Request,
        turn: Turn,
        header: str | None,
        raw_tenant: str | None,
    ) -> tuple[int, bytes]:
        """The request's work on its turn: verify the key, read the body, run the route."""
        worker: Worker | None = None
        tracked = turn.key  # whose normal-priority work this is (``normal_running``)
        try:
            await turn.wait()
            if self.workers is not None:
                # A tenant over its share runs on the low-priority workers (workers.py).
                worker = self.workers.lease(turn.over_share)
                if not worker.low:
                    self.normal_running.setdefault(tracked, set()).add(worker)
            try:
                if worker is None:
                    principal = await turn.run(partial(authenticate, self.keys, header))
                else:
                    principal = await turn.run(partial(worker.authenticate, header))
            except UnauthenticatedError:
                self.hints.refused(header)
                raise
            assert header is not None  # authenticate refuses a missing header
            self.hints.verified(header, principal.tenant, principal.admin)
            if worker is not None and not worker.low and tracked == UNVERIFIED:
                # Admitted before its key was known (a flood's very first request, say), its
                # work is its tenant's from here on: its tenant's share decides its priority.
                self._untrack(tracked, worker)
                tracked = self.hints.budget_key(header, raw_tenant)
                self.normal_running.setdefault(tracked, set()).add(worker)
                self._demote_over_share()
            tenant = ""
            if spec.tenant_scoped:
                path_tenant = None if raw_tenant is None else decode_segment(raw_tenant)
                tenant = tenant_for(principal, path_tenant)
            raw_name = request.path_params.get("name")
            name = "" if raw_name is None else decode_segment(raw_name)
            body = b""
            if spec.reads_body:
                # Within the turn: at most one body per running request is buffered.
                body = await read_body(
                    request, self.limits.max_body_bytes, self.limits.body_timeout
                )
            query = dict(request.query_params)
            if worker is not None:
                route = _ROUTE_INDEX[spec]
                run = partial(worker.run, route, principal, tenant, name, query, body)
                status, content = await turn.run(run)
            else:
                call = Call(
                    self.store,
                    self.limits,
                    principal,
                    tenant,
                    name,
                    query,
                    body,
                    spec.existence_first,
                )
                status, content = await turn.run(partial(run_route, spec, call))
        finally:
            if worker is not None:
                assert self.workers is not None
                self._untrack(tracked, worker)
                self.workers.give_back(worker)
        return status, content

    def _untrack(self, key: Hashable, worker: Worker) -> None:
        running = self.normal_running.get(key)
        if running is not None:
            running.discard(worker)
            if not running:
                del self.normal_running[key]

    def _demote_over_share(self) -> None:
        """Make nicer the normal workers busy with requests of tenants now over their share.

        A request runs on a normal worker when its tenant is within its share as it starts;
        a flood starts that way, with one request, and the requests behind it then queue.
        Its first request (seconds of database work for a large ``search_many``) would
        otherwise run at normal priority for all that time, next to the other tenants'.
        Checked at every admission, which is when a tenant's count or the number of active
        tenants grows."""
        if self.workers is None or not self.normal_running:
            return
        for key, running in self.normal_running.items():
            if self.scheduler.over_share(key):
                for worker in running:
                    self.workers.demote(worker)


async def _not_ready(
    keys: KeyRegistry, scheduler: FairScheduler, workers: WorkerPool | None, timeout: float
) -> str | None:
    """Why this node cannot serve now, or None: every worker slot of the fair scheduler busy
    (a request would queue), worker processes stopped since the last look (they are
    replaced now: a node whose workers keep dying stays not ready), or the database not
    answering a one-row read within ``timeout`` seconds. Requests run on the scheduler's
    slots, not anyio's default thread pool, so the slots are what saturation means."""
    if scheduler.running >= scheduler.share.max_concurrency:
        return "saturated: every worker is busy"
    stopped = workers.replace_stopped() if workers is not None else 0
    if stopped:
        return f"{stopped} worker process(es) had stopped; replacements are starting"
    try:
        # A key id that cannot exist (ids are hex): one indexed read, no tenant data.
        await asyncio.wait_for(anyio.to_thread.run_sync(keys.find_key, "readyz"), timeout)
    except asyncio.TimeoutError:
        return f"the database did not answer within {timeout:g} s"
    except StoreUnavailableError as err:
        return f"the database is unavailable: {err.message}"
    return None


def _internal(metrics: ServiceMetrics) -> Response:
    err = NighError("the service failed unexpectedly; the details are in its log")
    return _error_response(metrics, err.http_status, err.code, err.message)


def _error_response(
    metrics: ServiceMetrics,
    status: int,
    code: str,
    message: str,
    details: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Every failure's answer: the envelope of ``wire.error_body``, counted by its code."""
    metrics.record_error(code)
    body = dumps(error_body(code, message, details))
    return Response(body, status, headers=headers, media_type=JSON)


# Keep reserved characters and existing escapes; escape only what HTTP servers may pass raw.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"


class _RawPathRouting:
    """Route on the raw path: names are decoded per segment by the endpoints, never before."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = scope.get("raw_path") if scope["type"] == "http" else None
        if raw:
            # In place: the router records the matched route in this very scope, which the
            # metrics middleware reads afterwards.
            scope["path"] = quote(raw, safe=_PATH_SAFE)
        await self.app(scope, receive, send)
