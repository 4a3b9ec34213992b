"""The day's figures depend on the set of rows only: not their order, not repeats."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from hypothesis import given
from hypothesis import strategies as st

from daktela_async._models import StatsCallRow
from daktela_async.realtime import QueueDay
from daktela_async.realtime._today import DayTally

DAY = dt.date(2025, 3, 10)
THRESHOLD = 20.0


@st.composite
def rows(draw: st.DrawFn) -> list[StatsCallRow]:
    """Rows with distinct ``call`` ids: mostly the day's inbound calls, some not."""
    ids = draw(st.lists(st.integers(1, 10_000), unique=True, max_size=40))
    found = []
    for call in ids:
        day = draw(st.sampled_from([DAY, DAY, DAY, DAY - dt.timedelta(days=1)]))
        seconds = draw(st.integers(0, 86_399))
        found.append(
            StatsCallRow(
                call=call,
                call_time=draw(
                    st.sampled_from(
                        [dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=seconds)] * 9
                        + [None]
                    )
                ),
                direction=draw(st.sampled_from(["in", "in", "in", "out", None])),
                answered=draw(st.sampled_from([True, True, False, None])),
                queue=draw(st.sampled_from([1, 2, 3, None])),
                waiting_time=draw(st.one_of(st.integers(0, 600), st.none())),
                duration=draw(st.one_of(st.integers(0, 3600), st.none())),
            )
        )
    return found


def reference(rows: Iterable[StatsCallRow]) -> dict[str, QueueDay]:
    """The figures computed the plain way, from every distinct row at once."""
    unique = {row.call: row for row in rows}.values()
    by_queue: dict[str, list[StatsCallRow]] = {}
    for row in unique:
        if (
            row.call_time is not None
            and row.call_time.date() == DAY
            and row.direction == "in"
            and row.queue is not None
        ):
            by_queue.setdefault(str(row.queue), []).append(row)
    figures = {}
    for queue, calls in by_queue.items():
        answered = [c for c in calls if c.answered]
        waits = [c.waiting_time or 0 for c in answered]
        in_time = sum(1 for w in waits if w <= THRESHOLD)
        figures[queue] = QueueDay(
            queue=queue,
            day=DAY,
            offered=len(calls),
            answered=len(answered),
            abandoned=len(calls) - len(answered),
            answered_in_threshold=in_time,
            threshold=THRESHOLD,
            service_level=in_time / len(calls),
            asa=sum(waits) / len(answered) if answered else None,
            aht=sum(c.duration or 0 for c in answered) / len(answered) if answered else None,
            longest_wait=max(c.waiting_time or 0 for c in calls),
        )
    return figures


@given(rows(), st.data())
def test_any_order_and_any_repeats_give_the_same_figures(
    found: list[StatsCallRow], data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(found))
    repeats = data.draw(st.lists(st.sampled_from(found), max_size=20)) if found else []
    tally = DayTally(DAY, THRESHOLD)
    counted = tally.add_all([*shuffled, *repeats])
    expected = reference(found)
    assert tally.figures() == expected
    assert counted == sum(day.offered for day in expected.values())
    # Adding everything again changes nothing.
    assert tally.add_all(found) == 0
    assert tally.figures() == expected


@given(rows())
def test_the_figures_hold_together(found: list[StatsCallRow]) -> None:
    tally = DayTally(DAY, THRESHOLD)
    tally.add_all(found)
    for day in tally.figures().values():
        assert day.offered == day.answered + day.abandoned > 0
        assert 0 <= day.answered_in_threshold <= day.answered
        assert day.service_level is not None
        assert 0.0 <= day.service_level <= 1.0
        assert (day.asa is None) == (day.aht is None) == (day.answered == 0)
        assert day.longest_wait is not None
        assert day.asa is None or day.asa <= day.longest_wait
    newest = [r.call_time for r in found if r.call_time is not None and r.call_time.date() == DAY]
    assert tally.newest == (max(newest) if newest else None)


def test_a_new_day_keeps_the_queues_at_zero() -> None:
    tally = DayTally(DAY, THRESHOLD)
    row = StatsCallRow(
        call=1,
        call_time=dt.datetime(2025, 3, 10, 9, 0),
        direction="in",
        answered=True,
        queue=4,
        waiting_time=3,
        duration=30,
    )
    assert tally.add(row)
    tally.start_day(DAY + dt.timedelta(days=1))
    [day] = tally.figures().values()
    assert (day.queue, day.day, day.offered, day.service_level) == (
        "4",
        DAY.replace(day=11),
        0,
        None,
    )
    assert tally.counted == set()
    assert tally.newest is None
    assert not tally.add(row)  # yesterday's row
