"""The agent half of the watcher (``_agents.py``) and its lifecycle, in virtual time.

Each test pins a behaviour that mutation testing found unguarded (``docs/mutation.md``):
the token check at the start, what a stop leaves running, what a removed agent leaves
behind, one agent's own failures and backoff, polling without a ``hash``, the count of
answers that come back too fast, the prober (flapping, an unsent probe, a refused token,
the bulk resync's deadline), the canary, ``RTUsersState``'s short rows, and the token in
hostile answers. Trio's ``MockClock`` jumps every sleep, so the assertions are about
order and virtual seconds, never about how loaded the machine is; the scripted PBX ends
a test at once when the watcher spins (``Spinning``) instead of letting it hang.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest

from daktela_async import (
    DaktelaAPIError,
    DaktelaAuthError,
    DaktelaPoolTimeoutError,
    DaktelaUsageError,
    Timeouts,
)
from daktela_async.realtime import (
    AgentStateChanged,
    Backoff,
    SourceFailed,
    SourceRecovered,
)
from tests.realtime.pbx import BAD_TOKEN, NOT_LOGGED, ScriptedPBX
from tests.realtime.support import collect_until, until_failure, virtual_time  # noqa: F401 - virtual_time: the anyio_backend fixture
from tests.realtime.test_hub import drain
from tests.realtime.test_survivors import WATCH, AgentBehindBrokenProxyPBX, ShortBulkRowsPBX
from tests.support import TOKEN

pytestmark = pytest.mark.anyio


class ActionLog:
    """The actions a scripted PBX is sent, in order, with their virtual times."""

    def __init__(self, pbx: ScriptedPBX) -> None:
        self.sent: list[tuple[str, float]] = []
        pbx.on_request = self._seen

    def _seen(self, action: str, params: dict[str, Any]) -> None:
        self.sent.append((action, anyio.current_time()))

    @property
    def actions(self) -> list[str]:
        return [action for action, _ in self.sent]

    def first(self, action: str) -> float:
        return next(t for a, t in self.sent if a == action)

    def times(self, action: str) -> list[float]:
        return [round(t, 3) for a, t in self.sent if a == action]


# --- the token check at the start -----------------------------------------------------------


async def test_a_token_refused_at_the_start_stops_everything_before_any_poll() -> None:
    pbx = ScriptedPBX(["hajek"], latency=0.01)  # time to subscribe before the answer
    pbx.token_ok = False
    log = ActionLog(pbx)
    async with pbx.client() as client, client.watch(["hajek"], **WATCH) as watcher:
        async with watcher.subscribe() as events:
            seen, error = await until_failure(events, timeout=30)
        stats = watcher.stats()
    assert log.actions == ["GetUser"]  # asked once, never retried, no agent polled
    assert isinstance(error, DaktelaAuthError)
    assert watcher.failure is error
    assert str(error).startswith(f"the PBX refused the access token (GetUser: {BAD_TOKEN}")
    assert isinstance(error.__cause__, DaktelaAPIError)
    [final] = seen
    assert isinstance(final, SourceFailed)
    assert (final.source, final.error, final.error_type, final.attempt, final.retry_in) == (
        "auth",
        str(error),
        "DaktelaAuthError",
        1,
        None,
    )
    # Every source is stopped, not only the one that carries the final failure.
    assert set(stats.sources) == {"agents", "auth"}
    assert all(source.stopped for source in stats.sources.values())
    assert stats.sources["auth"].requests == 1
    assert stats.failing == ("agents", "auth")


class GetUserRefusedPBX(ScriptedPBX):
    """``GetUser`` answers status 0 with a message that is not the known token one."""

    async def _answer(self, action: str, params: dict[str, Any]) -> httpx.Response:
        if action == "GetUser":
            return httpx.Response(200, json={"status": 0, "error": "Přístup odepřen"})
        return await super()._answer(action, params)


async def test_any_status_0_to_the_first_token_check_is_a_refused_token() -> None:
    """``GetUser`` takes nothing but the token: whatever its status 0 says, it refuses it."""
    pbx = GetUserRefusedPBX(["hajek"])
    async with pbx.client() as client, client.watch(["hajek"], **WATCH) as watcher:
        await anyio.sleep(1.0)
    assert isinstance(watcher.failure, DaktelaAuthError)
    assert "Přístup odepřen" in str(watcher.failure)
    assert pbx.count("RTUserState") == 0


async def test_a_closed_client_stops_the_watcher_at_its_token_check_with_that_error() -> None:
    pbx = ScriptedPBX(["hajek"])
    client = pbx.client()
    await client.aclose()
    async with client.watch(["hajek"], **WATCH) as watcher:
        await anyio.sleep(1.0)
    assert isinstance(watcher.failure, DaktelaUsageError)
    assert not isinstance(watcher.failure, DaktelaAuthError)
    assert "client is closed" in str(watcher.failure)
    # Stopped at the check: no agent was ever polled (its source would exist).
    assert set(watcher.stats().sources) == {"agents", "auth", "watcher"}
    assert watcher.stats().sources["auth"].requests == 1


async def test_an_outage_at_the_start_is_left_to_the_polls_and_the_check_is_not_retried() -> None:
    pbx = ScriptedPBX(["hajek"], hold=60.0)
    pbx.go_down("refuse")
    log = ActionLog(pbx)
    async with (
        pbx.client() as client,
        client.watch(["hajek"], **WATCH) as watcher,
        watcher.subscribe() as events,
    ):
        await anyio.sleep(0.5)
        pbx.come_back()
        seen = await collect_until(
            events, lambda s: isinstance(s[-1], AgentStateChanged), timeout=30
        )
    # The check, then the poll meets the outage on its own (the check says nothing).
    assert log.actions[:2] == ["GetUser", "RTUserState"]
    assert watcher.failure is None
    assert [type(e).__name__ for e in seen][-1] == "AgentStateChanged"


async def test_the_token_check_at_the_start_uses_the_canary_timeout() -> None:
    """A hung PBX: the check gives up after ``canary_timeout``, not the client's read."""
    pbx = ScriptedPBX(["hajek"], hold=60.0)
    pbx.go_down("hang")
    log = ActionLog(pbx)
    options = {**WATCH, "canary_timeout": 2.0}  # the client's read timeout is 5 s
    async with pbx.client() as client, client.watch(["hajek"], **options):
        await anyio.sleep(10.0)
        pbx.come_back()
    assert log.first("GetUser") == 0.0
    assert 2.0 <= log.first("RTUserState") < 3.0


