"""Fair sharing (contract §16) on a real ``nigh serve``: budgets, 429 with Retry-After, turns.

A request holds its turn while its body uploads, so a client that sends headers and then
part of a body holds one of its tenant's running slots for as long as the test wants: the
budgets are exercised deterministically, without timing a slow search. The scheduler's
round-robin order is checked on the scheduler itself, in an event loop.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

import nighdb
from nighdb.errors import InvalidArgumentError, RateLimitedError
from nighdb.service.app import encode_in_slices
from nighdb.service.fairness import (
    ACTIVE_WINDOW,
    RESENT_WITHIN,
    UNVERIFIED,
    FairScheduler,
    FairShare,
    KeyHints,
)
from nighdb.wire import dumps

from .harness import ServeNode, create_key


@contextlib.contextmanager
def held_upload(url: str, key: str, tenant: str) -> Iterator[socket.socket]:
    """An upsert whose body never finishes: it holds one running slot of ``tenant``."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    try:
        sock.sendall(
            (
                f"POST /v1/tenants/{tenant}/collections/c/upsert HTTP/1.1\r\n"
                f"Host: {host}\r\nAuthorization: Bearer {key}\r\n"
                "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
            ).encode()
        )
        yield sock
    finally:
        sock.close()


def call(http: httpx.Client, key: str, path: str = "/v1/collections") -> httpx.Response:
    return http.get(path, headers={"Authorization": f"Bearer {key}"})


@pytest.fixture
def node(tmp_path: Path) -> Iterator[tuple[ServeNode, dict[str, str]]]:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    keys = {t: create_key(url, t) for t in ("acme", "globex")}
    flags = ["--max-concurrency", "2", "--tenant-concurrency", "1", "--tenant-queue", "1"]
    with ServeNode.nigh_serve(url, *flags, "--queue-timeout", "1", "--no-access-log") as n:
        yield n, keys


def test_over_its_concurrency_budget_a_tenant_gets_429_and_others_keep_going(
    node: tuple[ServeNode, dict[str, str]],
) -> None:
    server, keys = node
    a, b = keys["acme"], keys["globex"]
    with httpx.Client(base_url=server.url, timeout=10) as http:
        assert call(http, a).status_code == 200  # A's key is now known to this node
        with held_upload(server.url, a, "acme"):
            time.sleep(0.3)  # admitted, reading its body: A's one running slot is taken
            with held_upload(server.url, a, "acme"):
                time.sleep(0.3)  # waiting for A's turn: A's one queue place is taken
                refused = call(http, a)
                assert refused.status_code == 429
                assert refused.headers["Retry-After"] == "1"
                error = refused.json()["error"]
                assert error["code"] == "rate_limited"
                assert error["details"] == {"retry_after": 1}
                started = time.monotonic()
                for _ in range(5):  # B has the other slot to itself
                    assert call(http, b).status_code == 200
                assert time.monotonic() - started < 2
        # Both uploads gone: A's budget is whole again.
        time.sleep(0.3)
        assert call(http, a).status_code == 200


def test_readyz_is_503_while_every_worker_slot_is_taken(
    node: tuple[ServeNode, dict[str, str]],
) -> None:
    server, keys = node
    with httpx.Client(base_url=server.url, timeout=10) as http:
        for key in keys.values():
            assert call(http, key).status_code == 200  # the keys are known to this node
        assert http.get("/readyz").status_code == 200
        acme, globex = keys["acme"], keys["globex"]
        with held_upload(server.url, acme, "acme"), held_upload(server.url, globex, "globex"):
            time.sleep(0.3)  # both admitted: the node's two slots are taken
            busy = http.get("/readyz")
            assert busy.status_code == 503
            assert busy.json()["reason"] == "saturated: every worker is busy"
            assert http.get("/healthz").status_code == 200  # liveness is not readiness
        time.sleep(0.3)
        assert http.get("/readyz").status_code == 200


def test_a_request_waiting_past_the_queue_timeout_is_429(
    node: tuple[ServeNode, dict[str, str]],
) -> None:
    server, keys = node
    a = keys["acme"]
    with httpx.Client(base_url=server.url, timeout=10) as http:
        assert call(http, a).status_code == 200
        with held_upload(server.url, a, "acme"):
            time.sleep(0.3)
            started = time.monotonic()
            waited = call(http, a)
            elapsed = time.monotonic() - started
        assert waited.status_code == 429, waited.text
        assert waited.headers["Retry-After"] == "1"
        assert "waiting too long" in waited.json()["error"]["message"]
        assert 0.9 < elapsed < 5


