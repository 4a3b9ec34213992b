"""The realtime engine: long-poll supervisor, stats pollers, change events, fan-out.

Start it from a client::

    async with client.watch(users=["hajek", "novak"], stats=("queues",)) as watcher:
        async with watcher.subscribe() as events:
            async for event in events:
                ...
"""

from ._events import (
    AgentCallEnded,
    AgentCallStarted,
    AgentStateChanged,
    CallChanged,
    Event,
    EventsDropped,
    PauseStatsChanged,
    QueueLoginChanged,
    QueuesSummaryChanged,
    QueueStatsChanged,
    SessionChanged,
    SourceFailed,
    SourceRecovered,
)
from ._hub import Hub, OverflowPolicy, SubscriberStats, SubscriberTooSlow, Subscription
from ._watcher import STATS_SOURCES, Backoff, SourceStats, Watcher, WatcherStats

__all__ = [
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
    "Watcher",
    "WatcherStats",
]
