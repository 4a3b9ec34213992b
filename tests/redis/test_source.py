"""Reading back: the late reader's state then stream, resuming, consumer groups."""

from __future__ import annotations

import itertools
from typing import Any

import anyio
import attrs
import pytest
from redis.asyncio import Redis

from daktela_async._models import AgentState
from daktela_async.realtime import AgentStateChanged, Event, SourceRecovered, Watcher
from daktela_async.redis import RedisKeys, RedisSink, RedisSource, decode_event
from daktela_async.sim import Simulator
from tests.redis.conftest import USERS, RedisServer
from tests.redis.support import eventually, read, stream

pytestmark = pytest.mark.anyio


def board(state: AgentState) -> AgentState:
    """The state without the long-poll ``hash`` (a new hash alone publishes nothing)."""
    return attrs.evolve(state, hash=None)


async def churn(sim: Simulator, stop: anyio.Event) -> None:
    """Change the agents' states as fast as the watcher follows, until *stop*."""
    for step in itertools.count():
        if stop.is_set():
            return
        user = USERS[step % len(USERS)]
        if step % 2:
            sim.pause_off(user)
        else:
            sim.pause_on(user, "7")
        await anyio.sleep(0.01)


async def test_late_reader_gets_the_state_then_the_stream_without_gap_or_duplicate(
    sim: Simulator, watcher: Watcher, redis_server: RedisServer, redis: Redis
) -> None:
    async with (
        RedisSink(redis_server.url, watcher, name="pbx") as sink,
        anyio.create_task_group() as tg,
    ):
        await eventually(lambda: _agents(redis, 3))
        stop = anyio.Event()
        tg.start_soon(churn, sim, stop)
        await anyio.sleep(0.5)
        async with RedisSource(redis_server.url, name="pbx", block=0.2) as source:
            first = await read(source, lambda s: True)
            state_id = source.last_id
            assert state_id is not None
            start = first[0].seq
            assert start > 0
            await anyio.sleep(0.5)
            stop.set()
            await anyio.sleep(0.3)  # the last changes reach the watcher and the sink

            async def settled() -> bool:
                return sink.stats().buffered == 0

            await eventually(settled)
            last = watcher.hub.seq
            seen = first + await read(source, lambda s: s[-1].seq >= last)
        # The state: one event per agent and row, stamped with the seq it was read at.
        count = next(i for i, e in enumerate(seen) if e.seq != start)
        initial, rest = seen[:count], seen[count:]
        assert all(getattr(e, "previous", None) is None for e in initial)
        assert all(getattr(e, "current", None) is not None for e in initial)
        assert len({e.key for e in initial}) == len(initial)
        state = {e.user: e.current for e in initial if isinstance(e, AgentStateChanged)}
        assert sorted(state) == sorted(USERS)

        # The state is the stream's up to the id it was read at.
        replayed: dict[str, AgentState] = {}
        for _, fields in await stream(redis, "-", state_id):
            event = decode_event(fields)
            if isinstance(event, AgentStateChanged):
                replayed[event.user] = event.current
        assert {u: board(s) for u, s in state.items()} == {u: board(s) for u, s in replayed.items()}

        assert [e.seq for e in rest] == list(range(start + 1, last + 1))
        for event in rest:
            if isinstance(event, AgentStateChanged):
                assert event.previous is not None
                assert board(event.previous) == board(state[event.user])
                state[event.user] = event.current
        assert {u: board(s) for u, s in state.items()} == {
            u: board(s) for u, s in watcher.snapshot().items()
        }
        assert len(rest) > 20  # the writer really ran while the reader started
        assert sink.stats().dropped == 0


async def test_resume_from_an_id_reads_only_what_came_after(
    watcher: Watcher, redis_server: RedisServer
) -> None:
    async with RedisSink(redis_server.url, watcher, name="pbx"):
        sent = [
            watcher.hub.publish(SourceRecovered(source=f"s{i}", outage=0, attempts=i))
            for i in range(5)
        ]
        async with RedisSource(redis_server.url, name="pbx", resume_from="0-0") as source:
            seen = await read(source, lambda s: s[-1].seq == sent[2].seq)
            cursor = source.last_id
        assert cursor is not None
        more = [watcher.hub.publish(SourceRecovered(source="t", outage=0, attempts=9))]
        async with RedisSource(redis_server.url, name="pbx", resume_from=cursor) as source:
            after = await read(source, lambda s: s[-1].seq == more[0].seq)
    assert [e for e in seen if isinstance(e, SourceRecovered)] == sent[:3]
    # Everything after the cursor, from the next seq on, and nothing before it.
    assert [e.seq for e in after] == list(range(seen[-1].seq + 1, more[0].seq + 1))
    assert [e for e in after if isinstance(e, SourceRecovered)] == [*sent[3:], *more]


async def test_two_workers_of_a_group_see_every_event_exactly_once(
    watcher: Watcher, redis_server: RedisServer, redis: Redis
) -> None:
    keys = RedisKeys("pbx")
    seen: dict[str, list[Event]] = {"w1": [], "w2": []}
    total = 300

    async def worker(name: str) -> None:
        async with RedisSource(
            redis_server.url, name="pbx", group="billing", consumer=name, block=0.1
        ) as source:
            async for event in source:
                seen[name].append(event)
                await anyio.sleep(0.001)  # some work: the other worker gets its share

    def mine() -> list[Event]:
        return [e for e in seen["w1"] + seen["w2"] if isinstance(e, SourceRecovered)]

    async with RedisSink(redis_server.url, watcher, name="pbx", batch_size=10):
        await redis.xgroup_create(keys.events, "billing", id="$", mkstream=True)
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker, "w1")
            tg.start_soon(worker, "w2")
            sent = []
            for i in range(total):
                sent.append(watcher.hub.publish(SourceRecovered(source="x", outage=0, attempts=i)))
                if i % 50 == 0:
                    await anyio.sleep(0.01)

            async def all_seen() -> bool:
                return len(mine()) >= total

            await eventually(all_seen)
            await anyio.sleep(0.3)  # time for a duplicate to show up
            tg.cancel_scope.cancel()
    assert sorted(e.seq for e in mine()) == [e.seq for e in sent]
    # Shared, not all to one.
    assert seen["w1"]
    assert seen["w2"]
    pending = await redis.xpending(keys.events, "billing")
    assert pending["pending"] == 0


async def test_unacknowledged_events_come_back_to_a_restarted_worker(
    watcher: Watcher, redis_server: RedisServer, redis: Redis
) -> None:
    keys = RedisKeys("pbx")
    async with RedisSink(redis_server.url, watcher, name="pbx"):
        options: dict[str, Any] = {
            "name": "pbx",
            "group": "g",
            "consumer": "w",
            "group_start": "0",
            "block": 0.1,
        }
        sent = [
            watcher.hub.publish(SourceRecovered(source="x", outage=0, attempts=i)) for i in range(4)
        ]
        async with RedisSource(redis_server.url, auto_ack=False, **options) as source:
            first = await read(source, lambda s: len(s) == 4)
        assert first == sent
        assert (await redis.xpending(keys.events, "g"))["pending"] == 4
        async with RedisSource(redis_server.url, auto_ack=False, **options) as source:
            again = await read(source, lambda s: len(s) == 4)
            assert again == sent
            assert await source.ack() == 4
        assert (await redis.xpending(keys.events, "g"))["pending"] == 0


async def _agents(redis: Redis, count: int) -> bool:
    return int(await redis.hlen(RedisKeys("pbx").agents)) == count
