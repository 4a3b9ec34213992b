"""Stats pollers: each ``RTStats*`` endpoint on its own interval, source and backoff.

``today`` is polled the same way: its table is the day's figures per queue, counted
from ``StatsCalls`` by :class:`~daktela_async.realtime._today.TodayCalls`.

A stats endpoint that fails affects nobody else: its source reports the failure once and
retries with its own backoff (short for an outage, so a wallboard recovers in seconds),
while the agent polls and the other tables carry on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import anyio

from .._errors import DaktelaAPIError, DaktelaError
from .._models import (
    RTStatsCall,
    RTStatsPause,
    RTStatsQueue,
    RTStatsQueuesSummary,
    RTStatsSession,
    structure,
)
from ._core import STATS_SOURCES, Core
from ._diff import table_changes
from ._events import (
    CallChanged,
    Event,
    PauseStatsChanged,
    QueueDayChanged,
    QueuesSummaryChanged,
    QueueStatsChanged,
    SessionChanged,
)
from ._health import Verdict, classify, retry_after
from ._today import TodayCalls

__all__ = ["StatsTables"]

_TABLE_TYPES: Final[dict[str, Any]] = {
    "queues": Mapping[str, RTStatsQueue],
    "sessions": Mapping[str, RTStatsSession],
    "calls": Mapping[str, RTStatsCall],
    "pauses": Mapping[str, RTStatsPause],
}


class StatsTables:
    """The polled ``RTStats*`` tables (and ``today``'s figures) and their pollers."""

    def __init__(self, core: Core) -> None:
        self._core = core
        self.tables: dict[str, dict[str, Any]] = {
            name: {} for name in core.settings.stats if name != "summary"
        }
        self.summary: RTStatsQueuesSummary | None = None
        #: What counts the day's calls, when ``today`` is polled.
        self.today: TodayCalls | None = None
        if "today" in core.settings.stats:
            self.today = TodayCalls(core.client, threshold=core.settings.service_level_threshold)

    async def poll(self, name: str) -> None:
        """Poll stats endpoint *name* until cancelled or the watcher stops."""
        action = STATS_SOURCES[name]
        settings = self._core.settings
        source = self._core.source(f"stats:{name}")
        interval = settings.stats_intervals[name]
        while True:
            started = anyio.current_time()
            source.requests += 1
            try:
                if self.today is not None and name == "today":
                    value: Any = await self.today.poll()
                else:
                    result = await self._core.client.call(action, retries=0)
                    value = structure(
                        result,
                        _TABLE_TYPES.get(name, RTStatsQueuesSummary),
                        action=action,
                        secret=self._core.client._token,
                    )
            except DaktelaError as exc:
                verdict = classify(exc)
                if verdict in (Verdict.AUTH, Verdict.USAGE):
                    self._core.stop(exc, verdict)
                    return
                if isinstance(exc, DaktelaAPIError) and not source.failures:
                    # Stats take no agent: a status 0 is about the token, or this table.
                    self._core.suspect_token()
                backoff = settings.probe_backoff if verdict is Verdict.OUTAGE else settings.backoff
                delay = backoff.delay(source.failures + 1, retry_after(exc))
                source.failed(exc, delay)
                await anyio.sleep(delay)
                continue
            source.succeeded()
            if name == "summary":
                self._summary(value)
            else:
                for event in self._diff(name, value):
                    self._core.hub.publish(event)
            elapsed = anyio.current_time() - started
            await anyio.sleep(max(0.0, interval - elapsed))

    def _summary(self, summary: RTStatsQueuesSummary) -> None:
        if summary != self.summary:
            previous, self.summary = self.summary, summary
            self._core.hub.publish(QueuesSummaryChanged(previous=previous, current=summary))

    def _diff(self, name: str, table: Mapping[str, Any]) -> list[Event]:
        previous = self.tables[name]
        self.tables[name] = dict(table)
        return [
            table_event(name, key, before, after)
            for key, before, after in table_changes(previous, table)
        ]

    def seed(self, known: Mapping[str, Mapping[str, Any]]) -> None:
        """Take *known* rows (by table) as the last poll: the next one diffs against them."""
        for name, rows in known.items():
            if name == "summary":
                summary = rows.get("summary")
                if isinstance(summary, RTStatsQueuesSummary):
                    self.summary = summary
            elif name in self.tables:
                self.tables[name] = dict(rows)

    def clear(self) -> None:
        """Forget every row (the pollers stopped); ``today`` then counts the day afresh."""
        for name in self.tables:
            self.tables[name] = {}
        self.summary = None
        if self.today is not None:
            # Calls that ended while another member polled may lie before the lookback.
            self.today.reset()

    def replay(self) -> list[Event]:
        """Every row as an event with ``previous=None``, for a joining subscriber."""
        events = [
            table_event(name, key, None, row)
            for name, table in self.tables.items()
            for key, row in table.items()
        ]
        if self.summary is not None:
            events.append(QueuesSummaryChanged(previous=None, current=self.summary))
        return events


def table_event(name: str, key: str, before: Any, after: Any) -> Event:
    """The change event of one row of stats table *name*."""
    if name == "queues":
        return QueueStatsChanged(queue=key, previous=before, current=after)
    if name == "sessions":
        return SessionChanged(agent=key, previous=before, current=after)
    if name == "calls":
        return CallChanged(call=key, previous=before, current=after)
    if name == "today":
        return QueueDayChanged(queue=key, previous=before, current=after)
    return PauseStatsChanged(pause=key, previous=before, current=after)
