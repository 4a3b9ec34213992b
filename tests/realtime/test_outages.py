"""Outages of every kind: one error event, bounded requests, recovery, resync, auth stops."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest

from daktela_async import (
    DaktelaAPIError,
    DaktelaAuthError,
    DaktelaClient,
    DaktelaUsageError,
    PoolLimits,
    Timeouts,
)
from daktela_async.realtime import (
    AgentStateChanged,
    Event,
    SourceFailed,
    SourceRecovered,
)
from daktela_async.sim import Simulator
from tests.realtime.conftest import HOLD, WATCH
from tests.realtime.support import collect_for, collect_until, until_failure

pytestmark = pytest.mark.anyio

USERS = ["hajek", "novak", "demouser"]


def of(kind: type[Event], events: list[Event]) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


def agent_states(events: list[Event]) -> list[tuple[str, str]]:
    return [(e.user, str(e.current.agent_state)) for e in of(AgentStateChanged, events)]


def arrived(expected: set[tuple[str, str]]) -> Callable[[list[Event]], bool]:
    return lambda seen: expected <= set(agent_states(seen))


#: Every kind of fault that means "the PBX is down": no answer, or a gateway's 5xx/429.
#: (A 500 or a garbled body is an answer about one request: see test_failure_model.)
FAULTS: list[tuple[str, dict[str, Any]]] = [
    ("status", {"status": 503}),
    ("status", {"status": 502, "retry_after": 1}),
    ("status", {"status": 429}),
    ("status", {"status": 504}),
    ("reset", {}),
    ("hang", {}),
]


@pytest.mark.parametrize(("kind", "options"), FAULTS, ids=lambda v: str(v))
async def test_outage_is_reported_once_then_recovered_and_resynced(
    sim: Simulator, client: DaktelaClient, kind: Any, options: dict[str, Any]
) -> None:
    async with client.watch(users=USERS, **WATCH) as watcher, watcher.subscribe() as events:
        await collect_until(events, lambda seen: len(agent_states(seen)) == 3)
        # The whole PBX is down: the probes and the canary fail as well.
        fault = sim.inject(kind, **options)
        outage = await collect_until(events, lambda seen: bool(of(SourceFailed, seen)))
        [failed] = of(SourceFailed, outage)
        assert failed.source == "agents"
        assert failed.attempt == 1
        assert failed.retry_in is not None
        # Polls held since before the fault end within one hold; then every agent waits.
        await anyio.sleep(HOLD + 0.3)
        # A change during the outage...
        sim.pause_on("novak", "7")
        await anyio.sleep(0.3)
        sim.clear_faults(fault.id)
        recovery = await collect_until(
            events, lambda seen: ("novak", "Paused") in agent_states(seen), timeout=8
        )
        # ...arrives after one recovery event, and the outage was reported only once.
        assert of(SourceFailed, recovery) == []
        [recovered] = of(SourceRecovered, recovery)
        assert recovered.source == "agents"
        assert recovered.attempts >= 1
        assert recovery.index(recovered) < len(recovery) - 1
        assert agent_states(recovery) == [("novak", "Paused")]
        assert await collect_for(events, 0.6) == []
        stats = watcher.stats().sources["agents"]
        assert stats.reconnects == 1
        assert stats.consecutive_failures == 0


async def test_requests_stay_bounded_when_the_server_is_down() -> None:
    users = [f"agent{n:03d}" for n in range(1, 31)]
    async with Simulator(agents=40, queues=1, speed=0, hold=0.3) as sim:
        timeouts = Timeouts(connect=0.5, read=1.0, write=1.0, pool=1.0, deadline=2.0)
        async with (
            DaktelaClient(sim.url, sim.token, timeout=timeouts) as client,
            client.watch(users=users, **WATCH) as watcher,
            watcher.subscribe() as events,
        ):
            await collect_until(events, lambda seen: len(agent_states(seen)) == len(users))
            sim.stop_server()
            await collect_until(events, lambda seen: bool(of(SourceFailed, seen)))
            before = watcher.stats().sources["agents"].requests
            await anyio.sleep(2.0)
            during = watcher.stats().sources["agents"].requests - before
            sim.pause_on("agent007", "7")
            sim.start_server()
            seen = await collect_until(
                events, lambda s: ("agent007", "Paused") in agent_states(s), timeout=8
            )
    # One prober with a 0.05-0.2 s backoff: about 20 requests in 2 s; 30 agents each retrying
    # on their own would have sent hundreds.
    assert during <= 40, during
    assert len(of(SourceRecovered, seen)) == 1
    assert of(SourceFailed, seen) == []


async def test_stats_source_fails_and_recovers_on_its_own(
    sim: Simulator, client: DaktelaClient
) -> None:
    async with (
        client.watch(users=["hajek"], stats=("queues",), stats_interval=0.1, **WATCH) as watcher,
        watcher.subscribe(kinds=["source_failed", "source_recovered"]) as events,
    ):
        await anyio.sleep(0.3)
        fault = sim.inject("status", status=500, actions={"RTStatsQueues"})
        [failed] = await collect_until(events, lambda seen: len(seen) == 1)
        assert isinstance(failed, SourceFailed)
        assert failed.source == "stats:queues"
        await anyio.sleep(0.5)
        sim.clear_faults(fault.id)
        [recovered] = await collect_until(events, lambda seen: len(seen) == 1)
        assert isinstance(recovered, SourceRecovered)
        assert recovered.source == "stats:queues"
        assert watcher.stats().sources["agents"].consecutive_failures == 0


async def test_wrong_token_stops_every_source_without_polling(sim: Simulator) -> None:
    async with (
        DaktelaClient(sim.url, "0" * 40) as client,
        client.watch(users=USERS, stats=("queues",), **WATCH) as watcher,
        watcher.subscribe() as events,
    ):
        [failed] = await collect_until(events, lambda seen: len(seen) == 1)
        assert isinstance(failed, SourceFailed)
        assert failed.source == "auth"
        assert failed.stopped
        assert failed.error_type == "DaktelaAuthError"
        assert "GetUser: Uživatel neexistuje" in failed.error
        # After the final event the subscription ends with the failure, at once.
        _, error = await until_failure(events, timeout=1)
        assert isinstance(error, DaktelaAuthError)
        assert isinstance(error.__cause__, DaktelaAPIError)
        sources = watcher.stats().sources
        assert sources["agents"].requests == 0
        assert "stats:queues" not in sources
        assert watcher.failure is error
        with pytest.raises(DaktelaUsageError, match="stopped"):
            watcher.subscribe()
        with pytest.raises(DaktelaUsageError, match="stopped"):
            await watcher.add_users(["novak"])


async def test_http_auth_failure_mid_run_stops_without_a_hot_loop(
    sim: Simulator, client: DaktelaClient
) -> None:
    async with client.watch(users=USERS, **WATCH) as watcher, watcher.subscribe() as events:
        await collect_until(events, lambda seen: len(agent_states(seen)) == 3)
        sim.inject("status", status=401, actions={"RTUserState"})
        seen = await collect_until(events, lambda s: bool(of(SourceFailed, s)))
        [failed] = of(SourceFailed, seen)
        assert failed.stopped
        requests = watcher.stats().sources["agents"].requests
        await anyio.sleep(1.0)
        assert watcher.stats().sources["agents"].requests == requests
        assert watcher.stats().sources["agents"].stopped


async def test_unknown_agent_is_its_own_source(sim: Simulator, client: DaktelaClient) -> None:
    async with (
        client.watch(users=["hajek", "nobody"], **WATCH) as watcher,
        watcher.subscribe() as events,
    ):
        seen = await collect_until(
            events, lambda s: bool(of(SourceFailed, s)) and bool(agent_states(s))
        )
        [failed] = of(SourceFailed, seen)
        assert failed.source == "agent:nobody"
        assert agent_states(seen) == [("hajek", "Idle")]
        sim.pause_on("hajek", "7")
        seen = await collect_until(events, lambda s: bool(agent_states(s)))
        assert agent_states(seen) == [("hajek", "Paused")]
        assert watcher.stats().sources["agents"].consecutive_failures == 0


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "status", "status": 500},
        {"kind": "garbage", "garbage": "wrong_shape"},
        {"kind": "garbage", "garbage": "truncated"},
        {"kind": "logout"},
    ],
    ids=lambda f: str(f.get("status") or f.get("garbage") or f["kind"]),
)
async def test_one_agent_failing_leaves_the_others_live(
    sim: Simulator, client: DaktelaClient, fault: dict[str, Any]
) -> None:
    async with client.watch(users=USERS, **WATCH) as watcher, watcher.subscribe() as events:
        await collect_until(events, lambda seen: len(agent_states(seen)) == 3)
        options = {k: v for k, v in fault.items() if k != "kind"}
        if fault["kind"] == "logout":
            sim.logout("hajek")
        else:
            sim.inject(fault["kind"], users={"hajek"}, **options)
            sim.pause_on("hajek", "7")
        seen: list[Event] = []
        for pause in ("7", None):
            for user in ("novak", "demouser"):
                if pause:
                    sim.pause_on(user, pause)
                else:
                    sim.pause_off(user)
            expected = {(user, "Paused" if pause else "Idle") for user in ("novak", "demouser")}
            seen += await collect_until(events, arrived(expected))
        if not of(SourceFailed, seen):
            seen += await collect_until(events, lambda s: bool(of(SourceFailed, s)), timeout=3)
        assert [f.source for f in of(SourceFailed, seen)] == ["agent:hajek"]
        assert of(SourceRecovered, seen) == []
        assert watcher.stats().sources["agents"].consecutive_failures == 0


async def test_an_agent_logging_out_during_an_outage_does_not_hold_the_others(
    sim: Simulator, client: DaktelaClient
) -> None:
    async with client.watch(users=USERS, **WATCH) as watcher, watcher.subscribe() as events:
        await collect_until(events, lambda seen: len(agent_states(seen)) == 3)
        sim.stop_server()
        await collect_until(events, lambda seen: bool(of(SourceFailed, seen)))
        sim.logout("hajek")
        sim.pause_on("novak", "7")
        sim.pause_on("demouser", "7")
        sim.start_server()
        seen = await collect_until(
            events,
            lambda s: {("novak", "Paused"), ("demouser", "Paused")} <= set(agent_states(s)),
            timeout=8,
        )
        assert [r.source for r in of(SourceRecovered, seen)] == ["agents"]
        if not of(SourceFailed, seen):
            seen += await collect_until(events, lambda s: bool(of(SourceFailed, s)), timeout=3)
        assert [f.source for f in of(SourceFailed, seen)] == ["agent:hajek"]


async def test_a_revoked_token_ends_every_subscription_within_seconds(
    sim: Simulator, client: DaktelaClient
) -> None:
    async with client.watch(users=USERS, **WATCH) as watcher, watcher.subscribe() as events:
        await collect_until(events, lambda seen: len(agent_states(seen)) == 3)
        before = watcher.stats().sources["agents"].requests
        sim.revoke_token()
        _, error = await until_failure(events, timeout=5)
        assert isinstance(error, DaktelaAuthError)
        # The held polls come back (hold 0.3 s) with status 0; one GetUser settles it.
        assert watcher.stats().sources["agents"].requests - before <= len(USERS) + 3


async def test_the_canary_notices_a_hung_simulator() -> None:
    async with (
        Simulator(agents=6, queues=1, speed=0, hold=30.0) as sim,
        DaktelaClient(sim.url, sim.token) as client,
        client.watch(
            users=USERS, long_poll_timeout=60.0, canary_interval=0.5, canary_timeout=0.5
        ) as watcher,
        watcher.subscribe() as events,
    ):
        await collect_until(events, lambda seen: len(agent_states(seen)) == 3)
        fault = sim.inject("hang")
        seen = await collect_until(events, lambda s: bool(of(SourceFailed, s)), timeout=3)
        assert [f.source for f in of(SourceFailed, seen)] == ["agents"]
        sim.pause_on("novak", "7")
        sim.clear_faults(fault.id)
        seen = await collect_until(
            events, lambda s: ("novak", "Paused") in agent_states(s), timeout=5
        )
        assert [r.source for r in of(SourceRecovered, seen)] == ["agents"]
        assert watcher.stats().failing == ()


async def test_an_outage_cancels_the_polls_it_finds_held() -> None:
    # Polls held since before a PBX hung would wait for their read timeout (60 s here):
    # the outage cancels them, and the resync after it sends fresh ones.
    async with (
        Simulator(agents=6, queues=1, speed=0, hold=30.0) as sim,
        DaktelaClient(sim.url, sim.token) as client,
        client.watch(
            users=USERS, long_poll_timeout=60.0, canary_interval=0.5, canary_timeout=0.5
        ) as watcher,
        watcher.subscribe() as events,
    ):
        await collect_until(events, lambda seen: len(agent_states(seen)) == 3)
        with anyio.fail_after(5):
            while sim.context.held < len(USERS):  # noqa: ASYNC110 (another thread's count)
                await anyio.sleep(0.05)
        sim.inject("hang")
        await collect_until(events, lambda s: bool(of(SourceFailed, s)), timeout=3)
        # The simulator ends a hold when its client hangs up: none is left.
        with anyio.fail_after(3):
            while sim.context.held:  # noqa: ASYNC110
                await anyio.sleep(0.05)
        assert watcher.stats().sources["agents"].consecutive_failures >= 1


async def test_a_full_pool_is_not_mistaken_for_an_outage(caplog: pytest.LogCaptureFixture) -> None:
    # Four connections, four agents held for 30 s: every connection is taken and the
    # canary waits for one until the pool timeout. That is the client's own congestion,
    # not a PBX outage: no gate closes, no poll is cancelled.
    timeouts = Timeouts(connect=1.0, read=2.0, write=1.0, pool=0.5, deadline=3.0)
    users = ["hajek", "novak", "demouser", "hajekhu"]
    limits = PoolLimits(shard_connections=2, max_shards=2)
    async with (
        Simulator(agents=6, queues=1, seed=7, speed=0, hold=30.0) as sim,
        DaktelaClient(sim.url, sim.token, timeout=timeouts, limits=limits) as client,
        client.watch(
            users, **{**WATCH, "long_poll_timeout": 60.0, "canary_interval": 0.3}
        ) as watcher,
        watcher.subscribe(kinds=["source_failed", "source_recovered"]) as events,
    ):
        assert await collect_for(events, 2.5) == []
        assert watcher.stats().sources["agents"].reconnects == 0
        assert watcher.stats().sources["agents"].requests >= 4 + 2  # the canary tried
    assert any("pool has 4" in r.getMessage() for r in caplog.records)
