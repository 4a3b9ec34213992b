"""The simulated PBX: its whole state and every transition, as pure code.

Nothing here does I/O or knows about asyncio: a transition is a method call that
either changes the state consistently or raises :class:`SimError` with the message
the real server would send (the document's Czech text where it records one).

Invariants every transition keeps (``tests/sim`` checks them after random sequences):

- an agent is Ringing/Speaking/On Hold exactly when it has a live call, and every
  call in ``agent.call_ids`` is live and names the agent;
- every ended call has at least one CDR leg (``legs_by_call``), and every ended
  call-centre call one ``StatsCalls`` row;
- ``agent.state_time`` changes exactly when the shown ``agent_state`` changes;
- ``agent.version`` changes whenever anything ``RTUserState`` shows changes (the
  long poll and the answer caches key on it).

Delayed behaviour (wrap-up ending, an unanswered call going back to the queue, an SMS
being delivered) runs from a timer heap in *simulated* time: :meth:`SimState.sync`
runs every timer that is due by the clock. With a frozen clock (``speed=0``) they
run only when a test calls :meth:`SimState.advance`.

Layout: :class:`~.core.StateCore` holds the attributes, the clock and timers and change
notification; :class:`~.lookups.StateLookups` the read-only lookups; one mixin per domain
holds that domain's transitions (:mod:`.users`, :mod:`.queues`, :mod:`.pauses`,
:mod:`.calls`, :mod:`.call_control`, :mod:`.records`, :mod:`.messaging`,
:mod:`.activities`, :mod:`.events`, :mod:`.dialer`); :class:`SimState` composes them and
populates the default catalogue (:mod:`.defaults`). Refusals are in :mod:`.errors`.
"""

from __future__ import annotations

from typing import Any

from ..._errors import DaktelaUsageError
from .._clock import SimClock, fmt
from .._model import Extension, Field, Pause, Status
from .activities import ActivitiesMixin
from .call_control import CallControlMixin
from .calls import CallsMixin
from .core import AGENT_STATES, Listener
from .defaults import (
    _FIRST_NAMES,
    _LAST_NAMES,
    CHECK_STATUSES,
    FORM_FIELDS,
    INBOUND_TITLES,
    NAMED_AGENTS,
    PAUSES,
    STATUSES,
    destination_of,
)
from .dialer import DialerMixin
from .errors import (
    ERR_ACTIVITY_UNKNOWN,
    ERR_BUSY,
    ERR_CALL_UNKNOWN,
    ERR_EVENT_PREFIX,
    ERR_EXTENSION_TAKEN,
    ERR_EXTENSION_UNKNOWN,
    ERR_LIMIT,
    ERR_LOGOUT_CALLING,
    ERR_MESSAGE_TOO_LONG,
    ERR_NO_CALL,
    ERR_NO_EXTENSION,
    ERR_NO_PLAYBACK,
    ERR_NO_RINGING,
    ERR_NOT_CTC_QUEUE,
    ERR_NOT_EMAIL_QUEUE,
    ERR_NOT_IN_ANY_QUEUE,
    ERR_NOT_IN_OUT_QUEUE,
    ERR_NOT_LOGGED,
    ERR_NOT_MEMBER,
    ERR_PAUSE_UNKNOWN,
    ERR_QUEUE_UNKNOWN,
    ERR_RECORD_UNKNOWN,
    ERR_RECORDING_UNKNOWN,
    ERR_STATUS_UNKNOWN,
    ERR_TOO_MANY_SMS,
    ERR_USER_EXISTS,
    ERR_USER_UNKNOWN,
    MAX_TAKE,
    SimError,
)
from .events import EventsMixin
from .messaging import MessagingMixin
from .pauses import PausesMixin
from .queues import QueuesMixin
from .records import RecordsMixin
from .users import UsersMixin, token_for