# --- what a stop leaves running -------------------------------------------------------------


async def test_a_token_revoked_mid_run_cancels_every_held_poll() -> None:
    """After the stop nothing answers into the watcher: the snapshot is the last state."""
    pbx = ScriptedPBX(["hajek"], hold=60.0)
    async with (
        pbx.client() as client,
        client.watch(["hajek"], stats=["summary"], **WATCH) as watcher,
        watcher.subscribe(replay=False) as events,
    ):
        await anyio.sleep(5.0)  # hajek's poll is held; the summary polled every 2 s
        pbx.token_ok = False  # the summary's next answer is a status 0: the check says why
        _, error = await until_failure(events, timeout=60)
        assert isinstance(error, DaktelaAuthError)
        asked = pbx.count("RTUserState")
        pbx.token_ok = True
        pbx.change("hajek", "Paused")  # a poll still held would answer with this
        await anyio.sleep(5.0)
        assert watcher.snapshot()["hajek"].agent_state == "Idle"
        assert pbx.count("RTUserState") == asked
        assert all(source.stopped for source in watcher.stats().sources.values())


# --- subscribers ----------------------------------------------------------------------------


async def test_a_late_subscriber_gets_each_agents_state_first_and_only_with_replay() -> None:
    pbx = ScriptedPBX(["hajek", "novak"], hold=60.0)
    async with pbx.client() as client, client.watch(["hajek", "novak"], **WATCH) as watcher:
        await anyio.sleep(1.0)
        snapshot = watcher.snapshot()
        async with watcher.subscribe() as late, watcher.subscribe(replay=False) as quiet:
            replayed = [late.get_nowait() for _ in range(2)]
            assert quiet.stats().buffered == 0
    assert all(isinstance(e, AgentStateChanged) for e in replayed)
    assert {
        e.user: (e.previous, e.current) for e in replayed if isinstance(e, AgentStateChanged)
    } == {user: (None, snapshot[user]) for user in ("hajek", "novak")}


# --- adding and removing agents -------------------------------------------------------------


