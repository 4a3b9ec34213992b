"""The watcher's settings and lifecycle, pinned to the letter.

``client.watch(...)`` checks every setting before any request (``_core.Settings.build``):
each refusal below is asserted with its exact message and ``parameter``, because a caller
reads them to fix the call, and each accepted value with the exact :class:`Settings` it
builds (defaults, per-name stats intervals, the timeouts derived from the client's).
The lifecycle part pins entering once, an idempotent ``aclose``, the start-up token check
from API 4.0 on, and the fleet's stats hooks (``_pause_stats``/``_resume_stats``) before
and after the start.

These tests were written against mutants that survived the rest of the suite
(``docs/mutation.md``). Anything that runs does so in virtual time (trio's
``MockClock``), so no assertion depends on how fast the machine is.
"""

from __future__ import annotations

import math
from typing import Any

import anyio
import httpx
import pytest

from daktela_async import DaktelaClient, DaktelaUsageError, DaktelaVersionError, Timeouts
from daktela_async._models import RTStatsQueuesSummary
from daktela_async.realtime import (
    AgentStateChanged,
    Backoff,
    Event,
    QueuesSummaryChanged,
    Watcher,
)
from daktela_async.realtime._core import Settings
from daktela_async.realtime._health import Verdict
from tests.realtime.pbx import ScriptedPBX
from tests.realtime.support import collect_until, virtual_time  # noqa: F401 - virtual_time: the anyio_backend fixture
from tests.realtime.test_survivors import WATCH
from tests.support import TOKEN

pytestmark = pytest.mark.anyio


URL = "https://pbx.example.com"

#: The stats names in the order an "unknown stats" message lists them.
CHOICES = "queues, sessions, calls, pauses, summary, today"


def client(**options: Any) -> DaktelaClient:
    """A client that is never used for a request: building it opens nothing."""
    return DaktelaClient(URL, TOKEN, **options)


# --- refused settings -----------------------------------------------------------------------


#: (users, options, message, parameter) of a refused ``client.watch(users, **options)``.
REFUSED: list[Any] = [
    # A single string would be iterated into one-letter logins.
    pytest.param(
        "hajek",
        {},
        "users must be a list of logins, not one string: write users=['hajek']",
        "users",
        id="users-one-string",
    ),
    pytest.param(
        b"hajek",
        {},
        "users must be a list of logins, not one string: write users=[b'hajek']",
        "users",
        id="users-one-bytes",
    ),
    pytest.param(
        5, {}, "users must be an iterable of logins, not int", "users", id="users-not-iterable"
    ),
    pytest.param(
        ["a1", ""], {}, "users must hold non-empty strings, found ''", "users", id="users-empty"
    ),
    pytest.param(
        ["  "], {}, "users must hold non-empty strings, found '  '", "users", id="users-blank"
    ),
    pytest.param(
        ["a1", 5], {}, "users must hold non-empty strings, found 5", "users", id="users-int"
    ),
    pytest.param(
        [None], {}, "users must hold non-empty strings, found None", "users", id="users-none"
    ),
    # stats goes through the same check, under its own name and noun.
    pytest.param(
        (),
        {"stats": "queues"},
        "stats must be a list of stats names, not one string: write stats=['queues']",
        "stats",
        id="stats-one-string",
    ),
    pytest.param(
        (),
        {"stats": 3},
        "stats must be an iterable of stats names, not int",
        "stats",
        id="stats-not-iterable",
    ),
    pytest.param(
        (),
        {"stats": ["queues", ""]},
        "stats must hold non-empty strings, found ''",
        "stats",
        id="stats-empty-name",
    ),
    # Two unknown names: the message lists both, in the order given.
    pytest.param(
        (),
        {"stats": ["queues", "agents", "nope"]},
        f"unknown stats 'agents', 'nope'; choose from {CHOICES}",
        "stats",
        id="stats-unknown",
    ),
    pytest.param(
        (),
        {"stats": ["queues"], "stats_interval": {"queues": 1.0, "agents": 2.0, "nope": 3.0}},
        f"unknown stats 'agents', 'nope'; choose from {CHOICES}",
        "stats_interval",
        id="stats_interval-unknown",
    ),
    # A mapping's value is named by its key.
    pytest.param(
        (),
        {"stats": ["queues"], "stats_interval": {"queues": 0}},
        "stats_interval['queues'] must be a positive, finite number of seconds, not 0",
        "stats_interval['queues']",
        id="stats_interval-mapping-zero",
    ),
    pytest.param(
        (),
        {"stats": ["calls", "queues"], "stats_interval": {"queues": "1"}},
        "stats_interval['queues'] must be a number of seconds, not str",
        "stats_interval['queues']",
        id="stats_interval-mapping-str",
    ),
    pytest.param(
        (),
        {"backoff": "fast"},
        "backoff must be a Backoff, not str",
        "backoff",
        id="backoff-str",
    ),
    pytest.param(
        (),
        {"backoff": 1.0},
        "backoff must be a Backoff, not float",
        "backoff",
        id="backoff-float",
    ),
    pytest.param(
        (),
        {"probe_backoff": {}},
        "probe_backoff must be a Backoff, not dict",
        "probe_backoff",
        id="probe_backoff-dict",
    ),
    pytest.param(
        (),
        {"check_token": "yes"},
        "check_token must be True or False",
        "check_token",
        id="check_token-str",
    ),
    pytest.param(
        (),
        {"check_token": 1},
        "check_token must be True or False",
        "check_token",
        id="check_token-int",
    ),
    pytest.param(
        (),
        {"check_token": None},
        "check_token must be True or False",
        "check_token",
        id="check_token-none",
    ),
    pytest.param(
        (),
        {"service_level_threshold": -1},
        "service_level_threshold must be a finite number of seconds >= 0, not -1",
        "service_level_threshold",
        id="service_level_threshold-negative",
    ),
    pytest.param(
        (),
        {"service_level_threshold": math.nan},
        "service_level_threshold must be a finite number of seconds >= 0, not nan",
        "service_level_threshold",
        id="service_level_threshold-nan",
    ),
    pytest.param(
        (),
        {"service_level_threshold": True},
        "service_level_threshold must be a number of seconds, not bool",
        "service_level_threshold",
        id="service_level_threshold-bool",
    ),
]

