"""Outages of every kind: one error event, bounded requests, recovery, resync, auth stops."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from daktela_async import DaktelaClient, Timeouts
from daktela_async.realtime import (
    AgentStateChanged,
    Event,
    SourceFailed,
    SourceRecovered,
)
from daktela_async.sim import Simulator
from tests.realtime.conftest import HOLD, WATCH
from tests.realtime.support import collect_for, collect_until

pytestmark = pytest.mark.anyio

USERS = ["hajek", "novak", "demouser"]


def of(kind: type[Event], events: list[Event]) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


def agent_states(events: list[Event]) -> list[tuple[str, str]]:
    return [(e.user, str(e.current.agent_state)) for e in of(AgentStateChanged, events)]


FAULTS: list[tuple[str, dict[str, Any]]] = [
    ("status", {"status": 503}),
    ("status", {"status": 502, "retry_after": 30}),
    ("reset", {}),
    ("garbage", {"garbage": "html"}),
    ("garbage", {"garbage": "truncated"}),
    ("garbage", {"garbage": "wrong_shape"}),
    ("hang", {}),
]


@pytest.mark.parametrize(("kind", "options"), FAULTS, ids=lambda v: str(v))
async def test_outage_is_reported_once_then_recovered_and_resynced(
    sim: Simulator, client: DaktelaClient, kind: Any, options: dict[str, Any]
) -> None:
    async with client.watch(users=USERS, **WATCH) as watcher, watcher.subscribe() as events:
        await collect_until(events, lambda seen: len(agent_states(seen)) == 3)
        fault = sim.inject(kind, actions={"RTUserState"}, **options)
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
        assert failed.error == "GetUser: Uživatel neexistuje"
        assert await collect_for(events, 0.5) == []
        sources = watcher.stats().sources
        assert sources["agents"].requests == 0
        assert "stats:queues" not in sources
        assert watcher.failure is not None


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
