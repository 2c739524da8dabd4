"""The remote backend (extra ``nighdb[remote]``): ``open_store("http://host:8080", api_key=...)``
over ``nigh serve``, with the local backends' semantics and errors; httpx is used here only.

``store`` is the ``Store`` (each method as a route, a body and the answer's models);
``transport`` sends a request and raises an error answer as the same class the local backends
raise (httpx's exceptions translated once, ``rate_limited`` retried on request); ``sendable``
turns arguments into JSON and refuses what JSON would distort, so the store can decide that
error locally.
"""

from .store import RemoteStore

__all__ = ["RemoteStore"]
