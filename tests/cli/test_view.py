"""The board's state model and its terminal rendering, fed with hand-made events."""

from __future__ import annotations

import datetime as dt
from typing import Any

import anyio
import pytest

from daktela_async._models import AgentState, RTStatsQueue, RTStatsQueuesSummary, structure
from daktela_async.cli._board import board_text, render_board
from daktela_async.cli._view import (
    OFFLINE,
    Board,
    ClockOffset,
    format_duration,
    to_millis,
)
from daktela_async.realtime import (
    AgentStateChanged,
    EventsDropped,
    QueuesSummaryChanged,
    QueueStatsChanged,
    SourceFailed,
    SourceRecovered,
)

T0 = dt.datetime(2030, 5, 6, 10, 0, 0, tzinfo=dt.UTC)


def state(login: str, agent_state: str, state_time: str | None, **extra: Any) -> AgentState:
    raw: dict[str, Any] = {
        "agent_name": login,
        "agent_title": login.title(),
        "id_agent": "7",
        "exten": "1001",
        "agent_state": agent_state,
        "state_time": state_time,
        "calls": [],
        **extra,
    }
    result: AgentState = structure(raw, AgentState)
    return result


def changed(
    login: str, previous: AgentState | None, current: AgentState, at: dt.datetime
) -> AgentStateChanged:
    return AgentStateChanged(user=login, previous=previous, current=current, seq=1, time=at)


def call(clid: str, call_state: str, name: str = "") -> dict[str, Any]:
    return {
        "id_call": f"c{clid}",
        "direction": "in",
        "clid": clid,
        "clid_name": name,
        "id_queue": "1",
        "call_state": call_state,
    }


def test_format_duration() -> None:
    assert format_duration(5) == "0:05"
    assert format_duration(754) == "12:34"
    assert format_duration(3723) == "1:02:03"
    assert format_duration(-3) == "0:00"


def test_a_live_change_begins_when_it_was_seen_and_teaches_the_clock() -> None:
    board = Board()
    idle = state("hajek", "Idle", "2030-05-06 08:00:00")
    # The PBX's clock reads 08:00:30 when ours reads 10:00:30 (a two-hour zone gap).
    paused = state("hajek", "Paused", "2030-05-06 08:00:30", id_pause="3")
    board.apply(changed("hajek", idle, paused, T0 + dt.timedelta(seconds=30)))
    assert board.agents["hajek"].since == T0 + dt.timedelta(seconds=30)
    assert board.clock.offset == dt.timedelta(hours=2)
    # A state first seen later is dated through the learnt offset.
    novak = state("novak", "Speaking", "2030-05-06 08:00:10")
    board.apply(changed("novak", None, novak, T0 + dt.timedelta(seconds=40)))
    assert board.agents["novak"].since == T0 + dt.timedelta(seconds=10)


def test_a_replayed_state_is_never_dated_after_it_was_seen() -> None:
    board = Board(clock=ClockOffset())
    board.clock.offset = dt.timedelta(0)
    future = state("hajek", "Idle", "2030-05-06 10:05:00")
    board.apply(changed("hajek", None, future, T0))
    assert board.agents["hajek"].since == T0


def test_a_change_that_keeps_the_state_keeps_its_start() -> None:
    board = Board()
    board.clock.offset = dt.timedelta(0)
    speaking = state("hajek", "Speaking", "2030-05-06 09:59:00", calls=[call("111", "Speaking")])
    board.apply(changed("hajek", None, speaking, T0))
    first = board.agents["hajek"].since
    more = state(
        "hajek",
        "Speaking",
        "2030-05-06 09:59:00",
        calls=[call("111", "Speaking"), call("222", "Ringing", "Jan")],
    )
    board.apply(changed("hajek", speaking, more, T0 + dt.timedelta(seconds=20)))
    view = board.agents["hajek"]
    assert view.since == first == T0 - dt.timedelta(minutes=1)
    assert view.calls == 2
    assert view.call is not None
    assert view.call.number == "111"  # the spoken call comes first


def test_agent_json_carries_the_call_and_the_pause_name() -> None:
    board = Board(queue_titles={"1": "Support"}, pause_titles={"3": "Lunch"})
    ringing = state("hajek", "Ringing", None, calls=[call("226211245", "Ringing", "Jan Novák")])
    board.apply(changed("hajek", None, ringing, T0))
    message = board.message("agent:hajek")
    assert message is not None
    assert message["state"] == "Ringing"
    assert message["since"] == to_millis(T0)
    assert message["call"]["caller"] == "226211245 (Jan Novák)"
    assert message["call"]["queue"] == "Support"
    paused = state("novak", "Paused", None, id_pause="3")
    board.apply(changed("novak", None, paused, T0))
    assert board.agent_json(board.agents["novak"])["pause"] == "Lunch"


