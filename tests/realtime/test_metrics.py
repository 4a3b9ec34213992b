"""WatcherMetrics: what a scrape says, read back with prometheus_client's own text parser."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
import attrs
import pytest
from prometheus_client.parser import text_string_to_metric_families

from daktela_async import DaktelaClient, DaktelaError
from daktela_async.metrics import Health, WatcherMetrics
from daktela_async.models import AgentState, RTStatsQueue
from daktela_async.realtime import (
    STATS_SOURCES,
    AgentStateChanged,
    Event,
    Hub,
    OverflowPolicy,
    QueueDay,
    QueueDayChanged,
    QueueStatsChanged,
    SourceFailed,
    SourceRecovered,
    Subscription,
    Watcher,
)
from daktela_async.sim import Simulator
from tests.realtime.conftest import WATCH

pytestmark = pytest.mark.anyio

Samples = dict[str, dict[frozenset[tuple[str, str]], float]]


def scrape(metrics: WatcherMetrics) -> Samples:
    """Every sample of an exposition, by sample name and then by label set."""
    samples: Samples = {}
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[frozenset(sample.labels.items())] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get(name, {}).get(frozenset(labels.items()))


def by_label(samples: Samples, name: str, label: str) -> dict[str, float]:
    return {dict(key)[label]: v for key, v in samples.get(name, {}).items()}


def logged_in(sim: Simulator) -> list[str]:
    return sorted(login for login, a in sim.snapshot()["agents"].items() if a["logged"])


def sim_states(sim: Simulator) -> Counter[str]:
    return Counter(a["state"] for a in sim.snapshot()["agents"].values() if a["logged"])


async def until(check: Callable[[], bool], timeout: float = 8.0) -> None:
    with anyio.fail_after(timeout):
        while not check():  # noqa: ASYNC110 - a condition on state, not an event
            await anyio.sleep(0.05)


@asynccontextmanager
async def measured(
    client: DaktelaClient, users: Sequence[str], **options: Any
) -> AsyncIterator[tuple[Watcher, WatcherMetrics]]:
    async with client.watch(users, **{**WATCH, **options}) as watcher:
        metrics = WatcherMetrics(watcher, queue_titles={"1": "Support"})
        async with anyio.create_task_group() as tg:
            await tg.start(metrics.run)
            yield watcher, metrics
            tg.cancel_scope.cancel()


async def test_agents_by_state_are_the_simulators(sim: Simulator, client: DaktelaClient) -> None:
    users = logged_in(sim)
    sim.set_state(users[0], "Speaking")
    sim.pause_on(users[1], "7")
    sim.set_state(users[2], "Ringing")
    async with measured(client, users) as (watcher, metrics):
        expected = sim_states(sim)
        assert expected["Speaking"] == 1
        assert expected["Paused"] == 1

        def arrived() -> bool:
            seen = Counter(str(s.agent_state) for s in watcher.snapshot().values())
            return seen == expected

        await until(arrived)
        samples = scrape(metrics)
        agents = by_label(samples, "daktela_agents", "state")
        assert {s: int(n) for s, n in agents.items() if n} == dict(expected)
        # Every documented state has its series, at 0 when nobody is in it.
        assert agents["On Hold"] == 0
        assert value(samples, "daktela_agents_watched") == len(users)
        assert value(samples, "daktela_watcher_stopped") == 0
        assert value(samples, "daktela_healthy") == 1

        sim.set_state(users[0], "Idle")
        expected = sim_states(sim)
        await until(arrived)
        agents = by_label(scrape(metrics), "daktela_agents", "state")
        assert {s: int(n) for s, n in agents.items() if n} == dict(expected)


async def test_queue_rows_are_the_watchers_table(sim: Simulator, client: DaktelaClient) -> None:
    users = logged_in(sim)
    for user in users:  # nobody to answer: the call waits in its queue
        sim.pause_on(user, "7")
    sim.start_call()
    async with measured(client, users, stats=("queues",), stats_interval=0.1) as (watcher, m):

        def waiting() -> bool:
            return any((row.calls_wait or 0) > 0 for row in watcher.table("queues").values())

        await until(waiting)
        rows = watcher.table("queues")
        samples = scrape(m)
        waiting_calls = by_label(samples, "daktela_queue_calls_waiting", "queue")
        ready = by_label(samples, "daktela_queue_agents_ready", "queue")
        paused = by_label(samples, "daktela_queue_agents_paused", "queue")
        assert waiting_calls == {q: row.calls_wait for q, row in rows.items()}
        assert ready == {q: row.users_ready for q, row in rows.items()}
        assert paused == {q: row.users_pause for q, row in rows.items()}
        assert sum(waiting_calls.values()) == 1
        assert value(samples, "daktela_queue_info", queue="1", title="Support") == 1
        requests = by_label(samples, "daktela_source_requests_total", "source")
        assert requests["stats:queues"] >= 1
        assert requests["agents"] >= len(users)


async def test_an_outage_flips_the_failing_gauge_and_the_health(
    sim: Simulator, client: DaktelaClient
) -> None:
    users = logged_in(sim)[:2]
    async with measured(client, users, stats=("queues",), stats_interval=0.1) as (watcher, m):
        await until(lambda: len(watcher.snapshot()) == len(users) and m.health().ok)
        samples = scrape(m)
        assert by_label(samples, "daktela_source_failing", "source")["agents"] == 0
        assert value(samples, "daktela_healthy") == 1
        before = dt.datetime.now(dt.UTC)
        sim.stop_server()
        try:
            await until(lambda: {"agents", "stats:queues"} <= set(m.health().failing))
            health = m.health()
            assert not health.ok
            assert health.status_code == 503
            assert health.since is not None
            assert health.since >= before - dt.timedelta(seconds=1)
            assert health.reason is not None
            assert health.reason.startswith(health.failing[0] + ": ")
            assert sim.token not in health.reason
            body = health.to_dict()
            assert body["status"] == "stale"
            assert body["since"] == health.since.isoformat()
            samples = scrape(m)
            failing = by_label(samples, "daktela_source_failing", "source")
            assert failing["agents"] == 1
            assert failing["stats:queues"] == 1
            assert value(samples, "daktela_healthy") == 0
            assert by_label(samples, "daktela_source_outages_total", "source")["agents"] == 1
        finally:
            sim.start_server()
        await until(lambda: m.health().ok)
        assert m.health().to_dict()["status"] == "ok"
        samples = scrape(m)
        assert set(by_label(samples, "daktela_source_failing", "source").values()) == {0}
        assert by_label(samples, "daktela_source_recoveries_total", "source")["agents"] >= 1
        assert by_label(samples, "daktela_source_outages_total", "source")["agents"] == 1


async def test_one_agents_failure_degrades_but_is_healthy(
    sim: Simulator, client: DaktelaClient
) -> None:
    users = logged_in(sim)[:2]
    sim.logout(users[1])  # its RTUserState now answers status 0: that agent's problem
    async with measured(client, users) as (_, metrics):
        await until(lambda: f"agent:{users[1]}" in metrics.health().degraded)
        health = metrics.health()
        assert health.ok
        assert health.status_code == 200
        assert health.failing == ()
        assert health.to_dict()["degraded"] == [f"agent:{users[1]}"]
        failing = by_label(scrape(metrics), "daktela_source_failing", "source")
        assert failing[f"agent:{users[1]}"] == 1


async def test_a_stopped_watcher_is_stale(sim: Simulator, client: DaktelaClient) -> None:
    async with client.watch(logged_in(sim)[:1], **WATCH) as watcher:
        metrics = WatcherMetrics(watcher)
        assert metrics.health().ok
    health = metrics.health()
    assert health.stopped
    assert health.status_code == 503
    assert health.reason == "the watcher stopped"
    assert health.to_dict()["status"] == "stale"
    assert value(scrape(metrics), "daktela_watcher_stopped") == 1
    await metrics.run()  # returns at once: nothing to follow


async def test_published_events_lag_and_subscribers(sim: Simulator, client: DaktelaClient) -> None:
    users = logged_in(sim)[:2]
    async with measured(client, users) as (watcher, metrics):
        await until(lambda: len(watcher.snapshot()) == len(users))
        async with watcher.subscribe(maxsize=1, name="slow"):
            sim.set_state(users[0], "Speaking")
            sim.set_state(users[0], "Idle")
            await until(lambda: any(s.dropped for s in watcher.stats().subscribers))
            samples = scrape(metrics)
            assert value(samples, "daktela_subscribers") == 2  # metrics' own, and "slow"
            slow = value(
                samples,
                "daktela_subscriber_dropped_events_total",
                subscriber="slow",
                policy="drop_oldest",
            )
            assert slow is not None
            assert slow >= 1
        await until(lambda: watcher.stats().published > 0)
        samples = scrape(metrics)
        assert value(samples, "daktela_subscribers") == 1
        # A closed subscription's drops stay counted: the counter never goes down.
        after = value(
            samples,
            "daktela_subscriber_dropped_events_total",
            subscriber="slow",
            policy="drop_oldest",
        )
        assert after == slow
        assert value(samples, "daktela_events_published_total") == watcher.stats().published
        lags = value(samples, "daktela_event_lag_seconds_count")
        assert lags is not None
        assert lags >= len(users)
        age = value(samples, "daktela_last_event_age_seconds")
        assert age is not None
        assert 0 <= age < 30


async def test_the_metric_types() -> None:
    metrics = WatcherMetrics(_Feed())
    types = {f.name: f.type for f in text_string_to_metric_families(metrics.exposition().decode())}
    assert types["daktela_agents"] == "gauge"
    assert types["daktela_source_requests"] == "counter"
    assert types["daktela_events_published"] == "counter"
    assert types["daktela_subscriber_dropped_events"] == "counter"
    assert types["daktela_event_lag_seconds"] == "histogram"
    assert types["daktela_queue_today_service_level_ratio"] == "gauge"
    other = WatcherMetrics(_Feed(), namespace="pbx")
    names = {f.name for f in text_string_to_metric_families(other.exposition().decode())}
    assert "pbx_agents" in names
    assert not any(n.startswith("daktela_") for n in names)


# --- a feed that is not a watcher: the state comes from its events ------------------------


class _Feed:
    """The dashboard's Redis feed in miniature: a hub, and no state to read."""

    def __init__(self) -> None:
        self.hub = Hub()
        self.failure: DaktelaError | None = None
        self.users: tuple[str, ...] = ("hajek", "novak")

    @property
    def stopped(self) -> bool:
        return self.hub.closed

    def subscribe(
        self,
        *,
        kinds: Iterable[str | type[Event]] | None = None,
        maxsize: int | None = None,
        overflow: OverflowPolicy = "drop_oldest",
        name: str | None = None,
    ) -> Subscription:
        return self.hub.subscribe(
            kinds=None if kinds is None else list(kinds),
            maxsize=maxsize or 100,
            overflow=overflow,
            name=name,
        )