def test_a_refusal_resent_at_once_is_held_back_before_its_429(
    node: tuple[ServeNode, dict[str, str]],
) -> None:
    server, keys = node
    a = keys["acme"]
    with httpx.Client(base_url=server.url, timeout=10) as http:
        assert call(http, a).status_code == 200
        with held_upload(server.url, a, "acme"), held_upload(server.url, a, "acme"):
            time.sleep(0.3)  # acme's running slot and its queue place are taken
            started = time.monotonic()
            first = call(http, a)
            answered = time.monotonic()
            again = call(http, a)  # sent again at once, as a flood does
            held = time.monotonic() - answered
        assert first.status_code == again.status_code == 429
        assert answered - started < 0.9  # the first refusal is answered at once...
        assert held >= 0.9  # ...the resent one after the default --refusal-delay of 1 s
        assert again.headers["Retry-After"] == "1"
        assert again.json()["error"]["code"] == "rate_limited"


async def _held_refusals() -> None:
    now = 0.0
    share = FairShare(
        max_concurrency=1,
        tenant_concurrency=1,
        tenant_queue=1,
        refusal_delay=60,
        max_held_refusals=1,
    )
    scheduler = FairScheduler(share, clock=lambda: now)
    turns = [scheduler.admit("A") for _ in range(2)]  # one to run, one to wait: A is full

    def refuse() -> None:
        with pytest.raises(RateLimitedError):
            scheduler.admit("A")

    refuse()
    await scheduler.hold_refusal("A")  # A's first refusal: answered at once
    now = RESENT_WITHIN + 0.1
    refuse()
    await scheduler.hold_refusal("A")  # long enough after the last one: at once again
    answered: list[str] = []

    async def answer(name: str) -> None:
        await scheduler.hold_refusal("A")
        answered.append(name)

    async with anyio.create_task_group() as tg:
        now += 0.1
        refuse()  # resent at once: held back
        tg.start_soon(answer, "held")
        await anyio.sleep(0)
        assert (scheduler.held_refusals, answered) == (1, [])
        refuse()  # resent too, but the node holds at most one refusal: answered at once
        await answer("over the bound")
        assert (scheduler.held_refusals, answered) == (1, ["over the bound"])
        tg.cancel_scope.cancel()  # the client of the held one hung up
    assert scheduler.held_refusals == 0
    other = FairScheduler(FairShare(tenant_concurrency=1, tenant_queue=1, refusal_delay=0))
    for _ in range(2):
        other.admit("A")
    for _ in range(3):  # with --refusal-delay 0, every refusal is answered at once
        with pytest.raises(RateLimitedError):
            other.admit("A")
        await other.hold_refusal("A")
    for turn in turns:
        turn.leave()


def test_refusals_are_held_back_only_when_resent_at_once_and_within_the_bound() -> None:
    anyio.run(_held_refusals)


def test_admin_keys_spend_the_budget_of_the_tenant_they_act_for(
    node: tuple[ServeNode, dict[str, str]], tmp_path: Path
) -> None:
    server, keys = node
    admin = create_key(f"sqlite:///{tmp_path / 'store.db'}", None)
    with httpx.Client(base_url=server.url, timeout=10) as http:
        assert call(http, admin, "/v1/tenants/acme/collections").status_code == 200
        assert call(http, keys["acme"]).status_code == 200
        with held_upload(server.url, admin, "acme"), held_upload(server.url, admin, "acme"):
            time.sleep(0.3)
            # The admin's work for acme fills acme's budget: acme's own key waits its turn,
            # and is refused once the queue is full...
            assert call(http, keys["acme"]).status_code == 429
            assert call(http, admin, "/v1/tenants/acme/collections").status_code == 429
            # ...while the admin acting for another tenant, and that tenant, go on.
            assert call(http, admin, "/v1/tenants/globex/collections").status_code == 200
            assert call(http, keys["globex"]).status_code == 200


