"""The source recovering: a dead worker's entries claimed, a trimmed cursor relisted."""

from __future__ import annotations

import datetime as dt
from typing import Any

import anyio
import attrs
import pytest
from redis.asyncio import Redis

from daktela_async.realtime import Event, EventsDropped, SourceRecovered, Watcher
from daktela_async.redis import RedisKeys, RedisSink, RedisSource
from daktela_async.redis._source import _text
from tests.redis.conftest import USERS, RedisServer
from tests.redis.support import eventually, read, stream

pytestmark = pytest.mark.anyio

KEYS = RedisKeys("pbx")
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


async def drain(source: RedisSource, quiet: float = 0.5) -> list[tuple[str | None, Event]]:
    """Read (last_id, event) pairs until nothing comes for *quiet* seconds."""
    seen: list[tuple[str | None, Event]] = []
    while True:
        with anyio.move_on_after(quiet) as scope:
            event = await source.__anext__()
        if scope.cancelled_caught:
            return seen
        seen.append((source.last_id, event))


def timeless(event: Event) -> Event:
    return attrs.evolve(event, time=EPOCH)


async def written(redis: Redis, sent: list[Event]) -> None:
    async def done() -> bool:
        return any(
            f.get(b"kind") == b"source_recovered" and f.get(b"seq") == str(sent[-1].seq).encode()
            for _, f in await stream(redis)
        )

    await eventually(done)


async def test_a_live_worker_claims_a_dead_workers_pending_entries_once(
    watcher: Watcher, redis_server: RedisServer, redis: Redis
) -> None:
    options: dict[str, Any] = {"name": "pbx", "group": "g", "group_start": "0", "block": 0.1}
    async with RedisSink(redis_server.url, watcher, name="pbx"):
        sent = [
            watcher.hub.publish(SourceRecovered(source="x", outage=0, attempts=i)) for i in range(6)
        ]
        await written(redis, sent)
        # Worker "a" reads the first entries without acknowledging them, then dies.
        a = RedisSource(redis_server.url, consumer="a", auto_ack=False, count=4, **options)
        async with a:
            taken = [await a.__anext__() for _ in range(4)]
            await a.aclose(ack=False)
        taken_ids = {e.seq for e in taken}
        pending = await redis.xpending_range(KEYS.events, "g", "-", "+", 100, consumername="a")
        assert len(pending) == 4
        more = [
            watcher.hub.publish(SourceRecovered(source="y", outage=0, attempts=i)) for i in range(3)
        ]
        await written(redis, more)
    # Worker "b" gets everything else at once, and a's four once they were idle 0.3 s.
    async with RedisSource(redis_server.url, consumer="b", claim_idle=0.3, **options) as b:
        seen = await drain(b, quiet=1.0)
        assert b.claimed == 4
    ids = [str(entry_id) for entry_id, _ in seen]
    assert len(ids) == len(set(ids))  # none twice
    assert sorted(ids, key=lambda i: tuple(map(int, i.split("-")))) == [
        entry_id.decode() for entry_id, _ in await stream(redis)
    ]
    # The claimed ones come last, after they were idle long enough.
    assert {e.seq for _, e in seen[-4:]} == taken_ids
    recovered = [e for _, e in seen if isinstance(e, SourceRecovered)]
    assert sorted(recovered, key=lambda e: e.seq) == [*sent, *more]
    assert (await redis.xpending(KEYS.events, "g"))["pending"] == 0


async def test_claim_idle_needs_a_group(redis_server: RedisServer) -> None:
    from daktela_async import DaktelaUsageError

    with pytest.raises(DaktelaUsageError):
        RedisSource(redis_server.url, name="pbx", claim_idle=1.0)
    with pytest.raises(DaktelaUsageError):
        RedisSource(redis_server.url, name="pbx", group="g", consumer="c", claim_idle=0)