def _state(user: str, name: str) -> AgentState:
    return AgentState(agent_name=user, id_agent=1, agent_state=name)


async def test_a_feed_without_state_is_counted_from_its_events() -> None:
    feed = _Feed()
    metrics = WatcherMetrics(feed)
    async with anyio.create_task_group() as tg:
        await tg.start(metrics.run)
        hub = feed.hub
        hub.publish(AgentStateChanged(user="hajek", previous=None, current=_state("hajek", "Idle")))
        hub.publish(
            AgentStateChanged(user="novak", previous=None, current=_state("novak", "Paused"))
        )
        row = RTStatsQueue(id=1, users_ready=1, calls_wait=3)
        hub.publish(QueueStatsChanged(queue="1", previous=None, current=row))
        hub.publish(QueueStatsChanged(queue="2", previous=None, current=row))
        hub.publish(QueueStatsChanged(queue="2", previous=row, current=None))
        day = QueueDay(
            queue="1",
            day=dt.date(2026, 11, 30),
            offered=10,
            answered=8,
            abandoned=2,
            answered_in_threshold=7,
            threshold=20.0,
            service_level=0.7,
            asa=12.5,
            aht=95.0,
            longest_wait=64,
        )
        hub.publish(QueueDayChanged(queue="1", previous=None, current=day))
        await until(lambda: len(metrics._queues) == 1 and bool(metrics._days))
        samples = scrape(metrics)
        agents = by_label(samples, "daktela_agents", "state")
        assert (agents["Idle"], agents["Paused"], agents["Speaking"]) == (1, 1, 0)
        assert by_label(samples, "daktela_queue_calls_waiting", "queue") == {"1": 3}
        assert value(samples, "daktela_events_published_total") == 6
        today = {
            name: value(samples, f"daktela_queue_today_{name}", queue="1")
            for name in ("calls_offered", "calls_abandoned", "service_level_ratio")
        }
        assert today == {"calls_offered": 10, "calls_abandoned": 2, "service_level_ratio": 0.7}
        assert value(samples, "daktela_queue_today_answer_speed_seconds", queue="1") == 12.5
        assert value(samples, "daktela_queue_today_longest_wait_seconds", queue="1") == 64
        assert metrics.health().ok

        failed = SourceFailed(
            source="redis", error="Connection refused", error_type="OSError", attempt=1, retry_in=1
        )
        hub.publish(failed)
        hub.publish(attrs.evolve(failed, attempt=2))  # the same outage: counted once
        await until(lambda: not metrics.health().ok)
        health = metrics.health()
        assert health.failing == ("redis",)
        assert health.reason == "redis: Connection refused"
        samples = scrape(metrics)
        assert by_label(samples, "daktela_source_failing", "source") == {"redis": 1}
        assert by_label(samples, "daktela_source_outages_total", "source") == {"redis": 1}

        hub.publish(SourceRecovered(source="redis", outage=1.5, attempts=2))
        await until(lambda: metrics.health().ok)
        assert by_label(scrape(metrics), "daktela_source_failing", "source") == {"redis": 0}
        tg.cancel_scope.cancel()


