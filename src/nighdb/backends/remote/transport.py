"""The remote client's one way to the service: a request sent, its answer or its error raised.

``ServiceTransport`` owns the httpx client, the service's base URL and the API key's header.
httpx exceptions are translated here, once: a service that cannot be reached (or does not
answer in time) is ``StoreUnavailableError``. An error answer becomes the same class, with
the same attributes, that the local backends raise (``wire.error_from_response``), and a
``rate_limited`` answer (429) is retried here when the caller asked for it. The store above
(``store.RemoteStore``) deals only in paths, bodies and decoded JSON.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections.abc import Mapping
from typing import Any

import httpx

from ... import __version__
from ...errors import InvalidArgumentError, NighError, RateLimitedError, StoreUnavailableError
from ...wire import dumps, error_from_response

__all__ = ["ServiceTransport", "base_url"]


class ServiceTransport:
    """Requests to one service, with ``RemoteStore``'s connection arguments (its docstring
    says what each means). Thread-safe as the one httpx client is."""

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None,
        timeout: float,
        transport: httpx.BaseTransport | None,
        client: httpx.Client | None,
        retry_rate_limited: int,
        max_retry_wait: float,
    ) -> None:
        if isinstance(retry_rate_limited, bool) or not isinstance(retry_rate_limited, int):
            raise InvalidArgumentError("retry_rate_limited must be an integer >= 0")
        if retry_rate_limited < 0:
            raise InvalidArgumentError("retry_rate_limited must be an integer >= 0")
        if (
            isinstance(max_retry_wait, bool)
            or not isinstance(max_retry_wait, (int, float))
            or not 0 <= max_retry_wait < math.inf
        ):
            raise InvalidArgumentError("max_retry_wait must be a finite number of seconds >= 0")
        self._retries = retry_rate_limited
        self._max_retry_wait = float(max_retry_wait)
        self.base, url_key = base_url(url)
        key = api_key or url_key or os.environ.get("NIGH_API_KEY")
        self._headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"nighdb/{__version__}",
        }
        if key:
            if not key.isascii() or not key.isprintable() or " " in key:
                raise InvalidArgumentError("api_key must be printable ASCII without spaces")
            self._headers["Authorization"] = f"Bearer {key}"
        self._owns_client = client is None
        self._client = client or httpx.Client(transport=transport, timeout=timeout)
        self._timeout = timeout

    def request(
        self,
        method: str,
        path: str,
        *,
        body: object = None,
        params: Mapping[str, str | int] | None = None,
    ) -> Any:
        """The decoded JSON of a successful answer; an error answer is raised as its class."""
        content = None if body is None else dumps(body)
        retries = self._retries
        while True:
            response = self._send(method, path, content, params)
            if response.is_success:
                break
            error = error_from_response(response.status_code, response.content)
            if not isinstance(error, RateLimitedError) or retries <= 0:
                raise error
            wait = error.retry_after if hasattr(error, "retry_after") else 1
            if wait > self._max_retry_wait:
                raise error
            retries -= 1
            # A 429 means the request was not run: sending it again is always safe.
            time.sleep(wait * (1 + random.uniform(0, 0.1)))  # jitter
        try:
            return json.loads(response.content)
        except ValueError as exc:
            raise NighError(f"the service at {self.base} answered with invalid JSON") from exc

    def _send(
        self,
        method: str,
        path: str,
        content: bytes | None,
        params: Mapping[str, str | int] | None,
    ) -> httpx.Response:
        try:
            return self._client.request(
                method,
                self.base + path,
                content=content,
                params=params,
                headers=self._headers,
                timeout=self._timeout,
            )
        except httpx.TimeoutException as exc:
            raise StoreUnavailableError(
                f"the nighdb service at {self.base} did not answer in time; retry"
            ) from exc
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise StoreUnavailableError(
                f"cannot reach the nighdb service at {self.base} ({exc}); retry later"
            ) from exc

    def close(self) -> None:
        """Closes the httpx client if this transport made it (a client passed in stays open)."""
        if self._owns_client:
            self._client.close()


def base_url(url: str) -> tuple[str, str | None]:
    """The service's base URL without credentials, and the API key the URL carries, if any."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise InvalidArgumentError(f"not a valid service URL: {url!r}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InvalidArgumentError(f"a service URL is http(s)://host[:port][/prefix], not {url!r}")
    if parsed.query or parsed.fragment:
        raise InvalidArgumentError("a service URL takes no query string or fragment")
    key = parsed.password or parsed.username or None
    return str(parsed.copy_with(userinfo=b"")).rstrip("/"), key
