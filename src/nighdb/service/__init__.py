"""The nighdb HTTP service (``nigh serve``, extra ``nighdb[server]``).

``create_app(store, limits=ServiceLimits(...))`` returns the ASGI app; run it with any ASGI
server. Names are imported lazily so that ``nighdb.service.wire`` (the wire format the
remote client shares) needs no server dependency.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import create_app
    from .limits import ServiceLimits

__all__ = ["ServiceLimits", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "ServiceLimits":
        from .limits import ServiceLimits

        return ServiceLimits
    raise AttributeError(f"module 'nighdb.service' has no attribute {name!r}")
