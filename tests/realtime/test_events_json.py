"""``Event.to_dict``/``to_json``/``from_dict``: one JSON form of every event, read back equal.

The events are the one-of-each-kind set of the Redis schema test (records polled from the
simulator, with every queue's ``options``), so a kind added there is covered here too.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import attrs
import orjson
import pytest

from daktela_async import DaktelaClient, DaktelaDecodeError, Timeouts
from daktela_async._models import AgentCall, AgentState, LoginQueueState, QueueOptions
from daktela_async.realtime import (
    AgentCallStarted,
    AgentStateChanged,
    Event,
    QueueLoginChanged,
    SourceFailed,
    SourceRecovered,
    Watcher,
)
from daktela_async.realtime._events import event_kinds
from daktela_async.redis import encode_event
from daktela_async.sim import Simulator
from tests.realtime.conftest import WATCH
from tests.redis.test_schema import API_DATETIME, one_of_each

#: ISO 8601 with microseconds and an explicit UTC offset.
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00$")
T0 = dt.datetime(2026, 11, 30, 14, 13, 10, 123456, tzinfo=dt.UTC)


@pytest.fixture
def anyio_backend() -> str:
    """Serialising is backend-neutral: asyncio is enough."""
    return "asyncio"


@pytest.fixture
async def watcher(sim: Simulator) -> AsyncIterator[Watcher]:
    timeouts = Timeouts(connect=1.0, read=1.0, write=1.0, pool=1.0, deadline=2.0)
    async with (
        DaktelaClient(sim.url, sim.token, timeout=timeouts) as client,
        client.watch(
            users=["hajek", "novak", "demouser"],
            stats=["queues", "sessions", "calls", "pauses", "summary"],  # as tests/redis
            **{**WATCH, "stats_interval": 0.1},
        ) as w,
    ):
        yield w


@pytest.fixture
async def events(sim: Simulator, watcher: Watcher) -> list[Event]:
    """One event of every kind, stamped as the hub stamps them (UTC, microseconds)."""
    found = await one_of_each(sim, watcher)
    # "event" is the base kind (of the line hooks' shared base), never published.
    assert {e.kind for e in found} == set(event_kinds()) - {"event"}
    return [
        attrs.evolve(e, seq=i + 1, time=T0 + dt.timedelta(seconds=i)) for i, e in enumerate(found)
    ]


def _queues(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Every queue record in an event's dict (login queues, calls' queues, queue_state)."""
    found: list[dict[str, Any]] = []
    for value in data.values():
        if not isinstance(value, dict):
            continue
        if "queue" in value and "rt_logged" in value:
            found.append(value)
        found += value.get("login_oqueues") or []
        found += [c["oqueue"] for c in value.get("calls") or [] if c.get("oqueue")]
        if isinstance(value.get("oqueue"), dict):
            found.append(value["oqueue"])
    return found


@pytest.mark.anyio
async def test_every_kind_round_trips_through_to_dict_and_to_json(events: list[Event]) -> None:
    for event in events:
        data = event.to_dict()
        assert list(data)[:3] == ["kind", "seq", "time"], event.kind
        assert data["kind"] == event.kind
        assert "type" not in data
        assert ISO_UTC.match(data["time"]), data["time"]
        assert Event.from_dict(data) == event
        assert Event.from_dict(json.loads(event.to_json())) == event
        assert type(event).from_dict(data) == event


@pytest.mark.anyio
async def test_compact_drops_every_queues_options_and_nothing_else(events: list[Event]) -> None:
    with_options = 0
    for event in events:
        full, compact = event.to_dict(), event.to_dict(full=False)
        assert '"options"' not in event.to_json(full=False), event.kind
        queues = _queues(full)
        with_options += sum(1 for q in queues if q["options"])
        for queue in queues:
            del queue["options"]
        assert compact == full, event.kind
        # Read back, the queues have empty options; written compact again, the same dict.
        again = Event.from_dict(compact)
        assert again.to_dict(full=False) == compact
        assert all(q["options"] == {} for q in _queues(again.to_dict()))
    assert with_options > 0  # the simulator's queues have options: the test is not empty


@pytest.mark.anyio
async def test_records_keep_the_apis_field_names_and_datetimes(events: list[Event]) -> None:
    agent = next(e for e in events if isinstance(e, AgentStateChanged) and e.previous)
    data = agent.to_dict(full=False)
    assert {"agent_name", "agent_state", "id_pause", "calls", "hash"} <= set(data["current"])
    assert API_DATETIME.match(data["current"]["state_time"])
    assert data["current"]["login_oqueues"][0]["queue"] >= 1
    assert data["current"]["login_oqueues"][0]["title"]


@pytest.mark.anyio
async def test_the_redis_entry_holds_the_same_fields(events: list[Event]) -> None:
    """One serializer: a stream entry's ``data`` is ``to_dict`` without its own keys."""
    for event in events:
        data = event.to_dict()
        for key in ("kind", "seq", "time", *event.computed):
            del data[key]
        assert orjson.loads(encode_event(event)["data"]) == data, event.kind


def test_compact_agent_event_is_far_smaller(events_offline: list[Event]) -> None:
    [agent] = events_offline
    assert len(agent.to_json(full=False)) * 2 < len(agent.to_json())


