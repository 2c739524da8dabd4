"""``nigh serve``: the HTTP API of contract §9 over a store, on uvicorn (extra ``server``).

The service is stateless: keys and data live in the store's database, so several
``nigh serve`` processes (on one machine or many) can share one PostgreSQL database behind
a load balancer.
"""

from __future__ import annotations

import contextlib
import logging
import math
import socket
from typing import Any

import click

from ..errors import StoreUnavailableError
from ..service.fairness import FairShare
from ..service.limits import ServiceLimits
from ..store import redacted_url
from .common import cli_store_url, open_cli_store, store_option

__all__ = ["serve"]

_DEFAULTS = ServiceLimits()
_SHARE = FairShare()


def _limit_option(flag: str, field: str, text: str) -> click.Option:
    return click.Option(
        [flag, field],
        type=click.IntRange(min=1),
        default=getattr(_DEFAULTS, field),
        show_default=True,
        help=text,
    )


_LIMITS = [
    _limit_option("--max-body-bytes", "max_body_bytes", "Largest request body (else 413)."),
    _limit_option("--max-items", "max_items", "Most items per upsert request (else 413)."),
    _limit_option("--max-search-limit", "max_search_limit", "Largest search limit (else 400)."),
    _limit_option(
        "--max-dimensions", "max_dimensions", "Most dimensions for a new collection (else 400)."
    ),
    _limit_option("--default-page", "default_page", "Ids per GET …/ids page by default."),
    _limit_option("--max-page", "max_page", "Most ids per GET …/ids page."),
    _limit_option("--max-queries", "max_queries", "Most queries per search_many (else 413)."),
    _limit_option("--max-ids", "max_ids", "Most ids per delete or fetch request (else 413)."),
    _limit_option(
        "--max-results", "max_results", "Most matches per search_many: queries x limit (else 413)."
    ),
    click.Option(
        ["--max-collections-per-tenant", "max_collections_per_tenant"],
        type=click.IntRange(min=1),
        default=None,
        help="Quota: collections per tenant (else 409 quota_exceeded). Default: none.",
    ),
    click.Option(
        ["--max-items-per-tenant", "max_items_per_tenant"],
        type=click.IntRange(min=1),
        default=None,
        help="Quota: items per tenant, all collections (else 409 quota_exceeded). Default: none.",
    ),
    click.Option(
        ["--body-timeout", "body_timeout"],
        type=click.FloatRange(min=0, min_open=True),
        default=_DEFAULTS.body_timeout,
        show_default=True,
        help="Seconds a whole request body may take to arrive (else 400, connection closed).",
    ),
    click.Option(
        ["--answer-timeout", "answer_timeout"],
        type=click.FloatRange(min=0, min_open=True),
        default=_DEFAULTS.answer_timeout,
        show_default=True,
        help="Seconds a request keeps its turn while a slow client reads its answer.",
    ),
    click.Option(
        ["--ready-timeout", "ready_timeout"],
        type=click.FloatRange(min=0, min_open=True),
        default=_DEFAULTS.ready_timeout,
        show_default=True,
        help="Seconds /readyz waits for the database (else 503).",
    ),
    _limit_option("--max-scroll", "max_scroll", "Most items per scroll page (lowered to it)."),
    _limit_option("--max-patches", "max_patches", "Most patches per update request (else 413)."),
]


def _share_option(flag: str, field: str, kind: click.ParamType[Any], text: str) -> click.Option:
    return click.Option(
        [flag, field], type=kind, default=getattr(_SHARE, field), show_default=True, help=text
    )


