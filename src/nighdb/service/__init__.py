"""The nighdb HTTP service (``nigh serve``, extra ``nighdb[server]``).

``create_app(store, limits=ServiceLimits(...), share=FairShare(...))`` returns the ASGI app;
run it with any ASGI server. The service reaches storage only through the ``Store`` it is
given (``open_store``): it imports no backend, and the JSON shapes it shares with the remote
client live in the core (``nighdb.wire``).
"""

from .app import create_app
from .fairness import FairShare
from .limits import ServiceLimits

__all__ = ["FairShare", "ServiceLimits", "create_app"]
