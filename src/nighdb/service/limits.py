"""The service's request limits (contract §12 defaults) and the checks that enforce them.

Limits are deployment policy, separate from the store's own validation: each check answers
with a coded 4xx (``payload_too_large`` or ``invalid_argument``) before the store is called.
The body is measured while it streams in, so an oversized upload is refused after at most
``max_body_bytes`` have been buffered, never after reading it all.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from ..errors import InvalidArgumentError, PayloadTooLargeError

if TYPE_CHECKING:  # the CLI reads the defaults without the server extra installed
    from starlette.requests import Request

__all__ = ["ServiceLimits", "SlowBodyError", "read_body"]

MiB = 1024 * 1024


@dataclass(frozen=True)
class ServiceLimits:
    """What one request may ask for. Every field is a ``nigh serve`` option."""

    max_body_bytes: int = 64 * MiB
    """A larger request body is refused with 413 ``payload_too_large``."""
    max_items: int = 100_000
    """Items per upsert; more is 413 ``payload_too_large`` (split the batch)."""
    max_search_limit: int = 10_000
    """The largest ``limit`` of a search; more is 400 ``invalid_argument``."""
    max_dimensions: int = 16_000
    """The most dimensions a collection may be created with; more is 400."""
    default_page: int = 1_000
    """Ids per ``GET …/ids`` page when the request names no ``limit``."""
    max_page: int = 10_000
    """The largest ``GET …/ids`` page; a larger ``limit`` is lowered to this."""
    max_queries: int = 1_000
    """Query vectors per ``search_many`` request; more is 413 ``payload_too_large``."""
    max_ids: int = 1_000
    """Ids per ``delete`` or ``fetch`` request; more is 413 ``payload_too_large``."""
    max_results: int = 100_000
    """Matches one ``search_many`` may answer: queries times limit; more is 413."""
    max_collections_per_tenant: int | None = None
    """Collections one tenant may hold; a new one past it is 409 ``quota_exceeded``."""
    max_items_per_tenant: int | None = None
    """Items one tenant may hold over all its collections; past it, 409 ``quota_exceeded``."""
    body_timeout: float = 60.0
    """Seconds a whole request body may take to arrive; slower is 400 and the connection
    is closed."""
    answer_timeout: float = 60.0
    """Seconds a request keeps its turn on the node while its answer is written to a client
    that reads slowly; then the turn is released and the answer goes on (``answer.py``)."""
    ready_timeout: float = 2.0
    """Seconds ``GET /readyz``'s database probe may take; slower is 503 (not ready)."""
    max_scroll: int = 1_000
    """The largest ``scroll`` page (whole items); a larger ``limit`` is lowered to this."""
    max_patches: int = 100_000
    """Patches per ``update``; more is 413 ``payload_too_large`` (split the batch)."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None and f.name.endswith("_per_tenant"):
                continue  # a quota that is off
            if f.name.endswith("_timeout"):
                if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                    raise InvalidArgumentError(f"service limit {f.name} must be positive")
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidArgumentError(f"service limit {f.name} must be a positive integer")
        if self.default_page > self.max_page:
            raise InvalidArgumentError("default_page must not exceed max_page")
        if self.max_results < self.max_search_limit:
            # One query at the largest limit must be answerable by search_many too.
            raise InvalidArgumentError("max_results must be at least max_search_limit")

    def check_items(self, items: object) -> None:
        if isinstance(items, list) and len(items) > self.max_items:
            raise PayloadTooLargeError(
                f"an upsert may carry at most {self.max_items} items, got {len(items)}; "
                "split the batch into several requests"
            )

    def check_patches(self, patches: object) -> None:
        if isinstance(patches, list) and len(patches) > self.max_patches:
            raise PayloadTooLargeError(
                f"an update may carry at most {self.max_patches} patches, got {len(patches)}; "
                "split the batch into several requests"
            )

    def scroll_page(self, limit: object) -> object:
        """A ``scroll`` limit lowered to ``max_scroll``; other values go on to the store."""
        if isinstance(limit, int) and not isinstance(limit, bool) and limit > self.max_scroll:
            return self.max_scroll
        return limit

    def check_queries(self, queries: object) -> None:
        if isinstance(queries, list) and len(queries) > self.max_queries:
            raise PayloadTooLargeError(
                f"a search_many request may carry at most {self.max_queries} queries, got "
                f"{len(queries)}; split them into several requests"
            )

    def check_ids(self, what: str, ids: object) -> None:
        """``delete`` and ``fetch`` share one cap: both cost one row lookup per id."""
        if isinstance(ids, list) and len(ids) > self.max_ids:
            raise PayloadTooLargeError(
                f"a {what} request may name at most {self.max_ids} ids, got {len(ids)}; "
                "split them into several requests"
            )

    def check_results(self, queries: object, limit: object) -> None:
        """The response of ``search_many`` is bounded before any search runs."""
        if not isinstance(queries, list) or isinstance(limit, bool) or not isinstance(limit, int):
            return  # the store refuses these with its own message
        if len(queries) * limit > self.max_results:
            raise PayloadTooLargeError(
                f"a search_many request may ask for at most {self.max_results} matches "
                f"(queries x limit), got {len(queries)} x {limit}; send fewer queries per "
                "request or a smaller limit"
            )

    def check_search_limit(self, limit: object) -> None:
        # Only real integers are compared; other types go on to the store, which rejects
        # them with its own (identical on every backend) message.
        if isinstance(limit, int) and not isinstance(limit, bool) and limit > self.max_search_limit:
            raise InvalidArgumentError(
                f"limit {limit} is above this service's maximum of {self.max_search_limit}"
            )

    def check_dimensions(self, dimensions: object) -> None:
        if (
            isinstance(dimensions, int)
            and not isinstance(dimensions, bool)
            and dimensions > self.max_dimensions
        ):
            raise InvalidArgumentError(
                f"dimensions {dimensions} is above this service's maximum of {self.max_dimensions}"
            )

    def page_size(self, raw: str | None) -> int:
        """The ``limit`` of an ids page: default when absent, lowered to ``max_page``."""
        if raw is None or raw == "":
            return self.default_page
        text = raw[1:] if raw.startswith("-") else raw
        if not text.isascii() or not text.isdigit():
            raise InvalidArgumentError(f"limit must be an integer, got {_shown(raw)}")
        # Bounded before int(): thousands of digits would cost quadratic time, and Python
        # refuses more than 4,300 with a ValueError. Any longer number is past every page.
        digits = text.lstrip("0") or "0"
        if len(digits) > _MAX_DIGITS:
            return -1 if raw.startswith("-") else self.max_page
        # Zero and negatives go on to the store, which refuses them after its existence check.
        return min(-int(digits) if raw.startswith("-") else int(digits), self.max_page)


_MAX_DIGITS = 18  # every page size and count fits in 18 digits; int64 needs 19


def _shown(raw: str) -> str:
    """A query value quoted for a message, cut short: messages never echo megabytes."""
    return repr(raw if len(raw) <= 40 else raw[:40] + "…")


def _too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"the request body is larger than this service's limit of {limit} bytes; "
        "send smaller batches"
    )


class SlowBodyError(Exception):
    """The body did not arrive within the body timeout. ``error`` is the answer; the
    connection is closed after it (what remains of the body will not be read)."""

    def __init__(self, error: InvalidArgumentError) -> None:
        super().__init__(error.message)
        self.error = error


async def read_body(request: Request, max_bytes: int, timeout: float) -> bytes:
    """The request body, refused as soon as it passes ``max_bytes`` or takes over ``timeout``
    seconds: a client trickling its body holds a connection and a buffer, so it gets a deadline
    for the whole body, not just between chunks."""
    declared = request.headers.get("content-length", "").strip()
    if (
        declared.isascii()
        and declared.isdigit()
        and (len(declared.lstrip("0")) > _MAX_DIGITS or int(declared) > max_bytes)
    ):
        raise _too_large(max_bytes)

    async def read() -> bytes:
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                raise _too_large(max_bytes)
            chunks.append(chunk)
        return b"".join(chunks)

    try:
        return await asyncio.wait_for(read(), timeout)
    except asyncio.TimeoutError:
        error = InvalidArgumentError(
            f"the request body did not arrive within this service's {timeout:g} s body "
            "timeout; send it faster or in smaller requests"
        )
        raise SlowBodyError(error) from None