def test_rate_budget(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    a, b = create_key(url, "acme"), create_key(url, "globex")
    flags = ["--tenant-rate", "0.5", "--tenant-burst", "3", "--no-access-log"]
    with ServeNode.nigh_serve(url, *flags) as server, httpx.Client(base_url=server.url) as http:
        # The first request of a key this node has not verified yet spends the budget
        # shared by unverified keys; from then on, its tenant's.
        answers = [call(http, a) for _ in range(5)]
        assert [r.status_code for r in answers] == [200, 200, 200, 200, 429]
        # One token every 2 s: the next one comes in at most 2 s.
        assert answers[4].headers["Retry-After"] in ("1", "2")
        assert "rate budget of 0.5 requests per second" in answers[4].json()["error"]["message"]
        assert call(http, b).status_code == 200  # B's bucket is its own


def test_while_another_tenant_is_active_a_tenant_runs_its_share_of_the_cores(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    a, b = create_key(url, "acme"), create_key(url, "globex")
    flags = ["--max-concurrency", "4", "--tenant-concurrency", "2", "--tenant-queue", "2"]
    flags += ["--cores", "2", "--queue-timeout", "1", "--no-access-log"]
    with ServeNode.nigh_serve(url, *flags) as server, httpx.Client(base_url=server.url) as http:
        assert call(http, a).status_code == 200  # both keys are now known to this node
        assert call(http, b).status_code == 200
        time.sleep(ACTIVE_WINDOW + 0.3)  # ...and nobody has been active since
        with held_upload(server.url, a, "acme"):
            time.sleep(0.3)  # one of acme's requests runs
            # Alone on the node, acme runs its whole tenant concurrency (2): a second runs.
            assert call(http, a).status_code == 200
            with held_upload(server.url, b, "globex"):
                time.sleep(0.3)
                # globex is active: 2 cores between 2 tenants, acme may run one request at
                # once, and it has one. Its next waits for its turn, past the queue timeout.
                waited = call(http, a)
                assert waited.status_code == 429, waited.text
                assert "waiting too long" in waited.json()["error"]["message"]
            # globex has gone, and has sent nothing for longer than the window: acme has
            # the node to itself again.
            time.sleep(ACTIVE_WINDOW + 0.3)
            assert call(http, a).status_code == 200


async def _share_of_the_cores() -> None:
    now = 0.0
    share = FairShare(max_concurrency=8, tenant_concurrency=3, tenant_queue=10, cores=2)
    scheduler = FairScheduler(share, clock=lambda: now)
    first = [scheduler.admit("A") for _ in range(3)]
    for turn in first:
        await turn.wait()  # alone: all three run
    assert scheduler.running_limit() == 3
    assert not first[0].over_share  # alone, three is A's share: the normal workers
    b = scheduler.admit("B")
    await b.wait()  # B runs at once: a slot is free and B is within its share
    assert (scheduler.active_tenants(), scheduler.running_limit()) == (2, 1)
    # A now has more requests in the node than its share (one): they run on the niced
    # workers, B's on the normal ones.
    assert first[0].over_share and not b.over_share
    async with anyio.create_task_group() as tg:
        late = scheduler.admit("A")
        tg.start_soon(late.wait)
        await anyio.sleep(0)
        assert (scheduler.running, scheduler.waiting) == (4, 1)  # A is over its share: waits
        first[0].leave()
        first[1].leave()
        assert (scheduler.running, scheduler.waiting) == (2, 1)  # A still runs its one
        first[2].leave()
        assert (scheduler.running, scheduler.waiting) == (2, 0)  # now the late one runs
        # A has one request on the node, its share, but it was queueing just now: still
        # over its share (a flooding client may be slow to send the next one).
        assert late.over_share
    b.leave()
    now = ACTIVE_WINDOW / 2  # B sent its last request just now: still active
    assert scheduler.running_limit() == 1
    now = ACTIVE_WINDOW + 0.1  # B is gone: A has every core again (work-conserving)
    assert (scheduler.active_tenants(), scheduler.running_limit()) == (1, 3)
    more = [scheduler.admit("A") for _ in range(2)]
    for turn in more:
        await turn.wait()
    assert scheduler.running == 3
    assert not more[0].over_share  # alone, and it last queued more than a window ago
    for turn in [late, *more]:
        turn.leave()
    assert (scheduler.running, scheduler.active_tenants()) == (0, 1)  # A, a moment ago
    now += ACTIVE_WINDOW + 0.1
    assert scheduler.active_tenants() == 0
    # Keys not verified yet do no work beyond the key check: they are not a tenant here,
    # so a tenant's first request (under its new key) does not count the tenant twice.
    stranger, mine = scheduler.admit(UNVERIFIED), scheduler.admit("A")
    assert scheduler.active_tenants() == 1
    stranger.leave()
    mine.leave()


def test_the_scheduler_shares_the_cores_between_active_tenants() -> None:
    anyio.run(_share_of_the_cores)


async def _order(share: FairShare, arrivals: list[str]) -> list[str]:
    """The order in which queued requests of ``arrivals`` (tenant names) get to run."""
    scheduler = FairScheduler(share)
    ran: list[str] = []
    blocker = scheduler.admit("blocker")
    await blocker.wait()  # holds the one slot while the others queue up

    async def request(tenant: str) -> None:
        turn = scheduler.admit(tenant)
        try:
            await turn.wait()
            ran.append(tenant)
            await anyio.sleep(0)
        finally:
            turn.leave()

    async with anyio.create_task_group() as tg:
        for tenant in arrivals:
            tg.start_soon(request, tenant)
            await anyio.sleep(0)  # arrive in this order
        blocker.leave()
    return ran


def test_turns_go_round_robin_between_tenants() -> None:
    share = FairShare(max_concurrency=1, tenant_concurrency=1, tenant_queue=10)
    arrivals = ["A", "A", "A", "A", "B", "C", "B"]
    assert anyio.run(_order, share, arrivals) == ["A", "B", "C", "A", "B", "A", "A"]


def test_key_hints_choose_budgets_only_for_whole_known_keys() -> None:
    hints = KeyHints(size=2)
    assert hints.budget_key("Bearer made-up", None) == UNVERIFIED
    assert hints.budget_key(None, None) == UNVERIFIED
    hints.verified("Bearer k1", "acme", False)
    hints.verified("Bearer adm", None, True)
    assert hints.budget_key("Bearer k1", None) == ("tenant", "acme")
    assert hints.budget_key("Bearer k1", "other") == ("tenant", "acme")  # 403 later, acme pays
    assert hints.budget_key("Bearer k", None) == UNVERIFIED  # a prefix is not the key
    assert hints.budget_key("Bearer adm", "globex") == ("tenant", "globex")
    assert hints.budget_key("Bearer adm", None) != UNVERIFIED  # its own budget
    hints.refused("Bearer k1")  # revoked: its hint goes with it
    assert hints.budget_key("Bearer k1", None) == UNVERIFIED
    hints.verified("Bearer k2", "b", False)
    hints.verified("Bearer k3", "c", False)  # the oldest (adm) is evicted
    assert hints.budget_key("Bearer adm", "globex") == UNVERIFIED


def test_share_options_are_checked() -> None:
    with pytest.raises(InvalidArgumentError, match="tenant_concurrency must not exceed"):
        FairShare(max_concurrency=2, tenant_concurrency=3)
    with pytest.raises(InvalidArgumentError, match="queue_timeout"):
        FairShare(queue_timeout=float("nan"))
    with pytest.raises(InvalidArgumentError, match="tenant_burst must be positive"):
        FairShare(tenant_burst=0)
    with pytest.raises(InvalidArgumentError, match="cores must be positive"):
        FairShare(cores=0)
    FairShare(tenant_rate=0)  # no rate budget
    FairShare(refusal_delay=0)  # every refusal at once
    with pytest.raises(InvalidArgumentError, match="max_held_refusals must be positive"):
        FairShare(max_held_refusals=0)


def test_remote_client_retries_rate_limited_only_when_asked(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    key = create_key(url, "acme")
    flags = ["--tenant-rate", "1", "--tenant-burst", "1", "--no-access-log"]
    with ServeNode.nigh_serve(url, *flags) as server:
        with nighdb.open_store(server.url, api_key=key) as plain:
            plain.list_collections("acme")  # the unverified budget: the key is now known
            plain.list_collections("acme")  # acme's one token
            with pytest.raises(RateLimitedError) as refused:
                plain.list_collections("acme")
            assert refused.value.retry_after == 1
        time.sleep(1.2)
        with nighdb.open_store(server.url, api_key=key, retry_rate_limited=3) as patient:
            started = time.monotonic()
            for _ in range(3):  # one token per second: two of these wait about 1 s each
                assert patient.list_collections("acme") == []
            assert 1.8 < time.monotonic() - started < 6
        with nighdb.open_store(
            server.url, api_key=key, retry_rate_limited=3, max_retry_wait=0.5
        ) as hasty:
            time.sleep(1.1)
            hasty.list_collections("acme")  # spends the token refilled meanwhile
            started = time.monotonic()
            with pytest.raises(RateLimitedError):
                hasty.list_collections("acme")  # asks for 1 s, more than the caller allows
            assert time.monotonic() - started < 0.5


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"retry_rate_limited": -1}, "retry_rate_limited must be an integer"),
        ({"retry_rate_limited": True}, "retry_rate_limited must be an integer"),
        ({"max_retry_wait": float("inf")}, "max_retry_wait must be a finite"),
    ],
)
def test_remote_retry_options_are_checked(options: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        nighdb.open_store("http://127.0.0.1:9", api_key="k", **options)


@pytest.mark.parametrize(
    "payload",
    [
        {"matches": []},
        {"results": [[{"id": f"x{i}", "score": i / 7} for i in range(n)] for n in (0, 3, 700)]},
        {"ids": [str(i) for i in range(1_000)], "next": None},
        {"items": [{"id": "a", "metadata": {str(i): i for i in range(600)}}], "k": [[]] * 300},
        [1, [2] * 257, {"a": "\u00e9\U0001f600"}],
        "plain",
    ],
)
def test_answers_encoded_in_slices_are_the_same_bytes(payload: Any) -> None:
    assert encode_in_slices(payload) == dumps(payload)
    assert json.loads(encode_in_slices(payload)) == payload
