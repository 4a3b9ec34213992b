"""The realtime engine: long-poll supervisor, stats pollers, change events, fan-out.

How failures are judged (outage, one agent's problem, a refused token, a usage error)
is drawn in ``_health``; see also ``docs/concepts/realtime.md``.

Start it from a client::

    async with client.watch(users=["hajek", "novak"], stats=("queues",)) as watcher:
        async with watcher.subscribe() as events:
            async for event in events:
                ...
"""

from .._hub import Hub, OverflowPolicy, SubscriberStats, SubscriberTooSlow, Subscription
from ._core import STATS_SOURCES
from ._events import (
    AgentCallEnded,
    AgentCallStarted,
    AgentStateChanged,
    CallChanged,
    Event,
    EventsDropped,
    PauseStatsChanged,
    QueueDayChanged,
    QueueLoginChanged,
    QueuesSummaryChanged,
    QueueStatsChanged,
    SessionChanged,
    SourceFailed,
    SourceRecovered,
)
from ._health import Backoff, SourceStats
from ._today import SERVICE_LEVEL_THRESHOLD, QueueDay, TodayCalls
from ._watcher import Watcher, WatcherStats

__all__ = [
    "SERVICE_LEVEL_THRESHOLD",
    "STATS_SOURCES",
    "AgentCallEnded",
    "AgentCallStarted",
    "AgentStateChanged",
    "Backoff",
    "CallChanged",
    "Event",
    "EventsDropped",
    "Hub",
    "OverflowPolicy",
    "PauseStatsChanged",
    "QueueDay",
    "QueueDayChanged",
    "QueueLoginChanged",
    "QueueStatsChanged",
    "QueuesSummaryChanged",
    "SessionChanged",
    "SourceFailed",
    "SourceRecovered",
    "SourceStats",
    "SubscriberStats",
    "SubscriberTooSlow",
    "Subscription",
    "TodayCalls",
    "Watcher",
    "WatcherStats",
]
