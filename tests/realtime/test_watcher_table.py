"""``watcher.table(name)`` is typed per table name, and the types are the rows' own.

The ``assert_type`` lines are checked by mypy (the typecheck session runs it over the
tests); the runtime tests check that each overload's row type is what the table holds.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from typing import Any, assert_type

import anyio
import pytest

from daktela_async import DaktelaClient, DaktelaUsageError, Watcher
from daktela_async._models import (
    AgentState,
    RTStatsCall,
    RTStatsPause,
    RTStatsQueue,
    RTStatsQueuesSummary,
    RTStatsSession,
    RTStatsSessions,
)
from daktela_async.realtime import (
    STATS_SOURCES,
    CallChanged,
    Event,
    PauseStatsChanged,
    QueueDay,
    QueueDayChanged,
    QueueStatsChanged,
    SessionChanged,
)
from daktela_async.realtime._diff import table_changes
from daktela_async.sim import Simulator
from tests.realtime.conftest import WATCH

pytestmark = pytest.mark.anyio

#: Every table name with a ``Literal`` overload, and the row type that overload promises.
DECLARED: dict[str, type] = {}
for _signature in typing.get_overloads(Watcher.table):
    _hints = typing.get_type_hints(_signature)
    _name = _hints["name"]
    if typing.get_origin(_name) is typing.Literal:
        [_literal] = typing.get_args(_name)
        _, DECLARED[_literal] = typing.get_args(_hints["return"])


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    with anyio.fail_after(timeout):
        while not check():  # noqa: ASYNC110 - polls the watcher, which sends no wake-up
            await anyio.sleep(0.02)


def test_every_table_has_a_literal_overload() -> None:
    assert set(DECLARED) == set(STATS_SOURCES)


def static_types(watcher: Watcher, name: str) -> None:
    """Never called: mypy checks what each call returns."""
    assert_type(watcher.table("queues"), dict[str, RTStatsQueue])
    assert_type(watcher.table("sessions"), dict[str, RTStatsSession])
    assert_type(watcher.table("calls"), dict[str, RTStatsCall])
    assert_type(watcher.table("pauses"), dict[str, RTStatsPause])
    assert_type(watcher.table("summary"), dict[str, RTStatsQueuesSummary])
    assert_type(watcher.table("today"), dict[str, QueueDay])
    assert_type(watcher.table(name), dict[str, Any])
    assert_type(watcher.table("queues")["1"].calls_wait, int | None)
    assert_type(watcher.table("summary")["summary"].users_ready, int | None)
    assert_type(
        RTStatsSessions(watcher.table("sessions")).by_login(watcher.snapshot()),
        dict[str, RTStatsSession],
    )


async def test_each_table_holds_the_rows_its_overload_names(
    sim: Simulator, client: DaktelaClient
) -> None:
    sim.pause_on("hajek", "7")
    sim.start_call(user="novak")
    # An ended call: today's figures count calls once they end.
    sim.hangup(call_id=sim.start_call(user="hajekhu"))
    names = list(STATS_SOURCES)
    async with client.watch(["hajek"], stats=names, stats_interval=0.1, **WATCH) as watcher:
        await eventually(lambda: all(watcher.table(name) for name in names))
        for name in names:
            rows = watcher.table(name)
            assert type(rows) is dict
            assert all(isinstance(row, DECLARED[name]) for row in rows.values()), name
            assert all(type(key) is str for key in rows)
        # Sessions are keyed by agent ID; the watched agents' logins give a view by login.
        await eventually(lambda: "hajek" in watcher.snapshot())
        state: AgentState = watcher.snapshot()["hajek"]
        sessions = watcher.table("sessions")
        assert "hajek" not in sessions
        assert sessions[str(state.id_agent)].state == "Paused"
        by_login = RTStatsSessions(sessions).by_login(watcher.snapshot())
        assert list(by_login) == ["hajek"]
        assert watcher.table("summary")["summary"] == watcher.table("summary")["summary"]


async def test_unknown_or_unpolled_tables_are_refused(client: DaktelaClient) -> None:
    async with client.watch(["hajek"], stats=["queues"], **WATCH) as watcher:
        with pytest.raises(DaktelaUsageError, match="unknown stats table"):
            watcher.table("queuez")
        with pytest.raises(DaktelaUsageError, match="does not poll 'calls'"):
            watcher.table("calls")


# --- a table's rows to events ---------------------------------------------------------------


def test_table_changes_are_new_changed_and_gone_rows_only() -> None:
    before = {"1": "a", "2": "b", "3": "c"}
    after = {"1": "a", "2": "B", "4": "d"}
    assert list(table_changes(before, after)) == [
        ("2", "b", "B"),
        ("4", None, "d"),
        ("3", "c", None),
    ]
    assert list(table_changes(after, dict(after))) == []


@pytest.mark.parametrize(
    ("name", "event", "field"),
    [
        ("queues", QueueStatsChanged, "queue"),
        ("sessions", SessionChanged, "agent"),
        ("calls", CallChanged, "call"),
        ("pauses", PauseStatsChanged, "pause"),
        ("today", QueueDayChanged, "queue"),
    ],
)
async def test_each_tables_changes_become_its_own_events(
    name: str, event: type[Event], field: str
) -> None:
    async with DaktelaClient("https://pbx.example", "token") as client:
        stats = client.watch([], stats=[name], check_token=False)._stats
        old, new, other = RTStatsQueue(id=1), RTStatsQueue(id=1, users_ready=2), RTStatsQueue(id=2)
        events = stats._diff(name, {"1": old, "2": other})
        events += stats._diff(name, {"1": new})
        assert [
            (type(e), getattr(e, field), e.previous, e.current)  # type: ignore[attr-defined]
            for e in events
        ] == [
            (event, "1", None, old),
            (event, "2", None, other),
            (event, "1", old, new),
            (event, "2", other, None),
        ]
        assert stats.tables[name] == {"1": new}
