"""The supervisor end to end against the simulator: states, changes, quiet polls, users."""

from __future__ import annotations

import time

import anyio
import httpx
import pytest

from daktela_async import DaktelaClient, DaktelaUsageError, TransportOptions
from daktela_async._models import AgentStateName
from daktela_async.realtime import (
    AgentCallEnded,
    AgentCallStarted,
    AgentStateChanged,
    Event,
    QueueLoginChanged,
    QueueStatsChanged,
    SessionChanged,
)
from daktela_async.sim import Simulator
from daktela_async.transports import httpcore_transport_factory
from tests.realtime.conftest import WATCH
from tests.realtime.support import collect_for, collect_until, established_to

pytestmark = pytest.mark.anyio

USERS = ["hajek", "novak", "demouser"]


def states(events: list[Event]) -> list[tuple[str, str]]:
    return [
        (e.user, str(e.current.agent_state)) for e in events if isinstance(e, AgentStateChanged)
    ]


async def test_initial_states_then_each_change_once(sim: Simulator, client: DaktelaClient) -> None:
    async with client.watch(users=USERS, **WATCH) as watcher, watcher.subscribe() as events:
        first = await collect_until(events, lambda seen: len(states(seen)) == 3)
        assert sorted(states(first)) == sorted((u, "Idle") for u in USERS)
        assert all(e.previous is None for e in first if isinstance(e, AgentStateChanged))

        sim.pause_on("hajek", "7")
        [paused] = [
            e
            for e in await collect_until(events, lambda s: bool(states(s)))
            if isinstance(e, AgentStateChanged)
        ]
        assert paused.user == "hajek"
        assert paused.current.agent_state == AgentStateName.PAUSED
        assert paused.current.id_pause == 7
        assert paused.previous is not None
        assert paused.previous.agent_state == "Idle"

        call_id = sim.set_state("novak", "Speaking")
        seen = await collect_until(
            events, lambda s: any(isinstance(e, AgentCallStarted) for e in s)
        )
        assert states(seen) == [("novak", "Speaking")]
        [started] = [e for e in seen if isinstance(e, AgentCallStarted)]
        assert started.call.id_call == call_id

        sim.hangup("novak")
        seen = await collect_until(events, lambda s: any(isinstance(e, AgentCallEnded) for e in s))
        [ended] = [e for e in seen if isinstance(e, AgentCallEnded)]
        assert ended.call.id_call == call_id
        assert ("novak", "Speaking") not in states(seen)

        # Nothing else is pending: every change was published exactly once.
        assert await collect_for(events, 2 * 0.3) == []
    snapshot = watcher.snapshot()
    assert snapshot["hajek"].agent_state == "Paused"


async def test_unchanged_long_polls_publish_nothing(sim: Simulator, client: DaktelaClient) -> None:
    async with client.watch(users=USERS, **WATCH) as watcher, watcher.subscribe() as events:
        await collect_until(events, lambda seen: len(states(seen)) == 3)
        before = watcher.stats().sources["agents"].requests
        quiet = await collect_for(events, 1.5)
        after = watcher.stats().sources["agents"].requests
    assert quiet == []
    # The polls kept going (each held ~0.3 s, then re-sent with the same hash)...
    assert after - before >= 3 * 3
    # ...and nobody backed off or failed.
    assert watcher.stats().sources["agents"].consecutive_failures == 0


async def test_hash_is_sent_after_the_first_answer(sim: Simulator, client: DaktelaClient) -> None:
    async with client.watch(users=["hajek"], **WATCH) as watcher, watcher.subscribe() as events:
        [event] = await collect_until(events, lambda seen: len(seen) == 1)
        assert isinstance(event, AgentStateChanged)
        assert event.current.hash == sim.hash("hajek")


async def test_late_subscriber_starts_with_the_current_state(
    sim: Simulator, client: DaktelaClient
) -> None:
    async with client.watch(users=USERS, stats=("queues",), stats_interval=0.2, **WATCH) as w:
        async with w.subscribe() as early:
            await collect_until(early, lambda seen: len(states(seen)) == 3)
            sim.pause_on("demouser", "7")
            await collect_until(early, lambda seen: ("demouser", "Paused") in states(seen))
        async with w.subscribe() as late:
            replayed = await collect_until(
                late,
                lambda seen: (
                    len(states(seen)) == 3 and any(isinstance(e, QueueStatsChanged) for e in seen)
                ),
            )
    assert ("demouser", "Paused") in states(replayed)
    assert all(getattr(e, "previous", None) is None for e in replayed)


