"""Helpers of the Redis tests: wait for a condition, read events with a deadline."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias

import anyio
from redis.asyncio import Redis

from daktela_async.realtime import Event
from daktela_async.redis import RedisKeys, RedisSource

#: Stream entries: (id, fields) as redis-py returns them (bytes).
Entries: TypeAlias = list[tuple[bytes, dict[bytes, bytes]]]


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    """Poll *check* until it holds; fail the test after *timeout* seconds."""
    with anyio.fail_after(timeout):
        while not await check():  # noqa: ASYNC110 - polls Redis, which sends no wake-up
            await anyio.sleep(0.02)


async def stream(redis: Redis, start: str | bytes = "-", end: str | bytes = "+") -> Entries:
    """The entries of the test PBX's stream between *start* and *end*."""
    found: Any = await redis.xrange(RedisKeys("pbx").events, start, end)
    return [(entry_id, dict(fields)) for entry_id, fields in found]


async def read(
    source: RedisSource, done: Callable[[list[Event]], bool], timeout: float = 5.0
) -> list[Event]:
    """Read events from *source* until *done* says so; fail after *timeout* seconds."""
    seen: list[Event] = []
    with anyio.fail_after(timeout):
        async for event in source:
            seen.append(event)
            if done(seen):
                break
    return seen
