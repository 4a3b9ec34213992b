"""Today's figures per queue: hand-computed days on the simulator, paging, the day reset."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from daktela_async import DaktelaClient, DaktelaUsageError, Timeouts
from daktela_async.realtime import (
    SERVICE_LEVEL_THRESHOLD,
    QueueDay,
    QueueDayChanged,
    SourceFailed,
    TodayCalls,
)
from daktela_async.sim import Simulator
from tests.realtime.conftest import HOLD, WATCH
from tests.realtime.support import collect_until

pytestmark = pytest.mark.anyio

DAY = dt.date(2025, 3, 10)
START = "2025-03-10 09:00:00"
#: The first inbound queue (number 2000, id "1") and the second (2001, id "2").
SUPPORT, SALES = "2000", "2001"


class Clock:
    """A settable ``now`` for :class:`TodayCalls` (naive local time, like the PBX's)."""

    def __init__(self, when: dt.datetime) -> None:
        self.when = when

    def __call__(self) -> dt.datetime:
        return self.when


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(
        agents=6, queues=2, seed=7, speed=0, hold=HOLD, start_time=START
    ) as simulator:
        # Only hajek takes calls: a call that comes while hajek is busy waits in the queue.
        for user in ("hajekhu", "demouser", "michalhajek", "novak", "pavelmoravec"):
            simulator.pause_on(user)
        yield simulator


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[DaktelaClient]:
    timeouts = Timeouts(connect=1.0, read=1.0, write=1.0, pool=1.0, deadline=2.0)
    async with DaktelaClient(sim.url, sim.token, timeout=timeouts) as c:
        yield c


def today(client: DaktelaClient, clock: Callable[[], dt.datetime], **options: Any) -> TodayCalls:
    return TodayCalls(client, now=clock, **options)


def hang_up(sim: Simulator) -> None:
    """hajek hangs up and skips the queue's 10 s wrap-up: free for the next call at once."""
    sim.hangup("hajek")
    sim.pause_off("hajek")


def known_day(sim: Simulator) -> None:
    """Calls with known waits and talk times, 09:00:00 to 09:03:10 (seconds after 09:00).

    Support: A waits 5 and talks 55; B waits 52 (in the queue while A is spoken) and
    talks 36; C gives up after 40 s in the queue; D waits exactly 20 and talks 30.
    Sales: E waits 3 and talks 40; G rings for 5 s and the caller hangs up. An outgoing
    call O (not counted) is spoken for 10 s.
    """
    a = sim.start_call(queue=SUPPORT)  # t=0, rings hajek at once
    sim.advance(5)
    assert sim.answer("hajek") == a  # t=5
    sim.advance(5)
    sim.start_call(queue=SUPPORT)  # B, t=10: hajek is busy, B waits
    sim.advance(20)
    c = sim.start_call(queue=SUPPORT)  # t=30
    sim.advance(30)
    hang_up(sim)  # t=60: A ends; B rings hajek
    sim.advance(2)
    sim.answer("hajek")  # t=62: B waited 52
    sim.advance(8)
    sim.hangup(call_id=c)  # t=70: C's caller gives up after 40 s
    sim.advance(10)
    sim.start_call(queue=SUPPORT)  # D, t=80
    sim.advance(18)
    hang_up(sim)  # t=98: B ends (36 s); D rings
    sim.advance(2)
    sim.answer("hajek")  # t=100: D waited 20
    sim.advance(30)
    hang_up(sim)  # t=130: D ends
    sim.start_call(queue=SALES)  # E, t=130
    sim.advance(3)
    sim.answer("hajek")  # t=133
    sim.advance(40)
    hang_up(sim)  # t=173: E ends
    sim.start_call(user="hajek", direction="out")  # O, t=173
    sim.advance(2)
    sim.answer("hajek")
    sim.advance(10)
    hang_up(sim)  # t=185
    g = sim.start_call(queue=SALES)  # t=185, rings hajek
    sim.advance(5)
    sim.hangup(call_id=g)  # t=190


SUPPORT_DAY = QueueDay(
    queue="1",
    day=DAY,
    offered=4,
    answered=3,
    abandoned=1,
    answered_in_threshold=2,  # A (5 s) and D (exactly 20 s)
    threshold=20.0,
    service_level=0.5,
    asa=(5 + 52 + 20) / 3,
    aht=(55 + 36 + 30) / 3,
    longest_wait=52,
)
SALES_DAY = QueueDay(
    queue="2",
    day=DAY,
    offered=2,
    answered=1,
    abandoned=1,
    answered_in_threshold=1,
    threshold=20.0,
    service_level=0.5,
    asa=3.0,
    aht=40.0,
    longest_wait=5,
)


async def test_a_known_day_gives_the_hand_computed_figures(
    sim: Simulator, client: DaktelaClient
) -> None:
    known_day(sim)
    figures = await today(client, Clock(dt.datetime(2025, 3, 10, 9, 5))).poll()
    assert figures == {"1": SUPPORT_DAY, "2": SALES_DAY}


async def test_the_threshold_decides_what_is_answered_in_time(
    sim: Simulator, client: DaktelaClient
) -> None:
    known_day(sim)
    figures = await today(client, Clock(dt.datetime(2025, 3, 10, 9, 5)), threshold=19.5).poll()
    # D (20 s) is now too late: only A counts.
    assert figures["1"].answered_in_threshold == 1
    assert figures["1"].service_level == 0.25
    assert figures["1"].threshold == 19.5
    assert figures["2"].service_level == 0.5


async def test_pages_of_a_few_rows_count_every_call_once(
    sim: Simulator, client: DaktelaClient
) -> None:
    known_day(sim)
    sim.traffic(reset=True)
    counter = today(client, Clock(dt.datetime(2025, 3, 10, 9, 5)), page_size=2)
    assert await counter.poll() == {"1": SUPPORT_DAY, "2": SALES_DAY}
    # Seven rows (six inbound, one outgoing) in pages of 2, 2, 2 and 1.
    assert sim.traffic()["requests"]["StatsCalls"] == 4


async def test_a_call_that_ends_after_a_poll_counts_once_it_has_ended(
    sim: Simulator, client: DaktelaClient
) -> None:
    counter = today(client, Clock(dt.datetime(2025, 3, 10, 9, 30)))
    sim.start_call(queue=SUPPORT)  # t=0: rings hajek
    sim.advance(4)
    sim.answer("hajek")  # the long call, spoken through every poll below
    sim.advance(6)
    short = sim.start_call(queue=SALES)  # t=10: waits, hajek is busy
    sim.advance(15)
    sim.hangup(call_id=short)  # t=25: abandoned after 15 s
    first = await counter.poll()
    assert set(first) == {"2"}
    assert first["2"].abandoned == 1
    # The next poll starts an hour before the newest call seen (09:00:10, the short one),
    # well before the long call entered.
    assert counter.window()[0] == dt.datetime(2025, 3, 10, 8, 0, 10)
    sim.advance(300)
    hang_up(sim)  # t=325: entered before the first poll, ended after it
    second = await counter.poll()
    assert second["1"].offered == 1
    assert second["1"].asa == 4.0
    assert second["1"].aht == 321.0
    assert second["2"] == first["2"]
    # Polling again (the same rows in the window) counts nothing twice.
    assert await counter.poll() == second


async def test_the_window_looks_back_from_the_newest_call_seen(
    sim: Simulator, client: DaktelaClient
) -> None:
    sim.set_time("2025-03-10 14:00:00")
    sim.start_call(queue=SUPPORT)
    sim.advance(10)
    hang_up(sim)  # never answered: the caller hung up while it rang
    counter = today(
        client, Clock(dt.datetime(2025, 3, 10, 14, 5)), lookback=dt.timedelta(minutes=20)
    )
    assert counter.window() == (
        dt.datetime(2025, 3, 10, 0, 0),
        dt.datetime(2025, 3, 10, 23, 59, 59),
    )
    figures = await counter.poll()
    assert figures["1"].offered == 1
    assert figures["1"].answered == 0
    assert figures["1"].asa is None
    assert figures["1"].aht is None
    assert figures["1"].service_level == 0.0
    assert figures["1"].longest_wait == 10
    assert counter.window() == (
        dt.datetime(2025, 3, 10, 13, 40),
        dt.datetime(2025, 3, 10, 23, 59, 59),
    )


async def test_at_midnight_every_queue_starts_again_at_zero(
    sim: Simulator, client: DaktelaClient
) -> None:
    clock = Clock(dt.datetime(2025, 3, 10, 23, 50))
    counter = today(client, clock)
    sim.set_time("2025-03-10 23:50:00")
    sim.start_call(queue=SUPPORT)
    sim.advance(3)
    sim.answer("hajek")
    sim.advance(60)
    hang_up(sim)
    late = sim.start_call(queue=SALES)  # 23:51:03, ends after midnight
    sim.advance(2)
    sim.answer("hajek")
    assert (await counter.poll())["1"].offered == 1

    sim.set_time("2025-03-11 00:00:30")
    sim.hangup(call_id=late)
    sim.pause_off("hajek")  # no wrap-up
    clock.when = dt.datetime(2025, 3, 11, 0, 1)
    figures = await counter.poll()
    # The day before is over (the late call belongs to it and is counted nowhere).
    assert figures == {
        "1": QueueDay(
            queue="1",
            day=dt.date(2025, 3, 11),
            offered=0,
            answered=0,
            abandoned=0,
            answered_in_threshold=0,
            threshold=SERVICE_LEVEL_THRESHOLD,
            service_level=None,
            asa=None,
            aht=None,
            longest_wait=None,
        )
    }
    assert counter.window()[0] == dt.datetime(2025, 3, 11, 0, 0)
    sim.start_call(queue=SALES)
    sim.advance(7)
    sim.answer("hajek")
    sim.advance(20)
    hang_up(sim)
    clock.when = dt.datetime(2025, 3, 11, 0, 5)
    figures = await counter.poll()
    assert figures["1"].offered == 0
    assert figures["2"].day == dt.date(2025, 3, 11)
    assert (figures["2"].offered, figures["2"].asa, figures["2"].aht) == (1, 7.0, 20.0)
    assert counter.tally is not None
    assert len(counter.tally.counted) == 1  # only the new day's call is remembered


@pytest.mark.parametrize(
    ("options", "parameter"),
    [
        ({"threshold": -1}, "service_level_threshold"),
        ({"threshold": float("nan")}, "service_level_threshold"),
        ({"threshold": True}, "service_level_threshold"),
        ({"threshold": "20"}, "service_level_threshold"),
        ({"page_size": 1001}, "page_size"),
        ({"page_size": 0}, "page_size"),
    ],
)
async def test_bad_options_are_refused(
    client: DaktelaClient, options: dict[str, Any], parameter: str
) -> None:
    with pytest.raises(DaktelaUsageError) as caught:
        TodayCalls(client, **options)
    assert caught.value.parameter == parameter


# --- the watcher's "today" source ----------------------------------------------------------


@pytest.fixture
async def live_sim() -> AsyncIterator[Simulator]:
    """A simulator on today's date (the watcher's default clock is the local date)."""
    noon = f"{dt.date.today():%Y-%m-%d} 12:00:00"
    async with Simulator(
        agents=6, queues=2, seed=7, speed=0, hold=HOLD, start_time=noon
    ) as simulator:
        for user in ("hajekhu", "demouser", "michalhajek", "novak", "pavelmoravec"):
            simulator.pause_on(user)
        yield simulator


@pytest.fixture
async def live_client(live_sim: Simulator) -> AsyncIterator[DaktelaClient]:
    timeouts = Timeouts(connect=1.0, read=1.0, write=1.0, pool=1.0, deadline=2.0)
    async with DaktelaClient(live_sim.url, live_sim.token, timeout=timeouts) as c:
        yield c


def spoken(sim: Simulator, queue: str, wait: int, talk: int) -> None:
    sim.start_call(queue=queue)
    sim.advance(wait)
    sim.answer("hajek")
    sim.advance(talk)
    hang_up(sim)


def is_day(queue: str, offered: int) -> Callable[[list[Any]], bool]:
    def done(seen: list[Any]) -> bool:
        last = seen[-1]
        return (
            isinstance(last, QueueDayChanged)
            and last.queue == queue
            and last.current is not None
            and last.current.offered == offered
        )

    return done


async def test_the_watcher_publishes_each_queues_day_as_it_changes(
    live_sim: Simulator, live_client: DaktelaClient
) -> None:
    spoken(live_sim, SUPPORT, wait=4, talk=30)
    options = {**WATCH, "stats_interval": {"today": 0.1}, "service_level_threshold": 3.5}
    async with (
        live_client.watch(stats=["today"], **options) as watcher,
        watcher.subscribe(kinds=["queue_day"]) as events,
    ):
        [first] = await collect_until(events, is_day("1", 1))
        assert isinstance(first, QueueDayChanged)
        assert first.previous is None
        assert first.current is not None
        assert (first.current.answered_in_threshold, first.current.threshold) == (0, 3.5)
        spoken(live_sim, SUPPORT, wait=2, talk=10)
        seen = await collect_until(events, is_day("1", 2))
        change = seen[-1]
        assert isinstance(change, QueueDayChanged)
        assert change.previous == first.current
        assert change.current is not None
        assert (change.current.asa, change.current.aht) == (3.0, 20.0)
        assert change.current.service_level == 0.5
        # Unchanged figures are not published again.
        assert [e for e in seen if isinstance(e, QueueDayChanged)] == [change]
        table = watcher.table("today")
        assert table == {"1": change.current}
        # A subscriber that joins late is told the current figures first.
        async with watcher.subscribe(kinds=[QueueDayChanged]) as late:
            [replayed] = await collect_until(late, lambda s: len(s) == 1)
        assert isinstance(replayed, QueueDayChanged)
        assert (replayed.queue, replayed.previous, replayed.current) == ("1", None, change.current)


async def test_a_failing_statscalls_is_its_own_source(
    live_sim: Simulator, live_client: DaktelaClient
) -> None:
    spoken(live_sim, SALES, wait=1, talk=5)
    live_sim.inject("status", status=503, actions={"StatsCalls"}, count=1)
    options = {**WATCH, "stats_interval": {"today": 0.1}}
    async with (
        live_client.watch(stats=["today"], **options) as watcher,
        watcher.subscribe(kinds=["queue_day", "source_failed"]) as events,
    ):
        seen = await collect_until(events, is_day("2", 1))
    failed = [e for e in seen if isinstance(e, SourceFailed)]
    assert [e.source for e in failed] == ["stats:today"]


async def test_intervals_default_to_30_s_for_today_and_2_s_for_the_rest(
    live_client: DaktelaClient,
) -> None:
    def intervals(**options: Any) -> dict[str, float]:
        watcher = live_client.watch(stats=["queues", "today"], **options)
        return dict(watcher._settings.stats_intervals)

    assert intervals() == {"queues": 2.0, "today": 30.0}
    assert intervals(stats_interval={"queues": 0.5}) == {"queues": 0.5, "today": 30.0}
    assert intervals(stats_interval={"today": 5}) == {"queues": 2.0, "today": 5.0}
    assert intervals(stats_interval=1) == {"queues": 1.0, "today": 1.0}


@pytest.mark.parametrize("threshold", [-0.5, float("inf"), None, "20"])
async def test_the_watcher_checks_its_threshold(live_client: DaktelaClient, threshold: Any) -> None:
    with pytest.raises(DaktelaUsageError, match="service_level_threshold"):
        live_client.watch(stats=["today"], service_level_threshold=threshold)


async def test_today_needs_api_41(live_sim: Simulator) -> None:
    from daktela_async import DaktelaVersionError

    async with DaktelaClient(live_sim.url, live_sim.token, api_version="4.0") as old:
        with pytest.raises(DaktelaVersionError, match="StatsCalls"):
            old.watch(stats=["today"])


OFFLINE = DaktelaClient("https://pbx.example", "token")


@pytest.mark.parametrize(
    ("page_size", "message"),
    [
        (True, "page_size must be a whole number"),
        ("10", "page_size must be a whole number"),
        (0, "page_size must be between 1 and 1000, not 0"),
        (1001, "page_size must be between 1 and 1000, not 1001"),
    ],
)
def test_bad_page_sizes_are_refused_with_these_messages(page_size: Any, message: str) -> None:
    with pytest.raises(DaktelaUsageError) as caught:
        TodayCalls(OFFLINE, page_size=page_size)
    assert (caught.value.message, caught.value.parameter) == (message, "page_size")


@pytest.mark.parametrize("page_size", [1, 1000])
def test_page_sizes_from_1_to_1000_are_taken(page_size: int) -> None:
    assert TodayCalls(OFFLINE, page_size=page_size).page_size == page_size


def test_reset_makes_the_next_poll_read_the_whole_day_again() -> None:
    counter = TodayCalls(OFFLINE, now=lambda: dt.datetime(2025, 3, 10, 15, 0))
    midnight, end = dt.datetime(2025, 3, 10), dt.datetime(2025, 3, 10, 23, 59, 59)
    assert counter.window() == (midnight, end)
    assert counter.tally is not None
    counter.tally.newest = dt.datetime(2025, 3, 10, 14, 30)
    assert counter.window() == (dt.datetime(2025, 3, 10, 13, 30), end)
    counter.reset()
    assert counter.window() == (midnight, end)


@pytest.mark.parametrize("threshold", [0, 0.5, 20])
def test_any_finite_threshold_from_0_seconds_is_taken(threshold: float) -> None:
    assert TodayCalls(OFFLINE, threshold=threshold).threshold == threshold


def test_a_threshold_that_is_not_a_number_is_refused_naming_its_type() -> None:
    with pytest.raises(DaktelaUsageError) as caught:
        TodayCalls(OFFLINE, threshold=True)
    assert caught.value.message == "service_level_threshold must be a number of seconds, not bool"
