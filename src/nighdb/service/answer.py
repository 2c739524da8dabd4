"""A request's answer, written on its turn: the turn is released once the answer is sent.

Why. The work of a request runs on a turn of the fair scheduler (``fairness.py``), and for a
long time the turn was released as soon as the work was done, before the answer went out.
A ``search_many`` answer of 50,000 matches is 5 MB: the server process then wrote it to the
socket while the tenant's next request already ran on the freed turn, so a flooding tenant
had its running budget (its share of the cores) *plus* the server's CPU relaying its last
answers, and on PostgreSQL a database backend besides. Holding the turn until the answer is
written keeps a tenant's whole pipeline (work, then sending) within its share.

How. The body goes to the ASGI server in slices, then an empty last message. uvicorn waits,
before it takes each message, until its socket buffer has drained below its low-water mark
when the client is slow to read, so when the last message is taken, the answer has been
handed to the kernel but for at most one slice. The turn is released then, or when the client
hangs up (the server drops what is left and returns at once), or when anything fails; and
at the latest after ``timeout`` seconds, so that a client that stops reading cannot hold a
turn forever (its answer keeps being sent; only the turn is given back).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

__all__ = ["AnswerOnTurn"]

_SLICE = 256 * 1024
"""Bytes per body message: the server writes an answer as its client reads it, a slice at a
time, rather than buffering all of it at once."""


class AnswerOnTurn(Response):
    """A JSON answer that calls ``release`` once it is sent (see the module docstring)."""

    media_type = "application/json"

    def __init__(
        self, content: bytes, status: int, release: Callable[[], None], timeout: float
    ) -> None:
        super().__init__(content, status)
        self._release = release
        self._timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # ``release`` must be idempotent: the timer and the end of the answer may both call it.
        timer = asyncio.get_running_loop().call_later(self._timeout, self._release)
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            body = self.body
            for start in range(0, len(body), _SLICE):
                chunk = body[start : start + _SLICE]
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            # Taken only once the slices before it have drained (see the module docstring).
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            timer.cancel()
            self._release()