async def test_queue_logins_and_stats(sim: Simulator, client: DaktelaClient) -> None:
    async with (
        client.watch(
            users=["hajek"], stats=("queues", "sessions"), stats_interval=0.2, **WATCH
        ) as watcher,
        watcher.subscribe() as events,
    ):
        seen = await collect_until(events, lambda s: len(states(s)) == 1)
        queues = [q for q in watcher.snapshot()["hajek"].login_oqueues if q.rt_logged]
        assert queues
        queue = queues[0]
        sim.logout_queue("hajek", str(queue.name))
        seen += await collect_until(
            events,
            lambda s: (
                any(isinstance(e, QueueLoginChanged) for e in s)
                and any(isinstance(e, QueueStatsChanged) for e in seen + s)
                and any(isinstance(e, SessionChanged) for e in seen + s)
            ),
        )
        [change] = [e for e in seen if isinstance(e, QueueLoginChanged)]
        assert change.queue == str(queue.queue)
        assert change.logged is False
        assert watcher.table("queues")
        assert watcher.table("sessions")


async def test_add_and_remove_users_while_running(sim: Simulator, client: DaktelaClient) -> None:
    async with client.watch(users=["hajek"], **WATCH) as watcher, watcher.subscribe() as events:
        await collect_until(events, lambda seen: len(states(seen)) == 1)
        await watcher.add_users(["novak", "hajek"])
        seen = await collect_until(events, lambda s: len(states(s)) == 1)
        assert states(seen) == [("novak", "Idle")]
        assert set(watcher.users) == {"hajek", "novak"}

        await watcher.remove_users(["hajek"])
        assert "hajek" not in watcher.snapshot()
        sim.pause_on("hajek", "7")
        sim.pause_on("novak", "7")
        seen = await collect_until(events, lambda s: len(states(s)) == 1)
        assert states(seen) == [("novak", "Paused")]
        assert await collect_for(events, 0.8) == []


async def test_leaving_cancels_every_poll_quickly() -> None:
    # A real hold (30 s): leaving must not wait for the server to answer.
    async with (
        Simulator(agents=6, queues=1, speed=0, hold=30.0) as sim,
        DaktelaClient(sim.url, sim.token) as client,
    ):
        watcher = client.watch(users=USERS, stats=("queues", "calls"), stats_interval=0.2)
        async with watcher, watcher.subscribe() as events:
            await collect_until(events, lambda seen: len(states(seen)) == 3)
            with anyio.fail_after(3):
                # The count lives in the simulator's thread: there is no event to wait on.
                while sim.context.held < 3:  # noqa: ASYNC110
                    await anyio.sleep(0.02)
            started = time.monotonic()
        assert time.monotonic() - started < 2.0
        assert client.pool.in_flight == 0
        assert watcher.hub.closed
        await client.aclose()
        assert established_to(sim.port) in (0, None)


async def test_interval_polling_below_api_4(sim: Simulator) -> None:
    sent: list[httpx.URL] = []

    def recording(options: TransportOptions) -> httpx.AsyncBaseTransport:
        transport = httpcore_transport_factory(options)
        send = transport.handle_async_request

        async def handle(request: httpx.Request) -> httpx.Response:
            sent.append(request.url)
            return await send(request)

        transport.handle_async_request = handle  # type: ignore[method-assign]
        return transport

    async with (
        DaktelaClient(sim.url, sim.token, api_version="3.9", transport_factory=recording) as client,
        client.watch(users=["hajek"], poll_interval=0.1, **WATCH) as watcher,
        watcher.subscribe() as events,
    ):
        await collect_until(events, lambda seen: len(states(seen)) == 1)
        sim.pause_on("hajek", "7")
        seen = await collect_until(events, lambda s: len(states(s)) == 1)
        assert states(seen) == [("hajek", "Paused")]
        # Interval polls: RTUserState was asked again and again, never with a hash.
        polls = [url for url in sent if "/RTUserState/" in url.path]
        assert len(polls) >= 2
        assert all("hash" not in url.params for url in polls)


async def test_unknown_stats_name_is_a_usage_error(client: DaktelaClient) -> None:
    with pytest.raises(DaktelaUsageError, match="unknown stats"):
        client.watch(stats=("queue",))
