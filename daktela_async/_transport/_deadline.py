"""The deadline of one attempt: the whole request, from sending to the last byte read.

On expiry the block raises :class:`TimeoutError` (the pool maps it). Three forms, by cost:

- trio (and any loop but asyncio's): ``anyio.fail_after``;
- asyncio, a deadline under :data:`COARSE_FROM` seconds: the standard library's
  ``asyncio.timeout`` (a third of anyio's cost: 3.7 against 8.4 us per attempt);
- asyncio, a longer one (the defaults: 60 s, 90 s for a long poll): a
  :class:`Sweep` that looks at the deadlines due on the loop once per
  :data:`SWEEP_EVERY` seconds. A timer per request costs more than the rest of what the
  pool does for it (a heap push and a cancelled handle each); an entry in a dict costs
  next to nothing, and one timer serves a thousand held polls. Such a deadline fires up
  to two sweeps (half a second) late: too little to matter on ten seconds or more.

The coarse form keeps ``asyncio.timeout``'s semantics: it cancels the task, and on the
way out turns that cancellation (and only that one: not a caller's) into
:class:`TimeoutError`.
"""

from __future__ import annotations

import asyncio
import math
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Final

import anyio
import sniffio

__all__ = ["COARSE_FROM", "SWEEP_EVERY", "Sweep", "deadline_scope"]

#: Deadlines at least this long (seconds) are checked by the loop's sweep, on asyncio.
COARSE_FROM: Final = 10.0
#: How often the sweep looks, while a coarse deadline is in flight: how late one may fire.
SWEEP_EVERY: Final = 0.25


class _AnyioDeadline:
    """``anyio.fail_after`` as an async context manager (trio's deadline)."""

    __slots__ = ("_scope",)

    def __init__(self, seconds: float | None) -> None:
        self._scope = anyio.fail_after(seconds)

    async def __aenter__(self) -> None:
        self._scope.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        return self._scope.__exit__(exc_type, exc, tb)


class _NoDeadline:
    """No deadline (``None``): nothing to arm."""

    __slots__ = ()

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


_NO_DEADLINE: Final = _NoDeadline()


class Sweep:
    """The coarse deadlines in flight on one asyncio loop, checked by one timer.

    Deadlines are kept in buckets of :data:`SWEEP_EVERY` seconds (a timer wheel): a run
    of the timer looks only at the buckets that fell due, not at every request in flight
    (a thousand held polls would otherwise stall the loop a little, four times a
    second). The timer runs only while a deadline is in flight.
    """

    __slots__ = ("_buckets", "_pending", "_timer", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        # Bucket number (due at number x SWEEP_EVERY) -> its deadlines, as an ordered set.
        self._buckets: dict[int, dict[_CoarseDeadline, bool]] = {}
        self._pending = 0
        self._timer: asyncio.TimerHandle | None = None

    @property
    def pending(self) -> int:
        """Deadlines in flight."""
        return self._pending

    @property
    def armed(self) -> bool:
        """Whether the timer is scheduled."""
        return self._timer is not None

    def add(self, entry: _CoarseDeadline) -> None:
        # The first bucket due at or after the deadline: never early.
        slot = entry.slot = math.ceil(entry.when / SWEEP_EVERY)
        bucket = self._buckets.get(slot)
        if bucket is None:
            bucket = self._buckets[slot] = {}
        bucket[entry] = True
        self._pending += 1
        if self._timer is None:
            self._timer = self.loop.call_later(SWEEP_EVERY, self._run)

    def discard(self, entry: _CoarseDeadline) -> None:
        bucket = self._buckets.get(entry.slot)
        if bucket is not None and bucket.pop(entry, False):
            self._pending -= 1
            if not bucket:
                del self._buckets[entry.slot]

    def _run(self) -> None:
        self._timer = None
        due = math.floor(self.loop.time() / SWEEP_EVERY)
        for slot in [s for s in self._buckets if s <= due]:
            for entry in self._buckets.pop(slot):
                self._pending -= 1
                entry.expire()
        if self._pending:
            self._timer = self.loop.call_later(SWEEP_EVERY, self._run)


class _CoarseDeadline:
    """One attempt's deadline, checked by the loop's :class:`Sweep` (see the module)."""

    __slots__ = ("_cancelling", "_expired", "_sweep", "_task", "slot", "when")

    def __init__(self, sweep: Sweep, seconds: float) -> None:
        self._sweep = sweep
        self.when = sweep.loop.time() + seconds
        self.slot = 0  # its bucket, set by the sweep
        self._expired = False
        self._task: asyncio.Task[object] | None = None
        self._cancelling = 0

    async def __aenter__(self) -> None:
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - an async with always runs in a task
            raise RuntimeError("a deadline needs a running task")
        self._task = task
        # Cancellations already requested are the caller's, as asyncio.timeout counts them.
        self._cancelling = task.cancelling()
        self._sweep.add(self)

    def expire(self) -> None:
        """The deadline passed: cancel the block (the sweep calls this, once)."""
        self._expired = True
        if self._task is not None:
            self._task.cancel()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._sweep.discard(self)
        task, self._task = self._task, None
        # An expired deadline withdraws its cancellation (uncancel, always, as
        # asyncio.timeout does); a timeout only if no one else asked for one.
        if (
            self._expired
            and task is not None
            and task.uncancel() <= self._cancelling
            and exc_type is asyncio.CancelledError
        ):
            raise TimeoutError from exc
        return None


def deadline_scope(
    seconds: float | None, sweeps: dict[asyncio.AbstractEventLoop, Sweep]
) -> AbstractAsyncContextManager[object]:
    """Cap one attempt as a whole; on expiry the block raises :class:`TimeoutError`.

    Args:
        seconds: The deadline (``None``: none).
        sweeps: The caller's sweep per asyncio loop, created here when missing.
    """
    if sniffio.current_async_library() != "asyncio":
        return _AnyioDeadline(seconds)
    if seconds is None:
        return _NO_DEADLINE
    if seconds < COARSE_FROM:
        return asyncio.timeout(seconds)
    loop = asyncio.get_running_loop()
    sweep = sweeps.get(loop)
    if sweep is None:
        if len(sweeps) >= 8:
            # Loops a pool outlived (one per test, say): forget those with nothing in flight.
            for old in [k for k, v in sweeps.items() if not v.pending]:
                del sweeps[old]
        sweep = sweeps[loop] = Sweep(loop)
    return _CoarseDeadline(sweep, seconds)
