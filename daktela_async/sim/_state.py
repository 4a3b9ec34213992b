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
"""

from __future__ import annotations

import hashlib
import itertools
import math
import random
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final

from daktela_async.sim._clock import SimClock, TimerHandle, TimerHeap, fmt
from daktela_async.sim._model import (
    Activity,
    Agent,
    Attempt,
    Call,
    CallKind,
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
from daktela_async.sim._options import OPTION_TEMPLATES

__all__ = ["Listener", "SimError", "SimState", "token_for"]

# --- messages -------------------------------------------------------------------------
# Recorded in the document (exact server text):
ERR_USER_UNKNOWN: Final = "Uživatel neexistuje"
ERR_PAUSE_UNKNOWN: Final = "Tato pauza nebyla nalezena"
ERR_LOGOUT_CALLING: Final = "Nelze se odhlasit z fronty/kampaně, ve které probíhá hovor s číslem {}"
ERR_NOT_IN_OUT_QUEUE: Final = "Agent není přihlášen do odchozí kampaně/fronty"
ERR_NOT_IN_ANY_QUEUE: Final = (
    "Agent není přihlášen do žádné z front, tedy není možné ho dát na pauzu"
)
ERR_STATUS_UNKNOWN: Final = "Stav neexistuje"
ERR_NOT_EMAIL_QUEUE: Final = "Zadana fronta neni typu email"
# Not recorded in the document; worded in the server's style:
ERR_QUEUE_UNKNOWN: Final = "Fronta neexistuje"
ERR_NOT_CTC_QUEUE: Final = "Zadana fronta neni typu Click to Call"
ERR_NOT_LOGGED: Final = "Agent není přihlášen do Call Centra"
ERR_NOT_MEMBER: Final = "Agent nemá přístup do této fronty"
ERR_NO_CALL: Final = "Agent nemá žádný probíhající hovor"
ERR_NO_RINGING: Final = "Na lince nezvoní žádný hovor"
ERR_BUSY: Final = "Agent má probíhající hovor"
ERR_EXTENSION_UNKNOWN: Final = "Klapka neexistuje"
ERR_EXTENSION_TAKEN: Final = "Klapka je obsazena jiným agentem"
ERR_NO_EXTENSION: Final = "Agent nemá přiřazenou klapku"
ERR_CALL_UNKNOWN: Final = "Hovor nebyl nalezen"
ERR_RECORD_UNKNOWN: Final = "Záznam neexistuje"
ERR_ACTIVITY_UNKNOWN: Final = "Aktivita neexistuje"
ERR_USER_EXISTS: Final = "Uživatel s tímto přihlašovacím jménem již existuje"
ERR_RECORDING_UNKNOWN: Final = "Nahrávka neexistuje"
ERR_LIMIT: Final = "Překročen maximální počet 1000 záznamů"
ERR_EVENT_PREFIX: Final = "Název události musí začínat prefixem Custom_"
ERR_MESSAGE_TOO_LONG: Final = "Zpráva je příliš dlouhá"
ERR_TOO_MANY_SMS: Final = "Překročen maximální počet 20000 zpráv"
ERR_NO_PLAYBACK: Final = "Žádná zpráva se nepřehrává"

#: The most rows a statistics listing returns (the document: "The maximum limit of
#: returned calls is 1000, after exceeding returns an error").
MAX_TAKE: Final = 1000

#: The agent states ``RTUserState`` documents.
AGENT_STATES: Final = ("Logged", "Idle", "Paused", "Ringing", "Speaking", "On Hold")

#: ``Listener(kind, subject)``: kinds are ``agent`` (an :class:`Agent` changed),
#: ``catalog`` (queues changed: every agent's answer changed), ``ringing``,
#: ``speaking``, ``ended`` (a :class:`Call`), ``free`` (an :class:`Agent` became Idle),
#: ``timers`` (the earliest timer moved).
Listener = Callable[[str, Any], None]


class SimError(Exception):
    """A request the PBX refuses; ``str(exc)`` is the server's error text."""


def token_for(login: str, password: str) -> str:
    """The API token of a user: ``SHA1(login + password)``, as the document defines it."""
    return hashlib.sha1((login + password).encode()).hexdigest()  # noqa: S324 (the API's scheme)


# --- the default catalogue ------------------------------------------------------------

#: The first users, named as in the document's examples: (login, title, extension).
NAMED_AGENTS: Final = (
    ("hajek", "Hajek 1", "1001"),
    ("hajekhu", "Hajek Hugo", "1002"),
    ("demouser", "Demo User", "6666"),
    ("michalhajek", "Michal Hájek", "1004"),
    ("novak", "Pepa Novák", "1005"),
    ("pavelmoravec", "Pavel Moravec", "1006"),
    ("daktelatester", "Daktela Tester", "1007"),
    ("klatil", "Zvonimír Klátil", "100"),
)

#: Inbound queue titles, in order (queue ``i`` is number ``2000 + i``).
INBOUND_TITLES: Final = ("Support", "Obchod", "Technicka podpora", "Reklamace", "VIP")

#: (id, code, title, type, paid): the document's pause catalogue (7 = Obed exists,
#: 100 does not).
PAUSES: Final = (
    ("1", "1", "Porada", "", "1"),
    ("2", "20", "Wrap", "wrap", "1"),
    ("3", "666", "Lajdak", "lajdak", "0"),
    ("4", "13", "Backoffice", None, "1"),
    ("5", "12", "Email", "", "1"),
    ("6", "11", "Prestavka", None, "0"),
    ("7", "10", "Obed", "", "0"),
    ("8", "667", "Skoleni", "", "1"),
    ("9", "668", "Obed22", "", "0"),
)

#: The document's status catalogue (``GetStatuses``): (id, code, description).
STATUSES: Final = (
    ("4", "nechce_nabidku", "Nechce slyset nabidku"),
    ("5", "nebere", "Nebere"),
    ("7", "nevolat", "Nema zajem s nami hovorit"),
    ("8", "nezajem", "Nema zajem"),
    ("9", "objednavka", "Objednavka"),
    ("12", "nema_cas", "Volat pozdeji - nema cas"),
    ("14", "rozmysli_se", "Volat pozdeji - rozmysli se"),
    ("15", "neopravnena_osoba", "Volat pozdeji - neopravnena osoba"),
    ("16", "prevolavka", "Prevolavka"),
    ("17", "zavolat_pozdeji_rozmysli", "Zavolat pozdeji - rozmysli se"),
)

#: The autodialer's number-check results (``GetStatuses`` 4.0, ``CheckNumber``).
CHECK_STATUSES: Final = (
    ("1", "Volany ucastnik je docasne nedostupny", "2"),
    ("2", "Schranka", "2"),
    ("3", "Nedostupny", "2"),
)

#: The call-script form every form-enabled queue uses: (id, type, name, title, options).
FORM_FIELDS: Final = (
    ("1", "text", "field_jmeno", "Jméno", None),
    ("2", "text", "field_prijmeni", "Příjmení", None),
    ("3", "text", "field_poznamka", "Poznámka", None),
    ("4", "text", "field_adresa", "Adresa", None),
    ("5", "text", "field_psc", "PSČ", None),
    ("6", "text", "field_email", "Email", None),
    ("7", "selectbox", "field_vyber", "Vyber", ["ANO", "NE"]),
)

_FIRST_NAMES: Final = ("Jan", "Petr", "Eva", "Jana", "Tomas", "Lucie", "Martin", "Anna", "Karel")
_LAST_NAMES: Final = ("Novak", "Svoboda", "Dvorak", "Cerna", "Prochazka", "Kucera", "Vesela")