@pytest.fixture
def events_offline() -> list[Event]:
    options = {f"setting_{i}": "value" * 4 for i in range(40)}
    queues = tuple(
        LoginQueueState(
            queue=i,
            name=str(2000 + i),
            title=f"Q{i}",
            options=QueueOptions(options),
            rt_logged=True,
        )
        for i in range(1, 8)
    )
    state = AgentState(agent_name="hajek", id_agent=2, agent_state="Idle", login_oqueues=queues)
    return [AgentStateChanged(user="hajek", previous=state, current=state, seq=1, time=T0)]


def test_to_json_is_compact_utf8_text() -> None:
    event = SourceFailed(
        source="agent:nosuch",
        error="Uživatel neexistuje",
        error_type="DaktelaAPIError",
        attempt=1,
        retry_in=None,
        seq=3,
        time=T0,
    )
    text = event.to_json()
    assert text == json.dumps(event.to_dict(), ensure_ascii=False, separators=(",", ":"))
    assert text == (
        '{"kind":"source_failed","seq":3,"time":"2026-11-30T14:13:10.123456+00:00",'
        '"source":"agent:nosuch","error":"Uživatel neexistuje","error_type":"DaktelaAPIError",'
        '"attempt":1,"retry_in":null,"stopped":true}'
    )
    assert Event.from_dict(json.loads(text)) == event
    retrying = attrs.evolve(event, retry_in=0.5)
    assert retrying.to_dict()["stopped"] is False


@pytest.mark.parametrize(
    ("time", "written"),
    [
        (T0, "2026-11-30T14:13:10.123456+00:00"),
        # Another offset is written in UTC; a naive time is taken as UTC.
        (
            dt.datetime(2026, 11, 30, 15, 13, 10, tzinfo=dt.timezone(dt.timedelta(hours=1))),
            "2026-11-30T14:13:10+00:00",
        ),
        (dt.datetime(2026, 11, 30, 14, 13, 10), "2026-11-30T14:13:10+00:00"),
    ],
)
def test_time_is_iso_8601_in_utc_with_its_offset(time: dt.datetime, written: str) -> None:
    event = SourceRecovered(source="agents", outage=1.5, attempts=2, seq=1, time=time)
    assert event.to_dict()["time"] == written
    back = Event.from_dict(event.to_dict())
    assert back.time.utcoffset() == dt.timedelta(0)
    assert back.time == time.replace(tzinfo=time.tzinfo or dt.UTC)


def test_from_dict_reads_what_the_cli_writes_and_ignores_unknown_keys() -> None:
    call = AgentCallStarted(
        user="hajek",
        call=AgentCall(
            id_call="c1",
            direction="in",
            clid="226211245",
            entered=dt.datetime(2026, 11, 30, 15, 0, 0),
        ),
        seq=9,
        time=T0,
    )
    data = {**call.to_dict(), "added_in_a_newer_version": 1}
    data["call"] = {**data["call"], "new_api_key": "x"}
    back = Event.from_dict(data)
    assert isinstance(back, AgentCallStarted)
    assert back.call.extra == {"new_api_key": "x"}
    assert attrs.evolve(back, call=attrs.evolve(back.call, extra={})) == call


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"kind": "from_the_future", "seq": 1, "time": T0.isoformat()}, "unknown event kind"),
        ({"seq": 1, "time": T0.isoformat(), "missed": 1}, "unknown event kind None"),
        ({"kind": "events_dropped", "time": "2026-01-01T00:00:00+00:00", "missed": 1}, "seq"),
        ({"kind": "events_dropped", "seq": 1, "missed": 1}, "time"),
        ({"kind": "events_dropped", "seq": 1, "time": "yesterday", "missed": 1}, "events_dropped"),
        ({"kind": "events_dropped", "seq": True, "time": T0.isoformat(), "missed": 1}, "seq"),
        ({"kind": "events_dropped", "seq": 1, "time": T0.isoformat()}, "missed"),
        ({"kind": "events_dropped", "seq": 1, "time": T0.isoformat(), "missed": "many"}, "many"),
        (
            {"kind": "agent_state", "seq": 1, "time": T0.isoformat(), "user": "x"}
            | {"previous": None, "current": {"agent_state": "Idle"}},
            "cannot decode the agent_state event: .*agent_name",
        ),
    ],
)
def test_from_dict_rejects_what_is_not_an_event(data: dict[str, Any], needle: str) -> None:
    with pytest.raises(DaktelaDecodeError, match=needle):
        Event.from_dict(data)


def test_from_dict_on_a_subclass_takes_only_its_kinds() -> None:
    event = QueueLoginChanged(
        user="hajek", queue="1", logged=True, queue_state=LoginQueueState(queue=1), seq=2, time=T0
    )
    assert QueueLoginChanged.from_dict(event.to_dict()) == event
    with pytest.raises(DaktelaDecodeError, match="kind 'queue_login' is a QueueLoginChanged"):
        AgentStateChanged.from_dict(event.to_dict())


def test_from_dict_wants_an_object() -> None:
    with pytest.raises(DaktelaDecodeError, match="JSON object"):
        Event.from_dict([1, 2])  # type: ignore[arg-type]