# resync_concurrency: a whole number >= 1; a bool is no count, a float no whole number.
REFUSED += [
    pytest.param(
        (),
        {"resync_concurrency": value},
        f"resync_concurrency must be a whole number >= 1, not {value!r}",
        "resync_concurrency",
        id=f"resync_concurrency-{value!r}",
    )
    for value in (True, False, 2.0, 0.5, 0, -3, "4", None)
]

#: Every setting in seconds (stats is asked for, so that stats_interval is used).
SECONDS = (
    "stats_interval",
    "poll_interval",
    "long_poll_timeout",
    "long_poll_deadline",
    "min_unchanged_gap",
    "canary_interval",
    "canary_timeout",
)

# Not a number (bool is an int to Python, yet no number of seconds): named by its type.
REFUSED += [
    pytest.param(
        (),
        {"stats": ["queues"], name: value},
        f"{name} must be a number of seconds, not {kind}",
        name,
        id=f"{name}-{kind}",
    )
    for name in SECONDS
    for value, kind in ((True, "bool"), (False, "bool"), ("1", "str"), ([1], "list"))
]
# None means "the default" or "none" only for stats_interval and canary_interval.
REFUSED += [
    pytest.param(
        (),
        {name: None},
        f"{name} must be a number of seconds, not NoneType",
        name,
        id=f"{name}-None",
    )
    for name in SECONDS
    if name not in ("stats_interval", "canary_interval")
]
# A number, but not a positive, finite one: exactly 0 is refused too.
REFUSED += [
    pytest.param(
        (),
        {"stats": ["queues"], name: value},
        f"{name} must be a positive, finite number of seconds, not {value!r}",
        name,
        id=f"{name}-{value!r}",
    )
    for name in SECONDS
    for value in (0, 0.0, -1, -0.5, math.nan, math.inf, -math.inf)
]