_SHARE_OPTIONS = [
    _share_option(
        "--max-concurrency",
        "max_concurrency",
        click.IntRange(min=1),
        "Requests running at once on this node.",
    ),
    _share_option(
        "--tenant-concurrency",
        "tenant_concurrency",
        click.IntRange(min=1),
        "Requests of one tenant running at once.",
    ),
    _share_option(
        "--tenant-queue",
        "tenant_queue",
        click.IntRange(min=1),
        "Requests of one tenant waiting for a turn (one more is 429).",
    ),
    _share_option(
        "--queue-timeout",
        "queue_timeout",
        click.FloatRange(min=0, min_open=True, max=3600),
        "Seconds a request may wait for its turn (then 429).",
    ),
    _share_option(
        "--tenant-rate",
        "tenant_rate",
        click.FloatRange(min=0, max=1e9),
        "Requests per second one tenant may start on average; 0: no rate budget.",
    ),
    _share_option(
        "--tenant-burst",
        "tenant_burst",
        click.IntRange(min=1),
        "Requests one tenant may start at once above its rate.",
    ),
    _share_option(
        "--refusal-delay",
        "refusal_delay",
        click.FloatRange(min=0, max=60),
        "Seconds a 429 is held back when the same tenant was refused under half a second "
        "before (a client resending at once); 0: answer every 429 at once.",
    ),
    _share_option(
        "--max-held-refusals",
        "max_held_refusals",
        click.IntRange(min=1),
        "429s held back at once on the node; beyond it they are answered at once.",
    ),
    click.Option(
        ["--cores", "cores"],
        type=click.IntRange(min=1),
        default=None,
        help="CPU cores the requests share (the database server's, if PostgreSQL runs "
        "elsewhere): while several tenants are active, each runs at most "
        "max(1, cores / active tenants) requests at once. Default: this machine's.",
    ),
]


def serve_store_options(
    url: str, *, store_timeout: float | None, threads: bool, max_concurrency: int
) -> dict[str, Any]:
    """The options of the server process's store.

    ``store_timeout``: a request waits at most this long for the database. PostgreSQL's
    ``timeout`` (a pooled connection, reconnecting after an outage; libpq's
    ``connect_timeout`` no longer than it, from 1 to the default 5), SQLite's
    ``busy_timeout`` (another process's write lock). ``None``: the store's defaults.

    With ``threads``, requests use the server process's PostgreSQL pool: it gets a
    connection for every slot plus two (``/readyz``, key checks), so the node's own traffic
    never waits in the pool, where every tenant would wait, but in its tenant's queue.
    """
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    options: dict[str, Any] = {}
    if scheme in ("postgresql", "postgres"):
        if store_timeout is not None:
            options["timeout"] = store_timeout
            options["connect_timeout"] = max(1, min(5, math.ceil(store_timeout)))
        if threads and max_concurrency + 2 > _DEFAULT_POOL:
            options["pool_max_size"] = max_concurrency + 2
    elif scheme in ("", "sqlite") and store_timeout is not None:
        options["busy_timeout"] = store_timeout
    return options  # another store keeps no keys: create_app refuses it by name


_DEFAULT_POOL = 10
"""The PostgreSQL store's default ``pool_max_size`` (the service reaches backends only
through ``open_store``, so the figure is repeated here)."""


def _listen(host: str, port: int) -> socket.socket:
    """Bind first, so a busy port is our one-line error, not a server log."""
    sock = None
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )[0]
        # An explicit IPPROTO_TCP matters: asyncio turns Nagle off (TCP_NODELAY) only on
        # sockets that say so, and with Nagle on every answer waits ~40 ms for an ACK.
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
        return sock
    except OSError as exc:
        if sock is not None:
            sock.close()
        raise StoreUnavailableError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc


def _no_query_strings(record: logging.LogRecord) -> bool:
    """The access log shows paths only: a query string may carry a secret (``?api_key=``)."""
    args = record.args
    if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
        path, query = args[2].partition("?")[::2]
        if query:
            record.args = (*args[:2], f"{path}?[redacted]", *args[3:])
    return True


def _log_to_stderr(level: str) -> None:
    # uvicorn configures its own loggers; the service's errors (with tracebacks) log here.
    logger = logging.getLogger("nighdb")
    logger.setLevel(level.upper())
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(name)s: %(message)s"))
        logger.addHandler(handler)


