"""The simulated PBX's records: users, queues, pauses, calls, forms, SMS, activities.

Plain mutable dataclasses; every rule about how they change lives in
:mod:`daktela_async.sim.state`. Fields keep the PBX's own representation where the
API shows it (ids as numeric strings, flags as ``"0"``/``"1"``) so rendering an answer
is a lookup, not a conversion.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal

__all__ = [
    "OUTGOING_TYPES",
    "Activity",
    "Agent",
    "Attempt",
    "Call",
    "CallKind",
    "Email",
    "Extension",
    "Field",
    "Interval",
    "Leg",
    "Pause",
    "Queue",
    "QueueCall",
    "Record",
    "Sms",
    "SmsConnect",
    "SmsGroup",
    "Snapshot",
    "Status",
    "TraceEntry",
    "User",
]

#: Queue types an agent dials out through; an agent is in at most one at a time.
OUTGOING_TYPES: Final = frozenset({"out", "outbounder", "dialer"})

#: ``queue``: a call-centre call (queue, agent); ``extension``: a plain PBX call on an
#: extension (``CreateCall`` with ``extension``); ``remote``: two external numbers
#: bridged by ``CreateRemoteCall``.
CallKind = Literal["queue", "extension", "remote"]


@dataclass(slots=True, eq=False)
class User:
    """A PBX user (operator or administrator)."""

    id: str
    name: str
    title: str
    password: str
    role: str = "role_43h424k432"
    profile: str = "profile_hj34242342"
    description: str | None = ""
    email: str | None = ""
    deleted: str = "0"
    extension: str | None = None


@dataclass(slots=True, eq=False)
class Queue:
    """A call-centre queue or campaign."""

    id: str
    number: str
    title: str
    type: str
    direction: str
    options: dict[str, str]
    description: str = ""
    outboundcid: str = ""
    wrapuptime: str = "0"
    form: str = "0"
    missed: str | None = None
    deleted: str = "0"
    login: str = "manual"
    #: User ids that may log in; ``None`` lets everybody.
    members: set[str] | None = None
    #: Status ids usable in this queue; empty allows every status.
    statuses: list[str] = field(default_factory=list)

    @property
    def outbounder(self) -> str:
        """``"1"`` for campaign types (outbounder, dialer, interviewer)."""
        return "1" if self.type in ("outbounder", "dialer", "interviewer") else "0"

    @property
    def is_outgoing(self) -> bool:
        """Whether agents dial out through this queue."""
        return self.type in OUTGOING_TYPES

    @property
    def ringtime(self) -> float:
        """Seconds a call rings at one agent before it goes back to the queue."""
        raw = self.options.get("ringtime") or self.options.get("max_ringtime") or "20"
        return float(raw) if raw.isdigit() else 20.0

    @property
    def wrapup_seconds(self) -> float:
        """Seconds of the Wrap pause after a call of this queue."""
        raw = self.wrapuptime or self.options.get("wrapuptime") or "0"
        return float(raw) if raw.isdigit() else 0.0

    def allows(self, user_id: str) -> bool:
        """Whether *user_id* may log into this queue."""
        return self.deleted == "0" and (self.members is None or user_id in self.members)


@dataclass(slots=True, eq=False)
class Pause:
    """A pause definition."""

    id: str
    name: str
    title: str
    type: str | None = ""
    paid: str = "0"
    deleted: str = "0"


@dataclass(slots=True, eq=False)
class Status:
    """A call/record status ("objednavka", "nezajem", ...)."""

    id: str
    code: str
    description: str
    deleted: str = "0"


@dataclass(slots=True, eq=False)
class Extension:
    """A phone line."""

    number: str
    ip: str
    port: str
    registered: bool = True


@dataclass(slots=True, eq=False)
class Interval:
    """A span of time a user spent in something (session, pause, queue login)."""

    id: int
    user_id: str
    start: float
    end: float | None = None
    #: Pause id or queue id; empty for sessions.
    ref: str = ""


@dataclass(slots=True, eq=False)
class Agent:
    """The realtime call-centre state of one user (what ``RTUserState`` shows)."""

    user_id: str
    logged: bool = False
    exten: str | None = None
    logintime: float | None = None
    #: Queue id -> priority, for the queues the agent is logged into (``rt_logged``).
    queues: dict[str, int] = field(default_factory=dict)
    pause_id: str | None = None
    onpause: float | None = None
    state_time: float | None = None
    last_state: str | None = None
    call_ids: list[str] = field(default_factory=list)
    callscript_opened: str | None = None
    #: Bumped by every change of anything ``RTUserState`` shows.
    version: int = 0
    #: Bumped by every pause change; pending wrap-up timers compare it.
    pause_token: int = 0
    last_call_end: float = 0.0
    session: Interval | None = None
    pause_interval: Interval | None = None
    queue_intervals: dict[str, Interval] = field(default_factory=dict)
    #: ``False`` keeps the call-centre model from acting for this agent.
    bot: bool = True


@dataclass(slots=True, eq=False)
class Call:
    """A call in progress (and, once ended, in the history)."""

    id: str
    kind: CallKind
    direction: str
    clid: str
    entered: float
    queue_id: str | None = None
    did: str = ""
    clid_name: str | None = None
    exten: str | None = None
    agent_id: str | None = None
    state: str = "Waiting"
    ringed: float | None = None
    ring_total: float = 0.0
    answered: float | None = None
    leg_start: float = 0.0
    leg_answered: float | None = None
    onhold: float | None = None
    hold_total: float = 0.0
    accountcode: str = ""
    agenttext: str | None = None
    autoanswer: bool = False
    record_id: int | None = None
    variables: dict[str, Any] = field(default_factory=dict)
    #: A pending attended transfer: ``(kind, target)``; done when the agent hangs up.
    transfer: tuple[str, str] | None = None
    playback: dict[str, Any] | None = None
    monitors: list[dict[str, str]] = field(default_factory=list)
    trunk: str = "proxy"
    recording_hash: str = ""
    position: int = 1
    ended: float | None = None
    #: Bumped on every change; pending timers compare it and do nothing when stale.
    phase: int = 0
    first_agent_id: str | None = None
    disposition_cause: str = ""
    disconnection_cause: str = ""
    seq: int = 0
    callstatus: str | None = None
    #: Customer-side number (dialled for outgoing, calling for incoming).
    number: str = ""
    waiting_limit: float = 0.0
    attempt_start: float | None = None

    @property
    def is_live(self) -> bool:
        """Whether the call has not ended."""
        return self.ended is None


@dataclass(slots=True, eq=False)
class Leg:
    """One CDR row: one leg of a call, written when the leg ends."""

    call_id: str
    uniqueid: str
    start: float
    end: float
    answered: float | None
    src: str
    dst: str
    clid: str
    channel: str
    dstchannel: str
    real_exten: str
    direction: str
    from_did: str | None
    id_queue: str | None
    id_agent: str | None
    waiting_time: int
    ringing_time: int
    hold_time: int
    disposition: str
    disposition_cause: str
    disconnection_cause: str
    accountcode: str
    recording_hash: str
    dcontext: str
    trunk: str
    position: int


@dataclass(slots=True, eq=False)
class QueueCall:
    """One call-centre call as ``StatsCalls`` lists it (written when the call ends)."""

    seq: int
    call_id: str
    call_time: float
    direction: str
    answered: bool
    queue_id: str | None
    user_id: str | None
    clid: str
    did: str
    waiting_time: int
    ringing_time: int
    hold_time: int
    duration: int
    position: int
    disposition_cause: str
    disconnection_cause: str
    record_id: int | None
    callstatus: str | None


@dataclass(slots=True, eq=False)
class Attempt:
    """One dial attempt of an outgoing call-centre call (``GetAttempts``)."""

    id: int
    call_id: str
    start: float
    end: float
    agent_id: str | None
    queue_id: str | None


@dataclass(slots=True, eq=False)
class TraceEntry:
    """One line of ``StatsTrace``."""

    time: float
    user_id: str
    duration: int
    action_name: str
    action_start: str
    action_title: str
    event_id: str
    event_title: str


@dataclass(slots=True, eq=False)
class Field:
    """An input of the call-script form."""

    id: str
    type: str
    name: str
    title: str
    options: list[str] | None = None


@dataclass(slots=True, eq=False)
class Record:
    """A form record (a contact in a campaign)."""

    id: int
    queue_id: str
    number: str
    title: str
    name: str
    created: float
    user: str | None = None
    nextcall: float | None = None
    status: str | None = None
    action: str = "0"
    call_id: str = ""
    edited: float | None = None
    deleted: str = "0"
    fields: dict[str, list[str]] = field(default_factory=dict)
    field_times: dict[str, tuple[float, str | None, int]] = field(default_factory=dict)


@dataclass(slots=True, eq=False)
class Snapshot:
    """A saved copy of a record (``GetRecordSnapshots``)."""

    id: int
    record: Record
    created: float
    created_by: str | None


@dataclass(slots=True, eq=False)
class Sms:
    """An SMS of the hosted gateway (``SendSMS`` / ``GetSMS``)."""

    id: int
    direction: str
    datetime: float
    number: str
    message: str
    count_sms: int
    confirmation: bool
    accountcode: str | None
    email: str | None
    gw: str
    slot: str
    port: str
    priority: int
    result: str = "waiting"
    processed: float | None = None
    confirmed: str = "0"
    attempts: int = 0
    price: str = "0.000"
    group_id: int | None = None
    scheduled: float | None = None


@dataclass(slots=True, eq=False)
class SmsGroup:
    """A group SMS request (``SendGroupSMS``)."""

    id: int
    datetime: float
    accountcode: str | None
    message_ids: list[int] = field(default_factory=list)
    connect: bool = False


@dataclass(slots=True, eq=False)
class SmsConnect:
    """An SMS of the SMS Connect service (``SendSMSConnect`` / ``GetSMSConnect``)."""

    id: int
    message_id: str
    datetime: float
    recipient: str
    message: str
    count_sms: int
    encoding: str
    request_dlr: bool
    sender: str | None
    result: str = "NEW"
    sent: float | None = None
    delivered: float | None = None
    billed: float | None = None
    price: str = "0.590"
    group_id: int | None = None
    accountcode: str | None = None
    scheduled: float | None = None


@dataclass(slots=True, eq=False)
class Activity:
    """A contact-centre activity (a ticket item: email, call, ...)."""

    id: int
    ticket: int
    name: str
    title: str
    type: str
    queue_id: str
    time: float
    item: int | None = None
    user: str | None = None
    status: str | None = None
    action: str | None = None
    priority: str = "20"
    time_close: float | None = None


@dataclass(slots=True, eq=False)
class Email:
    """An email (``EmailCreate``)."""

    id: int
    queue_id: str
    name: str
    title: str
    address: str
    text: str
    time: float
    user: str | None = None