async def test_a_closed_feed_is_stale_and_the_run_ends() -> None:
    feed = _Feed()
    metrics = WatcherMetrics(feed)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            await tg.start(metrics.run)
            feed.hub.close()
    health = metrics.health()
    assert isinstance(health, Health)
    assert (health.ok, health.stopped, health.status_code) == (False, True, 503)


# --- today's figures ---------------------------------------------------------------------


def ringing(sim: Simulator) -> str:
    return str(next(u for u, a in sim.snapshot()["agents"].items() if a["state"] == "Ringing"))


@pytest.mark.skipif("today" not in STATS_SOURCES, reason="the today stats source is not here")
async def test_todays_figures_are_the_watchers_table(sim: Simulator, client: DaktelaClient) -> None:
    users = logged_in(sim)
    sim.start_call()  # answered after 5 s, spoken for 30 s
    agent = ringing(sim)
    sim.advance(5)
    sim.answer(agent)
    sim.advance(30)
    sim.hangup(agent)
    abandoned = sim.start_call()  # the caller hangs up before anyone answers
    sim.advance(3)
    sim.hangup(call_id=abandoned)
    async with measured(client, users, stats=("today",), stats_interval=0.1) as (watcher, m):
        await until(lambda: sum(r.offered for r in watcher.table("today").values()) == 2)
        rows = watcher.table("today")
        samples = scrape(m)
        fields = {
            "calls_offered": "offered",
            "calls_answered": "answered",
            "calls_abandoned": "abandoned",
            "calls_answered_in_threshold": "answered_in_threshold",
            "service_level_ratio": "service_level",
            "service_level_threshold_seconds": "threshold",
            "answer_speed_seconds": "asa",
            "handle_time_seconds": "aht",
            "longest_wait_seconds": "longest_wait",
        }
        for metric, field in fields.items():
            got = by_label(samples, f"daktela_queue_today_{metric}", "queue")
            want = {q: getattr(r, field) for q, r in rows.items() if getattr(r, field) is not None}
            assert got == pytest.approx(want), metric
        (queue,) = [q for q, r in rows.items() if r.offered]
        assert value(samples, "daktela_queue_today_service_level_ratio", queue=queue) == 0.5
        assert value(samples, "daktela_queue_today_calls_abandoned", queue=queue) == 1


def test_the_metrics_module_is_curated() -> None:
    import daktela_async.metrics as public
    from daktela_async import _metrics

    assert list(public.__all__) == sorted(public.__all__, key=lambda n: (not n.isupper(), n))
    for name in public.__all__:
        assert getattr(public, name) is getattr(_metrics, name)
        assert getattr(public, name).__doc__ or name.isupper(), name
