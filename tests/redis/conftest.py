"""Fixtures of the Redis tests: a real ``redis-server`` (:mod:`tests.redis_server`), a watcher."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from daktela_async import DaktelaClient, Timeouts
from daktela_async.realtime import Watcher
from daktela_async.sim import Simulator
from tests.realtime.conftest import HOLD, WATCH
from tests.redis_server import RedisServer, redis_server

__all__ = ["USERS", "RedisServer", "redis_server"]

USERS = ["hajek", "novak", "demouser"]


@pytest.fixture
def anyio_backend() -> str:
    """redis-py's client is asyncio-only: so are these tests."""
    return "asyncio"


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server.url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(agents=6, queues=2, seed=7, speed=0, hold=HOLD) as simulator:
        yield simulator


@pytest.fixture
async def watcher(sim: Simulator) -> AsyncIterator[Watcher]:
    timeouts = Timeouts(connect=1.0, read=1.0, write=1.0, pool=1.0, deadline=2.0)
    options: dict[str, Any] = {**WATCH, "stats_interval": 0.1}
    stats = ["queues", "sessions", "calls", "pauses", "summary"]
    async with (
        DaktelaClient(sim.url, sim.token, timeout=timeouts) as client,
        client.watch(users=USERS, stats=stats, **options) as w,
    ):
        yield w
