"""The realtime engine's change events, each stamped by the hub with ``seq`` and ``time``.

The base class, :class:`~daktela_async._event.Event` (its JSON, the kind registry) and the
hub's own :class:`~daktela_async._event.EventsDropped` live in ``daktela_async/_event.py``,
below the engine, so the webhooks' events derive from the same base without importing the
engine's internals; they are imported here for the engine and the Redis bridge.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from .._event import Event, EventsDropped, event_kinds
from .._models import (
    AgentCall,
    AgentState,
    LoginQueueState,
    RTStatsCall,
    RTStatsPause,
    RTStatsQueue,
    RTStatsQueuesSummary,
    RTStatsSession,
)
from ._today import QueueDay

__all__ = [
    "AgentCallEnded",
    "AgentCallStarted",
    "AgentStateChanged",
    "CallChanged",
    "Event",
    "EventsDropped",
    "PauseStatsChanged",
    "QueueDayChanged",
    "QueueLoginChanged",
    "QueueStatsChanged",
    "QueuesSummaryChanged",
    "SessionChanged",
    "SourceFailed",
    "SourceRecovered",
    "event_kinds",
]


@attrs.frozen(slots=True, kw_only=True)
class AgentStateChanged(Event):
    """An agent's realtime state changed (or is being replayed to a new subscriber).

    Attributes:
        user: The agent's login (``hajek``).
        previous: The state before, ``None`` for the first state seen.
        current: The state now; ``current.agent_state`` is ``"Idle"``, ``"Paused"``,
            ``"Speaking"``, ``"Ringing"``, ``"On Hold"`` or ``"Logged"``.
    """

    kind: ClassVar[str] = "agent_state"

    user: str
    previous: AgentState | None
    current: AgentState

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.kind, self.user)


@attrs.frozen(slots=True, kw_only=True)
class AgentCallStarted(Event):
    """A call appeared on an agent (ringing, or dialled out).

    Attributes:
        user: The agent's login.
        call: The call as ``RTUserState`` shows it.
    """

    kind: ClassVar[str] = "call_started"

    user: str
    call: AgentCall

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.kind, self.user, self.call.id_call)


@attrs.frozen(slots=True, kw_only=True)
class AgentCallEnded(Event):
    """A call left an agent (hung up, transferred away).

    Attributes:
        user: The agent's login.
        call: The call as it was last seen.
    """

    kind: ClassVar[str] = "call_ended"

    user: str
    call: AgentCall

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.kind, self.user, self.call.id_call)


@attrs.frozen(slots=True, kw_only=True)
class QueueLoginChanged(Event):
    """An agent was logged into, or out of, a queue.

    Attributes:
        user: The agent's login.
        queue: The queue id.
        logged: ``True`` when the agent is now logged into the queue.
        queue_state: The queue as the agent's ``login_oqueues`` shows it.
    """

    kind: ClassVar[str] = "queue_login"

    user: str
    queue: str
    logged: bool
    queue_state: LoginQueueState

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.kind, self.user, self.queue)


@attrs.frozen(slots=True, kw_only=True)
class QueueStatsChanged(Event):
    """A queue's ``RTStatsQueues`` row changed.

    Attributes:
        queue: The queue id.
        previous: The row before (``None`` when the queue first appears).
        current: The row now (``None`` when the queue disappeared).
    """

    kind: ClassVar[str] = "queue_stats"

    queue: str
    previous: RTStatsQueue | None
    current: RTStatsQueue | None

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.kind, self.queue)


@attrs.frozen(slots=True, kw_only=True)
class QueueDayChanged(Event):
    """A queue's figures of the day changed (the ``"today"`` stats of ``StatsCalls``).

    Attributes:
        queue: The queue id.
        previous: The figures before (``None`` when the queue first appears).
        current: The figures now (``None`` when the queue left the table; at midnight
            a queue is not removed but starts again at zero).
    """

    kind: ClassVar[str] = "queue_day"

    queue: str
    previous: QueueDay | None
    current: QueueDay | None

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.kind, self.queue)


@attrs.frozen(slots=True, kw_only=True)
class QueuesSummaryChanged(Event):
    """The ``RTStatsQueuesSummary`` totals changed.

    Attributes:
        previous: The totals before (``None`` at first).
        current: The totals now.
    """

    kind: ClassVar[str] = "queues_summary"

    previous: RTStatsQueuesSummary | None
    current: RTStatsQueuesSummary


@attrs.frozen(slots=True, kw_only=True)
class SessionChanged(Event):
    """An agent session of ``RTStatsSessions`` changed, appeared or ended.

    Attributes:
        agent: The agent id (``RTStatsSessions`` is keyed by id, not login).
        previous: The session before (``None`` when it starts).
        current: The session now (``None`` when the agent logged out).
    """

    kind: ClassVar[str] = "session"

    agent: str
    previous: RTStatsSession | None
    current: RTStatsSession | None

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.kind, self.agent)


@attrs.frozen(slots=True, kw_only=True)
class CallChanged(Event):
    """An ongoing call of ``RTStatsCalls`` changed, appeared or ended.

    Attributes:
        call: The call id.
        previous: The call before (``None`` when it appears).
        current: The call now (``None`` when it ended).
    """

    kind: ClassVar[str] = "call"

    call: str
    previous: RTStatsCall | None
    current: RTStatsCall | None

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.kind, self.call)


@attrs.frozen(slots=True, kw_only=True)
class PauseStatsChanged(Event):
    """A pause's ``RTStatsPauses`` row (who is on it) changed.

    Attributes:
        pause: The pause id.
        previous: The row before (``None`` when the first agent takes the pause).
        current: The row now (``None`` when nobody is on it).
    """

    kind: ClassVar[str] = "pause_stats"

    pause: str
    previous: RTStatsPause | None
    current: RTStatsPause | None

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.kind, self.pause)


@attrs.frozen(slots=True, kw_only=True)
class SourceFailed(Event):
    """A source (the agent long polls, one stats endpoint) failed: once per outage.

    Attributes:
        source: ``"agents"``, ``"agent:<login>"`` or ``"stats:<name>"``.
        error: The error's message (never containing the token).
        error_type: The error's class name (``DaktelaConnectError``).
        attempt: Consecutive failed attempts so far.
        retry_in: Seconds until the next attempt; ``None`` when the source stopped
            (authentication failure).
    """

    kind: ClassVar[str] = "source_failed"
    computed: ClassVar[tuple[str, ...]] = ("stopped",)

    source: str
    error: str
    error_type: str
    attempt: int
    retry_in: float | None

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.kind, self.source)

    @property
    def stopped(self) -> bool:
        """``True`` when the source gave up (it will not retry)."""
        return self.retry_in is None


@attrs.frozen(slots=True, kw_only=True)
class SourceRecovered(Event):
    """A failed source answered again; a full resync follows (its changes come next).

    Attributes:
        source: As in :class:`SourceFailed`.
        outage: Seconds between the first failure and the recovery.
        attempts: Failed attempts during the outage.
    """

    kind: ClassVar[str] = "source_recovered"

    source: str
    outage: float
    attempts: int

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.kind, self.source)
