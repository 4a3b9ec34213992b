"""Every event kind survives the stream: written by the sink, read back equal by a source."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from typing import Any

import attrs
import orjson
import pytest
from redis.asyncio import Redis

from daktela_async import DaktelaClient, Timeouts
from daktela_async.realtime import (
    AgentCallEnded,
    AgentCallStarted,
    AgentStateChanged,
    CallChanged,
    Event,
    EventsDropped,
    PauseStatsChanged,
    QueueDay,
    QueueDayChanged,
    QueueLoginChanged,
    QueuesSummaryChanged,
    QueueStatsChanged,
    SessionChanged,
    SourceFailed,
    SourceRecovered,
    Watcher,
)
from daktela_async.realtime._events import event_kinds
from daktela_async.redis import RedisKeys, RedisSink, RedisSource, decode_event, encode_event
from daktela_async.sim import Simulator
from daktela_async.webhooks import CallHungUp, IncomingCall, LineAnswered, LineRinging
from tests.realtime.conftest import HOLD, WATCH
from tests.redis.conftest import RedisServer
from tests.redis.support import eventually, read, stream

pytestmark = pytest.mark.anyio

API_DATETIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")

#: A day's figures with every kind of value: floats that are not round, ``None``s.
DAY = QueueDay(
    queue="1",
    day=dt.date(2025, 3, 10),
    offered=4,
    answered=3,
    abandoned=1,
    answered_in_threshold=2,
    threshold=20.0,
    service_level=0.5,
    asa=77 / 3,
    aht=121 / 3,
    longest_wait=52,
)


async def one_of_each(sim: Simulator, watcher: Watcher) -> list[Event]:
    """One event of every kind, built from the records the watcher polled."""
    sim.pause_on("hajek", "7")
    sim.set_state("novak", "Speaking")

    async def polled() -> bool:
        states = watcher.snapshot()
        return (
            states.get("novak") is not None
            and bool(states["novak"].calls)
            and bool(watcher.table("calls"))
            and bool(watcher.table("pauses"))
            and bool(watcher.table("summary"))
            and bool(watcher.table("sessions"))
        )

    await eventually(polled)
    hajek, novak = watcher.snapshot()["hajek"], watcher.snapshot()["novak"]
    [queue_id, queue] = next(iter(watcher.table("queues").items()))
    [session_id, session] = next(iter(watcher.table("sessions").items()))
    [call_id, call] = next(iter(watcher.table("calls").items()))
    [pause_id, pause] = next(iter(watcher.table("pauses").items()))
    summary = watcher.table("summary")["summary"]
    return [
        AgentStateChanged(user="hajek", previous=None, current=hajek),
        AgentStateChanged(user="novak", previous=hajek, current=novak),
        AgentCallStarted(user="novak", call=novak.calls[0]),
        AgentCallEnded(user="novak", call=novak.calls[0]),
        QueueLoginChanged(
            user="novak", queue="1", logged=False, queue_state=novak.login_oqueues[0]
        ),
        QueueStatsChanged(queue=queue_id, previous=None, current=queue),
        QueueStatsChanged(queue=queue_id, previous=queue, current=None),
        QueuesSummaryChanged(previous=summary, current=summary),
        SessionChanged(agent=session_id, previous=session, current=session),
        CallChanged(call=call_id, previous=None, current=call),
        PauseStatsChanged(pause=pause_id, previous=pause, current=None),
        QueueDayChanged(queue="1", previous=None, current=attrs.evolve(DAY, asa=None)),
        QueueDayChanged(queue="1", previous=DAY, current=None),
        SourceFailed(
            source="agents",
            error="refused",
            error_type="DaktelaConnectError",
            attempt=2,
            retry_in=0.5,
        ),
        SourceFailed(
            source="auth", error="no", error_type="DaktelaAuthError", attempt=1, retry_in=None
        ),
        SourceRecovered(source="agents", outage=1.25, attempts=3),
        EventsDropped(missed=7),
        IncomingCall(caller="420777", did="2000", extra={"x": "y"}),
        LineRinging(call_id="c1", line="1001", caller="420777", callee="2000"),
        LineAnswered(call_id="c1", line="1001", caller="", callee="2000", extra={"a": "1"}),
        CallHungUp(call_id="c1", line="", caller="420777", callee=""),
    ]


async def test_every_event_kind_round_trips_through_the_stream(
    sim: Simulator, watcher: Watcher, redis_server: RedisServer, redis: Redis
) -> None:
    events = await one_of_each(sim, watcher)
    # "event" is the base kind (of the line hooks' shared base), never published.
    assert {e.kind for e in events} == set(event_kinds()) - {"event"}
    async with RedisSink(redis_server.url, watcher, name="pbx") as sink:
        published = [watcher.hub.publish(event) for event in events]
        async with RedisSource(redis_server.url, name="pbx", resume_from="0-0") as source:
            seen = await read(source, lambda s: s[-1].seq >= published[-1].seq)
        assert sink.stats().dropped == 0
    mine = [e for e in seen if e.seq >= published[0].seq]
    assert mine == published

    # The JSON has the API's own field names and datetime format.
    entries = await stream(redis)
    fields = next(f for _, f in entries if f[b"kind"] == b"agent_state")
    assert re.fullmatch(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", fields[b"time"])
    current = orjson.loads(fields[b"data"])["current"]
    assert {"agent_name", "agent_state", "id_pause", "calls", "hash", "state_time"} <= set(current)
    assert API_DATETIME.match(current["state_time"])


def test_decode_is_the_inverse_of_encode_for_every_kind() -> None:
    event = SourceRecovered(
        seq=12,
        time=dt.datetime(2025, 1, 2, 3, 4, 5, 678, tzinfo=dt.UTC),
        source="x",
        outage=2.0,
        attempts=1,
    )
    entry = {
        k.encode(): v.encode() if isinstance(v, str) else v for k, v in encode_event(event).items()
    }
    assert decode_event(entry) == event
    assert decode_event({**entry, b"kind": b"from_the_future"}) is None


async def test_sink_writes_the_watchers_state_and_changes(
    sim: Simulator, watcher: Watcher, redis_server: RedisServer, redis: Redis
) -> None:
    keys = RedisKeys("pbx")
    async with RedisSink(redis_server.url, watcher, name="pbx"):
        await eventually(lambda: _has(redis, keys.agents, 3))
        sim.pause_on("demouser", "7")

        async def paused() -> bool:
            raw = await redis.hget(keys.agents, "demouser")
            return raw is not None and orjson.loads(raw)["agent_state"] == "Paused"

        await eventually(paused)
        await eventually(lambda: _has(redis, keys.stats("pauses"), 1))
        sim.pause_off("demouser")
        await eventually(lambda: _has(redis, keys.stats("pauses"), 0))
        assert await redis.get(keys.summary) is not None
        entries = await stream(redis)
        assert await redis.get(keys.agents_id) == entries[-1][0]


async def _has(redis: Redis, key: str, count: int) -> bool:
    return int(await redis.hlen(key)) == count


@pytest.fixture
async def day_sim() -> AsyncIterator[Simulator]:
    """A simulator on today's date (the watcher's day is the local date) with one agent free."""
    noon = f"{dt.date.today():%Y-%m-%d} 12:00:00"
    async with Simulator(agents=3, queues=2, seed=7, speed=0, hold=HOLD, start_time=noon) as s:
        for user in ("hajekhu", "demouser"):
            s.pause_on(user)
        yield s


def spoken(sim: Simulator, wait: int, talk: int) -> None:
    sim.start_call(queue="2000")
    sim.advance(wait)
    sim.answer("hajek")
    sim.advance(talk)
    sim.hangup("hajek")
    sim.pause_off("hajek")  # no wrap-up


async def test_the_days_figures_are_kept_in_their_hash_and_read_back(
    day_sim: Simulator, redis_server: RedisServer, redis: Redis
) -> None:
    keys = RedisKeys("pbx")
    spoken(day_sim, wait=4, talk=30)
    timeouts = Timeouts(connect=1.0, read=1.0, write=1.0, pool=1.0, deadline=2.0)
    options = {**WATCH, "stats_interval": {"today": 0.1}, "service_level_threshold": 10}
    async with (
        DaktelaClient(day_sim.url, day_sim.token, timeout=timeouts) as client,
        client.watch(stats=["today"], **options) as watcher,
    ):

        async def polled() -> bool:
            return bool(watcher.table("today"))

        await eventually(polled)
        # Figures there before the sink starts go in with its first resync...
        async with RedisSink(redis_server.url, watcher, name="pbx"):
            await eventually(lambda: _has(redis, keys.today, 1))
            raw = await redis.hget(keys.today, "1")
            assert raw is not None
            stored = orjson.loads(raw)
            assert stored["day"] == f"{dt.date.today():%Y-%m-%d}"
            assert (stored["offered"], stored["asa"], stored["service_level"]) == (1, 4.0, 1.0)
            # ...and a change is written with its event.
            spoken(day_sim, wait=15, talk=10)  # rung for longer than the 10 s threshold

            async def two_calls() -> bool:
                raw = await redis.hget(keys.today, "1")
                return raw is not None and orjson.loads(raw)["offered"] == 2

            await eventually(two_calls)
            current = watcher.table("today")["1"]
            assert current.service_level == 0.5
            async with RedisSource(redis_server.url, name="pbx") as source:
                [state] = await read(source, lambda s: len(s) == 1)
    assert state == QueueDayChanged(
        seq=state.seq, time=state.time, queue="1", previous=None, current=current
    )


async def test_a_fleet_keeps_the_days_figures_under_its_stats_lease(
    day_sim: Simulator, redis_server: RedisServer, redis: Redis
) -> None:
    from daktela_async.redis import RedisFleet

    keys = RedisKeys("pbx")
    spoken(day_sim, wait=4, talk=30)
    timeouts = Timeouts(connect=1.0, read=1.0, write=1.0, pool=1.0, deadline=2.0)
    options: dict[str, Any] = {**WATCH, "stats_interval": {"today": 0.1}}
    async with (
        DaktelaClient(day_sim.url, day_sim.token, timeout=timeouts) as client,
        RedisFleet(
            redis_server.url,
            client,
            users=[],
            stats=["today"],
            name="pbx",
            lease_ttl=1.0,
            **options,
        ),
    ):

        async def streamed() -> bool:
            return any(f[b"kind"] == b"queue_day" for _, f in await stream(redis))

        await eventually(streamed)
        # The figures go to their hash, and the leases stay leases (the fenced script
        # finds them after every state key, today's included).
        stored: Any = await redis.hgetall(keys.today)
        offered = [orjson.loads(value)["offered"] for value in stored.values()]
        assert sorted(offered)[-1:] == [1]
        leases = await redis.hgetall(keys.fleet_leases)
        assert b"stats" in leases
        for value in leases.values():
            assert isinstance(value, bytes)
            assert re.fullmatch(rb"\S+ \d+ \d+", value)