async def test_an_agent_added_twice_is_polled_once() -> None:
    pbx = ScriptedPBX(["hajek"], hold=60.0)
    async with pbx.client() as client, client.watch(["hajek"], **WATCH) as watcher:
        await anyio.sleep(1.0)
        await watcher.add_users(["hajek"])
        await anyio.sleep(5.0)
    assert pbx.count("RTUserState", held=False) == 1
    assert pbx.count("RTUserState", held=True) == 1


async def test_a_removed_agent_is_never_asked_about_again() -> None:
    pbx = ScriptedPBX(["hajek", "novak"], hold=60.0)
    async with pbx.client() as client, client.watch(["hajek", "novak"], **WATCH) as watcher:
        await anyio.sleep(1.0)
        await watcher.remove_users(["hajek"])
        asked = [p for a, p in pbx.requests if a == "RTUserState" and p["user"] == "hajek"]
        pbx.change("hajek", "Paused")  # its poll, were it still held, would answer
        await anyio.sleep(130.0)  # two holds: a live poll would have asked again
        again = [p for a, p in pbx.requests if a == "RTUserState" and p["user"] == "hajek"]
    assert again == asked
    assert "hajek" not in watcher.snapshot()


async def test_a_removed_agent_leaves_nothing_behind() -> None:
    """A fleet moves agents between replicas all day: nothing may pile up per agent.

    hajek's route is broken (its outage was disproved: a suspect, with a failing source
    and the bulk resync's short row); novak's poll is held. Removing them forgets all.
    """
    pbx = AgentBehindBrokenProxyPBX(["hajek", "novak"], hold=60.0)
    async with pbx.client() as client, client.watch(["hajek", "novak"], **WATCH) as watcher:
        await anyio.sleep(30.0)
        agents = watcher._agents
        assert "hajek" in agents._suspects
        assert "hajek" in agents._partial
        assert "agent:hajek" in watcher.stats().sources
        assert "novak" in agents._inflight
        await watcher.remove_users(["hajek", "novak"])
        assert not agents._suspects
        assert not agents._partial
        assert not agents.states
        assert not [name for name in watcher.stats().sources if name.startswith("agent:")]
        await anyio.sleep(1.0)  # the cancelled polls unwind
        assert not agents._inflight


# --- API versions, held polls ---------------------------------------------------------------


async def test_below_api_4_the_agents_are_polled_at_the_interval_without_a_hash() -> None:
    # It would hold a poll that sent its hash; each answer takes 0.5 s of the interval.
    pbx = ScriptedPBX(["hajek"], hold=60.0, latency=0.5)
    log = ActionLog(pbx)
    options = {**WATCH, "poll_interval": 2.0}
    async with (
        pbx.client(api_version="3.9") as client,
        client.watch(["hajek"], **options) as watcher,
    ):
        await anyio.sleep(9.0)
        assert watcher.snapshot()["hajek"].agent_state == "Idle"
    assert pbx.count("RTUserState", held=True) == 0
    assert log.times("RTUserState") == [0.0, 2.0, 4.0, 6.0, 8.0]  # from start to start


async def test_a_held_poll_waits_past_the_clients_read_timeout() -> None:
    """The client reads for 5 s; a held poll gets ``long_poll_timeout`` (75 s) instead."""
    pbx = ScriptedPBX(["hajek"], hold=60.0)
    timeouts = Timeouts(connect=1, read=5, write=1, pool=5, deadline=10)
    async with (
        pbx.client(timeout=timeouts) as client,
        client.watch(["hajek"], **WATCH) as watcher,
    ):
        await anyio.sleep(130.0)
        stats = watcher.stats()
    assert stats.failing == ()
    assert stats.sources["agents"].consecutive_failures == 0
    assert stats.sources["agents"].last_success_age == 10.0  # the hold that ended at 120
    # The first answer, then one held poll per 60 s hold: 0-60, 60-120, 120-.
    assert pbx.count("RTUserState", held=True) == 3


