"""The core of :class:`~.SimState`: its attributes, the clock, timers and change notification."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from .._clock import SimClock, TimerHandle, TimerHeap
from .._model import (
    Activity,
    Agent,
    Attempt,
    Call,
    Email,
    Extension,
    Field,
    Interval,
    Leg,
    Pause,
    Queue,
    QueueCall,
    Record,
    Sms,
    SmsConnect,
    SmsGroup,
    Snapshot,
    Status,
    TraceEntry,
    User,
)

__all__ = ["AGENT_STATES", "Listener", "StateCore"]

#: The agent states ``RTUserState`` documents.
AGENT_STATES: Final = ("Logged", "Idle", "Paused", "Ringing", "Speaking", "On Hold")

#: ``Listener(kind, subject)``: kinds are ``agent`` (an :class:`Agent` changed),
#: ``catalog`` (queues changed: every agent's answer changed), ``ringing``,
#: ``speaking``, ``ended`` (a :class:`Call`), ``free`` (an :class:`Agent` became Idle),
#: ``timers`` (the earliest timer moved).
Listener = Callable[[str, Any], None]


class StateCore:
    """The attributes of the simulated PBX, its clock and timers, and change notification.

    The domain mixins (:mod:`.users`, :mod:`.queues`, :mod:`.calls`, ...) hold the
    transitions; :class:`~.SimState` composes them. Args as :class:`~.SimState`'s.
    """

    def __init__(self, *, seed: int, clock: SimClock | None) -> None:
        self.seed = seed
        self.clock = clock if clock is not None else SimClock(speed=0)
        self.rng = random.Random(seed)
        self.timers = TimerHeap()
        self._frozen: float | None = None
        self._listeners: list[Listener] = []
        #: Bumped whenever any agent's realtime answer changes.
        self.rt_version = 0
        #: Bumped whenever a queue definition changes (every agent's answer changes).
        self.catalog_version = 0

        self.users: dict[str, User] = {}
        self.users_by_login: dict[str, User] = {}
        self.tokens: dict[str, str] = {}
        self.queues: dict[str, Queue] = {}
        self.queues_by_number: dict[str, Queue] = {}
        self.pauses: dict[str, Pause] = {}
        self.statuses: dict[str, Status] = {}
        self.extensions: dict[str, Extension] = {}
        self.agents: dict[str, Agent] = {}
        self.fields: dict[str, Field] = {}

        self.calls: dict[str, Call] = {}
        self.ended_calls: dict[str, Call] = {}
        self.legs: list[Leg] = []
        self.legs_by_call: dict[str, list[Leg]] = {}
        self.queue_calls: list[QueueCall] = []
        self.attempts: list[Attempt] = []
        self.trace: list[TraceEntry] = []
        self.sessions: list[Interval] = []
        self.pause_log: list[Interval] = []
        self.queue_log: list[Interval] = []
        self.recordings: dict[str, Call] = {}

        self.records: dict[int, Record] = {}
        self.snapshots: list[Snapshot] = []
        self.sms: dict[int, Sms] = {}
        self.sms_groups: dict[int, SmsGroup] = {}
        self.sms_connect: dict[int, SmsConnect] = {}
        self.sms_settings: dict[str, str | None] = {
            "billing_id": "674",
            "enabled_sms": "CONNECT",
            "outgoing_price": "0.000",
            "incoming_callback": None,
            "outgoing_callback": None,
            "incoming_email": None,
            "outgoing_email": None,
            "email_notification_allow": "in,out,confirmed",
            "sending_rate_limit": "0",
            "sending_rate_time": "0",
            "allowed_hour_begin": "0",
            "allowed_hour_end": "0",
            "sending_rate_limit_admin": "1000",
            "sending_rate_time_admin": "86400",
            "lang": "cs_CZ",
            "connect_sender": None,
        }
        self.events: list[dict[str, Any]] = []
        self.activities: dict[str, Activity] = {}
        self.emails: dict[int, Email] = {}
        self.checked_numbers: dict[str, tuple[float, str]] = {}

        self._call_seq = itertools.count(1000)
        self._ids = itertools.count(1)
        self._sms_ids = itertools.count(2000)
        self._record_ids = itertools.count(1)
        self._queue_call_seq = itertools.count(3700)
        self._activity_ids = itertools.count(240)
        self._email_ids = itertools.count(10)
        self._snapshot_ids = itertools.count(170)

    # --- plumbing ---------------------------------------------------------------------

    def now(self) -> float:
        """The current simulated time (the due time while a timer runs)."""
        return self._frozen if self._frozen is not None else self.clock.now()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call *listener* after each change; returns the function that unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def emit(self, kind: str, subject: Any = None) -> None:
        """Tell the listeners that *subject* changed (see :data:`Listener`)."""
        for listener in tuple(self._listeners):
            listener(kind, subject)

    def schedule(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        """Run *callback* after *delay* simulated seconds."""
        earliest = self.timers.next_at()
        at = self.now() + max(0.0, delay)
        handle = self.timers.push(at, callback)
        if earliest is None or at < earliest:
            self.emit("timers")
        return handle

    def run_until(self, until: float) -> int:
        """Run every timer due by *until*, each at its own due time; return how many."""
        ran = 0
        while (handle := self.timers.pop_due(until)) is not None:
            self._frozen = handle.at
            try:
                handle.callback()
            finally:
                self._frozen = None
            ran += 1
        return ran

    def sync(self) -> int:
        """Bring the state up to the clock's time (run the timers that are due)."""
        return self.run_until(self.clock.now())

    def advance(self, seconds: float) -> int:
        """Move simulated time forward and run what became due; returns timers run."""
        self.clock.advance(seconds)
        return self.sync()

    def set_time(self, when: float) -> None:
        """Jump the clock to *when* (tests replaying the document's dates)."""
        self.clock.set(when)

    def _next_id(self) -> str:
        return str(next(self._ids))

    def _new_call_id(self, suffix: str = "") -> str:
        return f"{int(self.now())}.{next(self._call_seq)}{suffix}"

    # --- change bookkeeping -----------------------------------------------------------

    def agent_state(self, agent: Agent) -> str | None:
        """What ``RTUserState`` shows as ``agent_state`` (``None``: not logged in)."""
        if not agent.logged:
            return None
        if agent.call_ids:
            state = self.calls[agent.call_ids[-1]].state
            return state if state in ("Speaking", "On Hold") else "Ringing"
        if agent.pause_id is not None:
            return "Paused"
        return "Idle" if agent.queues else "Logged"

    def touch(self, agent: Agent) -> None:
        """Record that something ``RTUserState`` shows for *agent* changed."""
        state = self.agent_state(agent)
        if state != agent.last_state:
            agent.last_state = state
            agent.state_time = self.now()
        agent.version += 1
        self.rt_version += 1
        self.emit("agent", agent)
        if state == "Idle":
            self.emit("free", agent)

    def _trace(
        self,
        user_id: str,
        action: str,
        start: bool,
        title: str,
        event_id: str = "",
        event_title: str = "",
        duration: float = 0.0,
    ) -> None:
        self.trace.append(
            TraceEntry(
                self.now(),
                user_id,
                int(duration),
                action,
                "1" if start else "0",
                title,
                event_id,
                event_title,
            )
        )

    if TYPE_CHECKING:
        # Transitions the domain mixins define and call across domains (declared for mypy;
        # at run time SimState's mixins provide them).

        # .users
        def login(self, login: str, extension: str | None = None) -> Agent:
            """Defined by :class:`~.users.UsersMixin`."""

        # .queues
        def login_queue(
            self, login: str, number: str, extension: str | None = None, priority: int | None = None
        ) -> None:
            """Defined by :class:`~.queues.QueuesMixin`."""

        def _leave_queue(self, agent: Agent, queue_id: str) -> None:
            """Defined by :class:`~.queues.QueuesMixin`."""

        # .pauses
        def pause_on(self, agent: Agent, pause_id: str, *, force: bool = False) -> None:
            """Defined by :class:`~.pauses.PausesMixin`."""

        def pause_off(self, agent: Agent) -> None:
            """Defined by :class:`~.pauses.PausesMixin`."""

        def _start_pause(self, agent: Agent, pause: Pause) -> None:
            """Defined by :class:`~.pauses.PausesMixin`."""

        def _end_pause(self, agent: Agent) -> None:
            """Defined by :class:`~.pauses.PausesMixin`."""

        # .calls
        def distribute(self) -> None:
            """Defined by :class:`~.calls.CallsMixin`."""

        def _ring(self, call: Call, agent: Agent, *, timeout: float) -> None:
            """Defined by :class:`~.calls.CallsMixin`."""

        # .call_control
        def finish(self, call: Call, cause: str = "caller", disconnection: str = "") -> None:
            """Defined by :class:`~.call_control.CallControlMixin`."""

        # .records
        def _new_record(
            self,
            queue: Queue,
            number: str,
            fields: dict[str, list[str]],
            *,
            user: str | None = None,
            nextcall: float | None = None,
            record_id: int | None = None,
        ) -> Record:
            """Defined by :class:`~.records.RecordsMixin`."""
