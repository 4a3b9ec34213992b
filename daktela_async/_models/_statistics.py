"""Statistics: ``CDR``, ``LastCall``, ``LastCallNumber`` and the ``Stats*`` rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import attrs

from ._scalars import EMPTY

__all__ = [
    "CDRBillingRecord",
    "LastCall",
    "LastCallNumber",
    "StatsCallRow",
    "StatsCallsRepeatedRow",
    "StatsTraceRow",
    "StatsUserPauseRow",
    "StatsUserQueueRow",
    "StatsUserSessionRow",
]


@attrs.frozen(slots=True, kw_only=True)
class CDRBillingRecord:
    """One billed call (``CDR``).

    Attributes:
        date: When the call started.
        real_exten: The extension that took part.
        dst: Destination number.
        billsec: Seconds from answer to hang-up.
        duration: Seconds from start to hang-up.
        disposition: ``ANSWERED`` and the like.
        accountcode: Account code bound to the call.
        uniqueid: Asterisk unique ID.
        id_call: Unique call ID.
        from_did: The DID the call came in on.
        direction: ``in``, ``out`` or ``local``.
        price: Price of the call in the price list's currency (``"4.94999987"``).
        destination_type: Destination type of the price list.
        destination_type_description: Its description.
        destination: Destination name (``"Ceska republika"``).
        destination_price: Price per minute of the destination.
        extra: Every key the server sent that this model does not know.
    """

    date: dt.datetime | None = None
    real_exten: str | None = None
    dst: str | None = None
    billsec: int | None = None
    duration: int | None = None
    disposition: str | None = None
    accountcode: str | None = None
    uniqueid: str | None = None
    id_call: str | None = None
    from_did: str | None = None
    direction: str | None = None
    price: float | None = None
    destination_type: str | None = None
    destination_type_description: str | None = None
    destination: str | None = None
    destination_price: float | None = None
    extra: Mapping[str, Any] = EMPTY


@attrs.frozen(slots=True, kw_only=True)
class LastCall:
    """The current or last finished call of an extension or operator (``LastCall``).

    Attributes:
        exten: Extension number.
        user: Operator (user) ID.
        queue: Queue ID.
        id_call: Unique call ID.
        direction: ``in`` or ``out``.
        clid: The customer's number.
        time: When the call started.
        is_realtime: Whether the call is still in progress (key ``_is_realtime``).
        extra: Every key the server sent that this model does not know.
    """

    exten: str | None = None
    user: int | None = None
    queue: int | None = None
    id_call: str | None = None
    direction: str | None = None
    clid: str | None = None
    time: dt.datetime | None = None
    is_realtime: bool | None = attrs.field(default=None, metadata={"key": "_is_realtime"})
    extra: Mapping[str, Any] = EMPTY


@attrs.frozen(slots=True, kw_only=True)
class LastCallNumber:
    """The last call with a phone number: agent and queue (``LastCallNumber``).

    Attributes:
        call: Unique call ID.
        call_time: When the call started.
        direction: ``in`` or ``out``.
        queue: Queue ID.
        user: Operator (user) ID.
        answered: Whether the call was answered.
        clid: The customer's number.
        waiting_time: Seconds waiting.
        ringing_time: Seconds ringing.
        hold_time: Seconds on hold.
        duration: Seconds spoken.
        disposition: Who ended the call (``"user"``).
        orig_posision: Position in the queue on entry (the server's spelling).
        attempts: Attempts made.
        queue_title: Queue name.
        queue_number: Queue number.
        queue_direction: Queue direction.
        user_title: Operator's full name.
        user_login: Operator's login name.
        extra: Every key the server sent that this model does not know.
    """

    call: str | None = None
    call_time: dt.datetime | None = None
    direction: str | None = None
    queue: int | None = None
    user: int | None = None
    answered: bool | None = None
    clid: str | None = None
    waiting_time: int | None = None
    ringing_time: int | None = None
    hold_time: int | None = None
    duration: int | None = None
    disposition: str | None = None
    orig_posision: int | None = None
    attempts: int | None = None
    queue_title: str | None = None
    queue_number: str | None = None
    queue_direction: str | None = None
    user_title: str | None = None
    user_login: str | None = None
    extra: Mapping[str, Any] = EMPTY


@attrs.frozen(slots=True, kw_only=True)
class StatsCallRow:
    """One call-centre call (``StatsCalls``).

    Attributes:
        call: Call row ID.
        name: Unique call ID (``"1408101684.96894WS"``).
        call_time: When the call started.
        direction: ``in`` or ``out``.
        answered: Whether it was answered.
        queue: Queue ID.
        user: Operator (user) ID.
        clid: The customer's number.
        contact: Contact ID.
        did: The DID the call came in on.
        waiting_time: Seconds waiting.
        ringing_time: Seconds ringing.
        hold_time: Seconds on hold.
        duration: Seconds spoken.
        orig_pos: Position in the queue on entry.
        position: Position in the queue when answered.
        disposition_cause: Who ended the call (``"agent"``, ``"caller"``).
        disconnection_cause: Technical cause of the hang-up.
        pressed_key: Key pressed in the IVR.
        score: Quality score.
        note: Note.
        attempts: Attempts made.
        qa_user_id: ID of the quality-assurance reviewer.
        extra: Every key the server sent that this model does not know.
    """

    call: int
    name: str | None = None
    call_time: dt.datetime | None = None
    direction: str | None = None
    answered: bool | None = None
    queue: int | None = None
    user: int | None = None
    clid: str | None = None
    contact: int | None = None
    did: str | None = None
    waiting_time: int | None = None
    ringing_time: int | None = None
    hold_time: int | None = None
    duration: int | None = None
    orig_pos: int | None = None
    position: int | None = None
    disposition_cause: str | None = None
    disconnection_cause: str | None = None
    pressed_key: str | None = None
    score: str | None = None
    note: str | None = None
    attempts: int | None = None
    qa_user_id: int | None = None
    extra: Mapping[str, Any] = EMPTY


@attrs.frozen(slots=True, kw_only=True)
class StatsTraceRow:
    """One begin or end of an operator's activity (``StatsTrace``).

    Attributes:
        time: When it happened.
        duration: Seconds the activity took (only on its end).
        action_name: ``call``, ``pause``, ``queue``, ``login``, ``ring_out``, ``ring_in``.
        action_start: ``True`` at the beginning of the activity, ``False`` at its end.
        action_title: Text description.
        event_id: Extension (call, ring_out), pause ID, queue ID or call ID (ring_in).
        event_title: Number called, pause name, queue name or ringing extension.
        time_unixtime: :attr:`time` as a Unix timestamp (documented, not always sent).
        extra: Every key the server sent that this model does not know.
    """

    time: dt.datetime | None = None
    duration: int | None = None
    action_name: str | None = None
    action_start: bool | None = None
    action_title: str | None = None
    event_id: str | None = None
    event_title: str | None = None
    time_unixtime: int | None = None
    extra: Mapping[str, Any] = EMPTY


@attrs.frozen(slots=True, kw_only=True)
class StatsUserPauseRow:
    """One pause an operator took (``StatsUsersPauses``).

    Attributes:
        id: Row ID.
        user: Operator (user) ID.
        start_time: When the pause began.
        end_time: When it ended.
        duration: Seconds.
        pause: Pause ID.
        extra: Every key the server sent that this model does not know.
    """

    id: int | None = None
    user: int | None = None
    start_time: dt.datetime | None = None
    end_time: dt.datetime | None = None
    duration: int | None = None
    pause: int | None = None
    extra: Mapping[str, Any] = EMPTY


@attrs.frozen(slots=True, kw_only=True)
class StatsUserQueueRow:
    """One stay of an operator in a queue (``StatsUsersQueues``).

    Attributes:
        user: Operator (user) ID.
        start_time: When the operator logged into the queue.
        end_time: When they logged out.
        duration: Seconds.
        queue: Queue ID.
        extra: Every key the server sent that this model does not know.
    """

    user: int | None = None
    start_time: dt.datetime | None = None
    end_time: dt.datetime | None = None
    duration: int | None = None
    queue: int | None = None
    extra: Mapping[str, Any] = EMPTY


@attrs.frozen(slots=True, kw_only=True)
class StatsUserSessionRow:
    """One login session of an operator in the call centre (``StatsUsersSessions``).

    Attributes:
        id: Row ID.
        user: Operator (user) ID.
        start_time: Login time.
        end_time: Logout time.
        duration: Seconds.
        extra: Every key the server sent that this model does not know.
    """

    id: int | None = None
    user: int | None = None
    start_time: dt.datetime | None = None
    end_time: dt.datetime | None = None
    duration: int | None = None
    extra: Mapping[str, Any] = EMPTY


@attrs.frozen(slots=True, kw_only=True)
class StatsCallsRepeatedRow:
    """Repeated calls of one number (``StatsCallsRepeated``).

    Attributes:
        clid: The number.
        call_total: All its calls.
        call_answered: Answered ones.
        call_unanswered: Unanswered ones.
        waiting_avg: Average seconds waiting.
        duration_avg: Average seconds spoken.
        extra: Every key the server sent that this model does not know.
    """

    clid: str | None = None
    call_total: int | None = None
    call_answered: int | None = None
    call_unanswered: int | None = None
    waiting_avg: float | None = None
    duration_avg: float | None = None
    extra: Mapping[str, Any] = EMPTY