@click.command()
@store_option
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Interface to listen on; 0.0.0.0 (or ::) listens on every interface.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="TCP port; 0 picks a free one (printed on start).",
)
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="info",
    show_default=True,
    help="Server log level.",
)
@click.option(
    "--access-log/--no-access-log", default=True, show_default=True, help="Log every request."
)
@click.option(
    "--header-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    help="Seconds a request line and headers may take to arrive (else the connection closes).",
)
@click.option(
    "--threads",
    is_flag=True,
    default=False,
    help="Run requests in worker threads of the server process instead of worker processes "
    "(smaller, but one tenant's heavy requests then slow every other tenant's).",
)
@click.option(
    "--idle-timeout",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Seconds an idle keep-alive connection stays open.",
)
@click.option(
    "--store-timeout",
    type=click.FloatRange(min=0, min_open=True, max=3600),
    default=None,
    help="Seconds a request waits for the database before 503 unavailable: for a PostgreSQL "
    "connection (an outage), or for SQLite's write lock. Default: the store's own, 10 on "
    "PostgreSQL, 30 on SQLite.",
)
@click.option(
    "--read-url",
    "read_urls",
    multiple=True,
    metavar="URL",
    envvar="NIGH_READ_URLS",
    help="A streaming replica of the PostgreSQL store for searches, counts, scrolls and "
    "fetches (repeatable; $NIGH_READ_URLS: URLs separated by spaces).",
)
@click.option(
    "--read-your-writes",
    is_flag=True,
    help="Reads that a replica has not replayed this node's last write yet go to the primary.",
)
def serve(
    host: str,
    port: int,
    log_level: str,
    access_log: bool,
    header_timeout: float,
    idle_timeout: int,
    store_timeout: float | None,
    read_urls: tuple[str, ...],
    read_your_writes: bool,
    threads: bool,
    **limits: Any,
) -> None:
    """Serve the HTTP API (contract §9) over the store, with API-key auth.

    Create keys first with 'nigh keys create'. OpenAPI at /openapi.json, docs at /docs,
    Prometheus metrics at /metrics, liveness at /healthz.
    """
    import uvicorn  # the server extra: imported only by this command

    from ..service.app import create_app
    from ..service.connections import head_deadline_protocol
    from ..service.workers import WorkerPool

    chosen = {name: limits.pop(name) for name in _SHARE_FIELDS}
    if chosen["cores"] is None:  # the machine's, as FairShare counts them
        del chosen["cores"]
    share = FairShare(**chosen)
    service_limits = ServiceLimits(**limits)
    # The store's wait for its database, and PostgreSQL deployments (contract §17): passed
    # only when asked for, so another backend refuses a deployment by name rather than
    # ignoring it.
    deployment = serve_store_options(
        cli_store_url(),
        store_timeout=store_timeout,
        threads=threads,
        max_concurrency=share.max_concurrency,
    )
    if read_urls:
        deployment["read_urls"] = list(read_urls)
    if read_your_writes:
        deployment["read_your_writes"] = True
    _log_to_stderr(log_level)
    with open_cli_store(create=True, **deployment):
        pass  # create the store first: the workers and this process only open it
    with contextlib.ExitStack() as stack:
        workers = None
        if not threads:
            # Forked before this process opens its store or starts a thread (workers.py).
            workers = stack.enter_context(
                WorkerPool(
                    cli_store_url(),
                    slots=share.max_concurrency,
                    limits=service_limits,
                    store_options=deployment,
                )
            )
        store = stack.enter_context(open_cli_store(create=False, **deployment))
        app = create_app(store, limits=service_limits, share=share, workers=workers)
        sock = _listen(host, port)
        bound = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        click.echo(
            f"nigh serve: {redacted_url(cli_store_url())} on http://{shown}:{bound}", err=True
        )
        config = uvicorn.Config(
            app,
            log_level=log_level,
            access_log=access_log,
            lifespan="off",
            server_header=False,
            http=head_deadline_protocol(header_timeout),
            timeout_keep_alive=idle_timeout,
        )
        logging.getLogger("uvicorn.access").addFilter(_no_query_strings)
        uvicorn.Server(config).run(sockets=[sock])


serve.params.extend(_LIMITS)
serve.params.extend(_SHARE_OPTIONS)
_SHARE_FIELDS = [option.name for option in _SHARE_OPTIONS if option.name]