async def _written_state(watcher: Watcher, redis_server: RedisServer, redis: Redis) -> list[Event]:
    """Write the watcher's state and a few events, stop the sink; the state as read."""
    async with RedisSink(redis_server.url, watcher, name="pbx"):

        async def agents() -> bool:
            return int(await redis.hlen(KEYS.agents)) == len(USERS)

        await eventually(agents)
        sent = [
            watcher.hub.publish(SourceRecovered(source="x", outage=0, attempts=i)) for i in range(8)
        ]
        await written(redis, sent)
    async with RedisSource(redis_server.url, name="pbx", block=0.1) as source:
        state = [e for _, e in await drain(source)]
    assert len(state) >= len(USERS)
    return state


async def test_a_cursor_trimmed_past_gets_events_dropped_then_the_state_again(
    watcher: Watcher, redis_server: RedisServer, redis: Redis
) -> None:
    state = await _written_state(watcher, redis_server, redis)
    entries = await stream(redis)
    cursor = entries[0][0].decode()
    added = len(entries)
    await redis.xtrim(KEYS.events, maxlen=3, approximate=False)

    async with RedisSource(redis_server.url, name="pbx", resume_from=cursor, block=0.1) as source:
        seen = [e for _, e in await drain(source)]
        state_id = source.last_id
    # Which of the deleted entries came after the cursor, Redis cannot tell: 0, unknown.
    assert seen[0] == attrs.evolve(EventsDropped(missed=0), time=seen[0].time)
    assert [timeless(e) for e in seen[1:]] == [timeless(e) for e in state]
    assert state_id == _text(await redis.get(KEYS.agents_id))

    # From the very start, how many were lost is known.
    async with RedisSource(redis_server.url, name="pbx", resume_from="0-0", block=0.1) as source:
        first = [e for _, e in await drain(source)]
    assert isinstance(first[0], EventsDropped)
    assert first[0].missed == added - 3
    assert [timeless(e) for e in first[1:]] == [timeless(e) for e in state]


async def test_a_reader_trimmed_past_while_reading_relists(
    watcher: Watcher, redis_server: RedisServer, redis: Redis
) -> None:
    state = await _written_state(watcher, redis_server, redis)
    entries = await stream(redis)
    async with RedisSource(
        redis_server.url, name="pbx", resume_from="0-0", count=1, block=0.1
    ) as source:
        await read(source, lambda s: len(s) == 1)
        assert source.last_id == entries[0][0].decode()
        # The writer trims past the reader between two reads.
        await redis.xtrim(KEYS.events, maxlen=2, approximate=False)
        seen = [e for _, e in await drain(source)]
    assert isinstance(seen[0], EventsDropped)
    assert seen[0].missed == 0
    assert [timeless(e) for e in seen[1:]] == [timeless(e) for e in state]


async def test_a_cursor_not_trimmed_past_reads_on_without_events_dropped(
    watcher: Watcher, redis_server: RedisServer, redis: Redis
) -> None:
    await _written_state(watcher, redis_server, redis)
    entries = await stream(redis)
    await redis.xtrim(KEYS.events, maxlen=3, approximate=False)
    # The cursor is the first entry kept: nothing after it was deleted.
    cursor = entries[-3][0].decode()
    async with RedisSource(redis_server.url, name="pbx", resume_from=cursor, block=0.1) as source:
        seen = [entry_id for entry_id, _ in await drain(source)]
    assert seen == [entry_id.decode() for entry_id, _ in entries[-2:]]


async def test_a_state_without_an_id_over_a_trimmed_stream_is_not_relisted_again(
    watcher: Watcher, redis_server: RedisServer, redis: Redis
) -> None:
    state = await _written_state(watcher, redis_server, redis)
    await redis.xtrim(KEYS.events, maxlen=3, approximate=False)
    await redis.delete(KEYS.agents_id)
    async with RedisSource(redis_server.url, name="pbx", block=0.1) as source:
        seen = [e for _, e in await drain(source)]
    # The state, then the whole stream left: no EventsDropped over and over.
    assert not any(isinstance(e, EventsDropped) for e in seen)

    def bare(event: Event) -> Event:
        return attrs.evolve(event, time=EPOCH, seq=0)  # no id: no seq to stamp

    assert [bare(e) for e in seen[: len(state)]] == [bare(e) for e in state]
    assert len(seen) == len(state) + 3