@pytest.mark.parametrize(("users", "options", "message", "parameter"), REFUSED)
def test_a_bad_setting_is_refused_with_its_exact_message_and_parameter(
    users: Any, options: dict[str, Any], message: str, parameter: str
) -> None:
    # Refused when watch() is called: before the watcher is entered, before any request.
    with pytest.raises(DaktelaUsageError) as info:
        client().watch(users, **options)
    assert type(info.value) is DaktelaUsageError  # not a version error, not a TypeError
    assert info.value.message == message
    assert str(info.value) == message
    assert info.value.parameter == parameter


#: (api_version, users, stats, message, action, required) of a client too old.
TOO_OLD: list[Any] = [
    pytest.param(
        "3.8",
        ["a1"],
        (),
        "watching agents needs RTUserState, which the API has from version 3.9; "
        "this client is at api_version='3.8'",
        "RTUserState",
        "3.9",
        id="agents-3.8",
    ),
    pytest.param(
        "4.0",
        (),
        ["queues", "today"],
        "stats='today' needs StatsCalls, which the API has from version 4.1; "
        "this client is at api_version='4.0'",
        "StatsCalls",
        "4.1",
        id="today-4.0",
    ),
    pytest.param(
        "3.4",
        (),
        ["summary"],
        "stats='summary' needs RTStatsQueuesSummary, which the API has from version 3.5; "
        "this client is at api_version='3.4'",
        "RTStatsQueuesSummary",
        "3.5",
        id="summary-3.4",
    ),
]


@pytest.mark.parametrize(
    ("api_version", "users", "stats", "message", "action", "required"), TOO_OLD
)
def test_a_client_too_old_for_what_is_watched_is_a_version_error(
    api_version: str, users: Any, stats: Any, message: str, action: str, required: str
) -> None:
    with pytest.raises(DaktelaVersionError) as info:
        client(api_version=api_version).watch(users, stats=stats)
    assert info.value.message == message
    assert info.value.action == action
    assert info.value.required == required
    assert info.value.configured == api_version
    assert info.value.parameter is None


@pytest.mark.parametrize(
    ("api_version", "users", "stats"),
    [("3.9", ["a1"], ()), ("4.1", (), ["today"]), ("3.5", (), ["summary", "queues"])],
)
def test_a_client_at_exactly_the_needed_version_may_watch(
    api_version: str, users: Any, stats: Any
) -> None:
    watcher = client(api_version=api_version).watch(users, stats=stats)
    assert watcher._settings.stats == tuple(stats)


# --- accepted settings ----------------------------------------------------------------------


def test_the_defaults_are_the_documented_ones_and_duplicates_are_dropped_in_order() -> None:
    base = Timeouts(connect=5.0, read=30.0, write=10.0, pool=30.0, deadline=60.0)
    watcher = client(timeout=base).watch(
        ["b1", "a1", "b1"], stats=["queues", "today", "summary", "queues"]
    )
    assert watcher.users == ("b1", "a1")
    assert watcher._settings == Settings(
        stats=("queues", "today", "summary"),
        # 2 s for the live RTStats* views, 30 s for the day's history.
        stats_intervals={"queues": 2.0, "today": 30.0, "summary": 2.0},
        poll_interval=2.0,
        # Only read and deadline grow for a held poll.
        long_poll=Timeouts(connect=5.0, read=75.0, write=10.0, pool=30.0, deadline=90.0),
        # The canary's 5 s read, plus room to wait for the pool and to connect.
        probe=Timeouts(connect=5.0, read=5.0, write=10.0, pool=30.0, deadline=40.0),
        backoff=Backoff(),
        probe_backoff=Backoff.probe(),
        min_unchanged_gap=1.0,
        check_token=True,
        canary_interval=10.0,
        token_check_gap=1.0,
        resync_concurrency=32,
        service_level_threshold=20.0,
    )
    assert watcher.stopped is False  # a bool, as documented, before the start


