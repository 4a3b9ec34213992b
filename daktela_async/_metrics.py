"""Prometheus metrics and a health verdict of a watcher (or of any feed of its events).

:class:`WatcherMetrics` is a Prometheus collector (``prometheus_client``) with its own
:class:`~prometheus_client.CollectorRegistry`. Most of what it exposes is read from the
watcher when it is scraped (the agents' states, the ``RTStats*`` rows, the ``today``
figures, the sources' counters, the subscriptions); what only events tell (how late they
arrive, when a failure began and why) comes from a subscription that :meth:`WatcherMetrics.run`
keeps. A feed that is not a :class:`~daktela_async.realtime.Watcher` (the dashboard's
Redis feed) has no state to read, so the same subscription keeps a copy of it.

The metrics (prefix ``daktela_`` by default):

========================================================  =========  ==========================
name                                                      type       labels
========================================================  =========  ==========================
``daktela_agents``                                        gauge      ``state``
``daktela_agents_watched``                                gauge
``daktela_queue_calls_waiting``                           gauge      ``queue``
``daktela_queue_agents_ready`` (also ``_busy``,           gauge      ``queue``
``_paused``, ``_logged``)
``daktela_queue_longest_waiting_seconds``                 gauge      ``queue``
``daktela_queue_info``                                    gauge (1)  ``queue``, ``title``
``daktela_queue_today_calls_offered`` (also               gauge      ``queue``
``_answered``, ``_abandoned``,
``_answered_in_threshold``)
``daktela_queue_today_service_level_ratio``               gauge      ``queue``
``daktela_queue_today_service_level_threshold_seconds``   gauge      ``queue``
``daktela_queue_today_answer_speed_seconds`` (ASA)        gauge      ``queue``
``daktela_queue_today_handle_time_seconds`` (AHT)         gauge      ``queue``
``daktela_queue_today_longest_wait_seconds``              gauge      ``queue``
``daktela_source_requests_total``                         counter    ``source``
``daktela_source_consecutive_failures``                   gauge      ``source``
``daktela_source_recoveries_total``                       counter    ``source``
``daktela_source_outages_total``                          counter    ``source``
``daktela_source_failing``                                gauge 0/1  ``source``
``daktela_source_stopped``                                gauge 0/1  ``source``
``daktela_source_last_success_age_seconds``               gauge      ``source``
``daktela_watcher_stopped``                               gauge 0/1
``daktela_healthy``                                       gauge 0/1
``daktela_events_published_total``                        counter
``daktela_event_lag_seconds``                             histogram
``daktela_last_event_age_seconds``                        gauge
``daktela_subscribers``                                   gauge
``daktela_subscriber_dropped_events_total``               counter    ``subscriber``, ``policy``
``daktela_subscriber_buffered_events``                    gauge      ``subscriber``, ``policy``
========================================================  =========  ==========================
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Final, Protocol

import anyio
import anyio.abc
import attrs
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from ._errors import DaktelaError, DaktelaUsageError
from ._models import AgentState, AgentStateName, RTStatsQueue
from .realtime import (
    AgentStateChanged,
    Event,
    Hub,
    OverflowPolicy,
    QueueStatsChanged,
    SourceFailed,
    SourceRecovered,
    Subscription,
    Watcher,
)

__all__ = ["DEFAULT_LAG_BUCKETS", "Health", "MetricsFeed", "WatcherMetrics"]

#: Upper bounds (seconds) of the event lag histogram's buckets.
DEFAULT_LAG_BUCKETS: Final = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

#: Sources about one agent: their failure is that agent's (logged out, unknown login),
#: not the service's, so it does not make the health check fail.
_AGENT_SOURCE: Final = "agent:"

#: The ``kind`` of the ``today`` stats source's events (``queue_day``).
_QUEUE_DAY: Final = "queue_day"

#: Room in the metrics' own subscription; it is read at once, so this only absorbs bursts.
_MAXSIZE: Final = 10_000


class MetricsFeed(Protocol):
    """What :class:`WatcherMetrics` reads: a watcher, or a feed of a watcher's events.

    :class:`~daktela_async.realtime.Watcher` fits as it is, and so does the dashboard's
    Redis feed. A feed with a ``hub`` attribute (a :class:`~daktela_async.realtime.Hub`)
    also gets the published and subscriber counts.
    """

    @property
    def users(self) -> Sequence[str]:
        """The agents watched."""
        ...

    @property
    def stopped(self) -> bool:
        """Whether no more events will come."""
        ...

    @property
    def failure(self) -> DaktelaError | None:
        """Why the events stopped, when it was a failure."""
        ...

    def subscribe(
        self,
        *,
        kinds: Iterable[str | type[Event]] | None = None,
        maxsize: int | None = None,
        overflow: OverflowPolicy = "drop_oldest",
        name: str | None = None,
    ) -> Subscription:
        """A subscription replaying the current state, then the changes."""
        ...


@attrs.frozen(slots=True)
class Health:
    """Whether the figures are current: what a ``/healthz`` answers.

    Attributes:
        ok: No source is failing and the watcher runs.
        failing: The failing sources that make the figures stale (``agents``,
            ``stats:queues``...), oldest failure first.
        degraded: Failing sources of single agents (``agent:LOGIN``: an agent logged out,
            an unknown login). They are listed but do not make the health fail: the
            service is fine, one agent is not.
        since: When the oldest failure in :attr:`failing` began (``None`` when ok).
        reason: One line on what is wrong (``None`` when ok).
        stopped: The watcher stopped for good (a refused token), or was closed.
        agents: Agents with a known state.
        published: Events published so far.
    """

    ok: bool
    failing: tuple[str, ...] = ()
    degraded: tuple[str, ...] = ()
    since: dt.datetime | None = None
    reason: str | None = None
    stopped: bool = False
    agents: int = 0
    published: int = 0

    @property
    def status_code(self) -> int:
        """The HTTP status of a health check: 200 when :attr:`ok`, else 503."""
        return 200 if self.ok else 503

    def to_dict(self) -> dict[str, Any]:
        """The JSON body of a health check.

        ``{"status": "ok", ...}`` when :attr:`ok`; else ``{"status": "stale", "failing":
        [...], "since": "2026-11-30T10:42:05+00:00", "reason": "...", "stopped": false, ...}``.
        """
        data: dict[str, Any] = {"status": "ok" if self.ok else "stale"}
        if not self.ok:
            data["failing"] = list(self.failing)
            data["since"] = None if self.since is None else self.since.isoformat()
            data["reason"] = self.reason
        data["stopped"] = self.stopped
        data["degraded"] = list(self.degraded)
        data["agents"] = self.agents
        data["published"] = self.published
        return data


@attrs.define(slots=True)
class _Outage:
    since: dt.datetime
    error: str


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _seconds(value: Any) -> float | None:
    """*value* (a number of seconds or a ``timedelta``) as float seconds; ``None`` if neither."""
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


class WatcherMetrics:
    """Prometheus metrics of a watcher, read when scraped, with a health verdict.

    Run :meth:`run` (in a task group, for the life of the watcher) so that the event lag
    and the failures' start and reason are known; then serve :meth:`exposition` (with
    ``prometheus_client.CONTENT_TYPE_LATEST``) and :meth:`health`. The dashboard's
    ``/metrics`` and ``/healthz``, and ``daktela-async watch --metrics-port``, do both.
    Call everything from the watcher's event loop.

    The metrics are listed, with what each one means, in the "Run it as a service" guide.

    Args:
        watcher: A :class:`~daktela_async.realtime.Watcher`, read when scraped; or any
            :class:`MetricsFeed` (the dashboard's Redis feed), whose state :meth:`run`
            keeps from its events.
        queue_titles: Queue id to name, exposed as ``daktela_queue_info``.
        namespace: Prefix of every metric name.
        lag_buckets: Upper bounds (seconds) of the event lag histogram's buckets.
        registry: The registry to register with (default: a new one of its own, never
            ``prometheus_client``'s global one).

    Attributes:
        registry: The registry holding these metrics; pass it to
            ``prometheus_client.generate_latest``.
    """

    def __init__(
        self,
        watcher: Watcher | MetricsFeed,
        *,
        queue_titles: Mapping[str, str] | None = None,
        namespace: str = "daktela",
        lag_buckets: Sequence[float] = DEFAULT_LAG_BUCKETS,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.watcher = watcher
        self.queue_titles = dict(queue_titles or {})
        self._prefix = f"{namespace}_" if namespace else ""
        self.registry = CollectorRegistry(auto_describe=False) if registry is None else registry
        self._lag = Histogram(
            f"{self._prefix}event_lag_seconds",
            "Seconds between an event's publication (its time) and when the exporter saw it.",
            buckets=tuple(lag_buckets),
            registry=self.registry,
        )
        # What only events tell: failures' start and reason, counts of outages.
        self._outages: dict[str, _Outage] = {}
        self._outage_counts: dict[str, int] = {}
        self._last_event: float | None = None
        # The state of a feed that is not a watcher (nothing to read when scraped).
        self._agents: dict[str, AgentState] = {}
        self._queues: dict[str, RTStatsQueue] = {}
        self._days: dict[str, Any] = {}
        # Monotonic drop counts over subscriptions that come and go.
        self._drops_seen: dict[Subscription, int] = {}
        self._drops: dict[tuple[str, str], int] = {}
        self.registry.register(self)

    @property
    def _watcher(self) -> Watcher | None:
        return self.watcher if isinstance(self.watcher, Watcher) else None

    @property
    def _hub(self) -> Hub | None:
        hub = getattr(self.watcher, "hub", None)
        return hub if isinstance(hub, Hub) else None

    # --- the subscription ----------------------------------------------------------------

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Follow the events until cancelled, or until the watcher stops."""
        if self.watcher.stopped:
            task_status.started()
            return
        try:
            subscription = self.watcher.subscribe(maxsize=_MAXSIZE, name="metrics")
        except DaktelaUsageError:  # it stopped meanwhile: nothing to follow
            task_status.started()
            return
        async with subscription as events:
            task_status.started()
            try:
                async for event in events:
                    self.observe(event)
            except DaktelaError:
                # The watcher stopped for good (its failure is its own to report, and
                # health() reads it): the exporter simply has no more events to take.
                return

    def observe(self, event: Event) -> None:
        """Take one event in (what :meth:`run` does with each)."""
        self._last_event = time.monotonic()
        if event.time.year > 1970:  # stamped by a hub
            lag = (_utcnow() - event.time).total_seconds()
            self._lag.observe(max(0.0, lag))
        if isinstance(event, SourceFailed):
            if event.source not in self._outages:
                self._outages[event.source] = _Outage(since=event.time, error=event.error)
                self._outage_counts[event.source] = self._outage_counts.get(event.source, 0) + 1
            else:
                self._outages[event.source].error = event.error
        elif isinstance(event, SourceRecovered):
            self._outages.pop(event.source, None)
        elif isinstance(event, AgentStateChanged):
            self._agents[event.user] = event.current
        elif isinstance(event, QueueStatsChanged):
            if event.current is None:
                self._queues.pop(event.queue, None)
            else:
                self._queues[event.queue] = event.current
        elif event.kind == _QUEUE_DAY:
            queue = getattr(event, "queue", None)
            if isinstance(queue, str):
                current = getattr(event, "current", None)
                if current is None:
                    self._days.pop(queue, None)
                else:
                    self._days[queue] = current

    # --- what is read when scraped --------------------------------------------------------

    def _agent_states(self) -> Iterable[AgentState]:
        watcher = self._watcher
        return (watcher.snapshot() if watcher is not None else self._agents).values()

    def _table(self, name: str, mirror: Mapping[str, Any]) -> Mapping[str, Any]:
        watcher = self._watcher
        if watcher is None:
            return mirror
        try:
            return watcher.table(name)
        except DaktelaUsageError:  # not polled by this watcher (or not a table here)
            return {}

    def _failing(self) -> tuple[str, ...]:
        """The failing sources, oldest failure first."""
        watcher = self._watcher
        if watcher is not None:
            failing = watcher.stats().failing
            # A failure forgotten without a recovery (its agent was removed) is over.
            for name in [n for n in self._outages if n not in failing]:
                del self._outages[name]
            for name in failing:
                self._outages.setdefault(name, _Outage(since=_utcnow(), error="failing"))
        else:
            failing = tuple(self._outages)
        return tuple(sorted(failing, key=lambda n: self._outages[n].since))

    def health(self) -> Health:
        """Whether the figures are current: ok, or stale with the failing sources and why."""
        failing = self._failing()
        stale = tuple(n for n in failing if not n.startswith(_AGENT_SOURCE))
        degraded = tuple(n for n in failing if n.startswith(_AGENT_SOURCE))
        stopped = self.watcher.stopped
        agents = sum(1 for _ in self._agent_states())
        hub = self._hub
        published = hub.published if hub is not None else 0
        if not stale and not stopped:
            return Health(ok=True, degraded=degraded, agents=agents, published=published)
        since = self._outages[stale[0]].since if stale else None
        if stopped:
            failure = self.watcher.failure
            reason = f"the watcher stopped: {failure}" if failure else "the watcher stopped"
        else:
            reason = f"{stale[0]}: {self._outages[stale[0]].error}"
        return Health(
            ok=False,
            failing=stale,
            degraded=degraded,
            since=since,
            reason=reason,
            stopped=stopped,
            agents=agents,
            published=published,
        )

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format (``generate_latest`` of :attr:`registry`)."""
        return generate_latest(self.registry)

    def collect(self) -> Iterator[Metric]:
        """The metrics now: the collector protocol ``prometheus_client`` calls when scraped."""
        yield from self._collect_agents()
        yield from self._collect_queues()
        yield from self._collect_days()
        yield from self._collect_sources()
        yield from self._collect_events()

    def _gauge(self, name: str, text: str, labels: Sequence[str] = ()) -> GaugeMetricFamily:
        return GaugeMetricFamily(self._prefix + name, text, labels=list(labels))

    def _counter(self, name: str, text: str, labels: Sequence[str] = ()) -> CounterMetricFamily:
        return CounterMetricFamily(self._prefix + name, text, labels=list(labels))

    def _collect_agents(self) -> Iterator[Metric]:
        # The documented states always, so that a state's series does not come and go.
        counts = {str(name): 0 for name in AgentStateName}
        for state in self._agent_states():
            name = str(state.agent_state)
            counts[name] = counts.get(name, 0) + 1
        agents = self._gauge("agents", "Watched agents by their realtime state.", ["state"])
        for name, count in counts.items():
            agents.add_metric([name], count)
        yield agents
        watched = self._gauge("agents_watched", "Agents watched (long-polled).")
        watched.add_metric([], len(self.watcher.users))
        yield watched

    def _collect_queues(self) -> Iterator[Metric]:
        fields = (
            ("calls_waiting", "calls_wait", "Calls waiting in the queue (RTStatsQueues)."),
            ("agents_ready", "users_ready", "Agents of the queue ready to take a call."),
            ("agents_busy", "users_busy", "Agents of the queue speaking."),
            ("agents_paused", "users_pause", "Agents of the queue on a pause."),
            ("agents_logged", "users_total", "Agents logged into the queue."),
            (
                "longest_waiting_seconds",
                "calls_time",
                "Seconds the longest-waiting call of the queue has waited so far.",
            ),
        )
        rows = self._table("queues", self._queues)
        for suffix, field, text in fields:
            family = self._gauge(f"queue_{suffix}", text, ["queue"])
            for queue, row in sorted(rows.items()):
                value = getattr(row, field, None)
                if value is not None:
                    family.add_metric([queue], value)
            yield family
        info = self._gauge("queue_info", "The queue's title (always 1).", ["queue", "title"])
        for queue, title in sorted(self.queue_titles.items()):
            info.add_metric([queue, title], 1)
        yield info

    def _collect_days(self) -> Iterator[Metric]:
        fields = (
            ("calls_offered", "offered", "Calls offered to the queue today."),
            ("calls_answered", "answered", "Calls answered today."),
            ("calls_abandoned", "abandoned", "Calls abandoned (hung up while waiting) today."),
            (
                "calls_answered_in_threshold",
                "answered_in_threshold",
                "Calls answered today within the service level threshold.",
            ),
            (
                "service_level_ratio",
                "service_level",
                "Today's service level: answered within the threshold / offered (0-1).",
            ),
            (
                "service_level_threshold_seconds",
                "threshold",
                "The service level's threshold, in seconds.",
            ),
            ("answer_speed_seconds", "asa", "Average speed of answer today (ASA), in seconds."),
            ("handle_time_seconds", "aht", "Average handle time today (AHT), in seconds."),
            ("longest_wait_seconds", "longest_wait", "Longest wait of a call today, in seconds."),
        )
        rows = self._table("today", self._days)
        for suffix, field, text in fields:
            family = self._gauge(f"queue_today_{suffix}", text, ["queue"])
            for queue, row in sorted(rows.items()):
                value = _seconds(getattr(row, field, None))
                if value is not None:
                    family.add_metric([str(queue)], value)
            yield family

    def _collect_sources(self) -> Iterator[Metric]:
        failing = set(self._failing())
        watcher = self._watcher
        sources = watcher.stats().sources if watcher is not None else {}
        names = sorted(set(sources) | failing | set(self._outage_counts))
        requests = self._counter("source_requests", "Requests sent by the source.", ["source"])
        consecutive = self._gauge(
            "source_consecutive_failures",
            "Failures of the source since its last success.",
            ["source"],
        )
        recoveries = self._counter(
            "source_recoveries", "Failures the source recovered from.", ["source"]
        )
        last_success = self._gauge(
            "source_last_success_age_seconds",
            "Seconds since the source's last successful answer.",
            ["source"],
        )
        stopped = self._gauge("source_stopped", "1 when the source gave up for good.", ["source"])
        for name, stats in sorted(sources.items()):
            requests.add_metric([name], stats.requests)
            consecutive.add_metric([name], stats.consecutive_failures)
            recoveries.add_metric([name], stats.reconnects)
            stopped.add_metric([name], 1 if stats.stopped else 0)
            if stats.last_success_age is not None:
                last_success.add_metric([name], stats.last_success_age)
        yield from (requests, consecutive, recoveries, last_success, stopped)
        outages = self._counter(
            "source_outages",
            "Failures of the source that began while the exporter watched (one per run of "
            "failed attempts).",
            ["source"],
        )
        state = self._gauge(
            "source_failing",
            "1 while the source's last attempt failed (its figures are stale), else 0.",
            ["source"],
        )
        for name in names:
            outages.add_metric([name], self._outage_counts.get(name, 0))
            state.add_metric([name], 1 if name in failing else 0)
        yield from (outages, state)

    def _collect_events(self) -> Iterator[Metric]:
        health = self.health()
        stopped = self._gauge("watcher_stopped", "1 when the watcher stopped (or was closed).")
        stopped.add_metric([], 1 if health.stopped else 0)
        healthy = self._gauge(
            "healthy", "1 while no source is failing and the watcher runs (/healthz is 200)."
        )
        healthy.add_metric([], 1 if health.ok else 0)
        yield from (stopped, healthy)
        age = self._gauge("last_event_age_seconds", "Seconds since the exporter saw an event.")
        if self._last_event is not None:
            age.add_metric([], time.monotonic() - self._last_event)
        yield age
        hub = self._hub
        if hub is None:
            return
        published = self._counter("events_published", "Events the watcher published.")
        published.add_metric([], hub.published)
        yield published
        subscriptions = set(hub.subscriptions())
        count = self._gauge("subscribers", "Open subscriptions to the watcher's events.")
        count.add_metric([], len(subscriptions))
        yield count
        labels = ["subscriber", "policy"]
        buffered_by: dict[tuple[str, str], int] = {}
        # Drops are summed per name, over subscriptions that come and go: count what each
        # one dropped since the last scrape (a closed one's last drops included).
        for subscription in subscriptions | set(self._drops_seen):
            stats = subscription.stats()
            key: tuple[str, str] = (stats.name, str(stats.policy))
            seen = self._drops_seen.get(subscription, 0)
            self._drops[key] = self._drops.get(key, 0) + max(0, stats.dropped - seen)
            self._drops_seen[subscription] = stats.dropped
            if subscription in subscriptions:
                buffered_by[key] = buffered_by.get(key, 0) + stats.buffered
        for gone in [s for s in self._drops_seen if s not in subscriptions]:
            del self._drops_seen[gone]
        dropped = self._counter(
            "subscriber_dropped_events",
            "Events dropped (or, for policy latest, coalesced away) by subscriptions, by name.",
            labels,
        )
        for key, value in sorted(self._drops.items()):
            dropped.add_metric(list(key), value)
        buffered = self._gauge(
            "subscriber_buffered_events", "Events waiting to be read, by subscription name.", labels
        )
        for key, value in sorted(buffered_by.items()):
            buffered.add_metric(list(key), value)
        yield from (dropped, buffered)
