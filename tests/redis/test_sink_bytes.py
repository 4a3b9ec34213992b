"""The sink writes exactly the bytes of the reference encoding (entries and hash values).

The reference is the plain encoding (``orjson.dumps`` of ``unstructure``) computed here,
independently of the sink's caches and of the script's layout: the sink's optimisations
must not change a byte of what lands in Redis.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, cast

import attrs
import orjson
import pytest
from redis.asyncio import Redis

from daktela_async._errors import DaktelaUsageError
from daktela_async._models import (
    RTStatsQueue,
    structure,
    structure_agent_states,
    unstructure,
)
from daktela_async.realtime import (
    AgentStateChanged,
    Event,
    Hub,
    QueueStatsChanged,
)
from daktela_async.redis import RedisKeys, RedisSink, encode_event
from daktela_async.redis._schema import encode_record
from tests.redis.conftest import RedisServer
from tests.redis.support import eventually, stream

pytestmark = pytest.mark.anyio

_EXAMPLES = Path(__file__).resolve().parent.parent / "data" / "doc_examples.json"


def _example(action: str) -> dict[str, Any]:
    examples = json.loads(_EXAMPLES.read_text(encoding="utf-8"))
    found = next(e for e in examples if e["action"] == action)
    return cast(dict[str, Any], json.loads(found["output"])["result"])


class _HubWatcher:
    """What the sink uses of a watcher: a hub, an empty snapshot, no tables."""

    def __init__(self) -> None:
        self.hub = Hub()

    def subscribe(self, **options: Any) -> Any:
        return self.hub.subscribe(**options)

    def snapshot(self) -> dict[str, Any]:
        return {}

    def table(self, name: str) -> dict[str, Any]:
        raise DaktelaUsageError(f"not polled: {name}")


def _events() -> list[Event]:
    """Agent changes (models reused across events, as the watcher does) and queue rows."""
    raw = _example("RTUsersState")
    states = structure_agent_states(raw)
    login = next(iter(states))
    base = states[login]
    variants = [attrs.evolve(base, agent_state=name) for name in ("IDLE", "BUSY", "WRAP", "PAUSE")]
    rows = [structure(row, RTStatsQueue) for row in _example("RTStatsQueues").values()]
    events: list[Event] = []
    for i in range(60):
        previous, current = variants[i % 4], variants[(i + 1) % 4]
        events.append(AgentStateChanged(user=f"agent{i % 3}", previous=previous, current=current))
        if i % 7 == 0:
            row = rows[i % len(rows)]
            # A fresh copy too: equal, not identical, to the cached one.
            copy = attrs.evolve(row)
            events.append(QueueStatsChanged(queue=str(row.id), previous=copy, current=row))
        if i % 11 == 0:
            row = rows[i % len(rows)]
            events.append(QueueStatsChanged(queue=str(row.id), previous=row, current=None))
    return events


def _reference(event: Event) -> dict[bytes, bytes]:
    data = {
        f.name: unstructure(getattr(event, f.name))
        for f in attrs.fields(type(event))
        if f.name not in ("seq", "time")
    }
    time = event.time.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    return {
        b"kind": event.kind.encode(),
        b"seq": str(event.seq).encode(),
        b"time": time.encode(),
        b"data": orjson.dumps(data),
    }


def test_encoding_matches_the_reference() -> None:
    hub = Hub()
    for event in _events():
        stamped = hub.publish(event)
        entry = {
            k.encode(): v if isinstance(v, bytes) else v.encode()
            for k, v in encode_event(stamped).items()
        }
        assert entry == _reference(stamped)
        current = getattr(stamped, "current", None)
        if current is not None:
            assert encode_record(current) == orjson.dumps(unstructure(current))


async def test_the_sink_writes_the_reference_bytes(redis_server: RedisServer, redis: Redis) -> None:
    stand_in = _HubWatcher()
    events = _events()
    async with RedisSink(redis_server.url, cast(Any, stand_in), name="pbx", batch_size=7) as sink:

        async def synced() -> bool:
            return sink.stats().resyncs >= 1

        await eventually(synced)
        published = [stand_in.hub.publish(event) for event in events]

        async def written() -> bool:
            return sink.stats().written >= len(events)

        await eventually(written)
    entries = await stream(redis)
    assert [fields for _, fields in entries] == [_reference(e) for e in published]
    keys = RedisKeys("pbx")
    agents: dict[bytes, bytes] = {}
    queues: dict[bytes, bytes] = {}
    for event in published:
        if isinstance(event, AgentStateChanged):
            agents[event.user.encode()] = orjson.dumps(unstructure(event.current))
        elif isinstance(event, QueueStatsChanged):
            if event.current is None:
                queues.pop(event.queue.encode(), None)
            else:
                queues[event.queue.encode()] = orjson.dumps(unstructure(event.current))
    assert await redis.hgetall(keys.agents) == agents
    assert await redis.hgetall(keys.stats("queues")) == queues
    assert await redis.get(keys.agents_id) == entries[-1][0]
