"""Fair sharing of the service between tenants (contract §16): budgets, a queue, a fair turn.

Every store call blocks, so each request's work runs in a worker thread, and on PostgreSQL
it holds one pooled connection while it runs. Both are shared by every tenant, so a tenant
that sends many requests at once must not be able to hold them all. The scheduler here
decides, before any work is spent, which request runs:

* **Worker slots** (``max_concurrency``): at most this many requests run at once on the
  node, each in its own worker thread. It stays below the PostgreSQL pool (default 10
  connections), so a request that runs always finds a connection: the pool cannot be
  saturated by the service's own traffic, and a request that waits, waits here, in its own
  tenant's queue, not in the pool where everyone waits.
* **A tenant's budget** (``tenant_concurrency`` running, ``tenant_queue`` waiting): a request
  beyond both is answered 429 ``rate_limited`` at once, before its body is read. A request
  that waits longer than ``queue_timeout`` is 429 too. Both carry ``Retry-After``.
* **A share of the cores** (``cores``): while more than one tenant is *active* (has
  requests in the node, or had one within ``ACTIVE_WINDOW`` seconds: a tenant sending one
  small request after another is active between them), each tenant runs at most
  ``max(1, cores // active tenants)`` requests at once, never more than its
  ``tenant_concurrency``. Worker slots count requests, but what the others wait for is CPU,
  and on PostgreSQL that CPU is the database server's: its backend processes run every
  tenant's statements at the same priority, whatever the niceness of our workers. So a
  flooding tenant holds about its share of the cores, not three of two, and a core stays
  free for the others. Alone, a tenant gets its whole ``tenant_concurrency`` (no core sits
  idle for a tenant that is not there). The budget of keys not verified yet is not counted
  as a tenant (see ``active_tenants``).
* **A fair turn**: when a slot frees, it goes to the next tenant in round-robin order among
  those waiting and under their budget, so a tenant with a hundred requests queued gets one
  turn like a tenant with one. A tenant's own requests run in arrival order.
* **A rate budget** (``tenant_rate`` requests per second, bursts of ``tenant_burst``): a token
  bucket per tenant; a request without a token is 429 with the seconds until the next one.
* **Refusals held back** (``refusal_delay``, ``max_held_refusals``): a refusal of a budget
  key refused less than ``RESENT_WITHIN`` seconds before is answered only after
  ``refusal_delay`` seconds (``hold_refusal``). A client that resends every 429 at once
  otherwise makes the server process answer hundreds of refusals a second, each parsed,
  routed and answered (and a refused upload's body still read to keep the connection), on
  the one event loop every tenant's requests pass through, at normal priority. Waiting
  costs no CPU; a client that honours ``Retry-After`` (at least 1 s) is never held.

Budgets belong to tenants, but the tenant is known only once the key is verified, a
database read that is itself work to share. So the scheduler files each request under a
*budget key* taken from a hint (``KeyHints``): the principal a key was last verified as,
remembered by a hash of the whole key. The hint only chooses whose budget a request spends;
every request is still verified before it does anything (a revoked key is refused at once,
and its hint forgotten). So a tenant key spends its tenant's budget, whichever of the
tenant's keys it is; an admin key acting for a tenant spends that tenant's budget (its work
is that tenant's); a key never verified on this node spends the one budget shared by all
such keys, so a flood of made-up keys cannot take more than one tenant's share, and cannot
spend anyone else's: a hint is found only with the whole secret key.

Everything here runs on the event loop thread (no locks): the scheduler only hands out turns.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import InvalidArgumentError, RateLimitedError

if TYPE_CHECKING:
    import anyio

__all__ = ["UNVERIFIED", "FairScheduler", "FairShare", "KeyHints", "Turn"]

T = TypeVar("T")

UNVERIFIED = ("unverified",)
"""The budget key of every request whose key this node has not verified yet."""
RESENT_WITHIN = 0.5
"""Seconds within which a refusal of the same budget key counts as a resend at once (every
``Retry-After`` is at least 1 s): such a refusal is held back (``hold_refusal``)."""
_SWEEP_EVERY = 1024
"""Admissions between two sweeps of idle budgets (which keep the rate state of a key)."""
ACTIVE_WINDOW = 1.0
"""Seconds a tenant counts as active after its last request left the node: a client that
sends one request after another is active between them, so it keeps its share of the
cores rather than finding them taken again at each request."""


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity, else the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class FairShare:
    """How the node's work is shared between tenants. Every field is a ``nigh serve`` option."""

    max_concurrency: int = 8
    """Requests running at once on this node (worker threads); keep it below the PostgreSQL
    pool size (default 10) so that a running request never waits for a connection."""
    tenant_concurrency: int = 3
    """Requests of one tenant running at once (across all its keys)."""
    tenant_queue: int = 32
    """Requests of one tenant waiting for a turn; one more is 429 at once."""
    queue_timeout: float = 10.0
    """Seconds a request may wait for its turn before it is answered 429."""
    tenant_rate: float = 1000.0
    """Requests per second one tenant may start, on average; 0 turns the rate budget off."""
    tenant_burst: int = 2000
    """Requests one tenant may start at once above its rate (the token bucket's size)."""
    refusal_delay: float = 1.0
    """Seconds a refusal is held back when the same tenant was refused less than
    ``RESENT_WITHIN`` seconds before (a client resending at once); 0 answers every refusal
    at once."""
    max_held_refusals: int = 256
    """Refusals held back at once on the node; beyond it, refusals are answered at once, so
    that holding them cannot keep an unbounded number of requests (and their first body
    bytes) in memory."""
    cores: int = field(default_factory=available_cores)
    """CPU cores the requests share (the database server's, when PostgreSQL runs on another
    machine): while several tenants are active, each runs at most ``max(1, cores // active
    tenants)`` requests at once (and never more than ``tenant_concurrency``)."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidArgumentError(f"service limit {f.name} must be a number")
            if not math.isfinite(value) or value < 0:
                raise InvalidArgumentError(f"service limit {f.name} must be a finite number >= 0")
            if f.name not in ("tenant_rate", "refusal_delay") and value == 0:
                raise InvalidArgumentError(f"service limit {f.name} must be positive")
        if self.tenant_concurrency > self.max_concurrency:
            raise InvalidArgumentError("tenant_concurrency must not exceed max_concurrency")


def _anyio() -> Any:
    # The server extra's event-loop library, imported on first use: the CLI reads the
    # defaults above without it installed.
    import anyio

    return anyio


class _Budget:
    """One budget key's state: requests in the node (running or waiting) and its tokens."""

    __slots__ = (
        "checked",
        "in_node",
        "queued_at",
        "refused_at",
        "resent",
        "running",
        "tokens",
        "waiters",
    )

    def __init__(self, burst: float, now: float) -> None:
        self.in_node = 0
        self.queued_at = -math.inf  # when a request of this key last had to wait its turn
        self.refused_at = -math.inf  # when a request of this key was last refused
        self.resent = False  # whether its last refusal came within RESENT_WITHIN of the one before
        self.running = 0
        self.waiters: deque[Turn] = deque()
        self.tokens = burst
        self.checked = now


