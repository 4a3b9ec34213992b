"""Simulated wall time and the timer heap that the PBX's delayed transitions run on.

The PBX keeps naive local times (``YYYY-MM-DD HH:MM:SS``, no zone). The simulator
stores them as seconds since the epoch *read as UTC*, so formatting and parsing never
depend on the host's time zone: :func:`fmt` and :func:`parse_dt` are exact inverses.
"""

from __future__ import annotations

import calendar
import heapq
import itertools
import math
import time
from collections.abc import Callable
from typing import Final

from .._errors import DaktelaUsageError

__all__ = ["SimClock", "TimerHandle", "TimerHeap", "fmt", "fmt_opt", "local_now", "parse_dt"]

_FORMAT: Final = "%Y-%m-%d %H:%M:%S"


def fmt(ts: float) -> str:
    """Format simulated seconds as the PBX writes times (``2013-12-10 16:12:55``)."""
    return time.strftime(_FORMAT, time.gmtime(ts))


def fmt_opt(ts: float | None) -> str | None:
    """Like :func:`fmt`, keeping ``None`` (the PBX's ``null`` for "not yet")."""
    return None if ts is None else time.strftime(_FORMAT, time.gmtime(ts))


def parse_dt(text: str) -> float:
    """Read ``YYYY-MM-DD HH:MM:SS`` (or ``YYYY-MM-DD``) as simulated seconds.

    Raises:
        ValueError: *text* is in neither form.
    """
    text = text.strip()
    form = _FORMAT if " " in text else "%Y-%m-%d"
    return float(calendar.timegm(time.strptime(text, form)))


def local_now() -> float:
    """The host's current local wall time, whole seconds, in the simulator's convention."""
    return float(calendar.timegm(time.localtime()))


class SimClock:
    """Simulated time that runs *speed* times faster than real time.

    ``speed == 0`` freezes the clock: it then moves only through :meth:`advance` and
    :meth:`set`, which is what deterministic tests want.
    """

    def __init__(
        self,
        start: float | None = None,
        speed: float = 1.0,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed < 0:
            raise DaktelaUsageError("speed must be >= 0", parameter="speed")
        self._monotonic = monotonic
        self._origin_real = monotonic()
        self._origin_sim = float(int(local_now() if start is None else start))
        self._speed = speed

    @property
    def speed(self) -> float:
        """How many simulated seconds pass per real second."""
        return self._speed

    def now(self) -> float:
        """The current simulated time."""
        if self._speed == 0:
            return self._origin_sim
        return self._origin_sim + (self._monotonic() - self._origin_real) * self._speed

    def advance(self, seconds: float) -> None:
        """Move simulated time forward by *seconds*.

        Raises:
            DaktelaUsageError: *seconds* is negative, NaN or infinite (a NaN clock would make
                every later time and timer wrong for good).
        """
        if not (math.isfinite(seconds) and seconds >= 0):
            raise DaktelaUsageError(
                f"seconds must be a finite number >= 0 (time only moves forward), not {seconds!r}"
            )
        self._origin_sim += seconds

    def set(self, when: float) -> None:
        """Jump to simulated time *when* (backwards too: tests replay old dates)."""
        self._origin_real = self._monotonic()
        self._origin_sim = float(when)

    def real_delay(self, when: float) -> float | None:
        """Real seconds until simulated time *when*; ``None`` when the clock is frozen."""
        if self._speed == 0:
            return None
        return max(0.0, (when - self.now()) / self._speed)


class TimerHandle:
    """A scheduled callback; :meth:`cancel` makes it a no-op."""

    __slots__ = ("at", "callback", "cancelled")

    def __init__(self, at: float, callback: Callable[[], None]) -> None:
        self.at = at
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        """Do not run this timer."""
        self.cancelled = True


class TimerHeap:
    """Callbacks ordered by simulated time (ties in scheduling order)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, TimerHandle]] = []
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, at: float, callback: Callable[[], None]) -> TimerHandle:
        """Schedule *callback* at simulated time *at*."""
        handle = TimerHandle(at, callback)
        heapq.heappush(self._heap, (at, next(self._seq), handle))
        return handle

    def next_at(self) -> float | None:
        """When the earliest live timer is due, or ``None``."""
        while self._heap and self._heap[0][2].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def pop_due(self, until: float) -> TimerHandle | None:
        """Remove and return the earliest live timer due at or before *until*."""
        while self._heap and self._heap[0][0] <= until:
            handle = heapq.heappop(self._heap)[2]
            if not handle.cancelled:
                return handle
        return None
