"""The failure model against a scripted PBX (httpx.MockTransport), on asyncio and trio.

Each verdict of ``_health.classify`` as a user meets it: one agent's problem never stops
the others, an outage costs one prober and ends on any answer, a refused token ends every
subscription, and nothing ever spins.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from daktela_async import DaktelaAuthError, DaktelaUsageError, Timeouts
from daktela_async.realtime import (
    AgentStateChanged,
    Backoff,
    Event,
    SourceFailed,
    SourceRecovered,
    Subscription,
    Watcher,
)
from tests.realtime.pbx import BAD_TOKEN, NOT_LOGGED, ScriptedPBX
from tests.realtime.support import collect_for, collect_until, until_failure

pytestmark = pytest.mark.anyio

FAST = Backoff(0.05, 0.2)
OPTIONS: dict[str, Any] = {
    "long_poll_timeout": 5.0,
    "long_poll_deadline": 6.0,
    "backoff": FAST,
    "probe_backoff": FAST,
    "min_unchanged_gap": 0.2,
    "canary_timeout": 1.0,
}
AGENTS = [f"agent{n}" for n in range(1, 9)]


def of(kind: type[Event], events: list[Event]) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


def states(events: list[Event]) -> list[tuple[str, str]]:
    return [(e.user, str(e.current.agent_state)) for e in of(AgentStateChanged, events)]


def has_all(expected: set[tuple[str, str]]) -> Any:
    return lambda seen: expected <= set(states(seen))


async def initial(events: Any, count: int) -> list[Event]:
    return await collect_until(events, lambda seen: len(states(seen)) == count)


@asynccontextmanager
async def watching(
    pbx: ScriptedPBX, users: list[str] = AGENTS, **options: Any
) -> AsyncIterator[tuple[Watcher, Subscription]]:
    """Watch *users* on *pbx* and wait for every agent's first state."""
    async with (
        pbx.client() as client,
        client.watch(users, **{**OPTIONS, **options}) as watcher,
        watcher.subscribe() as events,
    ):
        await initial(events, len(users))
        yield watcher, events


@pytest.mark.parametrize("fault", ["500", "garbage", "logout"])
async def test_one_failing_agent_never_stops_the_others(fault: str) -> None:
    pbx = ScriptedPBX(AGENTS, hold=2.0)
    bad, healthy = AGENTS[0], AGENTS[1:]
    async with watching(pbx) as (watcher, events):
        if fault == "logout":
            pbx.logout(bad)
        else:
            pbx.agent_faults[bad] = fault  # type: ignore[assignment]
            pbx.change(bad, "Paused")
        seen: list[Event] = []
        # The healthy agents' second and third changes arrive while the bad one fails.
        for state in ("Paused", "Speaking"):
            for login in healthy:
                pbx.change(login, state)
            seen += await collect_until(events, has_all({(u, state) for u in healthy}))
        if not of(SourceFailed, seen):
            # On a loaded machine the healthy agents' changes may all come first: the
            # order does not matter, only that they came and the bad one is reported.
            seen += await collect_until(events, lambda s: bool(of(SourceFailed, s)), timeout=10)
        failed = of(SourceFailed, seen)
        assert [f.source for f in failed] == [f"agent:{bad}"]
        if fault == "logout":
            assert NOT_LOGGED in failed[0].error
        assert watcher.stats().sources["agents"].consecutive_failures == 0
        assert "agents" not in watcher.stats().failing
        assert f"agent:{bad}" in watcher.stats().failing
        # It recovers on its own when its answers are good again.
        pbx.agent_faults.clear()
        pbx.logged[bad] = True
        pbx.change(bad, "Idle")
        seen = await collect_until(events, lambda s: bool(of(SourceRecovered, s)), timeout=3)
        assert [r.source for r in of(SourceRecovered, seen)] == [f"agent:{bad}"]


async def test_an_agent_logging_out_during_an_outage_does_not_hold_it_open() -> None:
    pbx = ScriptedPBX(AGENTS, hold=2.0)
    async with watching(pbx) as (watcher, events):
        pbx.go_down("refuse")
        await collect_until(events, lambda s: bool(of(SourceFailed, s)))
        # An agent logs out while the PBX is down: its answer after it is a status 0.
        first = AGENTS[0]
        pbx.logout(first)
        for login in AGENTS:
            if login != first:
                pbx.change(login, "Paused")
        await anyio.sleep(0.3)
        pbx.come_back()
        expected = {(u, "Paused") for u in AGENTS if u != first}
        seen = await collect_until(events, has_all(expected), timeout=3)
        assert [r.source for r in of(SourceRecovered, seen)] == ["agents"]
        assert [f.source for f in of(SourceFailed, seen)] in ([], [f"agent:{first}"])
        assert not watcher.stats().sources["agents"].consecutive_failures


