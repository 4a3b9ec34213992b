"""Redis restarted mid-run: the watcher carries on, the sink counts its losses and converges."""

from __future__ import annotations

from typing import Any

import anyio
import attrs
import orjson
import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from daktela_async._models import AgentState, structure
from daktela_async.realtime import Backoff, EventsDropped, Watcher
from daktela_async.redis import RedisKeys, RedisSink, decode_event
from daktela_async.sim import Simulator
from tests.redis.conftest import USERS, RedisServer
from tests.redis.support import eventually, stream

pytestmark = pytest.mark.anyio


async def in_redis(redis: Redis) -> dict[str, AgentState]:
    raw: Any = await redis.hgetall(RedisKeys("pbx").agents)
    return {k.decode(): structure(orjson.loads(v), AgentState) for k, v in raw.items()}


def boards(states: dict[str, AgentState]) -> dict[str, AgentState]:
    return {user: attrs.evolve(state, hash=None) for user, state in states.items()}


async def test_redis_restarted_mid_run_the_agents_hash_converges(
    sim: Simulator, watcher: Watcher, redis_server: RedisServer, redis: Redis
) -> None:
    fast = Backoff(initial=0.02, maximum=0.1)
    async with RedisSink(redis_server.url, watcher, name="pbx", backoff=fast) as sink:

        async def mirrored() -> bool:
            try:
                return boards(await in_redis(redis)) == boards(watcher.snapshot())
            except RedisConnectionError:
                return False  # the test's own pooled connection, cut by the restart

        await eventually(lambda: _agents(redis, len(USERS)))
        await eventually(mirrored)

        redis_server.stop()
        for user in USERS:
            sim.pause_on(user, "7")

        async def all_paused() -> bool:
            states = watcher.snapshot()
            return all(states[u].agent_state == "Paused" for u in USERS)

        await eventually(all_paused)  # the watcher kept running

        async def failing() -> bool:
            return sink.stats().failures > 0

        await eventually(failing)
        assert not sink.stats().connected
        await anyio.sleep(0.2)  # a few reconnect attempts
        redis_server.start()  # same port, empty (no persistence)

        await eventually(mirrored)
        stats = sink.stats()
        assert stats.connected
        assert stats.dropped > 0
        assert stats.resyncs >= 2
        entries = await stream(redis)
        dropped = [decode_event(fields) for _, fields in entries]
        markers = [e for e in dropped if isinstance(e, EventsDropped)]
        assert sum(e.missed for e in markers) == stats.dropped
        assert (await redis.get(RedisKeys("pbx").agents_id)) == entries[-1][0]

        # It keeps writing after the restart.
        sim.pause_off("hajek")
        await eventually(mirrored)


async def _agents(redis: Redis, count: int) -> bool:
    return int(await redis.hlen(RedisKeys("pbx").agents)) == count
