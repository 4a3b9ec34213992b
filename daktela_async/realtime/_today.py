"""Today's figures per queue, counted from the call-centre calls of ``StatsCalls``.

``StatsCalls`` (API 4.1) lists a call once it has ended, dated by ``call_time``: when it
entered the queue. So a window "since the last poll" would miss every call that entered
before the last poll and ended after it. Each poll therefore asks for

    ``datetime_from = max(start of the day, newest call_time seen - lookback)``
    ``datetime_to = end of the day``

page by page (``skip``/``take``, at most 1000 rows a page: the document's cap), and
counts every row it has not counted yet (the row's ``call`` id is kept for the rest of
the day, so overlapping windows and rows that move between pages never count twice).
A call that takes longer than the lookback (1 h by default) from entering the queue to
hanging up may be missed once newer calls have moved the window past it.

The day is the client's local date (``now()``, naive local time, the way the PBX writes
its own times): run the watcher in the PBX's time zone (``TZ=Europe/Prague``), or pass
a ``now`` that returns the PBX's local time. A call counts on the day it entered the
queue. At midnight every queue seen so far starts again at zero, so a wallboard's row
resets rather than disappears; calls that entered before midnight and end after it are
not counted anywhere (the day they belong to is over).

Only inbound calls (``direction == "in"``) with a queue count; outgoing call-centre
calls and rows without a queue are skipped.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Final

import attrs

from .._errors import DaktelaUsageError
from .._models import StatsCallRow
from .._models._converter import converter

if TYPE_CHECKING:
    from .._client import DaktelaClient

__all__ = [
    "LOOKBACK",
    "PAGE_SIZE",
    "SERVICE_LEVEL_THRESHOLD",
    "TODAY_INTERVAL",
    "DayTally",
    "QueueDay",
    "TodayCalls",
    "check_threshold",
]

#: Seconds of waiting within which an answered call meets the service level.
SERVICE_LEVEL_THRESHOLD: Final = 20.0
#: Seconds between polls of ``StatsCalls`` (a day's history, not a live view).
TODAY_INTERVAL: Final = 30.0
#: How far before the newest ``call_time`` seen each poll looks again, for the calls
#: that entered the queue earlier and ended since.
LOOKBACK: Final = dt.timedelta(hours=1)
#: Rows asked for per request: ``StatsCalls`` refuses more than 1000.
PAGE_SIZE: Final = 1000

_END_OF_DAY: Final = dt.time(23, 59, 59)


@attrs.frozen(slots=True, kw_only=True)
class QueueDay:
    """One queue's figures for one day, from the inbound calls of the day that have ended.

    Every call is taken as ``StatsCalls`` reports it: ``waiting_time`` is the time from
    entering the queue to the answer (ringing included) or, for an unanswered call, to
    the hang-up; ``duration`` is the time spoken, hold included.

    Attributes:
        queue: The queue id (``"1"``), as ``watcher.table("queues")`` keys it.
        day: The day the calls entered the queue.
        offered: Inbound calls that entered the queue that day and have ended.
        answered: Those an agent answered.
        abandoned: ``offered - answered``: the caller hung up (or the PBX gave up)
            before an answer, however soon.
        answered_in_threshold: Answered calls whose ``waiting_time`` is at most
            ``threshold`` seconds.
        threshold: The service-level threshold, in seconds.
        service_level: ``answered_in_threshold / offered``, from 0.0 to 1.0 (every
            abandoned call counts against it); ``None`` while nothing was offered.
        asa: Average speed of answer: the mean ``waiting_time`` of the answered calls,
            in seconds; ``None`` before the first answer.
        aht: Average handle time: the mean ``duration`` of the answered calls, in
            seconds (talk and hold; the wrap-up pause is not included); ``None``
            before the first answer.
        longest_wait: The longest ``waiting_time`` of the day's calls, answered or
            not, in seconds; ``None`` while nothing was offered.

    In JSON (:func:`~daktela_async.models.unstructure`, ``event.to_dict()``, the Redis
    hash) it is an object with these keys, ``day`` as ``"YYYY-MM-DD"``;
    :func:`~daktela_async.models.structure` reads it back.
    """

    queue: str
    day: dt.date
    offered: int
    answered: int
    abandoned: int
    answered_in_threshold: int
    threshold: float
    service_level: float | None
    asa: float | None
    aht: float | None
    longest_wait: int | None


def _unstructure_queue_day(figures: QueueDay) -> dict[str, Any]:
    # Every other field is a JSON scalar already; a date is not one for the json module.
    data = attrs.asdict(figures, recurse=False)
    data["day"] = figures.day.isoformat()
    return data


converter.register_unstructure_hook(QueueDay, _unstructure_queue_day)


@attrs.define(slots=True)
class _Sums:
    """The running sums of one queue (all whole seconds: the result is order-free)."""

    offered: int = 0
    answered: int = 0
    in_threshold: int = 0
    waited: int = 0
    spoken: int = 0
    longest: int | None = None


class DayTally:
    """The running sums behind the :class:`QueueDay` figures of one day.

    :meth:`add` is idempotent and the order of the rows does not matter: a row counts
    once, by its ``call`` id, and every figure comes from sums and a maximum. A missing
    ``waiting_time`` or ``duration`` counts as 0 s.

    Args:
        day: The day whose calls count.
        threshold: The service-level threshold, in seconds.
    """

    def __init__(self, day: dt.date, threshold: float) -> None:
        self.day = day
        self.threshold = threshold
        #: The ``call`` ids counted this day: bounded by the day's calls.
        self.counted: set[int] = set()
        #: The newest ``call_time`` of the day's rows seen (any direction).
        self.newest: dt.datetime | None = None
        self._queues: dict[str, _Sums] = {}

    def add(self, row: StatsCallRow) -> bool:
        """Count *row*; ``False`` when it does not count.

        It does not when its ``call`` id was counted already, it entered the queue on
        another day, it is not inbound, or it has no queue.
        """
        when = row.call_time
        if when is None or when.date() != self.day:
            return False
        if self.newest is None or when > self.newest:
            self.newest = when
        if row.direction != "in" or row.queue is None or row.call in self.counted:
            return False
        self.counted.add(row.call)
        sums = self._queues.setdefault(str(row.queue), _Sums())
        waited = row.waiting_time or 0
        sums.offered += 1
        if sums.longest is None or waited > sums.longest:
            sums.longest = waited
        if row.answered:
            sums.answered += 1
            sums.waited += waited
            sums.spoken += row.duration or 0
            if waited <= self.threshold:
                sums.in_threshold += 1
        return True

    def add_all(self, rows: Iterable[StatsCallRow]) -> int:
        """Count every row of *rows*; return how many counted."""
        return sum(self.add(row) for row in rows)

    def start_day(self, day: dt.date) -> None:
        """Start *day* afresh; the queues seen so far stay, at zero."""
        self.day = day
        self.counted = set()
        self.newest = None
        self._queues = {queue: _Sums() for queue in self._queues}

    def figures(self) -> dict[str, QueueDay]:
        """The figures of every queue seen, by queue id."""
        return {queue: self._figures(queue, sums) for queue, sums in self._queues.items()}

    def _figures(self, queue: str, sums: _Sums) -> QueueDay:
        answered = sums.answered
        return QueueDay(
            queue=queue,
            day=self.day,
            offered=sums.offered,
            answered=answered,
            abandoned=sums.offered - answered,
            answered_in_threshold=sums.in_threshold,
            threshold=self.threshold,
            service_level=sums.in_threshold / sums.offered if sums.offered else None,
            asa=sums.waited / answered if answered else None,
            aht=sums.spoken / answered if answered else None,
            longest_wait=sums.longest,
        )


def check_threshold(value: object, parameter: str = "threshold") -> float:
    """*value* as a threshold in seconds, or a :class:`DaktelaUsageError`."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DaktelaUsageError(
            f"{parameter} must be a number of seconds, not {type(value).__name__}",
            parameter=parameter,
        )
    if not (math.isfinite(value) and value >= 0):
        raise DaktelaUsageError(
            f"{parameter} must be a finite number of seconds >= 0, not {value!r}",
            parameter=parameter,
        )
    return float(value)


