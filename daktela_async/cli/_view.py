"""The board's state: agents and queues, kept current by applying watcher events.

One :class:`Board` is what both the terminal board and the web dashboard show. It
takes events in the order the watcher publishes them (:meth:`Board.apply`), keeps
one :class:`AgentView` per agent and one :class:`QueueView` per queue, and turns
them into JSON-ready messages for the browser (:meth:`Board.message`).

Time in state. The PBX stamps ``state_time`` with its own clock, in its own time
zone, without saying which. A change seen live began when the watcher saw it (the
long poll answers at once), so its ``since`` is the event's time, and the gap
between that and ``state_time`` is remembered as the PBX's clock offset
(:class:`ClockOffset`). A state that was already in place when watching started
(the replay) is dated from its ``state_time`` through that offset, or read as local
time until a live change has taught the offset; either way never later than when
it was seen.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

import attrs

from .._errors import DaktelaError
from .._models import AgentCall, AgentState, RTStatsQueue, RTStatsQueuesSummary, unstructure
from .._transport._request import version_key
from ..realtime import (
    AgentStateChanged,
    Event,
    EventsDropped,
    QueueDay,
    QueueDayChanged,
    QueuesSummaryChanged,
    QueueStatsChanged,
    SourceFailed,
    SourceRecovered,
)

if TYPE_CHECKING:
    from .._client import DaktelaClient

__all__ = [
    "OFFLINE",
    "AgentView",
    "Board",
    "CallView",
    "ClockOffset",
    "QueueView",
    "fetch_titles",
    "format_duration",
    "logged_in_agents",
    "to_millis",
]

#: The state shown for an agent whose polls fail (logged out of the call centre).
OFFLINE: Final = "Offline"

#: Which of an agent's calls the board shows: the one being spoken on first.
_CALL_RANK: Final = {"Speaking": 0, "On Hold": 1, "Ringing": 2}


def to_millis(when: dt.datetime) -> int:
    """Milliseconds since the Unix epoch (what JavaScript's ``Date`` takes)."""
    return int(when.timestamp() * 1000)


def format_duration(seconds: float) -> str:
    """``0:05``, ``12:34``, ``1:02:03`` (negative durations show as ``0:00``)."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ClockOffset:
    """The PBX's clock relative to ours, learned from live state changes.

    Shared by every board of one dashboard, so that a browser that connects later
    dates the replayed states with what earlier changes taught.
    """

    def __init__(self) -> None:
        self.offset: dt.timedelta | None = None

    def learn(self, state_time: dt.datetime, observed: dt.datetime) -> None:
        """Record that a state stamped *state_time* by the PBX began at *observed*."""
        self.offset = observed - _as_utc(state_time)

    def to_utc(self, state_time: dt.datetime) -> dt.datetime:
        """The instant a PBX timestamp stands for, on our clock."""
        if state_time.tzinfo is not None:
            return state_time.astimezone(dt.UTC)
        if self.offset is None:
            return state_time.astimezone(dt.UTC)  # a naive time is read as local time
        return _as_utc(state_time) + self.offset


def _as_utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


@attrs.frozen(slots=True)
class CallView:
    """The call an agent handles, as the board shows it.

    Attributes:
        id: The call id.
        direction: ``in`` or ``out``.
        number: The customer's number.
        name: The customer's name, when the PBX knows it.
        queue: The queue id.
        state: ``Ringing``, ``Speaking``, ``On Hold``...
    """

    id: str
    direction: str | None
    number: str | None
    name: str | None
    queue: str | None
    state: str | None

    @classmethod
    def of(cls, call: AgentCall) -> CallView:
        """Build the view of an ``RTUserState`` call."""
        return cls(
            id=call.id_call,
            direction=call.direction,
            number=call.clid,
            name=call.clid_name or None,
            queue=None if call.id_queue is None else str(call.id_queue),
            state=None if call.call_state is None else str(call.call_state),
        )

    @property
    def caller(self) -> str:
        """``226211245 (Jan Novák)``, or whichever of the two is known."""
        if self.name and self.number and self.name != self.number:
            return f"{self.number} ({self.name})"
        return self.number or self.name or self.id


@attrs.frozen(slots=True)
class AgentView:
    """One agent's row.

    Attributes:
        login: The agent's login.
        title: The agent's full name.
        state: ``Idle``, ``Paused``, ``Speaking``... or :data:`OFFLINE`.
        since: When the state began, on our clock (UTC).
        exten: The extension the agent is logged in at.
        pause: The pause id, when paused.
        call: The call the agent is on (the spoken one first), if any.
        calls: How many calls the agent has.
        error: Why the agent is :data:`OFFLINE` (the server's words).
    """

    login: str
    title: str | None
    state: str
    since: dt.datetime
    exten: str | None = None
    pause: str | None = None
    call: CallView | None = None
    calls: int = 0
    error: str | None = None


@attrs.frozen(slots=True)
class QueueView:
    """One queue's row (``RTStatsQueues``).

    Attributes:
        id: The queue id.
        title: The queue's name (its id when the name is unknown).
        total: Agents logged into the queue.
        ready: Idle agents.
        busy: Speaking agents.
        paused: Agents on a pause.
        calls: Calls in progress.
        waiting: Calls waiting.
        longest: Longest wait of the waiting calls, in seconds.
    """

    id: str
    title: str
    total: int
    ready: int
    busy: int
    paused: int
    calls: int
    waiting: int
    longest: int

    @classmethod
    def of(cls, queue_id: str, row: RTStatsQueue, title: str | None) -> QueueView:
        """Build the view of an ``RTStatsQueues`` row."""
        return cls(
            id=queue_id,
            title=title or f"Queue {queue_id}",
            total=row.users_total or 0,
            ready=row.users_ready or 0,
            busy=row.users_busy or 0,
            paused=row.users_pause or 0,
            calls=row.calls_count or 0,
            waiting=row.calls_wait or 0,
            longest=row.calls_time or 0,
        )


def _main_call(calls: tuple[AgentCall, ...]) -> AgentCall | None:
    if not calls:
        return None
    return min(calls, key=lambda c: _CALL_RANK.get(str(c.call_state), 9))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Board:
    """Agents, queues and source health, kept current by :meth:`apply`.

    Args:
        queue_titles: Queue id to name (from ``GetQueues``), for nicer rows.
        pause_titles: Pause id to name (from ``GetPauses``).
        clock: The PBX clock offset, shared between boards of one dashboard.
        reference: A board that has been following the same watcher for longer (the
            dashboard's own): a state replayed to this board takes its start from
            there when that board saw the same state, so every browser shows the same
            time in state.
    """

    def __init__(
        self,
        *,
        queue_titles: Mapping[str, str] | None = None,
        pause_titles: Mapping[str, str] | None = None,
        clock: ClockOffset | None = None,
        reference: Board | None = None,
    ) -> None:
        self.queue_titles = dict(queue_titles or {})
        self.reference = reference
        self.pause_titles = dict(pause_titles or {})
        self.clock = clock or ClockOffset()
        self.agents: dict[str, AgentView] = {}
        self.queues: dict[str, QueueView] = {}
        self.summary: RTStatsQueuesSummary | None = None
        #: The day's figures by queue id (when the watcher polls ``today``).
        self.days: dict[str, QueueDay] = {}
        #: Failing sources (``"agents"``, ``"stats:queues"``...) and their error.
        self.outages: dict[str, str] = {}
        self.events = 0
        self.dropped = 0
        self._states: dict[str, AgentState] = {}

    # --- applying events ------------------------------------------------------------------

    def apply(self, event: Event) -> list[str]:
        """Apply one event; return the keys of what changed (``"agent:hajek"``...).

        Keys: ``agent:<login>``, ``queue:<id>``, ``queue_day:<id>``, ``summary``,
        ``source:<name>`` and ``dropped``; :meth:`message` turns each into a JSON
        message (but ``queue_day``: the dashboard sends those events as they are).
        """
        self.events += 1
        if isinstance(event, AgentStateChanged):
            self._agent_changed(event)
            return [f"agent:{event.user}"]
        if isinstance(event, QueueStatsChanged):
            if event.current is None:
                self.queues.pop(event.queue, None)
            else:
                self.queues[event.queue] = QueueView.of(
                    event.queue, event.current, self.queue_titles.get(event.queue)
                )
            return [f"queue:{event.queue}"]
        if isinstance(event, QueueDayChanged):
            if event.current is None:
                self.days.pop(event.queue, None)
            else:
                self.days[event.queue] = event.current
            return [f"queue_day:{event.queue}"]
        if isinstance(event, QueuesSummaryChanged):
            self.summary = event.current
            return ["summary"]
        if isinstance(event, SourceFailed):
            return self._source_failed(event)
        if isinstance(event, SourceRecovered):
            return self._source_recovered(event)
        if isinstance(event, EventsDropped):
            self.dropped += event.missed
            return ["dropped"]
        return []

    def _agent_changed(self, event: AgentStateChanged) -> None:
        state = event.current
        old = self.agents.get(event.user)
        before = self._states.get(event.user)
        self._states[event.user] = state
        state_name = str(state.agent_state)
        same = (
            old is not None
            and old.error is None
            and before is not None
            and before.agent_state == state.agent_state
            and before.state_time == state.state_time
        )
        if same and old is not None:
            since = old.since
        elif event.previous is not None:
            # A live change: it began (within a poll's latency) when it was published.
            since = event.time
            if state.state_time is not None:
                self.clock.learn(state.state_time, event.time)
        else:
            since = self._known_since(event.user, state) or self._dated(state, event.time)
        self.agents[event.user] = self._view(event.user, state, state_name, since)

    def _known_since(self, user: str, state: AgentState) -> dt.datetime | None:
        """When the reference board saw *state* begin, if it did."""
        if self.reference is None:
            return None
        view = self.reference.agents.get(user)
        known = self.reference._states.get(user)
        if (
            view is None
            or known is None
            or view.error is not None
            or known.agent_state != state.agent_state
            or known.state_time != state.state_time
        ):
            return None
        return view.since

    def _dated(self, state: AgentState, seen: dt.datetime) -> dt.datetime:
        if state.state_time is None:
            return seen
        return min(self.clock.to_utc(state.state_time), seen)

    def _view(self, login: str, state: AgentState, name: str, since: dt.datetime) -> AgentView:
        call = _main_call(state.calls)
        return AgentView(
            login=login,
            title=state.agent_title,
            state=name,
            since=since,
            exten=state.exten,
            pause=None if state.id_pause is None else str(state.id_pause),
            call=None if call is None else CallView.of(call),
            calls=len(state.calls),
        )

    def _source_failed(self, event: SourceFailed) -> list[str]:
        if event.source.startswith("agent:"):
            login = event.source.removeprefix("agent:")
            old = self.agents.get(login)
            since = old.since if old is not None and old.state == OFFLINE else event.time
            self.agents[login] = AgentView(
                login=login,
                title=old.title if old is not None else None,
                state=OFFLINE,
                since=since,
                error=event.error,
            )
            return [f"agent:{login}"]
        self.outages[event.source] = event.error
        return [f"source:{event.source}"]

    def _source_recovered(self, event: SourceRecovered) -> list[str]:
        if event.source.startswith("agent:"):
            login = event.source.removeprefix("agent:")
            state = self._states.get(login)
            if state is not None:
                self.agents[login] = self._view(
                    login, state, str(state.agent_state), self._dated(state, event.time)
                )
            return [f"agent:{login}"]
        self.outages.pop(event.source, None)
        return [f"source:{event.source}"]

    def set_queue_titles(self, titles: Mapping[str, str]) -> None:
        """Name the queues (their rows keep their numbers otherwise)."""
        self.queue_titles.update(titles)
        for key, view in self.queues.items():
            if key in titles:
                self.queues[key] = attrs.evolve(view, title=titles[key])

    # --- reading --------------------------------------------------------------------------

    def sorted_agents(self) -> list[AgentView]:
        """The agents by login."""
        return [self.agents[k] for k in sorted(self.agents)]

    def sorted_queues(self) -> list[QueueView]:
        """The queues by title, then id."""
        return sorted(self.queues.values(), key=lambda q: (q.title, q.id))

    def queue_title(self, queue: str) -> str:
        """The name of queue *queue* (``Queue <id>`` when unknown)."""
        return self.queue_titles.get(queue) or f"Queue {queue}"

    def sorted_days(self) -> list[QueueDay]:
        """The day's figures of every queue, by the queue's title, then id."""
        return sorted(self.days.values(), key=lambda d: (self.queue_title(d.queue), d.queue))

    def state_counts(self) -> Counter[str]:
        """How many agents are in each state."""
        return Counter(a.state for a in self.agents.values())

    def totals(self) -> tuple[int, int]:
        """``(waiting calls, ready agents)`` over every queue.

        From ``RTStatsQueuesSummary`` when it is polled; otherwise the sum of the
        queues' waiting calls and the watched agents that are ``Idle`` (adding the
        queues' ready counts would count an agent once per queue).
        """
        if self.summary is not None:
            return self.summary.calls_wait or 0, self.summary.users_ready or 0
        waiting = sum(q.waiting for q in self.queues.values())
        ready = sum(1 for a in self.agents.values() if a.state == "Idle")
        return waiting, ready

    def pause_title(self, pause: str | None) -> str | None:
        """The name of pause *pause* (its id when unknown)."""
        if pause is None:
            return None
        return self.pause_titles.get(pause, pause)

    # --- JSON for the browser -------------------------------------------------------------

    def agent_json(self, view: AgentView) -> dict[str, Any]:
        """One agent as the dashboard's ``agent`` message."""
        call = view.call
        return {
            "type": "agent",
            "user": view.login,
            "title": view.title,
            "state": view.state,
            "since": to_millis(view.since),
            "exten": view.exten,
            "pause": self.pause_title(view.pause),
            "calls": view.calls,
            "call": None
            if call is None
            else {
                "id": call.id,
                "direction": call.direction,
                "number": call.number,
                "name": call.name,
                "caller": call.caller,
                "queue": None if call.queue is None else self.queue_titles.get(call.queue),
                "state": call.state,
            },
            "error": view.error,
        }

    @staticmethod
    def queue_json(view: QueueView) -> dict[str, Any]:
        """One queue as the dashboard's ``queue`` message."""
        return {"type": "queue", **attrs.asdict(view)}

    def summary_json(self) -> dict[str, Any]:
        """The totals as the dashboard's ``summary`` message."""
        waiting, ready = self.totals()
        counts = self.state_counts()
        return {
            "type": "summary",
            "waiting": waiting,
            "ready": ready,
            "states": dict(sorted(counts.items())),
        }

    def message(self, key: str) -> dict[str, Any] | None:
        """The JSON message for a key :meth:`apply` returned (``None``: nothing to say)."""
        kind, _, name = key.partition(":")
        if kind == "agent":
            view = self.agents.get(name)
            return None if view is None else self.agent_json(view)
        if kind == "queue":
            queue = self.queues.get(name)
            if queue is None:
                return {"type": "queue", "id": name, "removed": True}
            return self.queue_json(queue)
        if kind == "queue_day":
            return None  # the dashboard passes these events as they are (to_dict())
        if kind == "summary":
            return self.summary_json()
        if kind == "source":
            error = self.outages.get(name)
            return {"type": "source", "source": name, "ok": error is None, "error": error}
        if kind == "dropped":
            return {"type": "dropped", "missed": self.dropped}
        return None

    def snapshot_json(self, now: dt.datetime | None = None) -> dict[str, Any]:
        """Everything, for ``/snapshot`` and for a browser that lost events."""
        return {
            "now": to_millis(now or _now()),
            "agents": [self.agent_json(a) for a in self.sorted_agents()],
            "queues": [self.queue_json(q) for q in self.sorted_queues()],
            "summary": self.summary_json(),
            "outages": dict(self.outages),
            "today": [unstructure(d) for d in self.sorted_days()],
        }


def _rows(result: Any) -> list[tuple[str, Mapping[str, Any]]]:
    if isinstance(result, Mapping):
        items = [(str(k), v) for k, v in result.items()]
    elif isinstance(result, list):
        items = [(str(i), v) for i, v in enumerate(result)]
    else:
        return []
    return [(k, v) for k, v in items if isinstance(v, Mapping)]


def _titles(result: Any, id_keys: tuple[str, ...], title_keys: tuple[str, ...]) -> dict[str, str]:
    titles: dict[str, str] = {}
    for key, row in _rows(result):
        ident = next((str(row[k]) for k in id_keys if row.get(k) not in (None, "")), key)
        title = next((str(row[k]) for k in title_keys if row.get(k) not in (None, "")), None)
        if title is not None:
            titles[ident] = title
    return titles


async def fetch_titles(client: DaktelaClient) -> tuple[dict[str, str], dict[str, str]]:
    """Queue and pause names (``GetQueues``, ``GetPauses``), by id; empty when refused.

    They only make the board nicer, so a PBX that refuses either (a token without
    the right) still gets a board, with numbers instead of names.
    """
    queues: dict[str, str] = {}
    pauses: dict[str, str] = {}
    with contextlib.suppress(DaktelaError):
        queues = _titles(await client.call("GetQueues"), ("queue", "id"), ("title", "name"))
    with contextlib.suppress(DaktelaError):
        pauses = _titles(
            await client.call("GetPauses"),
            ("pause", "pcode_id", "id"),
            ("title", "name", "pcode_desc", "pcode"),
        )
    return queues, pauses


async def every_user(client: DaktelaClient) -> list[str]:
    """The logins of every user that is not deleted (``GetUsers``), sorted.

    What a fleet watches with ``--all-users``: the same list on every member, whoever
    is logged in when each one starts.
    """
    rows = _rows(await client.call("GetUsers"))
    logins = [
        str(row["name"])
        for _, row in rows
        if row.get("name") and str(row.get("deleted", "0")) in ("0", "false", "False")
    ]
    return sorted(dict.fromkeys(logins))


async def logged_in_agents(client: DaktelaClient) -> list[str]:
    """The logins of the agents to watch when none were named.

    ``RTUsersState`` (API 4.1) lists the agents logged into the call centre now; older
    APIs lack it, so every user that is not deleted (``GetUsers``) is listed instead,
    and those not logged in show as offline.
    """
    if version_key(client.api_version) >= (4, 1):
        result = await client.call("RTUsersState")
        rows = _rows(result)
        logins = [str(row["agent_name"]) for _, row in rows if row.get("agent_name")]
    else:
        return await every_user(client)
    return sorted(dict.fromkeys(logins))