def test_a_failing_agent_is_offline_and_comes_back_from_its_last_state() -> None:
    board = Board()
    idle = state("hajek", "Idle", None)
    board.apply(changed("hajek", None, idle, T0))
    failed = SourceFailed(
        source="agent:hajek",
        error="RTUserState: Agent není přihlášen",
        error_type="DaktelaAPIError",
        attempt=1,
        retry_in=1.0,
        time=T0,
    )
    assert board.apply(failed) == ["agent:hajek"]
    assert board.agents["hajek"].state == OFFLINE
    assert board.agents["hajek"].error == "RTUserState: Agent není přihlášen"
    board.apply(SourceRecovered(source="agent:hajek", outage=3.0, attempts=2, time=T0))
    assert board.agents["hajek"].state == "Idle"
    assert board.agents["hajek"].error is None


def test_outages_of_other_sources_are_listed_until_they_recover() -> None:
    board = Board()
    failed = SourceFailed(
        source="agents", error="ConnectError", error_type="X", attempt=1, retry_in=0.5
    )
    board.apply(failed)
    assert board.message("source:agents") == {
        "type": "source",
        "source": "agents",
        "ok": False,
        "error": "ConnectError",
    }
    board.apply(SourceRecovered(source="agents", outage=1.0, attempts=1))
    assert board.outages == {}


def test_queues_totals_and_removal() -> None:
    board = Board(queue_titles={"1": "Support"})
    row = RTStatsQueue(id=1, users_total=5, users_ready=2, users_busy=2, calls_wait=3)
    board.apply(QueueStatsChanged(queue="1", previous=None, current=row))
    board.apply(QueueStatsChanged(queue="2", previous=None, current=RTStatsQueue(id=2)))
    assert [q.title for q in board.sorted_queues()] == ["Queue 2", "Support"]
    board.apply(changed("hajek", None, state("hajek", "Idle", None), T0))
    assert board.totals() == (3, 1)  # without a summary: waiting summed, idle agents counted
    summary = RTStatsQueuesSummary(users_ready=4, calls_wait=7)
    board.apply(QueuesSummaryChanged(previous=None, current=summary))
    assert board.totals() == (7, 4)
    board.apply(QueueStatsChanged(queue="2", previous=RTStatsQueue(id=2), current=None))
    assert board.message("queue:2") == {"type": "queue", "id": "2", "removed": True}
    board.set_queue_titles({"1": "Podpora"})
    assert board.queues["1"].title == "Podpora"


def test_dropped_events_are_counted() -> None:
    board = Board()
    assert board.apply(EventsDropped(missed=4)) == ["dropped"]
    assert board.message("dropped") == {"type": "dropped", "missed": 4}


def test_snapshot_json_lists_everything() -> None:
    board = Board()
    board.apply(changed("b", None, state("b", "Idle", None), T0))
    board.apply(changed("a", None, state("a", "Paused", None), T0))
    snap = board.snapshot_json(T0)
    assert [a["user"] for a in snap["agents"]] == ["a", "b"]
    assert snap["summary"]["states"] == {"Idle": 1, "Paused": 1}
    assert snap["now"] == to_millis(T0)


def full_board(agents: int) -> Board:
    board = Board(queue_titles={"1": "Support"}, pause_titles={"3": "Lunch"})
    board.clock.offset = dt.timedelta(0)
    for i in range(agents):
        login = f"agent{i:03d}"
        current = state(login, "Idle", "2030-05-06 09:58:00")
        if i % 3 == 1:
            current = state(
                login, "Speaking", "2030-05-06 09:59:30", calls=[call("777", "Speaking")]
            )
        elif i % 3 == 2:
            current = state(login, "Paused", "2030-05-06 09:59:55", id_pause="3")
        board.apply(changed(login, None, current, T0))
    row = RTStatsQueue(id=1, users_total=agents, users_ready=1, calls_wait=2, calls_time=75)
    board.apply(QueueStatsChanged(queue="1", previous=None, current=row))
    return board


