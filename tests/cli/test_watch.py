"""``daktela-async watch``: event lines, JSON lines, bounds and errors."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from collections.abc import Callable

import pytest

from daktela_async import DaktelaClient
from daktela_async._models import (
    AgentCall,
    AgentState,
    LoginQueueState,
    RTStatsCall,
    RTStatsPause,
    RTStatsQueue,
    RTStatsQueuesSummary,
    RTStatsSession,
)
from daktela_async.cli._view import logged_in_agents
from daktela_async.cli._watch import EVENT_KINDS, event_to_dict, format_event
from daktela_async.realtime import (
    AgentCallEnded,
    AgentCallStarted,
    AgentStateChanged,
    CallChanged,
    Event,
    EventsDropped,
    PauseStatsChanged,
    QueueLoginChanged,
    QueuesSummaryChanged,
    QueueStatsChanged,
    SessionChanged,
    SourceFailed,
    SourceRecovered,
)
from daktela_async.sim import Simulator
from tests.cli.support import LineStream, Run, connection

T0 = dt.datetime(2030, 5, 6, 10, 0, 0, tzinfo=dt.UTC)
IDLE = AgentState(agent_name="hajek", id_agent=2, agent_state="Idle")
PAUSED = AgentState(
    agent_name="hajek",
    id_agent=2,
    agent_state="Paused",
    id_pause=3,
    state_time=dt.datetime(2030, 5, 6, 10, 0, 0),
)
CALL = AgentCall(id_call="c1", direction="in", clid="226211245", clid_name="Jan")

SAMPLES: list[tuple[Event, str]] = [
    (AgentStateChanged(user="hajek", previous=IDLE, current=PAUSED), "hajek: Idle -> Paused"),
    (AgentStateChanged(user="hajek", previous=None, current=IDLE), "hajek: start -> Idle"),
    (AgentCallStarted(user="hajek", call=CALL), "call started, in 226211245 (Jan)"),
    (AgentCallEnded(user="hajek", call=CALL), "call ended"),
    (
        QueueLoginChanged(
            user="hajek", queue="1", logged=True, queue_state=LoginQueueState(queue=1)
        ),
        "hajek: logged into 1",
    ),
    (
        QueueStatsChanged(
            queue="1", previous=None, current=RTStatsQueue(id=1, users_ready=2, calls_wait=1)
        ),
        "ready 2",
    ),
    (QueueStatsChanged(queue="1", previous=RTStatsQueue(id=1), current=None), "queue 1: gone"),
    (
        QueuesSummaryChanged(previous=None, current=RTStatsQueuesSummary(calls_wait=4)),
        "waiting 4",
    ),
    (
        SessionChanged(agent="2", previous=None, current=RTStatsSession(id=2, state="Idle")),
        "Idle",
    ),
    (SessionChanged(agent="2", previous=RTStatsSession(id=2), current=None), "ended"),
    (
        CallChanged(call="c1", previous=None, current=RTStatsCall(id="c1", state="Waiting")),
        "Waiting",
    ),
    (CallChanged(call="c1", previous=RTStatsCall(id="c1"), current=None), "ended"),
    (
        PauseStatsChanged(pause="3", previous=None, current=RTStatsPause(id=3, count=2)),
        "2 agents",
    ),
    (
        SourceFailed(source="agents", error="boom", error_type="X", attempt=1, retry_in=None),
        "stopped",
    ),
    (SourceRecovered(source="agents", outage=2.5, attempts=3), "recovered after 2.5 s"),
    (EventsDropped(missed=7), "7 events dropped"),
]


@pytest.mark.parametrize(("event", "needle"), SAMPLES)
def test_every_event_has_a_readable_line(event: Event, needle: str) -> None:
    line = format_event(event)
    assert needle in line
    assert event.kind in line
    assert "\n" not in line


def test_every_event_kind_is_covered() -> None:
    assert {event.kind for event, _ in SAMPLES} == set(EVENT_KINDS)


@pytest.mark.parametrize(("event", "needle"), SAMPLES)
def test_every_event_is_json(event: Event, needle: str) -> None:
    data = event_to_dict(event)
    assert json.loads(json.dumps(data)) == data
    assert data["kind"] == event.kind


def test_json_lines_carry_models_in_the_servers_shape() -> None:
    event = AgentStateChanged(user="hajek", previous=IDLE, current=PAUSED, seq=12, time=T0)
    data = event_to_dict(event)
    assert list(data)[:4] == ["kind", "seq", "time", "user"]
    assert data["seq"] == 12
    assert data["time"] == "2030-05-06T10:00:00+00:00"
    assert data["previous"]["agent_state"] == "Idle"
    assert data["current"]["state_time"] == "2030-05-06 10:00:00"
    failed = SourceFailed(source="a", error="e", error_type="X", attempt=1, retry_in=None)
    assert event_to_dict(failed)["stopped"] is True


def after_lines(stream: LineStream, count: int, action: Callable[[], object]) -> threading.Thread:
    def work() -> None:
        if stream.wait_lines(count):
            action()

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def test_watch_jsonl_prints_the_state_then_each_change(sim: Simulator, run: Run) -> None:
    sim.set_state("hajek", "Idle")
    stream = LineStream()
    helper = after_lines(stream, 1, lambda: sim.set_state("hajek", "Paused"))
    argv = ("watch", "--user", "hajek", "--jsonl", "--count", "2", "--duration", "15")
    result = run(*argv, *connection(sim), stdout=stream)
    helper.join(5)
    assert result.code == 0, result.err
    lines = [json.loads(line) for line in result.out.splitlines()]
    assert len(lines) == 2
    first, second = lines
    assert first["kind"] == "agent_state"
    assert first["user"] == "hajek"
    assert first["previous"] is None
    assert first["current"]["agent_state"] == "Idle"
    assert second["kind"] == "agent_state"
    assert second["previous"]["agent_state"] == "Idle"
    assert second["current"]["agent_state"] == "Paused"
    assert second["seq"] > first["seq"] or first["seq"] == 0
    assert sim.token not in result.text


def test_watch_prints_readable_lines_and_stops_after_duration(sim: Simulator, run: Run) -> None:
    sim.set_state("hajekhu", "Idle")
    argv = ("watch", "--user", "hajekhu", "--stats", "queues", "--stats-interval", "0.2")
    result = run(*argv, "--duration", "1", *connection(sim))
    assert result.code == 0, result.err
    assert "hajekhu: start -> Idle" in result.out
    assert "queue_stats" in result.out
    assert "watching 1 agents and queues statistics" in result.err


def test_watch_filters_kinds(sim: Simulator, run: Run) -> None:
    argv = ("watch", "--stats", "queues,summary", "--kind", "queues_summary", "--count", "1")
    result = run(*argv, "--duration", "5", "--jsonl", *connection(sim))
    assert result.code == 0, result.err
    assert [json.loads(line)["kind"] for line in result.out.splitlines()] == ["queues_summary"]


def test_watch_all_users_finds_the_logged_in_agents(sim: Simulator, run: Run) -> None:
    logged = sorted(login for login, agent in sim.snapshot()["agents"].items() if agent["logged"])
    argv = ("watch", "--all-users", "--kind", "agent_state", "--count", str(len(logged)))
    result = run(*argv, "--duration", "10", "--jsonl", *connection(sim))
    assert result.code == 0, result.err
    assert sorted(json.loads(line)["user"] for line in result.out.splitlines()) == logged


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        ((), "nothing to watch"),
        (("--stats", "queues,bogus"), "unknown --stats bogus"),
        (("--user", "x", "--kind", "nope"), "unknown --kind nope"),
        (("--user", "x", "--duration", "0"), "--duration"),
        (("--user", "x", "--count", "0"), "--count"),
    ],
)
def test_watch_usage_errors(sim: Simulator, run: Run, argv: tuple[str, ...], needle: str) -> None:
    result = run("watch", *argv, *connection(sim))
    assert result.code == 2
    assert needle in result.err
    assert result.err.count("\n") == 1


def test_watch_with_a_bad_token_fails_at_once(sim: Simulator, run: Run) -> None:
    token = hashlib.sha1(b"wrong", usedforsecurity=False).hexdigest()
    result = run("watch", "--user", "hajek", "--url", sim.url, "--token", token)
    assert result.code == 1
    assert "refused the token" in result.err
    assert result.err.count("\n") == 1
    assert token not in result.text


def test_watch_with_a_bad_url_fails_at_once(run: Run) -> None:
    result = run("watch", "--user", "hajek", "--url", "http://127.0.0.1:9", "--token", "tok3n")
    assert result.code == 1
    assert "cannot reach the PBX at http://127.0.0.1:9" in result.err
    assert result.err.count("\n") == 1


@pytest.mark.anyio
async def test_without_rtusersstate_every_user_is_listed(sim: Simulator) -> None:
    async with DaktelaClient(sim.url, sim.token) as client:
        assert "admin" not in await logged_in_agents(client)  # logged out: not listed
    async with DaktelaClient(sim.url, sim.token, api_version="3.9") as client:
        assert {"admin", "hajek"} <= set(await logged_in_agents(client))