def test_every_setting_given_is_the_one_kept() -> None:
    base = Timeouts(connect=1.5, read=3.0, write=2.5, pool=4.0, deadline=8.0)
    backoff = Backoff(initial=0.1, maximum=0.3)
    probe_backoff = Backoff(initial=0.2, maximum=0.4)
    watcher = client(timeout=base).watch(
        ["a1"],
        stats=["queues", "today"],
        stats_interval=7,
        poll_interval=0.25,
        long_poll_timeout=20,
        long_poll_deadline=25,
        backoff=backoff,
        probe_backoff=probe_backoff,
        min_unchanged_gap=0.5,
        check_token=False,
        canary_interval=0.4,
        canary_timeout=2,
        resync_concurrency=1,
        service_level_threshold=0,
    )
    settings = watcher._settings
    assert settings == Settings(
        stats=("queues", "today"),
        stats_intervals={"queues": 7.0, "today": 7.0},  # one number: for every name
        poll_interval=0.25,
        long_poll=Timeouts(connect=1.5, read=20.0, write=2.5, pool=4.0, deadline=25.0),
        # 2 s read + 4 s pool + 1.5 s connect.
        probe=Timeouts(connect=1.5, read=2.0, write=2.5, pool=4.0, deadline=7.5),
        backoff=backoff,
        probe_backoff=probe_backoff,
        min_unchanged_gap=0.5,
        check_token=False,
        canary_interval=0.4,
        token_check_gap=0.4,  # a canary faster than the gap sets the gap
        resync_concurrency=1,
        service_level_threshold=0.0,
    )
    assert settings.backoff is backoff
    assert settings.probe_backoff is probe_backoff


def test_a_long_poll_deadline_below_its_read_timeout_is_raised_to_it() -> None:
    settings = client().watch(long_poll_timeout=50, long_poll_deadline=10)._settings
    assert (settings.long_poll.read, settings.long_poll.deadline) == (50.0, 50.0)
    settings = client().watch(long_poll_timeout=50, long_poll_deadline=50.5)._settings
    assert (settings.long_poll.read, settings.long_poll.deadline) == (50.0, 50.5)


def test_a_client_without_pool_and_connect_timeouts_gives_the_probe_the_bare_read() -> None:
    base = Timeouts(connect=None, read=3.0, write=None, pool=None, deadline=None)
    settings = client(timeout=base).watch(canary_timeout=2.5, long_poll_timeout=40)._settings
    assert settings.probe == Timeouts(connect=None, read=2.5, write=None, pool=None, deadline=2.5)
    assert settings.long_poll == Timeouts(
        connect=None, read=40.0, write=None, pool=None, deadline=90.0
    )
    # Only the pool timeout, then only the connect timeout: each counts once, added.
    only_pool = Timeouts(connect=None, read=3.0, write=None, pool=4.0, deadline=None)
    assert client(timeout=only_pool).watch(canary_timeout=1)._settings.probe.deadline == 5.0
    only_connect = Timeouts(connect=0.5, read=3.0, write=None, pool=None, deadline=None)
    assert client(timeout=only_connect).watch(canary_timeout=1)._settings.probe.deadline == 1.5


@pytest.mark.parametrize(
    ("canary_interval", "canary", "gap"),
    [(None, None, 1.0), (5, 5.0, 1.0), (1, 1.0, 1.0), (0.3, 0.3, 0.3)],
)
def test_the_token_check_gap_is_a_second_or_the_canary_interval_when_shorter(
    canary_interval: float | None, canary: float | None, gap: float
) -> None:
    settings = client().watch(canary_interval=canary_interval)._settings
    assert settings.canary_interval == canary
    assert settings.token_check_gap == gap


@pytest.mark.parametrize(
    ("stats", "stats_interval", "intervals"),
    [
        (["queues", "today", "calls"], None, {"queues": 2.0, "today": 30.0, "calls": 2.0}),
        # A mapping: its values, and the defaults for the names it leaves out.
        (
            ["queues", "today", "calls"],
            {"queues": 0.5},
            {"queues": 0.5, "today": 30.0, "calls": 2.0},
        ),
        (["today", "calls"], {"today": 60, "summary": 9}, {"today": 60.0, "calls": 2.0}),
        (["sessions", "today"], {}, {"sessions": 2.0, "today": 30.0}),
        (["pauses", "today"], 3, {"pauses": 3.0, "today": 3.0}),
        ([], 3, {}),
    ],
)
def test_each_stats_name_gets_its_interval(
    stats: list[str], stats_interval: Any, intervals: dict[str, float]
) -> None:
    settings = client().watch(stats=stats, stats_interval=stats_interval)._settings
    assert settings.stats_intervals == intervals
    assert settings.stats == tuple(stats)