__all__ = [
    "AGENT_STATES",
    "CHECK_STATUSES",
    "ERR_ACTIVITY_UNKNOWN",
    "ERR_BUSY",
    "ERR_CALL_UNKNOWN",
    "ERR_EVENT_PREFIX",
    "ERR_EXTENSION_TAKEN",
    "ERR_EXTENSION_UNKNOWN",
    "ERR_LIMIT",
    "ERR_LOGOUT_CALLING",
    "ERR_MESSAGE_TOO_LONG",
    "ERR_NOT_CTC_QUEUE",
    "ERR_NOT_EMAIL_QUEUE",
    "ERR_NOT_IN_ANY_QUEUE",
    "ERR_NOT_IN_OUT_QUEUE",
    "ERR_NOT_LOGGED",
    "ERR_NOT_MEMBER",
    "ERR_NO_CALL",
    "ERR_NO_EXTENSION",
    "ERR_NO_PLAYBACK",
    "ERR_NO_RINGING",
    "ERR_PAUSE_UNKNOWN",
    "ERR_QUEUE_UNKNOWN",
    "ERR_RECORDING_UNKNOWN",
    "ERR_RECORD_UNKNOWN",
    "ERR_STATUS_UNKNOWN",
    "ERR_TOO_MANY_SMS",
    "ERR_USER_EXISTS",
    "ERR_USER_UNKNOWN",
    "FORM_FIELDS",
    "INBOUND_TITLES",
    "MAX_TAKE",
    "NAMED_AGENTS",
    "PAUSES",
    "STATUSES",
    "Listener",
    "SimError",
    "SimState",
    "destination_of",
    "token_for",
]


