"""Bugs that once survived the suite, each pinned by a test that fails when it comes back.

Found by planting small bugs by hand and by mutation testing (``docs/mutation.md``): the
``block`` policy forgetting a past overflow, the gate reopening when every agent is
removed during an outage, the anti-spin sleep of a poll whose server does not hold, and
the guard against publishing an agent removed while its answer was on the way.

Everything runs in virtual time (trio's ``MockClock`` jumps every sleep), so the
assertions are about order and virtual seconds, never about how loaded the machine is.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest

from daktela_async import (
    DaktelaAuthError,
    DaktelaClient,
    DaktelaDecodeError,
    DaktelaHTTPStatusError,
    DaktelaUsageError,
    DaktelaVersionError,
    PoolLimits,
)
from daktela_async._models import AgentState, RTStatsQueue, RTStatsQueuesSummary, structure
from daktela_async.realtime import (
    AgentCallEnded,
    AgentCallStarted,
    AgentStateChanged,
    Backoff,
    Event,
    Hub,
    QueueLoginChanged,
    QueuesSummaryChanged,
    QueueStatsChanged,
    SourceFailed,
    SourceRecovered,
    SourceStats,
    SubscriberTooSlow,
)
from daktela_async.realtime._diff import agent_events, same_agent_state, same_on_board
from daktela_async.realtime._health import OutageGate, Source, TokenCheck
from tests.realtime.conftest import FAST_BACKOFF
from tests.realtime.pbx import ScriptedPBX
from tests.realtime.support import collect_until, until_failure, virtual_time  # noqa: F401 - virtual_time: the anyio_backend fixture
from tests.realtime.test_hub import drain, queue_event
from tests.support import TOKEN

pytestmark = pytest.mark.anyio


#: Watcher options for the scripted PBX: fast backoffs, a one-second anti-spin gap.
WATCH: dict[str, Any] = {
    "backoff": FAST_BACKOFF,
    "probe_backoff": FAST_BACKOFF,
    "min_unchanged_gap": 1.0,
    "canary_interval": None,
}


# --- the hub's "block" policy -------------------------------------------------------------


async def test_block_forgets_an_overflow_once_the_reader_caught_up() -> None:
    """Over ``maxsize`` at t=0, drained, over again at t=5: not "over for 5 s"."""
    hub = Hub()
    sub = hub.subscribe(maxsize=2, overflow="block", block_timeout=1.0, replay=False)
    for i in range(3):
        hub.publish(queue_event("1", i))  # over maxsize: the clock starts
    assert len(drain(sub)) == 3  # caught up: the overflow is over
    await anyio.sleep(5.0)
    for i in range(3):
        hub.publish(queue_event("1", i))  # over again, for the first time since t=5
    await anyio.sleep(0.5)
    hub.publish(queue_event("1", 9))  # 0.5 s over: within block_timeout
    assert sub in hub.subscriptions()
    assert [e.seq for e in drain(sub)] == [4, 5, 6, 7]


async def test_block_forgets_an_overflow_once_the_buffer_is_back_to_maxsize() -> None:
    """Over at t=0 for a moment, back to ``maxsize`` at once, over again at t=5: patient.

    The buffer has been over ``maxsize`` for a moment, not for 5 s: reading it back
    down to ``maxsize`` (not below) ends the overflow.
    """
    hub = Hub()
    sub = hub.subscribe(maxsize=2, overflow="block", block_timeout=1.0, replay=False)
    for i in range(3):
        hub.publish(queue_event("1", i))
    assert sub.get_nowait() is not None  # two left: maxsize, no longer over
    await anyio.sleep(5.0)
    hub.publish(queue_event("1", 3))  # over again, since t=5
    await anyio.sleep(0.5)
    hub.publish(queue_event("1", 4))
    assert sub in hub.subscriptions()
    assert [e.seq for e in drain(sub)] == [2, 3, 4, 5]


async def test_block_disconnects_a_reader_over_maxsize_for_longer_than_the_timeout() -> None:
    """The same timeline without the reader catching up: disconnected after 1 s over."""
    hub = Hub()
    sub = hub.subscribe(maxsize=2, overflow="block", block_timeout=1.0, replay=False)
    for i in range(3):
        hub.publish(queue_event("1", i))
    await anyio.sleep(0.9)
    hub.publish(queue_event("1", 3))
    assert sub in hub.subscriptions()  # 0.9 s over: still patient
    await anyio.sleep(0.2)
    hub.publish(queue_event("1", 4))  # 1.1 s over
    assert sub not in hub.subscriptions()
    with pytest.raises(SubscriberTooSlow, match="more than 1 s"):
        async for _ in sub:
            pass


# --- the agents: gate, anti-spin, removed agents --------------------------------------------


async def test_removing_every_agent_during_an_outage_reopens_the_gate() -> None:
    """An agent added after the last one was removed mid-outage is polled at once."""
    pbx = ScriptedPBX(["hajek", "novak"], hold=60.0, latency=0.01)
    async with (
        pbx.client() as client,
        client.watch(["hajek"], **WATCH) as watcher,
        watcher.subscribe() as events,
    ):
        with anyio.fail_after(30):
            async for event in events:
                if isinstance(event, AgentStateChanged):
                    break  # hajek's first state: its poll is now held
            pbx.go_down("refuse")
            async for event in events:
                if isinstance(event, SourceFailed) and event.source == "agents":
                    break  # the gate is closed, the prober waits out its backoff
            await watcher.remove_users(["hajek"])
            await anyio.sleep(5.0)  # the prober wakes to find no agent to probe for
            pbx.come_back()
            await watcher.add_users(["novak"])
            async for event in events:
                if isinstance(event, AgentStateChanged) and event.user == "novak":
                    break
        assert watcher.snapshot().keys() == {"novak"}
        # The outage was forgotten, not recovered from: a late subscriber hears nothing of it.
        async with watcher.subscribe() as late:
            replayed = drain(late)
        assert [(type(e), getattr(e, "user", None)) for e in replayed] == [
            (AgentStateChanged, "novak")
        ]


async def test_a_server_that_does_not_hold_is_asked_once_per_gap() -> None:
    """Held polls that come back at once with nothing new wait ``min_unchanged_gap``."""
    pbx = ScriptedPBX(["hajek"], hold=0.0, latency=0.01)
    async with pbx.client() as client, client.watch(["hajek"], **WATCH):
        await anyio.sleep(10.0)
    # One un-held request, then one held request per second (not one per 10 ms).
    assert 9 <= pbx.count("RTUserState", held=True) <= 11


async def test_an_agent_that_changes_at_every_answer_is_slowed_down() -> None:
    """A hash that "changes" at every answer: after three fast ones, one per gap."""
    pbx = ScriptedPBX(["hajek"], hold=60.0, latency=0.01)
    pbx.agent_faults["hajek"] = "flap"
    async with pbx.client() as client, client.watch(["hajek"], **WATCH):
        await anyio.sleep(10.0)
    assert 9 <= pbx.count("RTUserState") <= 15


class RemovingPBX(ScriptedPBX):
    """Calls ``on_answer(login)`` as it answers an ``RTUserState``, before it returns."""

    on_answer: Callable[[str], None] | None = None

    async def _answer(self, action: str, params: dict[str, Any]) -> httpx.Response:
        response = await super()._answer(action, params)
        if self.on_answer is not None and action == "RTUserState":
            self.on_answer(str(params["user"]))
        return response


async def test_an_agent_removed_while_its_answer_arrives_is_not_published() -> None:
    """The answer that arrives for an agent just removed changes nothing and says nothing."""
    pbx = RemovingPBX(["hajek", "novak"], hold=60.0)
    async with pbx.client() as client, client.watch(["hajek", "novak"], **WATCH) as watcher:
        agents = watcher._agents

        def remove_novak(user: str) -> None:
            if user == "novak":
                # Removed while the server answers: no checkpoint follows before the
                # answer reaches novak's poll, so only the guard in _publish stops it.
                agents.remove("novak")

        with anyio.fail_after(30):
            await anyio.sleep(10.0)  # virtual seconds: both answered, both polls held
            assert set(watcher.snapshot()) == {"hajek", "novak"}
        async with watcher.subscribe(replay=False) as events:
            with anyio.fail_after(30):
                pbx.on_answer = remove_novak
                pbx.change("novak", "Paused")  # novak's held poll answers
                await anyio.sleep(1.0)
                assert watcher.users == ("hajek",)  # removed as its answer went out
                pbx.change("hajek", "Paused")  # then an event to wait for
                changed = []
                async for event in events:
                    if isinstance(event, AgentStateChanged):
                        changed.append(event.user)
                        if event.user == "hajek":
                            break
        assert changed == ["hajek"]
        assert "novak" not in watcher.snapshot()
        assert watcher.users == ("hajek",)


async def test_block_starts_its_clock_only_once_over_maxsize() -> None:
    """A buffer *at* ``maxsize`` for a long time is not over it: the clock starts at t=5."""
    hub = Hub()
    sub = hub.subscribe(maxsize=2, overflow="block", block_timeout=1.0, replay=False)
    for i in range(2):
        hub.publish(queue_event("1", i))  # at maxsize, not over
    await anyio.sleep(5.0)
    hub.publish(queue_event("1", 2))  # over since t=5
    await anyio.sleep(1.0)
    hub.publish(queue_event("1", 3))  # over for exactly block_timeout: not longer
    assert sub in hub.subscriptions()
    await anyio.sleep(0.5)
    hub.publish(queue_event("1", 4))  # over for 1.5 s: disconnected, its 5 events lost
    assert sub not in hub.subscriptions()
    assert sub.stats().dropped == 5
    assert sub.stats().buffered == 0


# --- the watcher's own API: messages, users before the start, stopping -------------------


async def test_unknown_or_unpolled_tables_are_refused_and_summary_is_empty_before_its_answer() -> (
    None
):
    pbx = ScriptedPBX(["hajek"])
    pbx.go_down("hang")  # nothing ever answers: the summary stays unknown
    async with (
        pbx.client() as client,
        client.watch([], stats=["summary"], check_token=False, **WATCH) as watcher,
    ):
        assert watcher.table("summary") == {}
        with pytest.raises(DaktelaUsageError) as caught:
            watcher.table("nope")
        assert (caught.value.message, caught.value.parameter) == (
            "unknown stats table 'nope'; choose from queues, sessions, calls, pauses, "
            "summary, today",
            "name",
        )
        with pytest.raises(DaktelaUsageError) as caught:
            watcher.table("queues")
        assert (caught.value.message, caught.value.parameter) == (
            "this watcher does not poll 'queues': pass stats=[..., 'queues'] to watch()",
            "name",
        )
        assert repr(watcher) == "<Watcher users=0 stats=['summary']>"
        pbx.come_back()


async def test_users_added_and_removed_before_the_start_are_the_ones_polled() -> None:
    pbx = ScriptedPBX(["hajek", "novak", "dvorak"])
    async with pbx.client() as client:
        watcher = client.watch(["hajek"], **WATCH)
        await watcher.add_users(["novak", "hajek", "dvorak"])
        await watcher.remove_users(["dvorak", "nobody"])
        assert watcher.users == ("hajek", "novak")
        async with watcher:
            await anyio.sleep(1.0)
            assert watcher.snapshot().keys() == {"hajek", "novak"}
            await watcher.remove_users(["nobody", "novak"])  # unknown logins are ignored
            assert list(watcher.users) == ["hajek"]
            stats = watcher.stats()
            assert stats.published == watcher.hub.published >= 2
            assert stats.subscribers == ()
        for change in (watcher.add_users, watcher.remove_users):
            with pytest.raises(DaktelaUsageError) as caught:
                await change(["hajek"])
            verb = "add" if change == watcher.add_users else "remove"
            assert caught.value.message == f"cannot {verb} users: the watcher has stopped"


async def test_adding_agents_to_a_stats_watcher_on_an_old_api_is_refused() -> None:
    pbx = ScriptedPBX(["hajek"])
    async with (
        pbx.client(api_version="3.5") as client,
        client.watch([], stats=["summary"], **WATCH) as watcher,
    ):
        with pytest.raises(DaktelaVersionError) as caught:
            await watcher.add_users(["hajek"])
        assert str(caught.value).startswith("watching agents needs RTUserState, which the API")
        assert watcher.users == ()


async def test_a_client_closed_under_the_watcher_stops_it_with_that_usage_error() -> None:
    pbx = ScriptedPBX(["hajek"], latency=0.01)
    async with pbx.client() as client, client.watch(["hajek"], **WATCH) as watcher:
        async with watcher.subscribe(replay=False) as events:
            await anyio.sleep(1.0)
            await client.aclose()
            pbx.change("hajek", "Paused")  # the held poll answers; the next one cannot go
            _, error = await until_failure(events, timeout=30)
        assert isinstance(error, DaktelaUsageError)
        assert "client is closed" in str(error)
        assert watcher.failure is error
        final = watcher.stats().sources["watcher"]
        assert final.stopped
        assert (
            "auth" not in watcher.stats().sources
            or not watcher.stats().sources["auth"].consecutive_failures
        )


# --- a source's counters -------------------------------------------------------------------


async def test_a_sources_stats_count_requests_failures_reconnects_and_age() -> None:
    source = Source("stats:queues", Hub())
    assert source.stats() == SourceStats(
        name="stats:queues",
        requests=0,
        consecutive_failures=0,
        reconnects=0,
        last_success_age=None,
        stopped=False,
    )
    await anyio.sleep(100.0)  # the clock is well past 0: an age is not a timestamp
    source.requests = 3
    source.succeeded()
    source.failed(DaktelaUsageError("x"), 1.0)
    source.failed(DaktelaUsageError("x"), 1.0)
    await anyio.sleep(2.5)
    source.succeeded()
    await anyio.sleep(1.5)
    assert source.stats() == SourceStats(
        name="stats:queues",
        requests=3,
        consecutive_failures=0,
        reconnects=1,
        last_success_age=1.5,
        stopped=False,
    )


# --- the outage prober's backoff --------------------------------------------------------------


class Recorded:
    """The virtual times of the token checks (``GetUser``) a scripted PBX is sent."""

    def __init__(self, pbx: ScriptedPBX) -> None:
        self.checks: list[float] = []
        pbx.on_request = self._seen

    def _seen(self, action: str, params: dict[str, Any]) -> None:
        if action == "GetUser":
            self.checks.append(anyio.current_time())

    def since(self, start: float) -> list[float]:
        return [round(t - start, 3) for t in self.checks if t >= start]


@pytest.mark.usefixtures("no_jitter")
async def test_the_probe_backs_off_and_a_flapping_pbx_continues_the_backoff() -> None:
    pbx = ScriptedPBX(["hajek"], hold=60.0)
    seen = Recorded(pbx)
    options = {**WATCH, "probe_backoff": Backoff(initial=1.0, maximum=64.0)}
    async with pbx.client() as client, client.watch(["hajek"], **options):
        await anyio.sleep(1.0)
        down = anyio.current_time()
        pbx.go_down("refuse")
        await anyio.sleep(10.0)
        pbx.come_back()  # the probe at +15 finds it back
        await anyio.sleep(10.0)
        pbx.go_down("refuse")  # 5 s after the recovery: the same flapping PBX
        await anyio.sleep(1.0)
        pbx.come_back()
        await anyio.sleep(20.0)
    # Ceilings 1, 2, 4, 8 s; then 16 s, going on from where the first outage left it.
    assert seen.since(down) == [1.0, 3.0, 7.0, 15.0, 36.0]


@pytest.mark.usefixtures("no_jitter")
async def test_the_probe_honours_retry_after_from_the_failure_and_from_each_probe() -> None:
    pbx = ScriptedPBX(["hajek"], hold=60.0)
    seen = Recorded(pbx)
    options = {**WATCH, "probe_backoff": Backoff(initial=1.0, maximum=64.0)}
    async with pbx.client() as client, client.watch([], **options) as watcher:
        await anyio.sleep(1.0)
        pbx.retry_after = "5"
        pbx.go_down("503")
        down = anyio.current_time()
        await watcher.add_users(["hajek"])  # its first poll gets the 503: the outage
        await anyio.sleep(12.0)
        pbx.come_back()
        await anyio.sleep(10.0)
    assert seen.since(down) == [5.0, 10.0, 15.0]


class BulkFailsOncePBX(ScriptedPBX):
    """Answers the first ``RTUsersState`` with a 500 (a PBX bug, not a refusal)."""

    bulk_failures = 1

    async def _answer(self, action: str, params: dict[str, Any]) -> httpx.Response:
        if action == "RTUsersState" and self.outage is None and self.bulk_failures:
            self.bulk_failures -= 1
            return httpx.Response(500, text="<html>Internal Server Error</html>")
        return await super()._answer(action, params)


async def test_a_failed_bulk_resync_is_logged_not_retried_and_asked_again_next_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pbx = BulkFailsOncePBX(["hajek", "novak"], hold=60.0)
    async with pbx.client() as client, client.watch(["hajek", "novak"], **WATCH) as watcher:
        for _ in range(2):
            await anyio.sleep(2.0)
            pbx.go_down("refuse")
            await anyio.sleep(2.0)
            pbx.change("hajek", "Paused" if pbx.states["hajek"] == "Idle" else "Idle")
            pbx.come_back()
        await anyio.sleep(2.0)
        assert watcher.snapshot()["hajek"].agent_state == pbx.states["hajek"]
        agents = watcher.stats().sources["agents"]
    # One request per resync (never retried), and the 500 did not turn the bulk off.
    assert pbx.count("RTUsersState") == 2
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.msg == "RTUsersState failed during a resync (%s); resyncing agent by agent"
    assert isinstance(warning.args, tuple)
    assert isinstance(warning.args[0], DaktelaHTTPStatusError)
    # Every request of the agents' part is counted (the first GetUser is the "auth" one).
    sent = pbx.count("RTUserState") + pbx.count("RTUsersState") + pbx.count("GetUser") - 1
    assert agents.requests == sent


async def test_a_canary_answer_counts_as_the_agents_last_success() -> None:
    pbx = ScriptedPBX(["hajek"], hold=60.0)
    options = {**WATCH, "canary_interval": 5.0}
    async with pbx.client() as client, client.watch(["hajek"], **options) as watcher:
        await anyio.sleep(31.0)  # hajek's poll held since t=0; the canary answered at 30
        age = watcher.stats().sources["agents"].last_success_age
    assert age is not None
    assert age <= 5.0


# --- a stats poller: its backoffs, Retry-After, a suspicious status 0 -----------------------


class CountingPBX(ScriptedPBX):
    """``RTStatsQueuesSummary`` counts its answers in ``users_total``; ``refuse_once`` answers
    the next one with status 0 (an error about that request, not the token)."""

    answers = 0
    refuse_once = False

    async def _answer(self, action: str, params: dict[str, Any]) -> httpx.Response:
        if action != "RTStatsQueuesSummary" or self.outage is not None:
            return await super()._answer(action, params)
        if self.refuse_once:
            self.refuse_once = False
            return httpx.Response(200, json={"status": 0, "error": "not available"})
        self.answers += 1
        return httpx.Response(
            200, json={"status": 1, "error": None, "result": {"users_total": self.answers}}
        )


@pytest.mark.usefixtures("no_jitter")
async def test_a_stats_poller_backs_off_like_the_prober_in_an_outage() -> None:
    pbx = CountingPBX([])
    polls: list[float] = []
    checks: list[float] = []

    def seen(action: str, params: dict[str, Any]) -> None:
        (polls if action == "RTStatsQueuesSummary" else checks).append(anyio.current_time())

    pbx.on_request = seen
    options = {
        **WATCH,
        "backoff": Backoff(initial=1.0, maximum=64.0),
        "probe_backoff": Backoff(initial=3.0, maximum=64.0),
    }
    async with (
        pbx.client() as client,
        client.watch([], stats=["summary"], stats_interval=1.0, check_token=False, **options) as w,
        w.subscribe(replay=False) as events,
    ):
        start = anyio.current_time()
        await anyio.sleep(0.5)
        pbx.go_down("503")  # polls at 1 and 4 fail: probe backoff, ceilings 3 and 6
        await anyio.sleep(8.5)
        pbx.come_back()  # at 9: the poll at 10 answers
        await anyio.sleep(1.5)
        pbx.retry_after = "7"
        pbx.go_down("503")  # at 10.5: the poll at 11 fails, Retry-After 7 beats 3
        await anyio.sleep(1.0)
        pbx.come_back()
        await anyio.sleep(7.5)  # the poll at 18 answers
        pbx.refuse_once = True  # status 0 at 19: its own backoff (1 s), and a token check
        await anyio.sleep(2.5)
        stats = w.stats().sources["stats:summary"]
        summaries = [e for e in drain(events) if isinstance(e, QueuesSummaryChanged)]
    assert [round(t - start, 3) for t in polls] == [0, 1, 4, 10, 11, 18, 19, 20, 21]
    # The canary checked the token once, after the status 0 (and not for the 503s).
    [check] = [t - start for t in checks]
    assert 19 <= check <= 20
    assert (stats.requests, stats.consecutive_failures, stats.stopped) == (len(polls), 0, False)
    assert stats.reconnects == 3
    totals = [(e.previous and e.previous.users_total, e.current.users_total) for e in summaries]
    # The first (at 0) may come before the subscription: every later one, with its previous.
    assert totals[-4:] == [(1, 2), (2, 3), (3, 4), (4, 5)]


async def test_a_token_check_failing_in_an_outage_without_agents_closes_no_gate() -> None:
    """A stats-only watcher: the stats poller meets the outage itself, no prober starts."""

    class DownAfterRefusal(CountingPBX):
        async def _answer(self, action: str, params: dict[str, Any]) -> httpx.Response:
            refusing = action == "RTStatsQueuesSummary" and self.refuse_once
            response = await super()._answer(action, params)
            if refusing:
                self.go_down("refuse")  # the token check that follows is refused
            return response

    pbx = DownAfterRefusal([])
    options = {**WATCH, "probe_backoff": Backoff(initial=1.0, maximum=1.0)}
    async with (
        pbx.client() as client,
        client.watch([], stats=["summary"], stats_interval=1.0, check_token=False, **options) as w,
        w.subscribe(replay=False) as events,
    ):
        await anyio.sleep(1.5)
        pbx.refuse_once = True
        await anyio.sleep(10.0)
        failed = [e.source for e in drain(events) if isinstance(e, SourceFailed)]
        assert failed == ["stats:summary"]  # no outage of the (absent) agents
        assert "agents" not in w.stats().failing
        assert pbx.count("GetUser") == 1  # the one check: no prober asking every second
        pbx.come_back()
        await anyio.sleep(5.0)
        assert w.stats().failing == ()


class AgentBehindBrokenProxyPBX(ScriptedPBX):
    """hajek's requests get a 503 (a broken route to its queue's node); the rest is up."""

    async def _answer(self, action: str, params: dict[str, Any]) -> httpx.Response:
        if action == "RTUserState" and params.get("user") == "hajek" and self.outage is None:
            return httpx.Response(503, text="<html>503 Service Unavailable</html>")
        return await super()._answer(action, params)


async def test_an_outage_the_probe_disproves_is_the_triggering_agents_own_problem() -> None:
    pbx = AgentBehindBrokenProxyPBX(["hajek", "novak"], hold=60.0)
    async with pbx.client() as client, client.watch(["hajek", "novak"], **WATCH) as watcher:
        await anyio.sleep(30.0)
        stats = watcher.stats()
    # One outage, disproved by the probe; then hajek backs off on its own, novak is fine.
    assert stats.sources["agents"].reconnects == 1
    assert stats.failing == ("agent:hajek",)
    assert "novak" in watcher.snapshot()


async def test_a_client_closed_during_an_outage_stops_the_prober_with_a_usage_error() -> None:
    pbx = ScriptedPBX(["hajek"], hold=60.0)
    async with (
        pbx.client() as client,
        client.watch(["hajek"], **WATCH) as watcher,
        watcher.subscribe(replay=False) as events,
    ):
        await anyio.sleep(1.0)
        pbx.go_down("refuse")
        await anyio.sleep(0.1)  # the outage has begun: only the prober asks
        await client.aclose()
        _, error = await until_failure(events, timeout=30)
    assert isinstance(error, DaktelaUsageError)
    assert watcher.failure is error


class BulkAnswersOnceWithPBX(ScriptedPBX):
    """The first ``RTUsersState`` after the outage gets *status* (or hangs for 3 s)."""

    def __init__(self, agents: list[str], status: int | None) -> None:
        super().__init__(agents, hold=60.0)
        self.status = status
        self.pending = True

    async def _answer(self, action: str, params: dict[str, Any]) -> httpx.Response:
        if action == "RTUsersState" and self.outage is None and self.pending:
            self.pending = False
            if self.status is None:
                await anyio.sleep(3.0)
            else:
                return httpx.Response(self.status, text="<html>Unavailable</html>")
        return await super()._answer(action, params)


@pytest.mark.usefixtures("no_jitter")
@pytest.mark.parametrize(
    ("status", "probes"),
    [
        (503, [1.0, 2.0, 3.0, 4.0]),  # the bulk's 503: the outage goes on, one probe later
        (None, [1.0, 2.0, 3.0, 4.5]),  # the bulk hangs: cut at the probe's 0.5 s
    ],
)
async def test_a_bulk_resync_meeting_the_outage_again_is_not_retried_but_reprobed(
    status: int | None, probes: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    pbx = BulkAnswersOnceWithPBX(["hajek"], status)
    seen = Recorded(pbx)
    options = {
        **WATCH,
        "probe_backoff": Backoff(initial=1.0, maximum=1.0),
        "canary_timeout": 0.5,
    }
    async with pbx.client() as client, client.watch(["hajek"], **options) as watcher:
        await anyio.sleep(1.0)
        down = anyio.current_time()
        pbx.go_down("refuse")
        await anyio.sleep(2.5)
        pbx.come_back()
        await anyio.sleep(5.0)
        assert watcher.stats().sources["agents"].reconnects == 1
    assert seen.since(down) == probes
    assert pbx.count("RTUsersState") == 2
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


class ProbeAnswers500PBX(ScriptedPBX):
    """During the outage the token check gets a 500: the PBX answers, so it is back."""

    async def _answer(self, action: str, params: dict[str, Any]) -> httpx.Response:
        if action == "GetUser" and self.outage is not None:
            return httpx.Response(500, text="<html>Internal Server Error</html>")
        return await super()._answer(action, params)


async def test_a_probe_answered_with_a_500_ends_the_outage_and_stops_nothing() -> None:
    pbx = ProbeAnswers500PBX(["hajek"], hold=60.0)
    async with pbx.client() as client, client.watch(["hajek"], **WATCH) as watcher:
        await anyio.sleep(1.0)
        pbx.go_down("refuse")
        await anyio.sleep(5.0)
        assert watcher.failure is None
        assert not watcher.stopped
        assert watcher.stats().sources["agents"].reconnects >= 1


class StatsRefusedPBX(CountingPBX):
    """``RTStatsQueuesSummary`` answers *status* from the second request on."""

    refuse_with = 401

    async def _answer(self, action: str, params: dict[str, Any]) -> httpx.Response:
        if action == "RTStatsQueuesSummary" and self.answers >= 1:
            return httpx.Response(self.refuse_with, text="<html>Refused</html>")
        return await super()._answer(action, params)


async def test_a_stats_poller_refused_the_credentials_stops_the_watcher() -> None:
    pbx = StatsRefusedPBX([])
    async with (
        pbx.client() as client,
        client.watch([], stats=["summary"], stats_interval=1.0, check_token=False, **WATCH) as w,
        w.subscribe(replay=False) as events,
    ):
        _, error = await until_failure(events, timeout=30)
    assert isinstance(error, DaktelaAuthError)
    assert isinstance(error.__cause__, DaktelaHTTPStatusError)
    assert w.failure is error
    assert w.stats().sources["auth"].stopped


async def test_a_stats_poller_with_a_closed_client_stops_with_that_usage_error() -> None:
    pbx = CountingPBX([])
    async with (
        pbx.client() as client,
        client.watch([], stats=["summary"], stats_interval=1.0, check_token=False, **WATCH) as w,
        w.subscribe(replay=False) as events,
    ):
        await anyio.sleep(0.5)
        await client.aclose()
        _, error = await until_failure(events, timeout=30)
    assert isinstance(error, DaktelaUsageError)
    assert w.failure is error


@pytest.mark.usefixtures("no_jitter")
async def test_a_stats_poller_keeps_its_interval_from_each_start_and_reports_failures() -> None:
    pbx = CountingPBX([], latency=0.25)
    polls: list[float] = []
    pbx.on_request = lambda action, params: polls.append(anyio.current_time())
    options = {**WATCH, "probe_backoff": Backoff(initial=0.5, maximum=0.5)}
    async with (
        pbx.client() as client,
        client.watch([], stats=["summary"], stats_interval=0.5, check_token=False, **options) as w,
        w.subscribe(replay=False) as events,
    ):
        start = anyio.current_time()
        await anyio.sleep(1.6)
        pbx.go_down("503")
        await anyio.sleep(0.5)
        failures = [e for e in drain(events) if isinstance(e, SourceFailed)]
    # Polls start every 0.5 s although each takes 0.25 s (interval less elapsed).
    assert [round(t - start, 3) for t in polls[:4]] == [0.0, 0.5, 1.0, 1.5]
    [failed] = failures
    assert (failed.source, failed.error_type, failed.attempt) == (
        "stats:summary",
        "DaktelaHTTPStatusError",
        1,
    )


# --- the board's comparison, the bulk rows, the canary -------------------------------------


def agent(**changes: Any) -> AgentState:
    row: dict[str, Any] = {
        "agent_name": "hajek",
        "id_agent": "1",
        "agent_state": "Idle",
        "calls": [],
        "login_oqueues": [{"queue": "1", "rt_logged": True}],
        **changes,
    }
    return structure(row, AgentState, action="RTUserState")


@pytest.mark.parametrize(
    "change",
    [
        {"calls": [{"id_call": "c1", "call_state": "Ringing"}]},
        {"login_oqueues": [{"queue": "2", "rt_logged": True}]},
        {"login_oqueues": [{"queue": "1", "rt_logged": False}]},
    ],
    ids=["a-call", "another-queue", "logged-out-of-the-queue"],
)
def test_the_board_tells_calls_and_queue_logins_apart(change: dict[str, Any]) -> None:
    assert same_on_board(agent(), agent(agent_title="Jan Hájek"))
    assert not same_on_board(agent(), agent(**change))


class ShortBulkRowsPBX(ScriptedPBX):
    """``RTUsersState`` rows in their shorter form: no hash, queues without their names."""

    async def _answer(self, action: str, params: dict[str, Any]) -> httpx.Response:
        response = await super()._answer(action, params)
        if action == "RTUsersState" and response.status_code == 200:
            body = json.loads(response.content)
            for row in body["result"].values():
                row.pop("hash", None)
                row["login_oqueues"] = [
                    {"queue": q["queue"], "rt_logged": q["rt_logged"]} for q in row["login_oqueues"]
                ]
            return httpx.Response(200, json=body)
        return response


async def test_a_change_during_an_outage_is_published_once_from_the_bulk_rows() -> None:
    pbx = ShortBulkRowsPBX(["hajek", "novak"], hold=60.0)
    async with (
        pbx.client() as client,
        client.watch(["hajek", "novak"], **WATCH) as watcher,
        watcher.subscribe(replay=False) as events,
    ):
        await anyio.sleep(1.0)
        pbx.go_down("refuse")
        await anyio.sleep(1.0)
        pbx.change("hajek", "Paused")
        pbx.come_back()
        await anyio.sleep(5.0)  # the resync, then every agent's re-armed poll answered
        states = [e for e in drain(events) if isinstance(e, AgentStateChanged)]
    [change] = [e for e in states if e.previous is not None]  # after the first states
    assert change.user == "hajek"
    assert change.current.agent_state == "Paused"
    # Published at the resync, from RTUsersState's row (its queues carry no title)...
    assert change.current.login_oqueues[0].title is None
    # ...and the full answer of the re-armed poll, the same on a board, is no change.
    assert watcher.snapshot()["hajek"].login_oqueues[0].title == "In"


class CheckAnswers500PBX(ScriptedPBX):
    """The token check gets a 500: a broken PBX page, nothing about the token."""

    async def _answer(self, action: str, params: dict[str, Any]) -> httpx.Response:
        if action == "GetUser":
            return httpx.Response(500, text="<html>Internal Server Error</html>")
        return await super()._answer(action, params)


@pytest.mark.parametrize("pbx_class", [ScriptedPBX, CheckAnswers500PBX])
async def test_the_canary_goes_on_checking_whatever_a_check_answers(
    pbx_class: type[ScriptedPBX],
) -> None:
    pbx = pbx_class(["hajek"], hold=60.0)
    options = {**WATCH, "canary_interval": 1.0}
    async with pbx.client() as client, client.watch(["hajek"], **options) as watcher:
        await anyio.sleep(5.5)
        assert watcher.failure is None
    assert pbx.count("GetUser") >= 5  # the first check, then one a second


async def test_a_canary_check_on_a_closed_client_stops_with_that_usage_error() -> None:
    pbx = ScriptedPBX(["hajek"], hold=60.0)
    options = {**WATCH, "canary_interval": 1.0}
    async with (
        pbx.client() as client,
        client.watch(["hajek"], **options) as watcher,
        watcher.subscribe(replay=False) as events,
    ):
        await anyio.sleep(0.5)  # hajek's poll is held: only the canary asks next
        await client.aclose()
        _, error = await until_failure(events, timeout=30)
    assert type(error) is DaktelaUsageError
    assert watcher.failure is error


# --- health's small parts ------------------------------------------------------------------


def test_a_short_retry_after_is_still_honoured_over_a_shorter_jitter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(random, "uniform", lambda low, high: low)  # no jitter at all
    backoff = Backoff(initial=4.0, maximum=8.0)
    assert backoff.delay(1, retry_after=0.5) == 0.5
    assert backoff.delay(1, retry_after=0.0) == 0.0  # "Retry-After: 0": the backoff's own
    assert backoff.delay(1, retry_after=None) == 0.0


async def test_a_recovery_reports_how_long_the_outage_lasted_from_its_first_failure() -> None:
    hub = Hub()
    source = Source("agents", hub)
    async with hub.subscribe(replay=False) as events:
        await anyio.sleep(100.0)
        source.failed(DaktelaUsageError("down"), 1.0)
        await anyio.sleep(1.0)
        source.failed(DaktelaUsageError("down"), 2.0)
        await anyio.sleep(2.0)
        source.succeeded()
        recovered = [e for e in drain(events) if isinstance(e, SourceRecovered)]
    assert [(e.source, e.outage, e.attempts) for e in recovered] == [("agents", 3.0, 2)]


async def test_the_gate_counts_each_outage_once() -> None:
    gate = OutageGate()
    assert (gate.closed, gate.epoch) == (False, 0)
    assert gate.close() is True
    assert gate.close() is False  # already closed: the same outage
    assert (gate.closed, gate.epoch) == (True, 1)
    gate.reopen()
    await gate.wait()
    assert gate.close() is True
    assert gate.epoch == 2


def test_the_same_state_under_a_new_hash_is_no_change() -> None:
    assert same_agent_state(agent(hash="a"), agent(hash="b"))
    assert not same_agent_state(agent(hash="a"), agent(hash="b", agent_state="Paused"))


async def test_a_subscriber_joining_during_an_outage_learns_of_it_first() -> None:
    pbx = ScriptedPBX(["hajek"], hold=60.0)
    async with pbx.client() as client, client.watch(["hajek"], **WATCH) as watcher:
        await anyio.sleep(1.0)
        pbx.go_down("refuse")
        await anyio.sleep(0.5)
        async with watcher.subscribe() as events:
            first = events.get_nowait()
        assert isinstance(first, SourceFailed)
        assert first.source == "agents"
    with pytest.raises(DaktelaUsageError) as caught:
        watcher.subscribe()
    assert caught.value.message == "cannot subscribe: the watcher has stopped"


async def test_subscribe_passes_every_option_to_the_hub() -> None:
    pbx = ScriptedPBX(["hajek"], hold=60.0)
    async with pbx.client() as client, client.watch(["hajek"], **WATCH) as watcher:
        await anyio.sleep(1.0)  # hajek's state is known: a replay would hold it
        quiet = watcher.subscribe(replay=False, name="board", kinds=["queue_stats"])
        stuck = watcher.subscribe(
            replay=False, overflow="block", maxsize=1, block_timeout=0.5, users=["hajek"]
        )
        for ready in range(3):
            watcher.hub.publish(queue_event("1", ready))  # over maxsize since now
        assert quiet.stats().name == "board"
        assert quiet.stats().buffered == 3
        await anyio.sleep(0.6)
        watcher.hub.publish(queue_event("1", 9))  # over for 0.6 s: more than 0.5
        assert stuck not in watcher.hub.subscriptions()
        assert stuck.stats().policy == "block"


async def test_subscribing_to_a_watcher_stopped_by_a_refused_token_says_why() -> None:
    pbx = ScriptedPBX(["hajek"])
    pbx.token_ok = False
    async with pbx.client() as client, client.watch(["hajek"], **WATCH) as watcher:
        await anyio.sleep(1.0)
        with pytest.raises(DaktelaUsageError) as caught:
            watcher.subscribe()
    assert caught.value.message.startswith(
        "cannot subscribe: the watcher has stopped: the PBX refused the access token ("
    )


def test_an_agents_calls_and_queue_logins_become_events_about_that_agent() -> None:
    ringing = {"id_call": "c1", "call_state": "Ringing"}
    queues = [{"queue": "1", "rt_logged": True}, {"queue": "2", "rt_logged": False}]
    before = agent(hash="a", calls=[ringing], login_oqueues=queues)
    after = agent(
        hash="b",
        calls=[{"id_call": "c2", "call_state": "Ringing"}],
        login_oqueues=[
            {"queue": "1", "rt_logged": False},
            {"queue": "2", "rt_logged": False},
            {"queue": "3", "rt_logged": False},
            {"queue": "4", "rt_logged": True},
        ],
    )
    events = list(agent_events("hajek", before, after))
    assert [type(e) for e in events] == [
        AgentStateChanged,
        AgentCallEnded,
        AgentCallStarted,
        QueueLoginChanged,
        QueueLoginChanged,
    ]
    assert {getattr(e, "user", None) for e in events} == {"hajek"}
    ended, started = events[1], events[2]
    assert isinstance(ended, AgentCallEnded)
    assert isinstance(started, AgentCallStarted)
    assert (ended.call.id_call, started.call.id_call) == ("c1", "c2")
    logins = [e for e in events if isinstance(e, QueueLoginChanged)]
    # Queue 3 is new and logged out: no change; queue 4 is new and logged in.
    assert [(e.queue, e.logged, e.queue_state.queue) for e in logins] == [
        ("1", False, after.login_oqueues[0].queue),
        ("4", True, after.login_oqueues[3].queue),
    ]


async def test_a_late_subscriber_gets_every_stats_row_and_the_summary_first() -> None:
    async with DaktelaClient("https://pbx.example", "token") as client:
        stats = client.watch([], stats=["queues", "summary"], check_token=False)._stats
        row = RTStatsQueue(id=1, users_ready=2)
        stats._diff("queues", {"1": row})
        stats._summary(RTStatsQueuesSummary(users_total=5))
        replayed = stats.replay()
    assert len(replayed) == 2
    queue, summary = replayed
    assert isinstance(queue, QueueStatsChanged)
    assert (queue.queue, queue.previous, queue.current) == ("1", None, row)
    assert isinstance(summary, QueuesSummaryChanged)
    assert summary.previous is None
    assert summary.current == RTStatsQueuesSummary(users_total=5)


async def test_the_stats_tables_follow_the_watchers_settings() -> None:
    async with DaktelaClient("https://pbx.example", "token") as client:
        today = client.watch([], stats=["today"], service_level_threshold=30, check_token=False)
        assert today._stats.today is not None
        assert today._stats.today.threshold == 30.0
        queues = client.watch([], stats=["queues"], check_token=False)._stats
        queues._diff("queues", {"1": RTStatsQueue(id=1)})
        queues.clear()  # no "today" to reset
        assert (queues.tables, queues.today) == ({"queues": {}}, None)


async def test_the_token_check_keeps_its_gap_waits_until_ready_and_asks_only_when_wanted() -> None:
    sent: list[float] = []
    ready = False

    async def request() -> None:
        sent.append(anyio.current_time())

    def fail(*args: object) -> None:  # pragma: no cover - the checks all answer
        raise AssertionError(args)

    check = TokenCheck(
        request,
        interval=2.0,
        gap=5.0,
        periodic=lambda: False,  # no agents: no periodic check
        ready=lambda: ready,
        on_outage=fail,
        on_refused=fail,
        on_answer=lambda: None,
    )
    async with anyio.create_task_group() as tg:
        start = anyio.current_time()
        tg.start_soon(check.run)
        await anyio.sleep(3.0)
        check.suspect()  # not ready (an outage): no check
        await anyio.sleep(1.0)
        ready = True
        check.suspect()  # at 4: checked at once
        await anyio.sleep(1.0)
        check.suspect()  # at 5: only 5 s after the last one, at 9
        await anyio.sleep(10.0)
        tg.cancel_scope.cancel()
    assert [t - start for t in sent] == [4.0, 9.0]


async def test_seeded_rows_are_the_last_poll_and_clear_forgets_them() -> None:
    # What a fleet member that takes the stats lease seeds from Redis.
    async with DaktelaClient("https://pbx.example", "token") as client:
        stats = client.watch([], stats=["queues", "summary"], check_token=False)._stats
        row = RTStatsQueue(id=1, users_ready=2)
        summary = RTStatsQueuesSummary(users_total=5)
        known = {"1": row}
        stats.seed({"queues": known, "summary": {"summary": summary}, "calls": {"c": row}})
        known["2"] = row  # the seed was copied, not kept
        assert stats.tables == {"queues": {"1": row}}  # calls are not polled: not taken
        assert stats.summary is summary
        stats.seed({"summary": {"summary": {"users_total": 9}}})  # not a model: ignored
        stats.seed({"summary": {}})
        assert stats.summary is summary
        # The next poll diffs against the seed: only what changed since is published.
        changed = RTStatsQueue(id=1, users_ready=3)
        events = stats._diff("queues", {"1": changed})
        assert [(e.previous, e.current) for e in events] == [(row, changed)]  # type: ignore[attr-defined]
        stats.clear()
        assert stats.tables == {"queues": {}}
        assert stats.summary is None


class GarbledStatsPBX(ScriptedPBX):
    """``RTStatsQueuesSummary`` answers a row the model cannot read, echoing the token."""

    async def _answer(self, action: str, params: dict[str, Any]) -> httpx.Response:
        if action == "RTStatsQueuesSummary":
            return httpx.Response(
                200, json={"status": 1, "error": None, "result": {"users_total": TOKEN}}
            )
        return await super()._answer(action, params)


async def test_a_stats_answer_the_model_cannot_read_names_the_action_without_the_token() -> None:
    pbx = GarbledStatsPBX([])
    async with (
        pbx.client() as client,
        client.watch([], stats=["summary"], stats_interval=1.0, check_token=False, **WATCH) as w,
        w.subscribe(replay=False) as events,
    ):
        failed: SourceFailed | None = None
        with anyio.fail_after(30):
            async for event in events:
                if isinstance(event, SourceFailed) and event.source == "stats:summary":
                    failed = event
                    break
    assert failed is not None
    assert failed.error_type == "DaktelaDecodeError"
    assert "cannot decode the RTStatsQueuesSummary result" in failed.error
    assert "users_total" in failed.error
    assert TOKEN not in failed.error
    assert TOKEN[:36] not in failed.error


# --- the fleet's hooks (a lease taken or lost) -----------------------------------------------


async def test_a_fleet_watches_and_unwatches_agents_before_and_after_the_start() -> None:
    pbx = ScriptedPBX(["a1", "a2", "a3"])

    def state_of(login: str) -> Callable[[list[Event]], bool]:
        return lambda seen: any(getattr(e, "user", None) == login for e in seen)

    async with pbx.client() as client:
        w = client.watch([], check_token=False, **WATCH)
        w._watch("a1")
        w._watch("a1")  # a lease taken twice: watched once
        w._watch("a2")
        w._unwatch("a2")  # its lease lost before the start: never polled
        assert w.users == ("a1",)
        async with w, w.subscribe() as events:
            await collect_until(events, state_of("a1"), timeout=30)
            w._watch("a3")  # after the start: polled at once
            await collect_until(events, state_of("a3"), timeout=30)
            w._unwatch("a1")  # polling stops and its state is forgotten
            assert "a1" not in w.snapshot()
            assert set(w.users) == {"a3"}

            def asked_for(login: str) -> int:
                return sum(1 for _, params in pbx.requests if params.get("user") == login)

            polled = asked_for("a1")
            await anyio.sleep(10)
            assert asked_for("a1") == polled  # a1 asks no more
    assert pbx.count("RTUserState", held=False) >= 2
    assert all(params.get("user") != "a2" for _, params in pbx.requests)


async def test_pausing_the_stats_stops_their_pollers_and_forgets_the_tables() -> None:
    pbx = CountingPBX([])

    def summary(seen: list[Event]) -> bool:
        return any(isinstance(e, QueuesSummaryChanged) for e in seen)

    async with (
        pbx.client() as client,
        client.watch([], stats=["summary"], stats_interval=1.0, check_token=False, **WATCH) as w,
        w.subscribe() as events,
    ):
        await collect_until(events, summary, timeout=30)
        assert "stats:summary" in w._core.sources
        w._pause_stats()
        asked = pbx.answers
        await anyio.sleep(5)
        assert pbx.answers == asked  # no poller runs
        assert w.table("summary") == {}
        assert "stats:summary" not in w._core.sources
        w._resume_stats()  # the lease came back
        await collect_until(events, summary, timeout=30)
        assert pbx.answers > asked


# --- watcher settings a reader sees --------------------------------------------------------


async def test_the_pool_capacity_warning_is_said_once_when_the_polls_outgrow_the_pool(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Two connections are kept for the canary and a probe: 3 agents fit 5, 4 do not.
    pbx = ScriptedPBX(["a1", "a2", "a3", "a4", "a5"])
    limits = PoolLimits(shard_connections=5, max_shards=1)
    caplog.set_level(logging.WARNING, logger="daktela_async")
    async with pbx.client(limits=limits) as client:
        w = client.watch(["a1", "a2", "a3"], check_token=False, **WATCH)
        async with w:
            assert not [r for r in caplog.records if "connections" in r.getMessage()]
            w._watch("a4")
            w._watch("a5")
    warnings = [r.getMessage() for r in caplog.records if "connections" in r.getMessage()]
    assert warnings == [
        "4 agents' held polls need as many connections, and the pool has 5: requests "
        "beyond it wait for a free one (give the client PoolLimits(max_shards=...) for more)"
    ]


async def test_a_subscription_keeps_to_its_kinds_and_users() -> None:
    pbx = ScriptedPBX(["a1", "a2"])
    async with (
        pbx.client() as client,
        client.watch(["a1", "a2"], check_token=False, **WATCH) as w,
        w.subscribe(users=["a1"]) as only_a1,
        w.subscribe(kinds=["source_failed"]) as only_failures,
        w.subscribe() as everything,
    ):
        await collect_until(everything, lambda s: len({getattr(e, "user", "") for e in s}) >= 2)
        pbx.change("a2", "Paused")
        pbx.change("a1", "Paused")
        await collect_until(
            everything,
            lambda s: any(getattr(e, "user", None) == "a1" for e in s),
            timeout=30,
        )
        got = drain(only_a1)
        assert got
        assert {getattr(e, "user", None) for e in got} == {"a1"}
        assert drain(only_failures) == []


async def test_stats_paused_before_the_start_are_not_polled_at_the_start() -> None:
    pbx = CountingPBX([])
    async with pbx.client() as client:
        w = client.watch([], stats=["summary"], stats_interval=1.0, check_token=False, **WATCH)
        w._pause_stats()  # the stats lease is another member's: no source yet, no error
        async with w:
            await anyio.sleep(5)
            assert pbx.answers == 0
            assert "stats:summary" not in w._core.sources


class BadBulkQueuePBX(ScriptedPBX):
    """``RTUsersState`` rows whose first queue ID quotes the token (fine agent by agent)."""

    async def _answer(self, action: str, params: dict[str, Any]) -> httpx.Response:
        response = await super()._answer(action, params)
        if action == "RTUsersState" and response.status_code == 200:
            body = json.loads(response.content)
            for row in body["result"].values():
                row["login_oqueues"][0]["queue"] = TOKEN
            return httpx.Response(200, json=body)
        return response


async def test_a_bad_queue_in_the_bulk_rows_fails_the_bulk_decode_not_the_watch(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pbx = BadBulkQueuePBX(["hajek", "novak"], hold=60.0)
    async with pbx.client() as client, client.watch(["hajek", "novak"], **WATCH) as watcher:
        await anyio.sleep(2.0)
        pbx.go_down("refuse")
        await anyio.sleep(2.0)
        pbx.change("hajek", "Paused")
        pbx.come_back()
        await anyio.sleep(3.0)
        # Resynced agent by agent: the change is seen, every queue reads.
        assert watcher.snapshot()["hajek"].agent_state == "Paused"
        assert all(s.login_oqueues for s in watcher.snapshot().values())
    [warning] = [r for r in caplog.records if "RTUsersState failed" in r.getMessage()]
    assert isinstance(warning.args, tuple)
    assert isinstance(warning.args[0], DaktelaDecodeError)
    assert "login_oqueues[0].queue" in warning.getMessage()
    assert TOKEN not in warning.getMessage()