async def test_a_held_poll_on_a_silent_pbx_gives_up_at_its_read_timeout() -> None:
    """No canary and one agent: only the held poll's own read timeout notices a hung PBX.

    That is ``long_poll_timeout`` (here 90 s), not the client's read timeout (5 s) nor
    the 75 s floor the client gives any held ``RTUserState``.
    """
    pbx = ScriptedPBX(["hajek"], hold=60.0)
    async with (
        pbx.client() as client,
        client.watch(["hajek"], **WATCH, long_poll_timeout=90.0) as watcher,
        watcher.subscribe(replay=False) as events,
    ):
        await anyio.sleep(1.0)  # held since t=0
        pbx.go_down("hang")
        seen = await collect_until(events, lambda s: isinstance(s[-1], SourceFailed), timeout=120)
        failed = seen[-1]
        assert isinstance(failed, SourceFailed)
        assert (failed.source, failed.error_type) == ("agents", "DaktelaTimeoutError")
        assert 90.0 <= anyio.current_time() < 91.0  # long_poll_timeout after it was sent
        pbx.come_back()


# --- one agent's own failures ---------------------------------------------------------------


@pytest.mark.usefixtures("no_jitter")
async def test_one_agents_500s_back_off_on_its_own_source_and_recover() -> None:
    """hajek's node answers 500 (Retry-After 3): its own source, backoff and retries."""
    pbx = ScriptedPBX(["hajek"], hold=60.0)
    log = ActionLog(pbx)
    pbx.agent_faults["hajek"] = "500"
    pbx.retry_after = "3"
    options = {**WATCH, "backoff": Backoff(initial=1.0, maximum=8.0)}
    async with (
        pbx.client() as client,
        client.watch(["hajek"], check_token=False, **options) as watcher,
        watcher.subscribe() as events,
    ):
        await anyio.sleep(14.0)
        failing = watcher.stats().sources["agent:hajek"]
        del pbx.agent_faults["hajek"]
        seen = await collect_until(
            events, lambda s: isinstance(s[-1], AgentStateChanged), timeout=30
        )
    # Ceilings 1, 2, 4, 8 s, but never under the server's Retry-After of 3 s.
    assert log.times("RTUserState")[:5] == [0.0, 3.0, 6.0, 10.0, 18.0]
    # Every retry starts afresh, without a hash: its answer comes at once.
    assert pbx.count("RTUserState", held=True) <= 1
    assert log.actions.count("GetUser") == 0  # a 500 says nothing about the token
    assert (failing.consecutive_failures, failing.stopped) == (4, False)
    [failed] = [e for e in seen if isinstance(e, SourceFailed)]
    assert (failed.source, failed.error_type, failed.attempt, failed.retry_in) == (
        "agent:hajek",
        "DaktelaHTTPStatusError",
        1,
        3.0,
    )
    assert "500" in failed.error
    [recovered] = [e for e in seen if isinstance(e, SourceRecovered)]
    assert (recovered.source, recovered.attempts) == ("agent:hajek", 4)
    assert watcher.stats().failing == ()


async def test_a_first_status_0_after_an_answer_asks_for_one_token_check() -> None:
    """An agent signs out: its first status 0 could be a revoked token; later ones not."""
    pbx = ScriptedPBX(["hajek"], hold=60.0)
    log = ActionLog(pbx)
    async with (
        pbx.client() as client,
        client.watch(["hajek"], check_token=False, **WATCH) as watcher,
        watcher.subscribe(replay=False) as events,
    ):
        await anyio.sleep(1.0)
        pbx.logout("hajek")
        await anyio.sleep(100.0)  # failing all along: many retries, one check
        source = watcher.stats().sources["agent:hajek"]
        failed = [e for e in drain(events) if isinstance(e, SourceFailed)]
    assert source.consecutive_failures > 3
    assert log.actions.count("GetUser") == 1
    assert watcher.failure is None
    assert [(e.source, e.error_type) for e in failed] == [("agent:hajek", "DaktelaAPIError")]
    assert NOT_LOGGED in failed[0].error


# --- a PBX that answers without a hash --------------------------------------------------------