def test_board_text_shows_agents_states_times_calls_and_queues() -> None:
    text = board_text(full_board(3), title="Demo board", now=T0, footer="the end")
    lines = text.splitlines()
    assert lines[0] == "Demo board"
    agent1 = next(line for line in lines if line.startswith("agent001"))
    assert "Speaking" in agent1
    assert "0:30" in agent1
    assert "← 777" in agent1
    agent2 = next(line for line in lines if line.startswith("agent002"))
    assert "Paused Lunch" in agent2
    assert "0:05" in agent2
    support = next(line for line in lines if line.startswith("Support"))
    assert support.split("|")[6].strip() == "2"  # waiting
    assert support.split("|")[7].strip() == "1:15"  # longest wait
    assert "Idle 1 · Paused 1 · Speaking 1" in text
    assert "the end" in text
    assert "\x1b[" not in text


@pytest.mark.parametrize("height", [None, 30])
def test_render_board_fits_many_agents_into_columns(height: int | None) -> None:
    from rich.console import Console

    console = Console(width=200, color_system=None, record=True)
    board = full_board(40)
    console.print(render_board(board, title="t", now=T0, height=height, width=200))
    text = console.export_text()
    shown = sum(1 for i in range(40) if f"agent{i:03d}" in text)
    lines = text.splitlines()
    if height is None:
        assert shown == 40
        assert len(lines) > 40
    else:
        # 40 agents in 30 lines: split over columns, every agent still visible.
        assert shown == 40
        assert len(lines) <= 30
        assert "more agents" not in text


def test_render_board_cuts_off_what_does_not_fit() -> None:
    from rich.console import Console

    console = Console(width=70, color_system=None, record=True)
    console.print(render_board(full_board(60), title="t", now=T0, height=20, width=70))
    text = console.export_text()
    assert len(text.splitlines()) <= 20
    assert "agent000" in text
    assert "agent059" not in text
    assert "51 more agents" in text


def test_an_offline_agent_shows_why() -> None:
    board = Board()
    failed = SourceFailed(
        source="agent:ghost",
        error="not logged in",
        error_type="DaktelaAPIError",
        attempt=1,
        retry_in=1.0,
        time=T0,
    )
    board.apply(failed)
    text = board_text(board, title="t", now=T0 + dt.timedelta(seconds=3))
    line = next(line for line in text.splitlines() if line.startswith("ghost"))
    assert OFFLINE in line
    assert "not logged in" in line
    assert "0:03" in line


def test_a_replayed_state_takes_its_start_from_the_reference_board() -> None:
    shared = Board()
    idle = state("hajek", "Idle", "2030-05-06 08:00:00")
    paused = state("hajek", "Paused", "2030-05-06 08:00:30")
    shared.apply(changed("hajek", idle, paused, T0))
    browser = Board(clock=shared.clock, reference=shared)
    browser.apply(changed("hajek", None, paused, T0 + dt.timedelta(seconds=20)))
    assert browser.agents["hajek"].since == T0
    newer = state("hajek", "Idle", "2030-05-06 08:00:50")
    late = Board(clock=shared.clock, reference=shared)
    late.apply(changed("hajek", None, newer, T0 + dt.timedelta(seconds=40)))
    # Not what the reference saw: dated through the learnt offset (two hours).
    assert late.agents["hajek"].since == T0 + dt.timedelta(seconds=20)


@pytest.mark.anyio
async def test_the_live_board_redraws_on_a_terminal() -> None:
    import io

    from rich.console import Console

    from daktela_async.cli._board import run_board
    from daktela_async.realtime import Hub

    hub = Hub()
    subscription = hub.subscribe(overflow="latest")
    hub.publish(changed("hajek", None, state("hajek", "Idle", None), T0))
    file = io.StringIO()
    console = Console(file=file, force_terminal=True, width=100, height=30, color_system="standard")

    async def change_later() -> None:
        await anyio.sleep(0.4)
        hub.publish(changed("novak", None, state("novak", "Speaking", None), T0))

    async with anyio.create_task_group() as tg:
        tg.start_soon(change_later)
        await run_board(
            subscription, Board(), console=console, title="Live", interactive=True, duration=1.0
        )
    out = file.getvalue()
    assert "hajek" in out
    assert "novak" in out  # drawn after it arrived
    assert "\x1b[" in out  # a terminal gets colours and cursor movement


@pytest.mark.anyio
async def test_the_board_stops_when_the_events_end() -> None:
    import io

    from rich.console import Console

    from daktela_async.cli._board import run_board
    from daktela_async.realtime import Hub

    hub = Hub()
    subscription = hub.subscribe()
    hub.publish(changed("hajek", None, state("hajek", "Idle", None), T0))
    hub.close()
    file = io.StringIO()
    with anyio.fail_after(5):
        await run_board(
            subscription, Board(), console=Console(file=file), title="Plain", interactive=False
        )
    assert file.getvalue().startswith("Plain\n")
    assert "hajek" in file.getvalue()