class Turn:
    """One admitted request: wait for a slot with ``run``, always ``leave`` afterwards."""

    __slots__ = ("_budget", "_event", "_granted", "_key", "_left", "_scheduler")

    def __init__(self, scheduler: FairScheduler, key: Hashable, budget: _Budget) -> None:
        self._scheduler = scheduler
        self._key = key
        self._budget = budget
        self._event = _anyio().Event()
        self._granted = False
        self._left = False

    async def wait(self) -> None:
        """Until this request may run; 429 after ``queue_timeout`` seconds of waiting."""
        self._scheduler._enqueue(self)
        with _anyio().move_on_after(self._scheduler.share.queue_timeout):
            await self._event.wait()
        if not self._granted:
            self._scheduler._withdraw(self)
            raise RateLimitedError(
                1,
                "this tenant's requests are waiting too long for their turn on this node; "
                "send fewer at once, and retry after 1 s",
            )

    async def run(self, fn: Callable[[], T]) -> T:
        """``fn()`` in a worker thread, once this request's turn has come."""
        if not self._granted:
            await self.wait()
        import anyio.to_thread

        return await anyio.to_thread.run_sync(fn, limiter=self._scheduler.threads)

    @property
    def over_share(self) -> bool:
        """Whether this request's tenant asks for more than its share: it has more requests
        in the node than it may run at once now (``running_limit``: its share of the cores
        while others are active), or one of its requests had to wait for its turn within
        ``ACTIVE_WINDOW`` seconds. Its work may then wait behind other tenants'
        (workers.py). The second part keeps a flooding tenant there while its client is
        slow to send the next request: a tenant with one request on the node just then
        is still the one that was queueing a moment ago."""
        return self._scheduler._over_share(self._budget)

    @property
    def key(self) -> Hashable:
        """The budget key this request was admitted under."""
        return self._key

    def leave(self) -> None:
        """The request is done (answered, refused or cancelled): free what it held."""
        if self._left:
            return
        self._left = True
        self._scheduler._leave(self)