@pytest.mark.parametrize("name", SECONDS)
def test_a_tiny_positive_number_of_seconds_is_accepted(name: str) -> None:
    # The bound is "> 0": a nanosecond is allowed, 0 is not (see the refusals above).
    options: dict[str, Any] = {name: 1e-9}
    settings = client().watch(stats=["queues"], **options)._settings
    if name == "long_poll_deadline":
        # Accepted, then raised to the read timeout (75 s by default).
        assert settings.long_poll.deadline == 75.0
        return
    kept = {
        "stats_interval": settings.stats_intervals["queues"],
        "poll_interval": settings.poll_interval,
        "long_poll_timeout": settings.long_poll.read,
        "min_unchanged_gap": settings.min_unchanged_gap,
        "canary_interval": settings.canary_interval,
        "canary_timeout": settings.probe.read,
    }
    assert kept[name] == 1e-9


# --- the lifecycle --------------------------------------------------------------------------


ENTERED_TWICE = "a watcher can be entered once; call client.watch() again"


def stopped(watcher: Watcher) -> bool | None:
    """``watcher.stopped``, read afresh (a type checker would narrow the property)."""
    return watcher.stopped


async def test_a_watcher_is_entered_once_and_closing_it_again_does_nothing() -> None:
    pbx = ScriptedPBX(["a1"])
    async with pbx.client() as c:
        watcher = c.watch(["a1"], check_token=False, **WATCH)
        assert stopped(watcher) is False
        async with watcher:
            assert stopped(watcher) is False
            with pytest.raises(DaktelaUsageError) as info:
                await watcher.__aenter__()  # while it runs
            assert info.value.message == ENTERED_TWICE
            assert stopped(watcher) is False  # the refusal stopped nothing
        assert stopped(watcher) is True
        with pytest.raises(DaktelaUsageError) as info:
            async with watcher:  # after it was left
                pass
        assert info.value.message == ENTERED_TWICE
        await watcher.aclose()  # idempotent
        assert stopped(watcher) is True


async def test_a_watcher_closed_before_it_was_entered_cannot_be_entered() -> None:
    pbx = ScriptedPBX(["a1"])
    async with pbx.client() as c:
        watcher = c.watch(["a1"], check_token=False, **WATCH)
        await watcher.aclose()  # nothing started: nothing to cancel
        await watcher.aclose()
        assert stopped(watcher) is True
        with pytest.raises(DaktelaUsageError) as info:
            await watcher.__aenter__()
        assert info.value.message == ENTERED_TWICE
    assert pbx.requests == []


async def test_a_watcher_stopped_for_good_before_the_start_says_why() -> None:
    # Core.stop may be called by any part at any time; before the start there is no poll
    # to cancel, and the failure is what a subscriber is told.
    pbx = ScriptedPBX(["a1"])
    async with pbx.client() as c:
        watcher = c.watch(["a1"], check_token=False, **WATCH)
        error = DaktelaUsageError("the client was closed")
        watcher._core.stop(error, Verdict.USAGE)
        assert stopped(watcher) is True
        assert watcher.failure is error
        with pytest.raises(DaktelaUsageError) as info:
            watcher.subscribe()
        assert info.value.message == (
            "cannot subscribe: the watcher has stopped: the client was closed"
        )
        with pytest.raises(DaktelaUsageError) as info:
            await watcher.__aenter__()
        assert info.value.message == ENTERED_TWICE
    assert pbx.requests == []


def test_a_source_is_created_once_and_then_kept() -> None:
    core = client().watch(["a1"])._core
    auth = core.source("auth")
    auth.requests += 1
    assert core.source("auth") is auth
    assert core.sources["auth"] is auth


