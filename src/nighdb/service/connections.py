"""A deadline for each request head on uvicorn's h11 connections (contract §16).

uvicorn closes a keep-alive connection that stays idle after a response
(``timeout_keep_alive``), but nothing bounds a client that opens a connection and sends its
request line and headers a byte at a time: each byte cancels the idle timer, and thousands of
such connections hold the server's sockets forever. This protocol gives every request head a
deadline, counted from the connection's start or from the end of the previous response; a
head that is not complete by then closes the connection. Bodies have their own deadline in
the app (``limits.read_body``), so a request being served is never cut here.

It is uvicorn's h11 protocol (passed as ``uvicorn.Config(http=...)``, which takes a protocol
class) with three hooks; the h11 states it reads are h11's public API.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["head_deadline_protocol"]


class _HeadDeadlineProtocol(H11Protocol):
    header_timeout: float = 10.0
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def handle_events(self) -> None:
        super().handle_events()
        if self._serving():  # a whole head arrived: the request is the app's now
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not self._serving():
            self._arm()  # the next head (or the rest of an unread body) gets a deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _serving(self) -> bool:
        cycle = self.cycle
        return (
            cycle is not None
            and not cycle.response_complete
            and self.conn.their_state in (h11.SEND_BODY, h11.DONE)
        )

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.header_timeout, self._expired)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _expired(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def head_deadline_protocol(header_timeout: float) -> type[Any]:
    """uvicorn's h11 protocol class, closing connections whose request head takes longer
    than ``header_timeout`` seconds."""
    return type(
        "HeadDeadlineProtocol", (_HeadDeadlineProtocol,), {"header_timeout": header_timeout}
    )
