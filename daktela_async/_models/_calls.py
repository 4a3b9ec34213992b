"""Calls and extensions: ``AboutCall``, ``GetAttempts``, ``DeviceStates``."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from typing import Any

import attrs

from ._scalars import EMPTY

__all__ = ["Attempt", "CDRRecord", "DeviceState", "DeviceStatus"]


@attrs.frozen(slots=True, kw_only=True)
class CDRRecord:
    """One call detail record leg of a call (``AboutCall``).

    Attributes:
        calldate: When the leg started.
        clid: Caller ID.
        src: Source number.
        dst: Destination number.
        dcontext: Dialplan context (``"from-internal"``).
        channel: Source channel (``"SIP/200-0000009f"``).
        dstchannel: Destination channel.
        lastapp: Last dialplan application.
        lastdata: Its argument.
        duration: Seconds from start to hang-up.
        billsec: Seconds from answer to hang-up.
        disposition: ``ANSWERED``, ``NO ANSWER``, ``BUSY``, ``FAILED``.
        amaflags: Asterisk AMA flags.
        accountcode: Account code bound to the call.
        uniqueid: Asterisk unique ID of the leg.
        userfield: Path of the recording.
        real_exten: The extension that took part.
        direction: ``in``, ``out`` or ``local``.
        from_did: The DID the call came in on.
        id_call: Unique call ID (of the whole call).
        id_queue: Queue ID.
        id_agent: Agent (user) ID.
        waiting_time: Seconds waiting in the queue.
        ringing_time: Seconds ringing at the agent.
        hold_time: Seconds on hold.
        orig_pos: Position in the queue when the call entered.
        position: Position in the queue when answered.
        disposition_cause: Who ended the call (``"agent"``, ``"caller"``).
        disconnection_cause: Technical cause of the hang-up.
        recording_hash: The hash to pass to ``GetRecording``.
        extra: Every key the server sent that this model does not know.
    """

    calldate: dt.datetime | None = None
    clid: str | None = None
    src: str | None = None
    dst: str | None = None
    dcontext: str | None = None
    channel: str | None = None
    dstchannel: str | None = None
    lastapp: str | None = None
    lastdata: str | None = None
    duration: int | None = None
    billsec: int | None = None
    disposition: str | None = None
    amaflags: int | None = None
    accountcode: str | None = None
    uniqueid: str | None = None
    userfield: str | None = None
    real_exten: str | None = None
    direction: str | None = None
    from_did: str | None = None
    id_call: str | None = None
    id_queue: int | None = None
    id_agent: int | None = None
    waiting_time: int | None = None
    ringing_time: int | None = None
    hold_time: int | None = None
    orig_pos: int | None = None
    position: int | None = None
    disposition_cause: str | None = None
    disconnection_cause: str | None = None
    recording_hash: str | None = None
    extra: Mapping[str, Any] = EMPTY


@attrs.frozen(slots=True, kw_only=True)
class Attempt:
    """One call-centre attempt (``GetAttempts``).

    Attributes:
        id: Attempt ID.
        id_call: Unique call ID.
        name: Kind of attempt (``"ATTEMPT"``).
        start_time: When it started.
        end_time: When it ended.
        duration: Seconds.
        id_agent: Agent (user) ID.
        id_queue: Queue ID.
        data1: Free data 1.
        data2: Free data 2.
        data3: Free data 3.
        data4: Free data 4.
        extra: Every key the server sent that this model does not know.
    """

    id: int
    id_call: str | None = None
    name: str | None = None
    start_time: dt.datetime | None = None
    end_time: dt.datetime | None = None
    duration: int | None = None
    id_agent: int | None = None
    id_queue: int | None = None
    data1: str | None = None
    data2: str | None = None
    data3: str | None = None
    data4: str | None = None
    extra: Mapping[str, Any] = EMPTY


class DeviceStatus(enum.StrEnum):
    """The documented states of a device (``DeviceStates``)."""

    AVAILABLE = "AVAILABLE"
    UNAVAILABLE = "UNAVAILABLE"
    ONHOLD = "ONHOLD"
    INUSE = "INUSE"
    RINGING = "RINGING"


@attrs.frozen(slots=True, kw_only=True)
class DeviceState:
    """The state of one extension's device (``DeviceStates``).

    Attributes:
        exten: Extension number.
        status: A :class:`DeviceStatus`, or the server's text when undocumented.
        ip: IP address of the device (``"-none-"`` when unregistered).
        port: Its port (``0`` when unregistered).
        extra: Every key the server sent that this model does not know.
    """

    exten: str
    status: DeviceStatus | str | None = None
    ip: str | None = None
    port: int | None = None
    extra: Mapping[str, Any] = EMPTY
