"""Turning two consecutive answers into the events that describe what changed."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import attrs

from .._models import AgentState
from ._events import (
    AgentCallEnded,
    AgentCallStarted,
    AgentStateChanged,
    Event,
    QueueLoginChanged,
)

__all__ = ["agent_events", "same_agent_state", "same_on_board", "table_changes"]


def same_agent_state(previous: AgentState, current: AgentState) -> bool:
    """Whether two answers describe the same state (the ``hash`` itself aside)."""
    if previous is current:
        return True
    if previous.hash == current.hash and previous.hash is not None:
        return True
    return attrs.evolve(current, hash=previous.hash) == previous


def _board(state: AgentState) -> tuple[Any, ...]:
    calls = tuple((c.id_call, c.call_state, c.answered, c.onhold) for c in state.calls)
    queues = tuple(sorted((str(q.queue), bool(q.rt_logged)) for q in state.login_oqueues))
    return (
        state.agent_state,
        state.id_pause,
        state.state_time,
        state.onpause,
        state.exten,
        state.logintime,
        calls,
        queues,
    )


def same_on_board(previous: AgentState, current: AgentState) -> bool:
    """Whether two answers show the same state, comparing what a board shows.

    ``RTUsersState`` rows and ``RTUserState`` answers describe the same agent with
    different detail (fewer queue keys); this compares only state, pause, times,
    extension, calls and queue logins.
    """
    return _board(previous) == _board(current)


def agent_events(user: str, previous: AgentState | None, current: AgentState) -> Iterator[Event]:
    """Events for one agent going from *previous* to *current* (nothing when unchanged).

    The state change comes first, then calls that ended, calls that started and queue
    logins, so a consumer that tracks calls sees them against the newest state.
    """
    if previous is not None and same_agent_state(previous, current):
        return
    yield AgentStateChanged(user=user, previous=previous, current=current)
    before = {c.id_call: c for c in previous.calls} if previous is not None else {}
    after = {c.id_call: c for c in current.calls}
    for call_id, call in before.items():
        if call_id not in after:
            yield AgentCallEnded(user=user, call=call)
    for call_id, call in after.items():
        if call_id not in before:
            yield AgentCallStarted(user=user, call=call)
    if previous is None:
        return
    logged_before = {str(q.queue): bool(q.rt_logged) for q in previous.login_oqueues}
    for queue in current.login_oqueues:
        key = str(queue.queue)
        now = bool(queue.rt_logged)
        if logged_before.get(key, False) != now:
            yield QueueLoginChanged(user=user, queue=key, logged=now, queue_state=queue)


def table_changes(
    previous: Mapping[str, Any], current: Mapping[str, Any]
) -> Iterator[tuple[str, Any | None, Any | None]]:
    """``(id, before, after)`` for every row of a keyed table that changed.

    Rows new in *current* come with ``before=None``; rows gone from it with ``after=None``.
    """
    for key, row in current.items():
        old = previous.get(key)
        if old is None or old != row:
            yield key, old, row
    for key, old in previous.items():
        if key not in current:
            yield key, old, None