class TodayCalls:
    """Polls ``StatsCalls`` for the day's calls and keeps their :class:`DayTally`.

    The watcher's ``"today"`` stats source uses one; it can also be used on its own::

        today = TodayCalls(client)
        figures = await today.poll()  # {"1": QueueDay(...), ...}

    Args:
        client: The client to ask (API 4.1: ``StatsCalls``).
        threshold: The service-level threshold, in seconds (a finite number >= 0).
        now: The clock of the day: the current local time, naive (the PBX's own
            convention). ``datetime.datetime.now`` by default.
        lookback: How far before the newest ``call_time`` seen each poll looks again.
        page_size: Rows per request (1 to 1000).

    Raises:
        DaktelaUsageError: A bad *threshold* or *page_size*.
    """

    def __init__(
        self,
        client: DaktelaClient,
        *,
        threshold: float = SERVICE_LEVEL_THRESHOLD,
        now: Callable[[], dt.datetime] = dt.datetime.now,
        lookback: dt.timedelta = LOOKBACK,
        page_size: int = PAGE_SIZE,
    ) -> None:
        if isinstance(page_size, bool) or not isinstance(page_size, int):
            raise DaktelaUsageError("page_size must be a whole number", parameter="page_size")
        if not 1 <= page_size <= PAGE_SIZE:
            raise DaktelaUsageError(
                f"page_size must be between 1 and {PAGE_SIZE}, not {page_size!r}",
                parameter="page_size",
            )
        self._client = client
        self.threshold = check_threshold(threshold, "service_level_threshold")
        self.now = now
        self.lookback = lookback
        self.page_size = page_size
        self.tally: DayTally | None = None

    def window(self) -> tuple[dt.datetime, dt.datetime]:
        """The ``datetime_from``/``datetime_to`` of the next poll (starting a new day)."""
        day = self.now().date()
        if self.tally is None:
            self.tally = DayTally(day, self.threshold)
        elif self.tally.day != day:
            self.tally.start_day(day)
        start = dt.datetime.combine(day, dt.time.min)
        if self.tally.newest is not None:
            start = max(start, self.tally.newest - self.lookback)
        return start, dt.datetime.combine(day, _END_OF_DAY)

    async def poll(self) -> dict[str, QueueDay]:
        """Count the calls that ended since the last poll; return every queue's figures.

        Rows of a page are counted as they arrive: a poll that fails half-way keeps
        them, and the next one does not count them again.

        Raises:
            DaktelaError: The request failed (transport, status 0, an answer that does
                not decode).
        """
        start, end = self.window()
        tally = self.tally
        assert tally is not None  # noqa: S101 - window() made it
        # Read to the end (or until a request fails, which ends the pages' generator).
        rows = self._client.statistics.iter_stats_calls(
            datetime_from=start, datetime_to=end, page_size=self.page_size, retries=0
        )
        async for row in rows:
            tally.add(row)
        return tally.figures()

    def reset(self) -> None:
        """Forget everything counted: the next poll reads the whole day again."""
        self.tally = None