async def test_answer_without_hash_falls_back_to_interval_polling(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pbx = ScriptedPBX(["hajek", "novak"], hold=0.0)  # answers at once: nothing is held
    pbx.agent_faults["hajek"] = "nohash"
    caplog.set_level(logging.WARNING, logger="daktela_async.realtime")
    async with (
        pbx.client() as client,
        client.watch(["hajek", "novak"], poll_interval=0.25, **OPTIONS) as watcher,
        watcher.subscribe() as events,
    ):
        await initial(events, 2)
        await anyio.sleep(1.0)
        pbx.change("hajek", "Paused")
        seen = await collect_until(events, has_all({("hajek", "Paused")}), timeout=2)
        assert states(seen) == [("hajek", "Paused")]
    hajek = sum(1 for action, p in pbx.requests if p.get("user") == "hajek")
    novak = sum(1 for action, p in pbx.requests if p.get("user") == "novak")
    # ~1.5 s at one poll per 0.25 s (hash-less) and one per 0.2 s gap (a server that
    # does not hold): a spinning loop would have sent thousands.
    assert 3 <= hajek <= 12, hajek
    assert novak <= 12, novak
    warnings = [r for r in caplog.records if "without a hash" in r.getMessage()]
    assert len(warnings) == 1


async def test_token_revoked_mid_run_ends_every_subscription() -> None:
    pbx = ScriptedPBX(AGENTS, hold=30.0)
    async with (
        pbx.client() as client,
        client.watch(AGENTS, stats=["summary"], stats_interval=0.5, **OPTIONS) as watcher,
        watcher.subscribe() as events,
        watcher.subscribe(kinds=["source_failed"]) as failures,
    ):
        await initial(events, len(AGENTS))
        await anyio.sleep(0.3)  # every agent's poll is held now
        assert pbx.count("RTUserState", held=True) == len(AGENTS)
        before = len(pbx.requests)
        started = anyio.current_time()
        pbx.token_ok = False
        pbx.change(AGENTS[3], "Paused")  # its held poll answers: status 0, like a wrong login
        seen, error = await until_failure(events, timeout=5)
        assert isinstance(error, DaktelaAuthError)
        elapsed = anyio.current_time() - started
        # The agent (and maybe the stats poll) that met the refusal first say so; then one
        # final event, the last one delivered.
        failed = of(SourceFailed, seen)
        final = seen[-1]
        assert isinstance(final, SourceFailed)
        assert [f for f in failed if f.stopped] == [final]
        assert final.source == "auth"
        assert BAD_TOKEN in final.error
        assert isinstance(final, SourceFailed)
        assert BAD_TOKEN in str(error.__cause__)
        # The other subscription ends the same way.
        _, other = await until_failure(failures, timeout=1)
        assert isinstance(other, DaktelaAuthError)
        assert elapsed < 5
        # A handful of requests: the agent's answer, a stats poll or two, one token check.
        assert len(pbx.requests) - before <= 6, pbx.requests[before:]
        assert watcher.stopped
        assert all(s.stopped for s in watcher.stats().sources.values())
        await anyio.sleep(0.5)
        assert len(pbx.requests) - before <= 6
        with pytest.raises(DaktelaUsageError, match="stopped"):
            await watcher.add_users(["late"])


async def test_canary_notices_a_revoked_token_while_every_poll_is_held() -> None:
    pbx = ScriptedPBX(AGENTS, hold=30.0)
    async with watching(pbx, canary_interval=0.5) as (watcher, events):
        pbx.token_ok = False
        _, error = await until_failure(events, timeout=3)
        assert isinstance(error, DaktelaAuthError)
        assert watcher.failure is error


async def test_canary_notices_a_hung_pbx() -> None:
    pbx = ScriptedPBX(AGENTS, hold=30.0)
    async with watching(pbx, canary_interval=0.5) as (watcher, events):
        pbx.go_down("hang")
        started = anyio.current_time()
        seen = await collect_until(events, lambda s: bool(of(SourceFailed, s)), timeout=3)
        [failed] = of(SourceFailed, seen)
        # Held polls alone would have waited for their 5 s read timeout.
        assert anyio.current_time() - started < 0.5 + 1.0 + 0.5
        assert failed.source == "agents"
        assert failed.error_type == "DaktelaTimeoutError"
        assert "agents" in watcher.stats().failing
        for login in AGENTS:
            pbx.change(login, "Paused")
        pbx.come_back()
        seen = await collect_until(events, has_all({(u, "Paused") for u in AGENTS}), timeout=3)
        assert [r.source for r in of(SourceRecovered, seen)] == ["agents"]


async def test_a_watcher_without_users_stays_alive_until_left() -> None:
    pbx = ScriptedPBX(["hajek"], hold=2.0)
    async with (
        pbx.client() as client,
        client.watch(users=[], **OPTIONS) as watcher,
        watcher.subscribe() as events,
    ):
        await anyio.sleep(0.3)
        await watcher.add_users(["hajek"])
        seen = await collect_until(events, lambda s: bool(states(s)), timeout=2)
        assert states(seen) == [("hajek", "Idle")]
        assert watcher.users == ("hajek",)


async def test_every_method_refuses_after_the_watcher_stopped() -> None:
    pbx = ScriptedPBX(["hajek"], hold=2.0)
    async with pbx.client() as client:
        async with client.watch(["hajek"], **OPTIONS) as watcher:
            pass
        with pytest.raises(DaktelaUsageError):
            await watcher.add_users(["novak"])
        with pytest.raises(DaktelaUsageError):
            await watcher.remove_users(["hajek"])
        with pytest.raises(DaktelaUsageError):
            watcher.subscribe()
        with pytest.raises(DaktelaUsageError):
            await watcher.__aenter__()


async def test_a_removed_agent_leaves_no_stale_failure() -> None:
    pbx = ScriptedPBX(["hajek", "novak"], hold=2.0)
    pbx.agent_faults["novak"] = "500"
    async with (
        pbx.client() as client,
        client.watch(["hajek", "novak"], **OPTIONS) as watcher,
        watcher.subscribe() as events,
    ):
        seen = await collect_until(
            events, lambda s: bool(of(SourceFailed, s)) and bool(states(s)), timeout=2
        )
        assert [f.source for f in of(SourceFailed, seen)] == ["agent:novak"]
        await watcher.remove_users(["novak"])
        assert "agent:novak" not in watcher.stats().sources
        async with watcher.subscribe() as late:
            replayed = await collect_for(late, 0.3)
        assert of(SourceFailed, replayed) == []
        assert states(replayed) == [("hajek", "Idle")]


async def test_held_polls_keep_the_clients_connect_write_and_pool_timeouts() -> None:
    pbx = ScriptedPBX(["hajek"], hold=0.2)
    seen: list[dict[str, Any]] = []
    held = anyio.Event()
    base = Timeouts(connect=1.5, read=4.0, write=2.5, pool=3.5, deadline=9.0)
    async with pbx.client(timeout=base) as client:
        original = pbx._handle

        async def spy(request: Any) -> Any:
            if "hash=" in str(request.url):
                seen.append(dict(request.extensions["timeout"]))
                held.set()
            return await original(request)

        pbx._handle = spy  # type: ignore[method-assign]
        async with client.watch(["hajek"], **OPTIONS) as watcher, watcher.subscribe() as events:
            await initial(events, 1)
            with anyio.fail_after(3):
                await held.wait()
    assert seen[0] == {"connect": 1.5, "read": 5.0, "write": 2.5, "pool": 3.5}


async def test_usage_errors_raise_before_any_request() -> None:
    pbx = ScriptedPBX(["hajek"])
    async with pbx.client() as client:
        bad: list[dict[str, Any]] = [
            {"users": "hajek"},
            {"users": [""]},
            {"users": [7]},
            {"users": 5},
            {"stats": ["queuez"]},
            {"stats": "queues"},
            {"stats": ["queues"], "stats_interval": float("inf")},
            {"stats": ["queues"], "stats_interval": 0},
            {"stats": ["queues"], "stats_interval": {"queuez": 1.0}},
            {"stats": ["queues"], "stats_interval": {"queues": -1.0}},
            {"poll_interval": float("nan")},
            {"long_poll_timeout": 0},
            {"long_poll_deadline": -5},
            {"min_unchanged_gap": float("inf")},
            {"canary_interval": 0},
            {"canary_timeout": "5"},
            {"resync_concurrency": 0},
            {"resync_concurrency": 2.5},
            {"backoff": 1.0},
            {"check_token": "yes"},
        ]
        for options in bad:
            with pytest.raises(DaktelaUsageError) as raised:
                client.watch(**options)
            assert raised.value.parameter is not None, options
        with pytest.raises(DaktelaUsageError, match="queues, sessions"):
            client.watch(stats=["queuez"])
        async with client.watch(["hajek"], **OPTIONS) as watcher:
            with pytest.raises(DaktelaUsageError, match="agent_state"):
                watcher.subscribe(kinds=["agent_sate"])
            with pytest.raises(DaktelaUsageError, match="one string"):
                watcher.subscribe(kinds="agent_state")
            with pytest.raises(DaktelaUsageError, match="one string"):
                watcher.subscribe(users="hajek")
            with pytest.raises(DaktelaUsageError, match="unknown stats table"):
                watcher.table("queuez")
            with pytest.raises(DaktelaUsageError, match="does not poll"):
                watcher.table("queues")
            with pytest.raises(DaktelaUsageError, match="one string"):
                await watcher.add_users("novak")
    assert pbx.count("RTUserState") <= 2


@pytest.mark.parametrize(
    ("version", "options", "action"),
    [
        ("3.5", {"users": ["hajek"]}, "RTUserState"),
        ("3.4", {"stats": ["queues"]}, "RTStatsQueues"),
        ("3.4", {"stats": ["summary"]}, "RTStatsQueuesSummary"),
    ],
)
async def test_a_client_too_old_for_the_actions_is_refused_at_watch(
    version: str, options: dict[str, Any], action: str
) -> None:
    from daktela_async import DaktelaVersionError

    pbx = ScriptedPBX(["hajek"])
    async with pbx.client(api_version=version) as client:
        with pytest.raises(DaktelaVersionError, match=action):
            client.watch(**options)
        # No agents yet is fine: stats alone need only RTStats*; adding agents is refused.
        async with client.watch(users=[], **OPTIONS) as watcher:
            if action == "RTUserState":
                with pytest.raises(DaktelaVersionError):
                    await watcher.add_users(["hajek"])
    assert pbx.requests == [] or all(a != "RTUserState" for a, _ in pbx.requests)


async def test_a_token_revoked_during_an_outage_stops_at_the_first_probe_answer() -> None:
    pbx = ScriptedPBX(AGENTS, hold=30.0)
    async with watching(pbx) as (_, events):
        pbx.go_down("503")
        await collect_until(events, lambda s: bool(of(SourceFailed, s)))
        pbx.token_ok = False
        before = len(pbx.requests)
        pbx.come_back()
        _, error = await until_failure(events, timeout=2)
        assert isinstance(error, DaktelaAuthError)
        # The probe's GetUser answered status 0: no agent was re-armed against a PBX that
        # refuses the token.
        assert [action for action, _ in pbx.requests[before:]] == ["GetUser"]


async def test_agents_off_shift_do_not_cost_a_token_check_per_answer() -> None:
    pbx = ScriptedPBX(AGENTS, hold=30.0)
    off = AGENTS[:4]
    async with watching(pbx, canary_interval=60.0) as (watcher, events):
        checks = pbx.count("GetUser")
        for login in off:
            pbx.logout(login)
        seen = await collect_for(events, 4.0)
        assert sorted(f.source for f in of(SourceFailed, seen)) == [f"agent:{u}" for u in off]
        # Their polls kept answering status 0 (backoff 0.05-0.2 s); only the first answer
        # of each after a good one asks for a check, and those four fall into one or two.
        assert sum(1 for _, p in pbx.requests if p.get("user") in off) >= 4 * 10
        assert pbx.count("GetUser") - checks <= 2
        assert not watcher.stopped


async def test_a_flapping_pbx_never_stops_the_watcher() -> None:
    pbx = ScriptedPBX(AGENTS, hold=5.0, latency=0.02)
    async with watching(pbx) as (watcher, events):
        pbx.go_down("refuse")
        for _ in range(3):
            await collect_until(
                events, lambda s: bool(of(SourceFailed, s)) or bool(of(SourceRecovered, s))
            )
            pbx.come_back()
            await collect_until(events, lambda s: bool(of(SourceRecovered, s)))
            # Down again before the agent that started the outage has answered.
            pbx.go_down("refuse")
        await anyio.sleep(0.3)
        for login in AGENTS:
            pbx.change(login, "Paused")
        pbx.come_back()
        await collect_until(events, has_all({(u, "Paused") for u in AGENTS}), timeout=5)
        assert not watcher.stopped


async def test_removing_every_agent_during_an_outage_ends_it_quietly() -> None:
    pbx = ScriptedPBX(["hajek", "novak"], hold=5.0)
    async with watching(pbx, ["hajek", "novak"]) as (watcher, events):
        pbx.go_down("503")
        await collect_until(events, lambda s: bool(of(SourceFailed, s)))
        await watcher.remove_users(["hajek", "novak"])
        quiet = await collect_for(events, 0.5)
        # Nothing recovered while the PBX is still down, and nothing crashed.
        assert of(SourceRecovered, quiet) == []
        assert "agents" not in watcher.stats().failing
        pbx.come_back()
        await watcher.add_users(["novak"])
        seen = await collect_until(events, lambda s: bool(states(s)), timeout=3)
        assert states(seen) == [("novak", "Idle")]


@pytest.mark.parametrize("retry_after", ["0", "Thu, 01 Jan 1970 00:00:00 GMT"])
async def test_retry_after_zero_never_turns_a_failure_into_a_request_loop(
    retry_after: str,
) -> None:
    pbx = ScriptedPBX(["hajek", "novak"], hold=5.0)
    pbx.retry_after = retry_after
    async with watching(pbx, ["hajek", "novak"], stats=["summary"]) as (watcher, _):
        pbx.agent_faults["hajek"] = "500"
        pbx.change("hajek", "Paused")
        await anyio.sleep(1.0)
        hajek = sum(1 for _, p in pbx.requests if p.get("user") == "hajek")
        # Backoff 0.05 s doubling to 0.2 s: a handful in a second, not thousands.
        assert hajek <= 20, hajek
        before = len(pbx.requests)
        pbx.go_down("503")
        await anyio.sleep(1.0)
        # The prober and the stats poller, each at its backoff.
        assert len(pbx.requests) - before <= 30, len(pbx.requests) - before
        assert not watcher.stopped


@pytest.mark.parametrize("setup", ["stats only", "no periodic canary"])
async def test_a_revoked_token_is_noticed_without_agents_or_canary(setup: str) -> None:
    pbx = ScriptedPBX(["hajek"], hold=30.0)
    users = [] if setup == "stats only" else ["hajek"]
    options: dict[str, Any] = {"canary_interval": None, "stats": ["summary"], "stats_interval": 0.2}
    async with (
        pbx.client() as client,
        client.watch(users, **{**OPTIONS, **options}) as watcher,
        watcher.subscribe() as events,
    ):
        await collect_until(events, lambda s: any(e.kind == "queues_summary" for e in s))
        pbx.token_ok = False
        _, error = await until_failure(events, timeout=3)
        assert isinstance(error, DaktelaAuthError)
        assert watcher.stopped


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # trio runs a batch in random order
async def test_answers_that_never_suspend_still_let_other_tasks_run_between_polls() -> None:
    """A transport that answers at once (this PBX, flapping) cannot starve the loop.

    The poll skips its checkpoint only after a held answer or a sleep: between any two
    requests of an agent whose answers return at once, a ready task gets to run.
    """
    pbx = ScriptedPBX(["hajek"], hold=5.0)
    ticks = 0
    seen: list[int] = []

    async def ticker() -> None:
        nonlocal ticks
        with anyio.move_on_after(5):  # bounded, whatever happens
            while True:
                ticks += 1
                await anyio.lowlevel.checkpoint()

    def record(action: str, _params: dict[str, Any]) -> None:
        if action == "RTUserState":
            seen.append(ticks)

    async with watching(pbx, ["hajek"]), anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        pbx.on_request = record
        pbx.agent_faults["hajek"] = "flap"
        await anyio.sleep(0.7)
        tg.cancel_scope.cancel()
    assert len(seen) >= 6, seen
    stalled = [(a, b) for a, b in itertools.pairwise(seen) if b <= a]
    assert not stalled, seen


async def test_a_pbx_that_changes_at_every_answer_is_polled_at_the_gap() -> None:
    pbx = ScriptedPBX(["hajek"], hold=5.0)
    async with watching(pbx, ["hajek"]) as (watcher, _):
        pbx.agent_faults["hajek"] = "flap"
        before = len(pbx.requests)
        await anyio.sleep(1.0)
        # min_unchanged_gap is 0.2 s: a few answers, then one per gap; an unbounded loop
        # sends thousands (and starves the event loop on a transport that never waits).
        assert len(pbx.requests) - before <= 12, len(pbx.requests) - before
        assert not watcher.stopped
