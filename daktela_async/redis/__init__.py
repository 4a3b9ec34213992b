"""Scale out over Redis: a watcher's events into a Redis Stream, its state into hashes.

Needs the ``redis`` extra (``pip install 'daktela-async[redis]'``) and asyncio: redis-py's
client is asyncio-only. The schema (keys, stream entries, JSON) is drawn in ``_schema``
and in ``docs/guides/redis.md``, for readers in other languages.

Write with a sink next to the watcher, read with a source anywhere::

    async with client.watch(users=logins) as watcher, RedisSink(url, watcher):
        ...

    async with RedisSource(url, name="pbx.example.com") as source:
        async for event in source:
            ...

Share one PBX's agents among several processes with a fleet (each agent polled by one
live member; leases with fencing tokens, failover within seconds)::

    async with RedisFleet(url, client, users=logins, stats=["queues"]):
        await anyio.sleep_forever()
"""

from ._fleet import FleetStats, RedisFleet
from ._schema import RedisKeys, decode_event, encode_event
from ._sink import RedisSink, RedisSinkStats
from ._source import RedisSource

__all__ = [
    "FleetStats",
    "RedisFleet",
    "RedisKeys",
    "RedisSink",
    "RedisSinkStats",
    "RedisSource",
    "decode_event",
    "encode_event",
]