class FairScheduler:
    """The node's worker slots, handed out per budget key (see the module docstring)."""

    def __init__(self, share: FairShare, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.share = share
        self._clock = clock
        self._free = share.max_concurrency
        # Threads for the work itself: exactly one per slot, apart from anyio's default pool.
        self.threads: anyio.CapacityLimiter = _anyio().CapacityLimiter(share.max_concurrency)
        self._budgets: dict[Hashable, _Budget] = {}
        self._ready: OrderedDict[Hashable, None] = OrderedDict()  # keys with waiters, in turn
        self._admitted = 0
        # Active tenants: keys with requests in the node, counted, plus keys whose last
        # request left less than ACTIVE_WINDOW ago, oldest first (see running_limit).
        self._present = 0
        self._recent: OrderedDict[Hashable, float] = OrderedDict()
        self.held_refusals = 0  # refusals waiting in hold_refusal now

    @property
    def running(self) -> int:
        return self.share.max_concurrency - self._free

    @property
    def waiting(self) -> int:
        return sum(len(b.waiters) for b in self._budgets.values())

    def active_tenants(self) -> int:
        """Budget keys with requests in the node or one that left within ACTIVE_WINDOW.
        Keys not verified yet are not counted: they do no work beyond the key check (and a
        tenant's first request, under its new key, would count the tenant twice)."""
        horizon = self._clock() - ACTIVE_WINDOW
        recent = self._recent
        while recent and next(iter(recent.values())) < horizon:
            recent.popitem(last=False)
        return self._present + len(recent)

    def running_limit(self) -> int:
        """Requests one budget key may run at once now: its ``tenant_concurrency`` alone,
        its share of the cores while other tenants are active (module docstring)."""
        share = self.share
        active = self.active_tenants()
        if active <= 1:
            return share.tenant_concurrency
        return max(1, min(share.tenant_concurrency, share.cores // active))

    def over_share(self, key: Hashable) -> bool:
        """Whether ``key`` is over its share now (``Turn.over_share``); False for a key with
        nothing on the node."""
        budget = self._budgets.get(key)
        return budget is not None and self._over_share(budget)

    def _over_share(self, budget: _Budget) -> bool:
        recently = self._clock() - budget.queued_at < ACTIVE_WINDOW
        return recently or budget.in_node > self.running_limit()

    def admit(self, key: Hashable) -> Turn:
        """A turn for one request of ``key``, or 429 at once when the key is over budget."""
        now = self._clock()
        self._admitted += 1
        if self._admitted % _SWEEP_EVERY == 0:
            self._sweep(now)
        budget = self._budgets.get(key)
        if budget is None:
            budget = self._budgets[key] = _Budget(self.share.tenant_burst, now)
        share = self.share
        if share.tenant_rate > 0:
            budget.tokens = min(
                share.tenant_burst, budget.tokens + (now - budget.checked) * share.tenant_rate
            )
            budget.checked = now
            if budget.tokens < 1:
                wait = max(1, math.ceil((1 - budget.tokens) / share.tenant_rate))
                # The budget stays: its empty bucket, and the refusal's time for a resend.
                self._refused(budget, now)
                raise RateLimitedError(
                    wait,
                    f"this tenant is over its rate budget of {share.tenant_rate:g} requests "
                    f"per second on this node; retry after {wait} s",
                )
        if budget.in_node >= share.tenant_concurrency + share.tenant_queue:
            self._refused(budget, now)
            raise RateLimitedError(
                1,
                f"this tenant already has {budget.in_node} requests running or waiting on this "
                f"node (at most {share.tenant_concurrency} run at once); send fewer at once, "
                "and retry after 1 s",
            )
        if share.tenant_rate > 0:
            budget.tokens -= 1
        if not budget.in_node and key != UNVERIFIED:
            self._present += 1
            self._recent.pop(key, None)
        budget.in_node += 1
        return Turn(self, key, budget)

    @staticmethod
    def _refused(budget: _Budget, now: float) -> None:
        budget.resent = now - budget.refused_at < RESENT_WITHIN
        budget.refused_at = now

    async def hold_refusal(self, key: Hashable) -> None:
        """Wait before the refusal ``admit`` just raised for ``key`` is answered: for
        ``refusal_delay`` seconds when ``key`` was refused less than ``RESENT_WITHIN``
        seconds before and fewer than ``max_held_refusals`` refusals are held already; else
        return at once. The answer stays a 429 with its ``Retry-After``; only a client that
        resends at once waits, and it waits without costing the node any CPU."""
        budget = self._budgets.get(key)
        share = self.share
        if budget is None or not budget.resent or not share.refusal_delay:
            return
        if self.held_refusals >= share.max_held_refusals:
            return
        self.held_refusals += 1
        try:
            await _anyio().sleep(share.refusal_delay)
        finally:
            self.held_refusals -= 1
            # Counted from the answer: a client with one connection that resends the moment
            # its held 429 arrives is a resend again, not a first refusal.
            budget.refused_at = self._clock()

    # -- the queue (called by Turn) ------------------------------------------------------

    def _enqueue(self, turn: Turn) -> None:
        budget = turn._budget
        if not budget.waiters and budget.running < self.running_limit() and self._free:
            self._grant(turn)  # nobody to overtake: run now
            return
        budget.waiters.append(turn)
        budget.queued_at = self._clock()
        self._ready.setdefault(turn._key, None)
        self._dispatch()

    def _grant(self, turn: Turn) -> None:
        self._free -= 1
        turn._budget.running += 1
        turn._granted = True
        turn._event.set()

    def _withdraw(self, turn: Turn) -> None:
        budget = turn._budget
        if turn in budget.waiters:
            budget.waiters.remove(turn)
        if not budget.waiters:
            self._ready.pop(turn._key, None)

    def _leave(self, turn: Turn) -> None:
        budget = turn._budget
        self._withdraw(turn)
        budget.in_node -= 1
        if not budget.in_node and turn._key != UNVERIFIED:
            self._present -= 1
            self._recent[turn._key] = self._clock()  # the newest: the dict stays in time order
        if turn._granted:
            budget.running -= 1
            self._free += 1
        self._forget_if_idle(turn._key, budget)
        self._dispatch()

    def _dispatch(self) -> None:
        """Hand free slots to waiting keys in round-robin order."""
        if not (self._free and self._ready):
            return
        limit = self.running_limit()
        while self._free and self._ready:
            for key in list(self._ready):
                budget = self._budgets[key]
                if budget.running < limit:
                    break
            else:
                return  # every waiting key is at its concurrency: wait for one to finish
            turn = budget.waiters.popleft()
            self._ready.pop(key)
            if budget.waiters:
                self._ready[key] = None  # to the back of the round
            self._grant(turn)

    def _forget_if_idle(self, key: Hashable, budget: _Budget, now: float | None = None) -> None:
        # A key with nothing in the node and a full bucket carries no state worth keeping.
        if budget.in_node:
            return
        share = self.share
        refilled = budget.tokens
        if now is not None:
            refilled += (now - budget.checked) * share.tenant_rate
        if share.tenant_rate == 0 or refilled >= share.tenant_burst:
            self._budgets.pop(key, None)

    def _sweep(self, now: float) -> None:
        for key, budget in list(self._budgets.items()):
            self._forget_if_idle(key, budget, now)


class KeyHints:
    """Whom a key was last verified as, by a hash of the whole key: scheduling hints only.

    A bounded LRU map. ``budget_key`` never authorizes anything: the request is verified
    afterwards as always. Losing a hint (eviction) only means one request in the shared
    budget of unverified keys.
    """

    def __init__(self, size: int = 10_000) -> None:
        self._size = size
        self._hints: OrderedDict[bytes, tuple[str | None, bool]] = OrderedDict()

    @staticmethod
    def _digest(credential: str) -> bytes:
        return hashlib.sha256(credential.encode("utf-8", "surrogatepass")).digest()

    def budget_key(self, credential: str | None, path_tenant: str | None) -> Hashable:
        """The budget a request with this ``Authorization`` value and path tenant spends."""
        if not credential:
            return UNVERIFIED
        digest = self._digest(credential)
        hint = self._hints.get(digest)
        if hint is None:
            return UNVERIFIED
        self._hints.move_to_end(digest)
        tenant, admin = hint
        if admin:
            # An admin acting for a tenant spends that tenant's budget; its own routes, its own.
            return ("tenant", path_tenant) if path_tenant is not None else ("admin", digest)
        return ("tenant", tenant)

    def verified(self, credential: str, tenant: str | None, admin: bool) -> None:
        digest = self._digest(credential)
        self._hints[digest] = (tenant, admin)
        self._hints.move_to_end(digest)
        while len(self._hints) > self._size:
            self._hints.popitem(last=False)

    def refused(self, credential: str | None) -> None:
        if credential:
            self._hints.pop(self._digest(credential), None)