#: Price per minute by destination: (prefixes, type, description, price).
_DESTINATIONS: Final = (
    (("6", "7"), "Mobilni_Hovory", "Ceska republika - mobil", "4.5000"),
    (("8",), "Specialni_Cisla", "Bila linka ", "1.9150"),
    (("",), "Pevna_Linka", "Ceska republika", "0.9000"),
)


def destination_of(number: str) -> tuple[str, str, str]:
    """(type, description, price per minute) of a dialled number."""
    digits = number.lstrip("+0").removeprefix("420") if number.startswith(("+", "00")) else number
    for prefixes, kind, description, price in _DESTINATIONS:
        if digits.startswith(prefixes):
            return kind, description, price
    return _DESTINATIONS[-1][1], _DESTINATIONS[-1][2], _DESTINATIONS[-1][3]


class SimState:
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
            raise ValueError("need agents >= 0 and queues >= 1")
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

        self._populate(agents, queues, login, password, records)
        if logged_in:
            for user_id in list(self.agents):
                if user_id == "1":
                    continue
                self.login(self.users[user_id].name)
                for queue in self.inbound_queues():
                    self.login_queue(self.users[user_id].name, queue.number)

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

    def add_user(
        self,
        name: str,
        title: str,
        password: str,
        *,
        extension: str | None = None,
        role: str = "role_43h424k432",
        profile: str = "profile_hj34242342",
        description: str | None = "",
        email: str | None = "",
    ) -> User:
        """Create a user (and its extension, when it has one)."""
        user = User(
            self._next_id(),
            name,
            title,
            password,
            role,
            profile,
            description,
            email,
            extension=extension,
        )
        self.users[user.id] = user
        self.users_by_login[name] = user
        self.tokens[token_for(name, password)] = user.id
        self.agents[user.id] = Agent(user.id)
        if extension is not None and extension not in self.extensions:
            self.extensions[extension] = Extension(
                extension,
                f"10.0.{len(self.extensions) // 250}.{len(self.extensions) % 250 + 1}",
                str(5060 + len(self.extensions) % 100),
            )
        return user

    def add_queue(
        self,
        number: str,
        title: str,
        type: str,
        *,
        wrapuptime: str = "0",
        form: str = "0",
        queue_id: str | None = None,
    ) -> Queue:
        """Create a queue of *type* (``in``, ``out``, ``outbounder``, ``ctc``, ...)."""
        options = dict(OPTION_TEMPLATES.get(type, OPTION_TEMPLATES["in"]))
        if "wrapuptime" in options:
            options["wrapuptime"] = wrapuptime if wrapuptime != "0" else ""
        direction = "out" if type in ("out", "outbounder", "dialer", "interviewer") else "in"
        qid = queue_id or str(max((int(q) for q in self.queues), default=0) + 1)
        queue = Queue(
            qid, number, title, type, direction, options, wrapuptime=wrapuptime, form=form
        )
        self.queues[qid] = queue
        self.queues_by_number[number] = queue
        self._catalog_changed()
        return queue

    def _catalog_changed(self) -> None:
        self.catalog_version += 1
        self.rt_version += 1
        self.emit("catalog")

    def inbound_queues(self) -> list[Queue]:
        """The inbound call queues (type ``in``), in id order."""
        return [q for q in self.queues.values() if q.type == "in" and q.deleted == "0"]

    # --- lookups ----------------------------------------------------------------------

    def user(self, login: str) -> User:
        """The live user called *login*."""
        user = self.users_by_login.get(login)
        if user is None or user.deleted != "0":
            raise SimError(ERR_USER_UNKNOWN)
        return user

    def user_by_id(self, user_id: str) -> User:
        """The live user with id *user_id*."""
        user = self.users.get(user_id)
        if user is None or user.deleted != "0":
            raise SimError(ERR_USER_UNKNOWN)
        return user

    def agent(self, login: str) -> Agent:
        """The realtime state of the user called *login*."""
        return self.agents[self.user(login).id]

    def agent_at(self, extension: str) -> Agent | None:
        """The agent logged in at *extension*, if any."""
        for agent in self.agents.values():
            if agent.logged and agent.exten == extension:
                return agent
        return None

    def queue(self, number: str) -> Queue:
        """The live queue with *number*."""
        queue = self.queues_by_number.get(number)
        if queue is None or queue.deleted != "0":
            raise SimError(ERR_QUEUE_UNKNOWN)
        return queue

    def queue_by_ref(self, ref: str) -> Queue:
        """A queue by id or, failing that, by number (the API uses both)."""
        queue = self.queues.get(ref)
        if queue is not None and queue.deleted == "0":
            return queue
        return self.queue(ref)

    def pause(self, ref: str) -> Pause:
        """A pause by id."""
        pause = self.pauses.get(ref)
        if pause is None or pause.deleted != "0":
            raise SimError(ERR_PAUSE_UNKNOWN)
        return pause

    def pause_by_name(self, name: str) -> Pause:
        """A pause by its unique name: its code, ``pause_<code>`` or its title."""
        wanted = name.casefold().removeprefix("pause_")
        for pause in self.pauses.values():
            if pause.deleted == "0" and wanted in (
                pause.name.casefold(),
                pause.title.casefold(),
                pause.id,
            ):
                return pause
        raise SimError(ERR_PAUSE_UNKNOWN)

    def wrap_pause(self) -> Pause | None:
        """The system Wrap pause."""
        return next(
            (p for p in self.pauses.values() if p.type == "wrap" and p.deleted == "0"), None
        )

    def status_by_code(self, code: str, queue: Queue | None = None) -> Status:
        """A status by its unique code (or id), allowed in *queue* when given."""
        for status in self.statuses.values():
            if status.deleted == "0" and code in (status.code, status.id):
                if queue is not None and queue.statuses and status.id not in queue.statuses:
                    break
                return status
        raise SimError(ERR_STATUS_UNKNOWN)

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

    def live_calls_of(self, agent: Agent) -> list[Call]:
        """The agent's live calls."""
        return [self.calls[c] for c in agent.call_ids]

    def calls_at(self, extension: str) -> list[Call]:
        """Live calls on *extension*."""
        return [c for c in self.calls.values() if c.exten == extension]

    def agent_call(self, agent: Agent) -> Call:
        """The agent's current call."""
        if not agent.call_ids:
            raise SimError(ERR_NO_CALL)
        return self.calls[agent.call_ids[-1]]

    # --- change bookkeeping -----------------------------------------------------------

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

    # --- sessions, queues, pauses ------------------------------------------------------

    def login(self, login: str, extension: str | None = None) -> Agent:
        """Sign *login* into the call centre at *extension* (default: the user's own)."""
        user = self.user(login)
        agent = self.agents[user.id]
        exten = extension or agent.exten or user.extension
        if exten is None:
            raise SimError(ERR_NO_EXTENSION)
        if exten not in self.extensions:
            raise SimError(ERR_EXTENSION_UNKNOWN)
        holder = self.agent_at(exten)
        if holder is not None and holder is not agent:
            raise SimError(ERR_EXTENSION_TAKEN)
        if agent.logged:
            if agent.exten != exten:
                if agent.call_ids:
                    raise SimError(ERR_LOGOUT_CALLING.format(self.agent_call(agent).number))
                agent.exten = exten
                self.touch(agent)
            return agent
        now = self.now()
        agent.logged = True
        agent.exten = exten
        agent.logintime = now
        agent.session = Interval(len(self.sessions) + 1, user.id, now)
        self.sessions.append(agent.session)
        self._trace(user.id, "login", True, "Přihlášení na ústřednu")
        self.touch(agent)
        for queue in self.queues.values():
            if queue.login == "auto" and queue.allows(user.id):
                self.login_queue(login, queue.number)
        return agent

    def logout(self, login: str) -> None:
        """Sign *login* out of every queue and the call centre (frees its extension)."""
        agent = self.agent(login)
        if agent.call_ids:
            raise SimError(ERR_LOGOUT_CALLING.format(self.agent_call(agent).number))
        if not agent.logged:
            return
        for queue_id in list(agent.queues):
            self._leave_queue(agent, queue_id)
        self._end_pause(agent)
        now = self.now()
        if agent.session is not None:
            agent.session.end = now
            agent.session = None
        agent.logged = False
        agent.exten = None
        agent.logintime = None
        agent.callscript_opened = None
        self._trace(agent.user_id, "login", False, "Odhlášení z ústředny")
        self.touch(agent)

    def login_queue(
        self, login: str, number: str, extension: str | None = None, priority: int | None = None
    ) -> None:
        """Sign *login* into queue *number* (and the call centre first when needed)."""
        queue = self.queue(number)
        user = self.user(login)
        if not queue.allows(user.id):
            raise SimError(ERR_NOT_MEMBER)
        agent = self.agents[user.id]
        if not agent.logged or (extension and extension != agent.exten):
            self.login(login, extension)
        if queue.is_outgoing:
            # Only one of out/outbounder/dialer at a time: the new one replaces the old.
            for other in list(agent.queues):
                if other != queue.id and self.queues[other].is_outgoing:
                    self.logout_queue(login, self.queues[other].number)
        prio = 0 if priority is None else priority
        if agent.queues.get(queue.id) == prio:
            return
        if queue.id not in agent.queues:
            interval = Interval(len(self.queue_log) + 1, user.id, self.now(), ref=queue.id)
            self.queue_log.append(interval)
            agent.queue_intervals[queue.id] = interval
            self._trace(user.id, "queue", True, "Přihlášení do fronty", queue.id, queue.title)
        agent.queues[queue.id] = prio
        self.touch(agent)
        self.distribute()

    def logout_queue(self, login: str, number: str) -> None:
        """Sign *login* out of queue *number*; refused while a call of it is going on."""
        queue = self.queue(number)
        agent = self.agent(login)
        for call in self.live_calls_of(agent):
            if call.queue_id == queue.id:
                raise SimError(ERR_LOGOUT_CALLING.format(call.number))
        if queue.id in agent.queues:
            self._leave_queue(agent, queue.id)
            if not agent.queues:
                self._end_pause(agent)
            self.touch(agent)

    def _leave_queue(self, agent: Agent, queue_id: str) -> None:
        del agent.queues[queue_id]
        interval = agent.queue_intervals.pop(queue_id, None)
        if interval is not None:
            interval.end = self.now()
        queue = self.queues[queue_id]
        self._trace(agent.user_id, "queue", False, "Odhlášení z fronty", queue.id, queue.title)

    def pause_on(self, agent: Agent, pause_id: str, *, force: bool = False) -> None:
        """Put *agent* on pause *pause_id*.

        Refused for an unknown pause, an agent in no queue, and (unless *force*) an
        agent whose phone rings or who speaks: the document's ``force`` "skips checking
        user state ringing, speaking or on hold".
        """
        pause = self.pause(pause_id)
        if not agent.logged or not agent.queues:
            raise SimError(ERR_NOT_IN_ANY_QUEUE)
        if agent.call_ids and not force:
            raise SimError(ERR_BUSY)
        if agent.pause_id == pause.id:
            return
        self._end_pause(agent)
        self._start_pause(agent, pause)
        self.touch(agent)

    def pause_off(self, agent: Agent) -> None:
        """End *agent*'s pause (nothing to do when it has none)."""
        if agent.pause_id is None:
            return
        self._end_pause(agent)
        self.touch(agent)
        self.distribute()

    def _start_pause(self, agent: Agent, pause: Pause) -> None:
        now = self.now()
        agent.pause_id = pause.id
        agent.onpause = now
        agent.pause_token += 1
        agent.pause_interval = Interval(len(self.pause_log) + 1, agent.user_id, now, ref=pause.id)
        self.pause_log.append(agent.pause_interval)
        self._trace(agent.user_id, "pause", True, "Začátek pauzy", pause.id, pause.title)

    def _end_pause(self, agent: Agent) -> None:
        if agent.pause_id is None:
            return
        now = self.now()
        pause = self.pauses[agent.pause_id]
        duration = now - (agent.onpause or now)
        if agent.pause_interval is not None:
            agent.pause_interval.end = now
            agent.pause_interval = None
        self._trace(agent.user_id, "pause", False, "Konec pauzy", pause.id, pause.title, duration)
        agent.pause_id = None
        agent.onpause = None
        agent.pause_token += 1

    # --- calls ------------------------------------------------------------------------

    def _new_call(
        self,
        kind: CallKind,
        direction: str,
        number: str,
        *,
        queue: Queue | None = None,
        call_id: str | None = None,
        suffix: str = "",
        did: str = "",
    ) -> Call:
        now = self.now()
        cid = call_id or self._new_call_id(suffix)
        call = Call(
            cid,
            kind,
            direction,
            number,
            now,
            queue_id=queue.id if queue else None,
            did=did,
            leg_start=now,
            number=number,
        )
        call.trunk = "gsm" if number.startswith(("6", "7", "+4206", "+4207")) else "proxy"
        call.recording_hash = (
            hashlib.sha1(  # noqa: S324 (an identifier, not security)
                f"{self.seed}:{cid}".encode()
            ).hexdigest()
            + cid
        )
        call.seq = next(self._queue_call_seq)
        self.calls[cid] = call
        return call

    def incoming_call(
        self,
        number: str,
        clid: str,
        *,
        did: str = "",
        call_id: str | None = None,
        clid_name: str | None = None,
    ) -> Call:
        """A customer calls queue *number*: the call waits there and rings an idle agent."""
        queue = self.queue(number)
        call = self._new_call(
            "queue", "in", clid, queue=queue, call_id=call_id, did=did or queue.number
        )
        call.clid_name = clid_name
        call.position = 1 + sum(
            1
            for c in self.calls.values()
            if c.queue_id == queue.id and c.state == "Waiting" and c is not call
        )
        call.waiting_limit = float(queue.options.get("maxwait") or 0) or 0.0
        self.distribute()
        return call

    def ring_agent(
        self,
        login: str,
        clid: str,
        *,
        queue_number: str | None = None,
        call_id: str | None = None,
        direction: str = "in",
    ) -> Call:
        """A call of one of the agent's queues rings that agent directly (tests, demos).

        The agent must be logged into a queue and free; *queue_number* picks the queue
        (default: the first the agent is logged into).
        """
        agent = self.agent(login)
        if not agent.logged or not agent.queues:
            raise SimError(ERR_NOT_IN_ANY_QUEUE)
        if agent.call_ids:
            raise SimError(ERR_BUSY)
        queue = self.queue(queue_number) if queue_number else self.queues[next(iter(agent.queues))]
        call = self._new_call(
            "queue",
            direction,
            clid,
            queue=queue,
            call_id=call_id,
            did=queue.number if direction == "in" else "",
        )
        self._ring(call, agent, timeout=queue.ringtime)
        return call

    def click_to_call(
        self,
        number: str,
        customer: str,
        *,
        agenttext: str | None = None,
        waitingtime: float = 7200.0,
        call_id: str | None = None,
    ) -> Call:
        """``ClickToCall``: the call waits in a Click-to-Call queue for an operator."""
        queue = self.queue(number)
        if queue.type != "ctc":
            raise SimError(ERR_NOT_CTC_QUEUE)
        call = self._new_call("queue", "out", customer, queue=queue, call_id=call_id, suffix="WS")
        call.agenttext = agenttext
        call.waiting_limit = waitingtime
        phase = call.phase

        def give_up() -> None:
            if call.is_live and call.phase == phase and call.state == "Waiting":
                self.finish(call, "caller", "timeout")

        self.schedule(waitingtime, give_up)
        self.distribute()
        return call

    def create_agent_call(
        self,
        login: str,
        number: str,
        *,
        queue_number: str | None = None,
        autoanswer: bool = False,
        accountcode: str = "",
        agenttext: str | None = None,
        waitingtime: float = 30.0,
        dialingtime: float = 120.0,
        call_id: str | None = None,
    ) -> Call:
        """``CreateCall`` with ``user``: an outgoing call-centre call; the agent's phone rings.

        The agent must be logged into an outgoing queue (out, outbounder or dialer).
        With ``queue`` the call is recorded on that queue.
        """
        agent = self.agent(login)
        out_queues = [self.queues[q] for q in agent.queues if self.queues[q].is_outgoing]
        if not agent.logged or not out_queues:
            raise SimError(ERR_NOT_IN_OUT_QUEUE)
        queue = self.queue(queue_number) if queue_number else out_queues[0]
        if agent.call_ids:
            raise SimError(ERR_BUSY)
        call = self._new_call("queue", "out", number, queue=queue, call_id=call_id, suffix="WS")
        call.accountcode = accountcode
        call.agenttext = agenttext
        call.autoanswer = autoanswer
        call.attempt_start = self.now()
        self._ring(call, agent, timeout=waitingtime)
        if autoanswer:
            self._schedule_pickup(call, dialingtime)
        return call

    def create_extension_call(
        self,
        extension: str,
        number: str,
        *,
        autoanswer: bool = False,
        accountcode: str = "",
        agenttext: str | None = None,
        waitingtime: float = 30.0,
        call_id: str | None = None,
    ) -> Call:
        """``CreateCall`` with ``extension``: a plain (non call-centre) call; the line rings."""
        if extension not in self.extensions:
            raise SimError(ERR_EXTENSION_UNKNOWN)
        call = self._new_call("extension", "out", number, call_id=call_id, suffix="WS")
        call.exten = extension
        call.accountcode = accountcode
        call.agenttext = agenttext
        call.autoanswer = autoanswer
        call.state = "Ringing"
        call.ringed = self.now()
        agent = self.agent_at(extension)
        if agent is not None:
            call.agent_id = agent.user_id
            call.first_agent_id = agent.user_id
            agent.call_ids.append(call.id)
            self.touch(agent)
        self._schedule_ring_timeout(call, waitingtime)
        if autoanswer:
            self._schedule_pickup(call, 120.0)
        self.emit("ringing", call)
        return call

    def create_remote_call(
        self,
        primary: str,
        secondary: str,
        *,
        accountcode: str = "",
        dialingtime: float = 120.0,
        variables: dict[str, Any] | None = None,
        call_id: str | None = None,
        directdid: bool = False,
    ) -> Call:
        """``CreateRemoteCall``: call *primary*; once answered, dial *secondary*."""
        call = self._new_call("remote", "out", primary, call_id=call_id, suffix="WS")
        call.accountcode = accountcode
        call.variables = dict(variables or {})
        call.did = secondary if directdid else ""
        call.clid_name = secondary
        call.state = "Ringing"
        call.ringed = self.now()
        self._schedule_ring_timeout(call, dialingtime)
        self.emit("ringing", call)
        return call

    def _schedule_pickup(self, call: Call, dialingtime: float) -> None:
        """The far end answers a moment later (an auto-answered or dialled call)."""
        phase = call.phase
        delay = min(dialingtime, 2.0 + self.rng.random() * 6.0)

        def pick_up() -> None:
            if call.is_live and call.phase == phase and call.state == "Ringing":
                self.answer_call(call)

        self.schedule(delay, pick_up)

    def _schedule_ring_timeout(self, call: Call, timeout: float) -> None:
        phase = call.phase

        def unanswered() -> None:
            if call.is_live and call.phase == phase and call.state == "Ringing":
                self.finish(call, "agent" if call.kind != "remote" else "callee", "noanswer")

        self.schedule(timeout, unanswered)

    def distribute(self) -> None:
        """Ring idle agents with the calls waiting in their queues (oldest call first)."""
        waiting = [c for c in self.calls.values() if c.state == "Waiting" and c.queue_id]
        if not waiting:
            return
        idle = [
            a
            for a in self.agents.values()
            if a.logged and a.queues and a.pause_id is None and not a.call_ids
        ]
        if not idle:
            return
        waiting.sort(key=lambda c: (c.entered, c.id))
        for call in waiting:
            queue_id = call.queue_id or ""
            candidates = [a for a in idle if queue_id in a.queues and not a.call_ids]
            if not candidates:
                continue
            # leastrecent: the agent whose last call ended longest ago rings first.
            agent = min(
                candidates, key=lambda a: (a.queues[queue_id], a.last_call_end, int(a.user_id))
            )
            queue = self.queues[queue_id]
            self._ring(call, agent, timeout=queue.ringtime)

    def _ring(self, call: Call, agent: Agent, *, timeout: float) -> None:
        now = self.now()
        call.state = "Ringing"
        call.phase += 1
        call.agent_id = agent.user_id
        call.exten = agent.exten
        call.ringed = now
        if call.first_agent_id is None:
            call.first_agent_id = agent.user_id
        agent.call_ids.append(call.id)
        ring_kind = "ring_out" if call.direction == "out" else "ring_in"
        title = (
            "Začátek vyzvánění - Odchod"
            if call.direction == "out"
            else "Začátek vyzvánění - Příchod"
        )
        self._trace(agent.user_id, ring_kind, True, title, agent.exten or "", call.number)
        self.touch(agent)
        phase = call.phase

        def ring_timeout() -> None:
            if not (call.is_live and call.phase == phase and call.state == "Ringing"):
                return
            if call.direction == "out" and call.kind == "queue" and call.attempt_start is not None:
                self.finish(call, "agent", "noanswer")
                return
            # The call goes back to the queue; the agent who let it ring gets Lajdak.
            self._unring(call, agent)
            lajdak = next(
                (p for p in self.pauses.values() if p.type == "lajdak" and p.deleted == "0"), None
            )
            if lajdak is not None and agent.logged and agent.queues:
                self._end_pause(agent)
                self._start_pause(agent, lajdak)
                self.touch(agent)
            self.distribute()

        self.schedule(timeout, ring_timeout)
        self.emit("ringing", call)

    def _unring(self, call: Call, agent: Agent) -> None:
        now = self.now()
        if call.ringed is not None:
            call.ring_total += now - call.ringed
        call.state = "Waiting"
        call.phase += 1
        call.agent_id = None
        call.exten = None
        if call.id in agent.call_ids:
            agent.call_ids.remove(call.id)
        ring_kind = "ring_out" if call.direction == "out" else "ring_in"
        self._trace(
            agent.user_id,
            ring_kind,
            False,
            "Konec vyzvánění",
            agent.exten or "",
            call.number,
            now - (call.ringed or now),
        )
        self.touch(agent)

    def answer(self, agent: Agent) -> Call:
        """``Answer``: the agent picks up the call ringing on its line."""
        for call in self.live_calls_of(agent):
            if call.state == "Ringing":
                self.answer_call(call)
                return call
        raise SimError(ERR_NO_RINGING)

    def answer_call(self, call: Call) -> None:
        """The ringing *call* is answered: it is now Speaking."""
        if call.state != "Ringing":
            raise SimError(ERR_NO_RINGING)
        now = self.now()
        if call.ringed is not None:
            call.ring_total += now - call.ringed
        call.state = "Speaking"
        call.phase += 1
        if call.answered is None:
            call.answered = now
        call.leg_answered = now
        self.recordings[call.recording_hash] = call
        agent = self.agents.get(call.agent_id or "")
        if agent is not None:
            ring_kind = "ring_out" if call.direction == "out" else "ring_in"
            title = (
                "Konec vyzvánění - Odchod"
                if call.direction == "out"
                else "Konec vyzvánění - Příchod"
            )
            self._trace(
                agent.user_id,
                ring_kind,
                False,
                title,
                agent.exten or "",
                call.number,
                now - (call.ringed or now),
            )
            self._trace(
                agent.user_id, "call", True, "Začátek hovoru", agent.exten or "", call.number
            )
            queue = self.queues.get(call.queue_id or "")
            if queue is not None and (queue.form == "1" or queue.type == "outbounder"):
                record = self._record_for_call(queue, call, agent)
                agent.callscript_opened = str(record.id)
            self.touch(agent)
        self.emit("speaking", call)

    def _record_for_call(self, queue: Queue, call: Call, agent: Agent) -> Record:
        record: Record | None
        if call.record_id is not None and call.record_id in self.records:
            record = self.records[call.record_id]
        else:
            record = next(
                (
                    r
                    for r in self.records.values()
                    if r.queue_id == queue.id and r.number == call.number and r.deleted == "0"
                ),
                None,
            )
            if record is None:
                record = self._new_record(queue, call.number, {})
        record.action = "1"
        record.call_id = call.id
        record.user = agent.user_id
        call.record_id = record.id
        return record

    def pickup(self, call_id: str, login: str) -> Call:
        """``PickupFromQueue``: the agent takes a call waiting (or ringing) in a queue."""
        agent = self.agent(login)
        if not agent.logged:
            raise SimError(ERR_NOT_LOGGED)
        call = self.calls.get(call_id)
        if call is None or call.kind != "queue" or call.state not in ("Waiting", "Ringing"):
            raise SimError(ERR_CALL_UNKNOWN)
        if call.state == "Ringing" and call.agent_id == agent.user_id:
            self.answer_call(call)
            return call
        if agent.call_ids:
            raise SimError(ERR_BUSY)
        if call.state == "Ringing" and call.agent_id:
            self._unring(call, self.agents[call.agent_id])
        self._ring(call, agent, timeout=3600.0)
        self.answer_call(call)
        return call

    def hangup_agent(self, agent: Agent) -> Call:
        """``Hangup`` with ``user``: end (or, with a pending transfer, hand over) its call."""
        call = self.agent_call(agent)
        self.hangup(call, "agent")
        return call

    def hangup_extension(self, extension: str) -> Call:
        """``Hangup`` with ``extension``."""
        calls = self.calls_at(extension)
        if not calls:
            raise SimError(ERR_NO_CALL)
        self.hangup(calls[-1], "agent")
        return calls[-1]

    def hangup(self, call: Call, cause: str = "agent") -> None:
        """End *call* from the PBX side (completing a pending attended transfer)."""
        if call.transfer is not None and call.state == "On Hold":
            kind, target = call.transfer
            call.transfer = None
            self._complete_transfer(call, kind, target)
            return
        self.finish(call, cause)

    def hold(self, call: Call) -> None:
        """Put the Speaking *call* on hold."""
        if call.state != "Speaking":
            raise SimError(ERR_NO_CALL)
        call.state = "On Hold"
        call.onhold = self.now()
        call.phase += 1
        self._touch_call_agent(call)

    def unhold(self, call: Call) -> None:
        """Take *call* off hold."""
        if call.state != "On Hold":
            raise SimError(ERR_NO_CALL)
        now = self.now()
        call.hold_total += now - (call.onhold or now)
        call.onhold = None
        call.state = "Speaking"
        call.transfer = None
        call.phase += 1
        self._touch_call_agent(call)

    def _touch_call_agent(self, call: Call) -> None:
        agent = self.agents.get(call.agent_id or "")
        if agent is not None:
            self.touch(agent)

    def transfer(
        self,
        agent: Agent,
        *,
        number: str | None = None,
        dst_queue: str | None = None,
        dst_user: str | None = None,
        blind: bool = False,
    ) -> Call:
        """``Transfer`` the agent's call to a number, a queue (id) or a user (id).

        Attended (the default) puts the customer on hold; the transfer completes when
        the agent hangs up, as on a real phone. Blind hands the call over at once.
        """
        call = self.agent_call(agent)
        if call.state not in ("Speaking", "On Hold"):
            raise SimError(ERR_NO_CALL)
        if dst_queue is not None:
            target: tuple[str, str] = ("queue", self.queue_by_ref(dst_queue).id)
        elif dst_user is not None:
            user = self.users.get(dst_user) or self.users_by_login.get(dst_user)
            if user is None or user.deleted != "0":
                raise SimError(ERR_USER_UNKNOWN)
            target = ("user", user.id)
        elif number is not None:
            target = ("number", number)
        else:
            raise SimError("Chybí cíl přepojení (number, dst_queue nebo dst_user)")
        if blind:
            self._complete_transfer(call, *target)
        else:
            if call.state == "Speaking":
                call.state = "On Hold"
                call.onhold = self.now()
            call.transfer = target
            call.phase += 1
            self.touch(agent)
        return call

    def _complete_transfer(self, call: Call, kind: str, target: str) -> None:
        now = self.now()
        if call.onhold is not None:
            call.hold_total += now - call.onhold
            call.onhold = None
        if kind == "number":
            # The customer leaves the call centre: the call ends here for the PBX.
            self.finish(call, "agent", "transfer")
            return
        self._end_leg(call, "agent", "transfer")
        old = self.agents.get(call.agent_id or "")
        if old is not None:
            self._release_agent(old, call)
        call.agent_id = None
        call.exten = None
        call.leg_start = now
        call.leg_answered = None
        call.state = "Waiting"
        call.phase += 1
        if kind == "queue":
            call.queue_id = target
            self.distribute()
            return
        agent = self.agents[target]
        if agent.logged and not agent.call_ids:
            self._ring(call, agent, timeout=30.0)
        else:
            self.finish(call, "agent", "busy")

    def finish(self, call: Call, cause: str = "caller", disconnection: str = "") -> None:
        """End *call*: write its CDR leg, its ``StatsCalls`` row, free the agent."""
        if not call.is_live:
            return
        now = self.now()
        if call.state == "Ringing" and call.ringed is not None:
            call.ring_total += now - call.ringed
        if call.onhold is not None:
            call.hold_total += now - call.onhold
            call.onhold = None
        call.disposition_cause = cause
        call.disconnection_cause = disconnection
        self._end_leg(call, cause, disconnection)
        call.ended = now
        call.state = "Ended"
        call.phase += 1
        del self.calls[call.id]
        self.ended_calls[call.id] = call
        if call.kind == "queue":
            self._write_queue_call(call)
        agent = self.agents.get(call.agent_id or "")
        if agent is not None:
            self._release_agent(agent, call)
        self.emit("ended", call)
        self.distribute()

    def _release_agent(self, agent: Agent, call: Call) -> None:
        now = self.now()
        if call.id in agent.call_ids:
            agent.call_ids.remove(call.id)
        if call.leg_answered is not None:
            self._trace(
                agent.user_id,
                "call",
                False,
                "Konec hovoru",
                agent.exten or "",
                call.number,
                now - call.leg_answered,
            )
        elif call.ringed is not None:
            ring_kind = "ring_out" if call.direction == "out" else "ring_in"
            self._trace(
                agent.user_id,
                ring_kind,
                False,
                "Konec vyzvánění",
                agent.exten or "",
                call.number,
                now - call.ringed,
            )
        agent.last_call_end = now
        queue = self.queues.get(call.queue_id or "")
        wrap = self.wrap_pause()
        if (
            queue is not None
            and call.leg_answered is not None
            and queue.wrapup_seconds > 0
            and wrap is not None
            and agent.logged
            and agent.queues
            and agent.pause_id is None
            and not agent.call_ids
        ):
            self._start_pause(agent, wrap)
            token = agent.pause_token

            def end_wrapup() -> None:
                if agent.pause_token == token and agent.pause_id == wrap.id:
                    self.pause_off(agent)

            self.schedule(queue.wrapup_seconds, end_wrapup)
        self.touch(agent)

    def _end_leg(self, call: Call, cause: str, disconnection: str) -> None:
        now = self.now()
        agent = self.agents.get(call.agent_id or "")
        exten = call.exten or (agent.exten if agent else None) or ""
        answered = call.leg_answered
        disposition = "ANSWERED" if answered is not None else "NO ANSWER"
        leg_no = len(self.legs_by_call.get(call.id, ()))
        uniqueid = call.id.rstrip("WS") if leg_no == 0 else f"{call.id.rstrip('WS')}-{leg_no}"
        if call.direction == "in":
            src, dst, channel = call.number, exten, f"SIP/{call.trunk}-{call.seq:08x}"
            dstchannel = f"SIP/{exten}-{call.seq + 1:08x}"
        else:
            src, dst = exten or call.number, call.number
            channel = f"SIP/{exten or call.trunk}-{call.seq:08x}"
            dstchannel = f"SIP/{call.trunk}-{call.seq + 1:08x}"
        ringed = call.ringed
        leg = Leg(
            call_id=call.id,
            uniqueid=uniqueid,
            start=call.leg_start,
            end=now,
            answered=answered,
            src=src,
            dst=dst,
            clid=src,
            channel=channel,
            dstchannel=dstchannel,
            real_exten=exten,
            direction=call.direction if call.kind != "remote" else "out",
            from_did=call.did or None,
            id_queue=call.queue_id,
            id_agent=call.agent_id,
            waiting_time=int((ringed if ringed is not None else now) - call.leg_start),
            ringing_time=int(call.ring_total),
            hold_time=int(call.hold_total),
            disposition=disposition,
            disposition_cause=cause,
            disconnection_cause=disconnection,
            accountcode=call.accountcode,
            recording_hash=call.recording_hash if answered is not None else "",
            dcontext="from-internal" if call.direction == "out" else "from-pstn",
            trunk=call.trunk,
            position=call.position,
        )
        self.legs.append(leg)
        self.legs_by_call.setdefault(call.id, []).append(leg)
        if call.attempt_start is not None:
            self.attempts.append(
                Attempt(
                    len(self.attempts) + 100,
                    call.id,
                    call.attempt_start,
                    now,
                    call.agent_id,
                    call.queue_id,
                )
            )
            call.attempt_start = None

    def _write_queue_call(self, call: Call) -> None:
        end = call.ended or self.now()
        answered_at = call.answered
        waited = (answered_at if answered_at is not None else end) - call.entered
        self.queue_calls.append(
            QueueCall(
                seq=call.seq,
                call_id=call.id,
                call_time=call.entered,
                direction=call.direction,
                answered=answered_at is not None,
                queue_id=call.queue_id,
                user_id=call.agent_id or call.first_agent_id,
                clid=call.number,
                did=call.did,
                waiting_time=int(waited),
                ringing_time=int(call.ring_total),
                hold_time=int(call.hold_total),
                duration=int(end - answered_at) if answered_at is not None else 0,
                position=call.position,
                disposition_cause=call.disposition_cause,
                disconnection_cause=call.disconnection_cause,
                record_id=call.record_id,
                callstatus=call.callstatus,
            )
        )

    # --- monitoring and playback ------------------------------------------------------

    def monitor(self, call: Call, listener: str, mode: str) -> None:
        """Start listening to *call* from *listener* in *mode* (spy, whisper, ...)."""
        if mode not in ("spy", "whisper", "whisperprivate", "barge", "interactive"):
            raise SimError(f"Neplatný režim odposlechu {mode}")
        if call.state not in ("Speaking", "On Hold"):
            raise SimError(ERR_NO_CALL)
        call.monitors.append({"listener": listener, "mode": mode, "since": fmt(self.now())})

    def playback(
        self,
        call: Call,
        command: str,
        *,
        recording: str | None = None,
        begintime: int = 0,
        skiptime: int | None = None,
    ) -> dict[str, bool] | None:
        """``ControlPlayback``: play/pause/rewind/forward/stop a message into *call*."""
        if call.state not in ("Speaking", "On Hold"):
            raise SimError(ERR_NO_CALL)
        now = self.now()
        state = call.playback
        if command == "play":
            if not recording:
                raise SimError("Chybí povinný parametr recording")
            call.playback = {
                "recording": recording,
                "position": begintime,
                "since": now,
                "paused": False,
                "playing": True,
                "skiptime": skiptime or 0,
            }
            return None
        if command == "status":
            return {"playing": bool(state and state["playing"] and not state["paused"])}
        if state is None or not state["playing"]:
            raise SimError(ERR_NO_PLAYBACK)
        elapsed = 0 if state["paused"] else int((now - state["since"]) * 1000)
        state["position"] += elapsed
        state["since"] = now
        if command == "pause":
            state["paused"] = not state["paused"]
        elif command == "rewind":
            state["position"] = max(0, state["position"] - state["skiptime"])
        elif command == "forward":
            state["position"] += state["skiptime"]
        elif command == "stop":
            state["playing"] = False
        else:
            raise SimError(f"Neplatný příkaz {command}")
        return None

    # --- users and queues (administration) --------------------------------------------

    def create_user(
        self,
        name: str,
        title: str,
        password: str,
        role: str,
        profile: str,
        description: str | None,
        email: str | None,
    ) -> User:
        """``CreateUser``."""
        if name in self.users_by_login and self.users_by_login[name].deleted == "0":
            raise SimError(ERR_USER_EXISTS)
        user = self.add_user(
            name, title, password, role=role, profile=profile, description=description, email=email
        )
        self.agents[user.id].bot = False
        return user

    def update_user(self, name: str, changes: dict[str, str]) -> User:
        """``UpdateUser``: change the given attributes of the user called *name*."""
        user = self.user(name)
        old_token = token_for(user.name, user.password)
        for key in ("role", "profile", "title", "description", "password", "email"):
            if key in changes:
                setattr(user, key, changes[key])
        self.tokens.pop(old_token, None)
        self.tokens[token_for(user.name, user.password)] = user.id
        if "title" in changes:
            self.touch(self.agents[user.id])
        return user

    def delete_user(self, user_id: str) -> None:
        """``DeleteUser``: sign the user out and mark it deleted."""
        user = self.user_by_id(user_id)
        agent = self.agents[user.id]
        if agent.logged:
            self.logout(user.name)
        user.deleted = "1"
        self.tokens.pop(token_for(user.name, user.password), None)

    def create_queue(
        self,
        number: str,
        title: str,
        direction: str,
        *,
        queue_id: str | None,
        outboundcid: str | None,
        description: str | None,
        wrapuptime: str | None,
        outbounder: bool,
    ) -> Queue:
        """``CreateQueue``: create, or update when the number exists."""
        if direction not in ("in", "out"):
            raise SimError(f"Neplatný směr fronty {direction}")
        kind = "outbounder" if direction == "out" and outbounder else direction
        queue = self.queues_by_number.get(number)
        if queue is None and queue_id is not None:
            queue = self.queues.get(queue_id)
        if queue is None:
            queue = self.add_queue(
                number,
                title,
                kind,
                wrapuptime=wrapuptime or "0",
                queue_id=queue_id if queue_id not in self.queues else None,
            )
        else:
            if queue.number != number:
                del self.queues_by_number[queue.number]
                queue.number = number
                self.queues_by_number[number] = queue
            queue.title = title
            if kind != queue.type and (queue.type in ("in", "out", "outbounder")):
                queue.type = kind
            queue.direction = direction
        if outboundcid is not None:
            queue.outboundcid = outboundcid
            if "outboundcid" in queue.options:
                queue.options["outboundcid"] = outboundcid
        if description is not None:
            queue.description = description
        if wrapuptime is not None:
            queue.wrapuptime = wrapuptime
        queue.deleted = "0"
        self._catalog_changed()
        return queue

    def create_pause(
        self, title: str, kind: str, paid: bool, *, pause_id: str | None, code: str | None
    ) -> Pause:
        """``CreatePause``: create, or edit the pause *pause_id*."""
        if kind not in ("wrap", "lajdak", "normal"):
            raise SimError(f"Neplatný typ pauzy {kind}")
        pause = self.pauses.get(pause_id) if pause_id else None
        if pause is None:
            new_id = pause_id or str(max(int(p) for p in self.pauses) + 1)
            pause = Pause(new_id, code or str(100 + int(new_id)), title)
            self.pauses[new_id] = pause
        pause.title = title
        pause.type = "" if kind == "normal" else kind
        pause.paid = "1" if paid else "0"
        if code:
            pause.name = code
        return pause

    # --- forms and records --------------------------------------------------------------

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
        rid = record_id if record_id is not None else next(self._record_ids)
        while record_id is None and rid in self.records:
            rid = next(self._record_ids)
        now = self.now()
        name = "record_" + hashlib.sha1(f"{self.seed}:{rid}".encode()).hexdigest()[:13]  # noqa: S324
        record = Record(rid, queue.id, number, number, name, now, user=user, nextcall=nextcall)
        given = {fid: v for k, v in fields.items() if (fid := self.field_id(k)) is not None}
        for field_id in self.fields:
            record.fields[field_id] = list(given.get(field_id, []))
            record.field_times[field_id] = (now, user, 1)
        self.records[rid] = record
        self._snapshot(record, user)
        return record

    def _snapshot(self, record: Record, user: str | None) -> None:
        copy = Record(
            record.id,
            record.queue_id,
            record.number,
            record.title,
            record.name,
            record.created,
            record.user,
            record.nextcall,
            record.status,
            record.action,
            record.call_id,
            record.edited,
            record.deleted,
            {k: list(v) for k, v in record.fields.items()},
        )
        self.snapshots.append(Snapshot(next(self._snapshot_ids), copy, self.now(), user))

    def create_record(
        self,
        queue_ref: str,
        number: str,
        fields: dict[str, list[str]],
        *,
        user: str | None = None,
        nextcall: float | None = None,
        record_id: int | None = None,
    ) -> Record:
        """``CreateRecord``: import a contact into a campaign (queue id or number)."""
        queue = self.queue_by_ref(queue_ref)
        if user is not None:
            self.user_by_id(user)
        return self._new_record(
            queue, number, fields, user=user, nextcall=nextcall, record_id=record_id
        )

    def field_id(self, key: str) -> str | None:
        """A form field's id from its id or unique name (``3``, ``field_poznamka``)."""
        if key in self.fields:
            return key
        return next((f.id for f in self.fields.values() if f.name == key), None)

    def record(self, record_id: str | int) -> Record:
        """A live record by id."""
        try:
            record = self.records[int(record_id)]
        except (KeyError, ValueError):
            raise SimError(ERR_RECORD_UNKNOWN) from None
        if record.deleted != "0":
            raise SimError(ERR_RECORD_UNKNOWN)
        return record

    def update_record(self, record: Record, changes: dict[str, Any]) -> Record:
        """``UpdateRecord``/``CallScriptClose``: change a record and snapshot it."""
        now = self.now()
        if "queue" in changes:
            record.queue_id = self.queue_by_ref(changes["queue"]).id
        if "number" in changes:
            record.number = changes["number"]
        if "user" in changes:
            record.user = changes["user"] or None
        if "status" in changes:
            record.status = changes["status"] or None
        if "action" in changes:
            record.action = changes["action"]
        if "nextcall" in changes:
            record.nextcall = changes["nextcall"]
        for key, values in changes.get("fields", {}).items():
            field_id = self.field_id(key)
            if field_id is None:
                continue
            record.fields[field_id] = list(values)
            _, _, version = record.field_times.get(field_id, (now, None, 0))
            record.field_times[field_id] = (now, record.user, version + 1)
        record.edited = now
        self._snapshot(record, record.user)
        return record

    def move_records(
        self,
        records: Iterable[Record],
        queue: Queue,
        *,
        copy: bool,
        updates: dict[str, Any],
        touch: bool = True,
    ) -> int:
        """``CopyRecords``/``MoveRecords``: put *records* into *queue*."""
        count = 0
        for record in list(records):
            target = record
            if copy:
                target = self._new_record(
                    queue, record.number, record.fields, user=record.user, nextcall=record.nextcall
                )
                target.status = record.status
                target.action = record.action
                target.title = record.title
            else:
                target.queue_id = queue.id
            for key, value in updates.items():
                setattr(target, key, value)
            if touch:
                target.edited = self.now()
            count += 1
        return count

    def delete_record(self, record: Record) -> None:
        """``DeleteRecord``."""
        record.deleted = "1"
        record.edited = self.now()

    def close_callscript(
        self,
        record: Record,
        *,
        status: str | None,
        number: str | None,
        nextcall: float | None,
        user: str | None,
        has_user: bool,
        fields: dict[str, list[str]],
        pause: str | None,
    ) -> tuple[bool, str | None]:
        """``CallScriptClose``: save and close the record, then leave (or switch) the pause.

        Returns ``(result, error)`` of the pause switch, as ``cc`` in the answer.
        """
        changes: dict[str, Any] = {"fields": fields, "action": "6" if nextcall else "5"}
        queue = self.queues.get(record.queue_id)
        if status is not None:
            changes["status"] = self.status_by_code(status, queue).id
        elif record.status is None:
            raise SimError(ERR_STATUS_UNKNOWN)
        if number is not None:
            changes["number"] = number
        if nextcall is not None:
            changes["nextcall"] = nextcall
        operator = next(
            (a for a in self.agents.values() if a.callscript_opened == str(record.id)), None
        )
        if operator is None and record.user is not None:
            operator = self.agents.get(record.user)
        if has_user:
            changes["user"] = user
        self.update_record(record, changes)
        if operator is None:
            return True, None
        if operator.callscript_opened == str(record.id):
            operator.callscript_opened = None
            self.touch(operator)
        try:
            if pause is not None:
                self.pause_on(operator, self.pause_by_name(pause).id, force=True)
            elif operator.pause_id is not None and self.pauses[operator.pause_id].type == "wrap":
                self.pause_off(operator)
        except SimError as exc:
            return False, str(exc)
        return True, None

    # --- SMS ----------------------------------------------------------------------------

    @staticmethod
    def sms_parts(message: str, unicode: bool) -> int:
        """How many SMS a message takes (160/70 characters, 153/67 per concatenated part)."""
        single, multi = (70, 67) if unicode else (160, 153)
        if len(message) <= single:
            return 1
        return math.ceil(len(message) / multi)

    def send_sms(
        self,
        number: str,
        message: str,
        *,
        confirmation: bool,
        unicode: bool,
        email: str | None,
        accountcode: str | None,
        gw: str | None,
        slot: str | None,
        port: str | None,
        priority: int,
        scheduled: float | None,
        group: SmsGroup | None = None,
    ) -> Sms:
        """``SendSMS``: queue an SMS; it is processed a moment later (status ok/error)."""
        if len(message) > 1377:
            raise SimError(ERR_MESSAGE_TOO_LONG)
        sms = Sms(
            next(self._sms_ids),
            "out",
            self.now(),
            number,
            message,
            self.sms_parts(message, unicode),
            confirmation,
            accountcode,
            email,
            gw or "1",
            slot or "1",
            port or str(1 + len(self.sms) % 4),
            priority,
            scheduled=scheduled,
        )
        if group is not None:
            sms.group_id = group.id
            group.message_ids.append(sms.id)
        self.sms[sms.id] = sms
        self._schedule_sms(sms)
        return sms

    def _sending_delay(self, not_before: float | None) -> float:
        now = self.now()
        due = max(now, not_before or now) + 2.0
        begin = int(self.sms_settings.get("allowed_hour_begin") or 0)
        end = int(self.sms_settings.get("allowed_hour_end") or 0)
        if begin or end:
            hour = int(due // 3600 % 24)
            if not begin <= hour <= end:
                day = due - due % 86400
                start = day + begin * 3600
                due = start if start > due else start + 86400
        return due - now

    def _schedule_sms(self, sms: Sms) -> None:
        def process() -> None:
            if sms.result != "waiting":
                return
            sms.attempts += 1
            sms.processed = self.now()
            digits = sms.number.lstrip("+")
            sms.result = "ok" if digits.isdigit() and len(digits) >= 9 else "error"
            if sms.result == "ok":
                sms.price = f"{1.5 * sms.count_sms:.3f}"
                if sms.confirmation:

                    def confirm() -> None:
                        sms.confirmed = "1"

                    self.schedule(5.0, confirm)
            self.emit("sms", sms)

        self.schedule(self._sending_delay(sms.scheduled), process)

    def new_sms_group(self, accountcode: str | None, *, connect: bool = False) -> SmsGroup:
        """Open a group for ``SendGroupSMS``."""
        group = SmsGroup(next(self._sms_ids), self.now(), accountcode, connect=connect)
        self.sms_groups[group.id] = group
        return group

    def remove_group_sms(self, group_id: int) -> int:
        """``RemoveGroupSMS``: cancel the group's waiting messages; returns how many."""
        group = self.sms_groups.get(group_id)
        if group is None:
            return 0
        removed = 0
        for message_id in group.message_ids:
            if group.connect:
                connect = self.sms_connect[message_id]
                if connect.result == "NEW":
                    connect.result = "FORBIDDEN"
                    removed += 1
            elif self.sms[message_id].result == "waiting":
                self.sms[message_id].result = "cancelled"
                removed += 1
        return removed

    def send_sms_connect(
        self,
        recipient: str,
        message: str,
        *,
        confirmation: bool,
        unicode: bool,
        sender: str | None,
        accountcode: str | None,
        scheduled: float | None,
        group: SmsGroup | None = None,
    ) -> SmsConnect:
        """``SendSMSConnect``: NEW, then SENT, then (with a delivery report) DELIVERED."""
        if len(message) > 1377:
            raise SimError(ERR_MESSAGE_TOO_LONG)
        sms_id = next(self._sms_ids)
        sms = SmsConnect(
            sms_id,
            f"{sms_id:015d}Bulk_{sms_id:08x}",
            self.now(),
            recipient,
            message,
            self.sms_parts(message, unicode),
            "UTF8" if unicode else "GSM",
            confirmation,
            sender,
            accountcode=accountcode,
            scheduled=scheduled,
        )
        if group is not None:
            sms.group_id = group.id
            group.message_ids.append(sms.id)
        self.sms_connect[sms.id] = sms

        def sent() -> None:
            if sms.result != "NEW":
                return
            sms.result = "SENT"
            sms.sent = sms.billed = self.now()
            if sms.request_dlr:

                def delivered() -> None:
                    sms.result = "DELIVERED"
                    sms.delivered = self.now()

                self.schedule(5.0, delivered)

        self.schedule(self._sending_delay(scheduled), sent)
        return sms

    # --- activities, emails, events, autodialer -----------------------------------------

    def _new_activity(
        self,
        name: str,
        title: str,
        kind: str,
        queue_id: str,
        item: int | None = None,
        user: str | None = None,
    ) -> Activity:
        activity = Activity(
            next(self._activity_ids),
            len(self.activities) + 1,
            name,
            title,
            kind,
            queue_id,
            self.now(),
            item=item,
            user=user,
        )
        self.activities[name] = activity
        return activity

    def close_activity(self, name: str, status: str) -> Activity:
        """``ActivityClose``: set the status and close the activity."""
        activity = self.activities.get(name)
        if activity is None:
            raise SimError(ERR_ACTIVITY_UNKNOWN)
        found = self.status_by_code(status, self.queues.get(activity.queue_id))
        activity.status = found.id
        activity.action = "CLOSE"
        activity.time_close = self.now()
        return activity

    def update_activities(self, names: list[str], status: str) -> list[Activity]:
        """``ActivityUpdate``: set the status of each activity."""
        activities = []
        for name in names:
            activity = self.activities.get(name)
            if activity is None:
                raise SimError(ERR_ACTIVITY_UNKNOWN)
            activities.append(activity)
        for activity in activities:
            activity.status = self.status_by_code(status, self.queues.get(activity.queue_id)).id
        return activities

    def create_email(
        self,
        queue_number: str,
        subject: str,
        sender: str,
        body: str,
        *,
        user: str | None,
        name: str | None,
    ) -> tuple[Email, Activity]:
        """``EmailCreate``: store the email and open its activity."""
        queue = self.queue(queue_number)
        if queue.type != "email":
            raise SimError(ERR_NOT_EMAIL_QUEUE)
        user_id = self.user(user).id if user else None
        email_id = next(self._email_ids)
        now = self.now()
        email = Email(
            email_id,
            queue.id,
            name
            or "email_"
            + hashlib.sha1(f"{self.seed}:e{email_id}".encode()).hexdigest()[  # noqa: S324
                :13
            ],
            subject,
            sender,
            body,
            now,
            user=user_id,
        )
        self.emails[email_id] = email
        ticket_name = "ticket_" + hashlib.sha1(f"{self.seed}:t{email_id}".encode()).hexdigest()[:13]  # noqa: S324
        activity = self._new_activity(
            ticket_name, subject, "EMAIL", queue.id, item=email_id, user=user_id
        )
        return email, activity

    def create_event(self, name: str, params: Any, when: str | None) -> None:
        """``CreateEvent``: store a Notification-centre event."""
        if not name.startswith("Custom_"):
            raise SimError(ERR_EVENT_PREFIX)
        self.events.append(
            {
                "event": name,
                "params": params,
                "time": when or fmt(self.now()),
                "created": fmt(self.now()),
            }
        )

    def check_number(self, number: str) -> tuple[float, str]:
        """``CheckNumber``: the autodialer's (deterministic) verdict on *number*."""
        if number not in self.checked_numbers:
            digest = hashlib.sha1(f"{self.seed}:{number}".encode()).digest()  # noqa: S324
            self.checked_numbers[number] = (self.now(), CHECK_STATUSES[digest[0] % 3][0])
        return self.checked_numbers[number]

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

    def iter_agents(self) -> Iterator[tuple[User, Agent]]:
        """Live users with their realtime state, by id."""
        for user_id, agent in self.agents.items():
            user = self.users[user_id]
            if user.deleted == "0":
                yield user, agent

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