async def test_an_answer_without_a_hash_switches_that_agent_to_interval_polling(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pbx = ScriptedPBX(["hajek", "novak"], hold=60.0)
    pbx.agent_faults["hajek"] = "nohash"
    log = ActionLog(pbx)
    options = {**WATCH, "poll_interval": 2.0}
    with caplog.at_level(logging.WARNING, logger="daktela_async.realtime"):
        async with (
            pbx.client() as client,
            client.watch(["hajek", "novak"], check_token=False, **options) as watcher,
        ):
            await anyio.sleep(9.0)
            assert watcher.snapshot()["hajek"].agent_state == "Idle"
    hajek = [p for a, p in pbx.requests if a == "RTUserState" and p["user"] == "hajek"]
    novak = [p for a, p in pbx.requests if a == "RTUserState" and p["user"] == "novak"]
    assert len(hajek) == 5  # at 0, 2, 4, 6 and 8 s, none of them held
    assert not any("hash" in p for p in hajek)
    assert [("hash" in p) for p in novak] == [False, True]  # novak long-polls as before
    assert len(log.sent) == 7
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.getMessage() == (
        "RTUserState for 'hajek' answered without a hash at API 4.1: polling this "
        "agent every 2 s instead of long polling"
    )


# --- answers that come back too fast --------------------------------------------------------


async def test_three_fast_changes_in_a_row_then_one_poll_per_gap() -> None:
    """A hash that "changes" at every answer: three answers at once, then one per second."""
    pbx = ScriptedPBX(["hajek"], hold=60.0, latency=0.01)
    pbx.agent_faults["hajek"] = "flap"
    log = ActionLog(pbx)
    async with pbx.client() as client, client.watch(["hajek"], check_token=False, **WATCH):
        await anyio.sleep(4.5)
    # The un-held first poll at 0 is not one of them; the held ones at 0.01, 0.02 and
    # 0.03 are, and from then on each waits out the gap of 1 s from its start.
    assert log.times("RTUserState") == [0.0, 0.01, 0.02, 0.03, 1.03, 2.03, 3.03, 4.03]


async def test_a_slow_change_resets_the_count_of_fast_ones() -> None:
    """Two fast changes, one after a held wait, two fast ones: never three in a row."""
    pbx = ScriptedPBX(["hajek"], hold=60.0, latency=0.01)
    log = ActionLog(pbx)
    async with pbx.client() as client, client.watch(["hajek"], check_token=False, **WATCH):
        for wait in (0.5, 0.5, 5.0, 0.5, 0.5):
            await anyio.sleep(wait)
            pbx.change("hajek", "Paused" if pbx.states["hajek"] == "Idle" else "Idle")
        await anyio.sleep(0.5)
    held = log.times("RTUserState")[1:]
    # Each change answers the held poll at once and the next one goes out straight away.
    assert held == [0.01, 0.5, 1.0, 6.0, 6.5, 7.0]


# --- the re-arm after an outage ---------------------------------------------------------------


async def test_after_an_outage_every_agent_re_arms_without_a_hash() -> None:
    pbx = ScriptedPBX(["hajek", "novak"], hold=60.0)
    async with (
        pbx.client(api_version="4.0") as client,  # no RTUsersState: agent by agent
        client.watch(["hajek", "novak"], check_token=False, **WATCH) as watcher,
        watcher.subscribe(replay=False) as events,
    ):
        await anyio.sleep(1.0)
        pbx.go_down("refuse")
        await collect_until(events, lambda s: isinstance(s[-1], SourceFailed), timeout=30)
        before = len(pbx.requests)
        pbx.come_back()
        await collect_until(events, lambda s: isinstance(s[-1], SourceRecovered), timeout=30)
        await anyio.sleep(1.0)
    rearm = [p for a, p in pbx.requests[before:] if a == "RTUserState"]
    # One un-held request per agent (its answer at once), then the held ones.
    assert sorted(p["user"] for p in rearm if "hash" not in p) == ["hajek", "novak"]
    assert sorted(p["user"] for p in rearm if "hash" in p) == ["hajek", "novak"]


# --- the outage prober ------------------------------------------------------------------------


@pytest.mark.usefixtures("no_jitter")
async def test_an_outage_exactly_the_flap_window_after_the_last_goes_on_with_its_backoff() -> None:
    """The backoff restarts only when more than 10 s passed since the last recovery."""
    pbx = ScriptedPBX(["hajek"], hold=60.0)
    log = ActionLog(pbx)
    options = {**WATCH, "probe_backoff": Backoff(initial=1.0, maximum=64.0)}
    async with (
        pbx.client() as client,
        client.watch(["hajek"], check_token=False, **options) as watcher,
        watcher.subscribe(replay=False) as events,
    ):
        await anyio.sleep(1.0)
        pbx.go_down("refuse")  # at 1: probes at 2, 4 and 8 (ceilings 1, 2, 4)
        await anyio.sleep(5.0)
        pbx.come_back()  # the probe at 8 ends it
        await collect_until(events, lambda s: isinstance(s[-1], SourceRecovered), timeout=30)
        assert anyio.current_time() == 8.0
        await anyio.sleep(10.0)
        pbx.go_down("refuse")  # at 18, exactly 10 s later: the same flapping PBX
        await anyio.sleep(0.5)
        pbx.come_back()
        await anyio.sleep(20.0)
    # The fourth ceiling (8 s) follows the third: the probe after 18 is at 26, not 19.
    assert log.times("GetUser") == [2.0, 4.0, 8.0, 26.0]


async def test_a_probe_the_pool_could_not_send_ends_no_outage() -> None:
    """Our pool timed out: nothing was asked, so the PBX is not known to be back."""
    pbx = ScriptedPBX(["hajek"], hold=60.0)
    async with (
        pbx.client() as client,
        client.watch(["hajek"], check_token=False, **WATCH) as watcher,
        watcher.subscribe(replay=False) as events,
    ):
        agents = watcher._agents
        check = agents._check
        unsent = 2

        async def pool_full() -> None:
            nonlocal unsent
            if unsent:
                unsent -= 1
                raise DaktelaPoolTimeoutError("no free connection in the pool")
            await check()

        agents._check = pool_full  # type: ignore[method-assign]
        await anyio.sleep(1.0)
        pbx.go_down("refuse")
        await anyio.sleep(5.0)
        health = [type(e) for e in drain(events) if not isinstance(e, AgentStateChanged)]
        assert health == [SourceFailed]  # and no recovery yet
        asked = pbx.count("RTUserState")
        pbx.come_back()
        seen = await collect_until(events, lambda s: isinstance(s[-1], SourceRecovered), timeout=30)
    assert unsent == 0
    assert [type(e) for e in seen] == [SourceRecovered]
    assert asked == 2  # the gate stayed closed through both unsent probes


async def test_a_token_revoked_during_an_outage_stops_the_watcher_at_the_probe() -> None:
    pbx = ScriptedPBX(["hajek"], hold=60.0)
    async with (
        pbx.client() as client,
        client.watch(["hajek"], **WATCH) as watcher,
        watcher.subscribe(replay=False) as events,
    ):
        await anyio.sleep(1.0)
        pbx.go_down("refuse")
        await anyio.sleep(1.0)
        pbx.token_ok = False
        pbx.come_back()  # the probe's GetUser gets a status 0: the token is refused
        seen, error = await until_failure(events, timeout=30)
    assert isinstance(error, DaktelaAuthError)
    assert isinstance(error.__cause__, DaktelaAPIError)
    assert watcher.failure is error
    failed = [e for e in seen if isinstance(e, SourceFailed)]
    assert (failed[0].source, failed[0].error_type) == ("agents", "DaktelaConnectError")
    assert "connection reset" in failed[0].error
    assert (failed[-1].source, failed[-1].retry_in) == ("auth", None)
    assert not [e for e in seen if isinstance(e, SourceRecovered)]


class TricklingBulkPBX(ScriptedPBX):
    """The first ``RTUsersState`` after an outage sends its body a byte a second."""

    trickle = True

    async def _answer(self, action: str, params: dict[str, Any]) -> httpx.Response:
        response = await super()._answer(action, params)
        if action != "RTUsersState" or not self.trickle or self.outage is not None:
            return response
        self.trickle = False
        body = response.content

        async def slowly() -> AsyncIterator[bytes]:
            for i in range(len(body)):
                await anyio.sleep(1.0)
                yield body[i : i + 1]

        return httpx.Response(200, content=slowly(), headers={"Content-Type": "application/json"})


@pytest.mark.usefixtures("no_jitter")
async def test_the_bulk_resync_is_cut_at_the_clients_deadline_not_its_read_timeout() -> None:
    """Every read comes within the probe's 2 s, but the whole answer takes minutes."""
    pbx = TricklingBulkPBX(["hajek"], hold=60.0)
    log = ActionLog(pbx)
    timeouts = Timeouts(connect=1, read=5, write=1, pool=5, deadline=20)
    options = {
        **WATCH,
        "probe_backoff": Backoff(initial=1.0, maximum=1.0),
        "canary_timeout": 2.0,
    }
    async with (
        pbx.client(timeout=timeouts) as client,
        client.watch(["hajek"], check_token=False, **options) as watcher,
        watcher.subscribe(replay=False) as events,
    ):
        await anyio.sleep(1.0)
        pbx.go_down("refuse")
        await anyio.sleep(0.5)
        pbx.come_back()  # the probe at 2 answers; its RTUsersState trickles
        await collect_until(events, lambda s: isinstance(s[-1], SourceRecovered), timeout=120)
    # Cut at 2 + 20 s (the client's deadline): the outage goes on, one probe later.
    assert log.times("RTUsersState") == [2.0, 23.0]


# --- the canary -------------------------------------------------------------------------------


async def test_a_canary_check_on_a_hung_pbx_gives_up_at_the_canary_timeout() -> None:
    pbx = ScriptedPBX(["hajek"], hold=60.0)
    options = {**WATCH, "canary_interval": 10.0, "canary_timeout": 2.0}
    async with (
        pbx.client() as client,  # whose own read timeout is 5 s
        client.watch(["hajek"], check_token=False, **options) as watcher,
        watcher.subscribe(replay=False) as events,
    ):
        await anyio.sleep(1.0)
        pbx.go_down("hang")  # hajek's held poll goes silent; the canary asks at 10
        seen = await collect_until(events, lambda s: isinstance(s[-1], SourceFailed), timeout=60)
        assert anyio.current_time() == 12.0
        pbx.come_back()
    failed = seen[-1]
    assert isinstance(failed, SourceFailed)
    assert (failed.source, failed.error_type) == ("agents", "DaktelaTimeoutError")


# --- RTUsersState's short rows ----------------------------------------------------------------


class ShortRowsTitledPBX(ShortBulkRowsPBX):
    """Short bulk rows, a queue title that can change (not shown on a board), and a hook
    that changes an agent as its first poll after the outage goes out."""

    title = "In"
    change_at_rearm: str | None = None

    def _state(self, login: str) -> dict[str, Any]:
        state = super()._state(login)
        state["login_oqueues"][0]["title"] = self.title
        return state

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        query = request.url.query.decode()
        if self.change_at_rearm and "RTUserState" in request.url.path and "hash=" not in query:
            login, self.change_at_rearm = self.change_at_rearm, None
            self.change(login, "Ready")
        return await super()._handle(request)


@pytest.mark.parametrize("changed_at_rearm", [False, True])
async def test_after_the_short_rows_a_full_answer_is_compared_in_full_again(
    changed_at_rearm: bool,
) -> None:
    """Once the re-armed poll brought the full answer, a change off the board is news."""
    pbx = ShortRowsTitledPBX(["hajek"], hold=60.0)
    async with (
        pbx.client() as client,
        client.watch(["hajek"], check_token=False, **WATCH) as watcher,
        watcher.subscribe(replay=False) as events,
    ):
        await anyio.sleep(1.0)
        pbx.go_down("refuse")
        await anyio.sleep(1.0)
        pbx.change("hajek", "Paused")
        if changed_at_rearm:
            pbx.change_at_rearm = "hajek"  # the full answer differs on the board too
        pbx.come_back()
        await anyio.sleep(5.0)
        assert not watcher._agents._partial
        pbx.title = "Inbound"
        pbx.change("hajek", pbx.states["hajek"])  # the same state, a new queue title
        seen = await collect_until(
            events,
            lambda s: any(
                isinstance(e, AgentStateChanged) and e.current.login_oqueues[0].title == "Inbound"
                for e in s
            ),
            timeout=30,
        )
    assert seen


# --- hostile answers: the token stays out of every message ------------------------------------


class EchoingPBX(ScriptedPBX):
    """A hostile PBX: its agent states (single and bulk) quote the caller's token."""

    async def _answer(self, action: str, params: dict[str, Any]) -> httpx.Response:
        if action in ("RTUserState", "RTUsersState") and self.outage is None:
            row = {"agent_name": "hajek", "agent_state": {"token": TOKEN}}
            result = row if action == "RTUserState" else {"1": row}
            return httpx.Response(200, text=json.dumps({"status": 1, "result": result}))
        return await super()._answer(action, params)


async def test_unreadable_agent_states_quoting_the_token_never_show_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pbx = EchoingPBX(["hajek"], hold=60.0)
    async with (
        pbx.client() as client,
        client.watch(["hajek"], check_token=False, **WATCH) as watcher,
        watcher.subscribe() as events,
    ):
        await anyio.sleep(1.0)
        first = await collect_until(events, lambda s: isinstance(s[-1], SourceFailed), timeout=30)
        pbx.go_down("refuse")  # the resync after it reads the bulk rows
        await anyio.sleep(1.0)
        pbx.come_back()
        await anyio.sleep(5.0)
    [failed] = [e for e in first if isinstance(e, SourceFailed)]
    assert failed.error_type == "DaktelaDecodeError"
    assert "***" in failed.error
    assert TOKEN not in failed.error
    [warning] = [r for r in caplog.records if "RTUsersState failed" in r.getMessage()]
    assert "***" in warning.getMessage()
    assert TOKEN not in warning.getMessage()


async def test_an_answer_exactly_the_gap_late_is_not_a_fast_one() -> None:
    """A server holding for exactly ``min_unchanged_gap``: those answers are not "fast".

    Three such answers, then a change 0.5 s into a hold: the first fast change, so the
    next poll goes out at once (counted as fast, the three would make it wait the gap).
    """
    pbx = ScriptedPBX(["hajek"], hold=1.0)
    log = ActionLog(pbx)
    async with pbx.client() as client, client.watch(["hajek"], check_token=False, **WATCH):
        await anyio.sleep(3.5)  # held polls at 0, 1, 2 and 3 (unchanged at 1, 2 and 3)
        pbx.change("hajek", "Paused")
        await anyio.sleep(0.25)
    assert log.times("RTUserState") == [0.0, 0.0, 1.0, 2.0, 3.0, 3.5]


@pytest.mark.parametrize(
    ("version", "check"), [("3.9", "RTStatsQueuesSummary"), ("4.0", "GetUser")]
)
async def test_the_prober_asks_getuser_from_api_4_0_and_a_stats_summary_below(
    version: str, check: str
) -> None:
    pbx = ScriptedPBX(["hajek"], hold=60.0)
    options = {**WATCH, "poll_interval": 60.0}
    async with (
        pbx.client(api_version=version) as client,
        client.watch(["hajek"], check_token=False, **options) as watcher,
        watcher.subscribe(replay=False) as events,
    ):
        await anyio.sleep(1.0)
        pbx.go_down("refuse")
        if version == "4.0":
            await anyio.sleep(0.0)  # the held poll dies with the connection
        else:
            await anyio.sleep(60.0)  # the next interval poll meets the outage
        await collect_until(events, lambda s: isinstance(s[-1], SourceFailed), timeout=120)
        first = len(pbx.requests)
        await anyio.sleep(3.0)
        probes = {a for a, _ in pbx.requests[first:]}
        pbx.come_back()
    assert probes == {check}


async def test_the_canary_is_quiet_while_no_agent_is_watched() -> None:
    """Periodic checks guard held polls; with none (stats alone poll often) they cost."""
    pbx = ScriptedPBX(["hajek"], hold=60.0)
    options = {**WATCH, "canary_interval": 5.0}
    async with pbx.client() as client, client.watch([], **options) as watcher:
        await anyio.sleep(30.0)
        assert pbx.count("GetUser") == 1  # the token check at the start
        await watcher.add_users(["hajek"])
        await anyio.sleep(30.0)
    assert 6 <= pbx.count("GetUser") <= 8  # and one every 5 s since hajek was added


class PollRefusedPBX(ScriptedPBX):
    """``RTUserState`` gets a 401: a proxy in front of the PBX refuses the credentials."""

    async def _answer(self, action: str, params: dict[str, Any]) -> httpx.Response:
        if action == "RTUserState":
            return httpx.Response(401, text="<html>401 Authorization Required</html>")
        return await super()._answer(action, params)


async def test_a_401_to_an_agents_poll_stops_the_watcher_with_an_auth_error() -> None:
    pbx = PollRefusedPBX(["hajek"], hold=60.0)
    async with pbx.client() as client, client.watch(["hajek"], **WATCH) as watcher:
        await anyio.sleep(1.0)
    assert isinstance(watcher.failure, DaktelaAuthError)
    assert str(watcher.failure).startswith("the PBX refused the access token (")
    assert watcher.stats().sources["auth"].stopped
    assert pbx.count("RTUserState") == 1  # never asked again