class SimState(
    UsersMixin,
    QueuesMixin,
    PausesMixin,
    CallsMixin,
    CallControlMixin,
    RecordsMixin,
    MessagingMixin,
    ActivitiesMixin,
    EventsMixin,
    DialerMixin,
):
    """Everything the simulated PBX knows, and the only code that changes it.

    Args:
        agents: How many operators to create (the first ones named as in the
            document: ``hajek``, ``hajekhu``, ``demouser``, ``michalhajek``, ...,
            then ``agent001``, ``agent002``, ...).
        queues: How many inbound queues (numbers 2000, 2001, ...). An outgoing queue
            (5000), an outbounder campaign (5001), a Click-to-Call (5002), a chat
            (5003) and an email queue (5004) always exist too.
        seed: Seeds every random choice, so the same inputs give the same state.
        clock: Simulated time (a frozen clock at ``start_time`` when ``None``).
        logged_in: Start every operator logged in (at its extension) and Idle in all
            inbound queues; otherwise everybody starts logged out.
        records: How many contacts to create in the outbounder campaign.
        login: Login of the API administrator (user 1).
        password: Password of the API administrator; the token is
            ``SHA1(login + password)``.
    """

    def __init__(
        self,
        *,
        agents: int = 50,
        queues: int = 3,
        seed: int = 1,
        clock: SimClock | None = None,
        logged_in: bool = True,
        records: int = 100,
        login: str = "admin",
        password: str = "daktela",  # noqa: S107 (the simulator's documented default)
    ) -> None:
        if agents < 0 or queues < 1:
            raise DaktelaUsageError("need agents >= 0 and queues >= 1")
        super().__init__(seed=seed, clock=clock)
        self._populate(agents, queues, login, password, records)
        if logged_in:
            for user_id in list(self.agents):
                if user_id == "1":
                    continue
                self.login(self.users[user_id].name)
                for queue in self.inbound_queues():
                    self.login_queue(self.users[user_id].name, queue.number)

    # --- population -------------------------------------------------------------------

    def _populate(self, agents: int, queues: int, login: str, password: str, records: int) -> None:
        self.add_user(
            login,
            "Administrator",
            password,
            extension="500",
            description="Administrator zákazníka",
            email="admin@example.com",
        )
        for ext, ip in (
            ("100", "172.22.254.254"),
            ("200", "212.24.153.186"),
            ("300", "212.24.153.186"),
            ("500", "172.22.254.1"),
        ):
            self.extensions[ext] = Extension(ext, ip, str(5060 + len(self.extensions)))
        for index in range(agents):
            if index < len(NAMED_AGENTS):
                name, title, ext = NAMED_AGENTS[index]
            else:
                name = f"agent{index - len(NAMED_AGENTS) + 1:03d}"
                title = f"{self.rng.choice(_FIRST_NAMES)} {self.rng.choice(_LAST_NAMES)}"
                ext = str(1000 + index + 1)
            self.add_user(name, title, f"heslo{index + 2}", extension=ext)
        for code, title, kind, paid in ((p[1], p[2], p[3], p[4]) for p in PAUSES):
            pause = Pause(str(len(self.pauses) + 1), code, title, kind, paid)
            self.pauses[pause.id] = pause
        for status_id, code, description in STATUSES:
            self.statuses[status_id] = Status(status_id, code, description)
        for field_id, kind, name, title, options in FORM_FIELDS:
            self.fields[field_id] = Field(field_id, kind, name, title, options)
        for i in range(queues):
            title = INBOUND_TITLES[i] if i < len(INBOUND_TITLES) else f"Fronta {i + 1}"
            self.add_queue(str(2000 + i), title, "in", wrapuptime="10")
        self.add_queue("5000", "Odchozi", "out", wrapuptime="5")
        campaign = self.add_queue("5001", "Outbounder", "outbounder", form="1")
        named_logins = {name for name, _, _ in NAMED_AGENTS}
        named = {u.id for u in self.users.values() if u.name in named_logins}
        self.add_queue("5002", "Click2Call", "ctc").members = set(named)
        self.add_queue("5003", "Chat", "chat").members = set(named)
        email = self.add_queue("5004", "Email", "email")
        email.members = set(named)
        email.statuses = ["8", "9", "12"]
        for _ in range(records):
            number = f"6{self.rng.randrange(10**7, 10**8)}"
            self.create_record(
                campaign.number,
                number,
                {
                    "1": [self.rng.choice(_FIRST_NAMES)],
                    "2": [self.rng.choice(_LAST_NAMES)],
                },
            )
        for name in ("activity_100", "activity_123", "activity_200"):
            self._new_activity(name, "Kontakt " + name[9:], "CALL", email.id)

    # --- consistency ----------------------------------------------------------------------

    def check_invariants(self) -> list[str]:
        """Describe every broken invariant (empty when the state is consistent)."""
        problems: list[str] = []
        for agent in self.agents.values():
            state = self.agent_state(agent)
            for call_id in agent.call_ids:
                call = self.calls.get(call_id)
                if call is None:
                    problems.append(f"agent {agent.user_id} holds ended call {call_id}")
                elif call.agent_id != agent.user_id:
                    problems.append(
                        f"call {call_id} names agent {call.agent_id}, not {agent.user_id}"
                    )
            if state in ("Ringing", "Speaking", "On Hold") and not agent.call_ids:
                problems.append(f"agent {agent.user_id} is {state} with no call")
            if not agent.logged and (agent.queues or agent.pause_id or agent.call_ids):
                problems.append(f"agent {agent.user_id} is logged out but busy")
            if state != agent.last_state:
                problems.append(f"agent {agent.user_id} shows stale state {agent.last_state}")
        for call in self.calls.values():
            if call.agent_id and call.id not in self.agents[call.agent_id].call_ids:
                problems.append(f"call {call.id} is not on agent {call.agent_id}")
            if call.state == "Speaking" and call.answered is None:
                problems.append(f"call {call.id} speaks but was never answered")
        for call_id in self.ended_calls:
            if not self.legs_by_call.get(call_id):
                problems.append(f"ended call {call_id} has no CDR row")
        return problems

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready summary of the live state (for ``GET /_sim/state`` and tests)."""
        return {
            "time": fmt(self.now()),
            "rt_version": self.rt_version,
            "agents": {
                user.name: {
                    "id": user.id,
                    "logged": agent.logged,
                    "exten": agent.exten,
                    "state": self.agent_state(agent),
                    "pause": agent.pause_id,
                    "queues": sorted(agent.queues, key=int),
                    "calls": list(agent.call_ids),
                }
                for user, agent in self.iter_agents()
            },
            "calls": {
                c.id: {
                    "state": c.state,
                    "queue": c.queue_id,
                    "agent": c.agent_id,
                    "number": c.number,
                    "direction": c.direction,
                    "kind": c.kind,
                }
                for c in self.calls.values()
            },
            "ended_calls": len(self.ended_calls),
            "cdr_rows": len(self.legs),
            "sms": len(self.sms) + len(self.sms_connect),
            "timers": len(self.timers),
        }