@pytest.mark.parametrize(
    ("api_version", "check_token", "checked"),
    [("3.9", True, False), ("4.0", True, True), ("4.1", True, True), ("4.1", False, False)],
)
async def test_the_token_is_checked_at_the_start_from_api_4_0_when_asked(
    api_version: str, check_token: bool, checked: bool
) -> None:
    # GetUser exists from API 4.0: at 3.9 there is nothing to check the token with.
    pbx = ScriptedPBX(["a1"])
    async with (
        pbx.client(api_version=api_version) as c,
        c.watch(["a1"], check_token=check_token, **WATCH) as watcher,
        watcher.subscribe() as events,
    ):
        await collect_until(
            events, lambda seen: any(isinstance(e, AgentStateChanged) for e in seen), 30
        )
        sources = watcher.stats().sources
    assert pbx.count("GetUser") == (1 if checked else 0)
    if checked:
        # The check has its own source, counted once.
        assert sources["auth"].requests == 1
        assert sources["auth"].consecutive_failures == 0
        assert pbx.requests[0][0] == "GetUser"  # before any poll
    else:
        assert "auth" not in sources


# --- the fleet's stats hooks ----------------------------------------------------------------


class SummaryPBX(ScriptedPBX):
    """``RTStatsQueuesSummary`` answers ``users_total`` = how many times it was asked."""

    answers = 0

    async def _answer(self, action: str, params: dict[str, Any]) -> httpx.Response:
        if action != "RTStatsQueuesSummary":
            return await super()._answer(action, params)
        self.answers += 1
        return httpx.Response(
            200, json={"status": 1, "error": None, "result": {"users_total": self.answers}}
        )


def summaries(seen: list[Event]) -> list[QueuesSummaryChanged]:
    return [e for e in seen if isinstance(e, QueuesSummaryChanged)]


STATS_WATCH: dict[str, Any] = {"stats": ["summary"], "stats_interval": 1.0, **WATCH}


async def test_stats_paused_and_resumed_before_the_start_are_polled_at_the_start() -> None:
    pbx = SummaryPBX([])
    async with pbx.client() as c:
        watcher = c.watch([], check_token=False, **STATS_WATCH)
        watcher._pause_stats()
        watcher._resume_stats()  # the lease came back before the start
        async with watcher:
            await anyio.sleep(5.5)
            assert pbx.answers >= 5
            assert "stats:summary" in watcher._core.sources


async def test_a_seed_given_before_the_start_is_what_the_first_poll_diffs_against() -> None:
    # A fleet member that takes the stats lease before its watcher starts seeds it with
    # what Redis held: the first poll publishes the change since, not a fresh row.
    pbx = SummaryPBX([])
    seeded = RTStatsQueuesSummary(users_total=7)
    async with pbx.client() as c:
        watcher = c.watch([], check_token=False, **STATS_WATCH)
        watcher._resume_stats({"summary": {"summary": seeded}})
        # Subscribed before the start: nothing to replay yet, so the first event is the
        # first poll's.
        async with watcher.subscribe(replay=False) as events, watcher:
            seen = await collect_until(events, lambda s: bool(summaries(s)), 30)
    first = summaries(seen)[0]
    assert first.previous == seeded
    assert first.current.users_total == 1


async def test_a_seed_given_when_the_stats_resume_while_running_is_diffed_against() -> None:
    pbx = SummaryPBX([])
    async with (
        pbx.client() as c,
        c.watch([], check_token=False, **STATS_WATCH) as watcher,
        watcher.subscribe(replay=False) as events,
    ):
        await collect_until(events, lambda s: bool(summaries(s)), 30)
        watcher._pause_stats()
        asked = pbx.answers
        seeded = RTStatsQueuesSummary(users_total=100)
        watcher._resume_stats({"summary": {"summary": seeded}})
        seen = await collect_until(
            events, lambda s: any(e.previous == seeded for e in summaries(s)), 30
        )
    resumed = next(e for e in summaries(seen) if e.previous == seeded)
    assert resumed.current.users_total == asked + 1  # the first poll after the resume


async def test_resuming_stats_that_already_run_starts_no_second_poller() -> None:
    # A lease taken twice: the pollers already run, so nothing more is started.
    pbx = SummaryPBX([])
    async with (
        pbx.client() as c,
        c.watch([], check_token=False, **STATS_WATCH) as watcher,
        watcher.subscribe(replay=False) as events,
    ):
        await collect_until(events, lambda s: bool(summaries(s)), 30)
        watcher._resume_stats()
        watcher._resume_stats()
        before = pbx.answers
        await anyio.sleep(10)
        # One poller asks once a second; two would ask about twice as often.
        assert pbx.answers - before <= 11
