"""Realtime state: ``RTUserState``/``RTUsersState`` and the ``RTStats*`` overviews."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from typing import Any

import attrs

from ._queues import LoginQueueState, Queue
from ._scalars import EMPTY

__all__ = [
    "AgentCall",
    "AgentState",
    "AgentStateName",
    "CallStateName",
    "RTStatsCall",
    "RTStatsPause",
    "RTStatsQueue",
    "RTStatsQueuesSummary",
    "RTStatsSession",
]


class AgentStateName(enum.StrEnum):
    """The documented states of an operator (``agent_state``, ``RTStatsSessions`` ``state``).

    Undocumented states are kept as plain strings, so compare with ``==``: members
    are strings (``AgentStateName.IDLE == "Idle"``).
    """

    LOGGED = "Logged"
    IDLE = "Idle"
    PAUSED = "Paused"
    CALLING = "Calling"
    RINGING = "Ringing"
    SPEAKING = "Speaking"
    ON_HOLD = "On Hold"


class CallStateName(enum.StrEnum):
    """The documented states of a call (``call_state``, ``RTStatsCalls`` ``state``)."""

    WAITING = "Waiting"
    RINGING = "Ringing"
    SPEAKING = "Speaking"
    ON_HOLD = "On Hold"
    TRANSFERED = "Transfered"


@attrs.frozen(slots=True, kw_only=True)
class AgentCall:
    """A call the operator is handling (an item of ``calls`` in ``RTUserState``).

    Attributes:
        id_call: Unique call ID.
        direction: ``in`` or ``out``.
        clid: The customer's number (the caller for ``in``, the callee for ``out``).
        clid_name: Text name of the CLID.
        id_queue: ID of the queue the call is in.
        oqueue: That queue (informative).
        entered: When the customer entered the queue (for ``out``: when dialling began).
        ringed: When the call started ringing at the operator.
        answered: When the operator answered.
        call_state: A :class:`CallStateName` (``Ringing``, ``Speaking``, ``On Hold``),
            or the server's text when undocumented.
        onhold: When the operator put the call on hold.
        extra: Every key the server sent that this model does not know.
    """

    id_call: str
    direction: str | None = None
    clid: str | None = None
    clid_name: str | None = None
    id_queue: int | None = None
    oqueue: Queue | None = None
    entered: dt.datetime | None = None
    ringed: dt.datetime | None = None
    answered: dt.datetime | None = None
    call_state: CallStateName | str | None = None
    onhold: dt.datetime | None = None
    extra: Mapping[str, Any] = EMPTY


@attrs.frozen(slots=True, kw_only=True)
class AgentState:
    """The realtime state of one operator (``RTUserState``, values of ``RTUsersState``).

    Attributes:
        agent_name: Login name.
        agent_title: Full name.
        id_agent: Operator (user) ID.
        exten: Extension the operator is logged in at.
        logintime: When the operator logged into the call centre.
        agent_state: An :class:`AgentStateName`, or the server's text when undocumented.
        state_time: When the state last changed.
        id_pause: ID of the pause the operator is on.
        onpause: When the operator went on pause.
        calls: The calls the operator is handling (empty when none).
        callscript_opened: ID of the call script (form record) the operator has open.
        login_oqueues: The queues the operator can log into, with ``rt_logged``
            (4.0 and later).
        hash: Hash of this answer, to pass back to ``RTUserState`` for long polling
            (4.0 ``RTUserState`` only).
        extra: Every key the server sent that this model does not know.

    From ``RTUsersState`` (``rt_users_state()``), ``calls`` and ``login_oqueues`` are
    structured when first read: a value in them that does not convert raises
    ``DaktelaDecodeError`` at that read rather than at the call.
    """

    agent_name: str
    id_agent: int
    agent_state: AgentStateName | str
    agent_title: str | None = None
    exten: str | None = None
    logintime: dt.datetime | None = None
    state_time: dt.datetime | None = None
    id_pause: int | None = None
    onpause: dt.datetime | None = None
    calls: tuple[AgentCall, ...] = ()
    callscript_opened: int | None = None
    login_oqueues: tuple[LoginQueueState, ...] = ()
    hash: str | None = None
    extra: Mapping[str, Any] = EMPTY


@attrs.frozen(slots=True, kw_only=True)
class RTStatsQueue:
    """Current totals of one queue (values of ``RTStatsQueues``).

    Attributes:
        id: Queue ID.
        users_total: Operators logged into the queue.
        users_ready: Idle operators who can take a call.
        users_busy: Operators speaking.
        users_pause: Operators on a pause.
        calls_count: Calls in progress.
        calls_wait: Calls ringing (waiting) in the queue.
        calls_time: Longest wait of the waiting calls, in seconds.
        extra: Every key the server sent that this model does not know.
    """

    id: int
    users_total: int | None = None
    users_ready: int | None = None
    users_busy: int | None = None
    users_pause: int | None = None
    calls_count: int | None = None
    calls_wait: int | None = None
    calls_time: int | None = None
    extra: Mapping[str, Any] = EMPTY


@attrs.frozen(slots=True, kw_only=True)
class RTStatsQueuesSummary:
    """Current totals over the selected queues (``RTStatsQueuesSummary``).

    Attributes:
        users_total: Logged operators.
        users_ready: Idle operators who can take a call.
        users_busy: Operators speaking.
        users_pause: Operators on a pause.
        calls_count: Calls in progress.
        calls_in: Incoming calls.
        calls_out: Outgoing calls.
        calls_wait: Calls ringing (waiting).
        calls_time: Longest wait of the waiting calls, in seconds.
        extra: Every key the server sent that this model does not know.
    """

    users_total: int | None = None
    users_ready: int | None = None
    users_busy: int | None = None
    users_pause: int | None = None
    calls_count: int | None = None
    calls_in: int | None = None
    calls_out: int | None = None
    calls_wait: int | None = None
    calls_time: int | None = None
    extra: Mapping[str, Any] = EMPTY


@attrs.frozen(slots=True, kw_only=True)
class RTStatsSession:
    """One logged-in operator (values of ``RTStatsSessions``).

    Attributes:
        id: Operator (user) ID.
        extension: Extension number.
        queues: IDs of the queues the operator is logged into.
        state: An :class:`AgentStateName` (``Logged``, ``Idle``, ``Paused``,
            ``Calling``, ``Ringing``, ``Speaking``, ``On Hold``) or the server's text.
        pause: Pause ID when ``Paused``.
        state_time_absolute: When the state last changed.
        state_time_relative: Seconds since then.
        login_time_absolute: When the operator logged in.
        login_time_relative: Seconds since then.
        extra: Every key the server sent that this model does not know.
    """

    id: int
    extension: str | None = None
    queues: tuple[int, ...] = ()
    state: AgentStateName | str | None = None
    pause: int | None = None
    state_time_absolute: dt.datetime | None = None
    state_time_relative: int | None = None
    login_time_absolute: dt.datetime | None = None
    login_time_relative: int | None = None
    extra: Mapping[str, Any] = EMPTY


@attrs.frozen(slots=True, kw_only=True)
class RTStatsCall:
    """One call in progress (values of ``RTStatsCalls``).

    Attributes:
        id: Unique call ID.
        queue: ID of the queue the call is in.
        agent: ID of the operator speaking (once answered).
        users: IDs of the operators the call is connected to (several while ringing
            with the ``ringall`` strategy).
        clid: The customer's number.
        direction: ``in`` or ``out``.
        state: A :class:`CallStateName` (``Waiting``, ``Ringing``, ``Speaking``,
            ``On Hold``, ``Transfered``) or the server's text.
        enter_time_absolute: When the call entered the queue.
        enter_time_relative: Seconds since then (waiting, ringing and speaking).
        wait_time_absolute: When the call started waiting.
        wait_time_relative: Seconds it took to answer.
        ring_time_absolute: When it started ringing at an operator.
        ring_time_relative: Seconds it rang.
        answer_time_absolute: When it was answered.
        answer_time_relative: Seconds spoken so far.
        hold_time_absolute: When it was put on hold.
        hold_time_relative: Seconds on hold.
        extra: Every key the server sent that this model does not know.
    """

    id: str
    queue: int | None = None
    agent: int | None = None
    users: tuple[int, ...] = ()
    clid: str | None = None
    direction: str | None = None
    state: CallStateName | str | None = None
    enter_time_absolute: dt.datetime | None = None
    enter_time_relative: int | None = None
    wait_time_absolute: dt.datetime | None = None
    wait_time_relative: int | None = None
    ring_time_absolute: dt.datetime | None = None
    ring_time_relative: int | None = None
    answer_time_absolute: dt.datetime | None = None
    answer_time_relative: int | None = None
    hold_time_absolute: dt.datetime | None = None
    hold_time_relative: int | None = None
    extra: Mapping[str, Any] = EMPTY


@attrs.frozen(slots=True, kw_only=True)
class RTStatsPause:
    """One pause in use (values of ``RTStatsPauses``).

    Attributes:
        id: Pause ID.
        count: How many operators are on it.
        users: Their IDs.
        extra: Every key the server sent that this model does not know.
    """

    id: int
    count: int | None = None
    users: tuple[int, ...] = ()
    extra: Mapping[str, Any] = EMPTY
