"""Run the service inside a test process, for tests of apps that use a remote store.

* ``InProcessTransport``: a sync httpx transport that runs an ASGI app on an event loop in
  a background thread: no socket at all.
* ``InProcessService``: the app over that transport; ``client`` is an ``httpx.Client`` and
  ``remote_store(key)`` a ``RemoteStore`` over it.
* ``ThreadedServer``: the app on a real loopback port, served by uvicorn in a thread, for
  clients in other processes.
* ``open_in_process_store(url)``: a ``RemoteStore`` that owns its in-process service and an
  admin key; closing the store stops the service and closes the database.

Needs the ``server`` and ``remote`` extras.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any

import httpx
import uvicorn
from anyio.from_thread import BlockingPortal, start_blocking_portal
from starlette.types import ASGIApp

from nighdb.backends.remote import RemoteStore
from nighdb.keys import KeyRegistry, new_key
from nighdb.service.app import create_app
from nighdb.service.limits import ServiceLimits
from nighdb.store import ClosingContext, Store, open_store

__all__ = [
    "InProcessService",
    "InProcessTransport",
    "ThreadedServer",
    "create_key",
    "open_in_process_store",
]


def _open_registry(store_url: str) -> Store:
    store = open_store(store_url)
    if not isinstance(store, KeyRegistry):
        store.close()
        raise TypeError(f"{store_url!r} is not a database that keeps API keys")
    return store


def create_key(store: Store, *, tenant: str | None = None) -> str:
    """A new API key stored in ``store``: a tenant key, or an admin key when ``tenant`` is None."""
    assert isinstance(store, KeyRegistry)
    key, record = new_key(tenant=tenant, admin=tenant is None)
    store.add_key(record)
    return key


class InProcessTransport(httpx.BaseTransport):
    """Sync httpx requests answered by an ASGI app on one event loop in a background thread.

    httpx's own ``ASGITransport`` is async-only; this runs it through an anyio blocking
    portal (both public, maintained APIs), so sync clients (and ``RemoteStore``) can use an
    app without a server. Requests from many threads at once are served concurrently by the
    one loop.

    Why not ``starlette.testclient.TestClient``: Starlette (1.10) deprecates it over httpx in
    favour of httpx2 (a ``StarletteDeprecationWarning`` on import, an error under our
    ``filterwarnings = error``), and once httpx2 is installed it is an ``httpx2.Client``,
    which ``RemoteStore`` (an httpx client) cannot use; it also warns on every request that
    passes ``timeout=``, as ``RemoteStore`` does.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._asgi = httpx.ASGITransport(app=app)
        self._exit = contextlib.ExitStack()
        self._portal: BlockingPortal = self._exit.enter_context(start_blocking_portal())

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()  # a sync body stream cannot be read from the loop's thread

        async def call() -> tuple[int, Any, bytes]:
            response = await self._asgi.handle_async_request(request)
            return response.status_code, response.headers, await response.aread()

        status, headers, content = self._portal.call(call)
        return httpx.Response(status, headers=headers, content=content, request=request)

    def close(self) -> None:
        self._exit.close()


class InProcessService(ClosingContext):
    """The service over ``store_url``, reached through an in-process httpx transport."""

    base_url = "http://nigh.test"

    def __init__(self, store_url: str, *, limits: ServiceLimits | None = None) -> None:
        self.store = _open_registry(store_url)
        self.app = create_app(self.store, limits=limits)
        self.client = httpx.Client(transport=InProcessTransport(self.app), base_url=self.base_url)

    def create_key(self, *, tenant: str | None = None) -> str:
        return create_key(self.store, tenant=tenant)

    def remote_store(self, api_key: str) -> RemoteStore:
        return RemoteStore(self.base_url, api_key=api_key, client=self.client)

    def close(self) -> None:
        self.client.close()
        self.store.close()


class _OwningRemoteStore(RemoteStore):
    def __init__(
        self, service: InProcessService, api_key: str, store_url: str, limits: ServiceLimits | None
    ) -> None:
        super().__init__(service.base_url, api_key=api_key, client=service.client)
        self._service = service
        self._store_url = store_url
        self._limits = limits
        self._api_key = api_key
        self._servers: list[ThreadedServer] = []

    def serve_on_loopback(self) -> str:
        """A URL (with this store's key in it) that reaches the same database from other
        processes: a real server on a loopback port, stopped when this store closes."""
        server = ThreadedServer(self._store_url, limits=self._limits)
        self._servers.append(server)
        return server.url.replace("http://", f"http://{self._api_key}@", 1)

    def close(self) -> None:
        if self._closed:
            return
        super().close()
        for server in self._servers:
            server.close()
        self._servers.clear()
        self._service.close()


def open_in_process_store(
    store_url: str, *, limits: ServiceLimits | None = None, tenant: str | None = None
) -> _OwningRemoteStore:
    """A ``RemoteStore`` over its own in-process service on ``store_url``.

    It uses a new admin key, or a key of ``tenant`` when one is named. Closing the store
    stops the service and closes its database. ``serve_on_loopback()`` on the returned store
    gives a URL that other processes can open (``open_store(url)``) to reach the same data.
    """
    service = InProcessService(store_url, limits=limits)
    try:
        key = service.create_key(tenant=tenant)
    except BaseException:
        service.close()
        raise
    return _OwningRemoteStore(service, key, store_url, limits)


class ThreadedServer(ClosingContext):
    """The service on ``http://127.0.0.1:<free port>``, run by uvicorn in a daemon thread.

    The socket is bound here and handed to ``uvicorn.Server.run(sockets=...)`` (as
    ``nigh serve`` does), so the port is known without reading the server's internals.
    """

    def __init__(self, store_url: str, *, limits: ServiceLimits | None = None) -> None:
        self.store = _open_registry(store_url)
        # IPPROTO_TCP explicitly: asyncio turns Nagle off only on sockets that say so.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(128)
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        config = uvicorn.Config(
            create_app(self.store, limits=limits), log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                self._socket.close()
                self.store.close()
                raise RuntimeError("the test server failed to start")
            self._thread.join(0.01)

    def create_key(self, *, tenant: str | None = None) -> str:
        return create_key(self.store, tenant=tenant)

    def close(self) -> None:
        self._server.should_exit = True
        self._thread.join()
        self._socket.close()
        self.store.close()
