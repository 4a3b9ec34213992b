"""A poll in flight that an outage can interrupt: a cancel scope, at the cost it is used.

Every agent's request runs inside one, so that an outage can cancel the requests in flight
(a hung PBX would keep them until their read timeout) while each agent's loop goes on.
anyio's :class:`~anyio.CancelScope` does that on any backend, but on asyncio it costs
about 10 us per poll against 1000 held ones (an A/B on the simulator, of some 200 us in
all): a scope object with two sets, registration in the task's scope tree on entry and
on exit, and more objects for the garbage collector to walk while the poll is held. On
asyncio, :class:`TaskInterrupt` does the one thing needed here the way ``asyncio.timeout``
does: it cancels the task and, on the way out, turns that cancellation (and only that
one: not a caller's) back into a normal exit.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Self

import anyio
import sniffio

__all__ = ["Interrupt", "TaskInterrupt", "interrupt_factory"]


class TaskInterrupt:
    """A cancel scope for one block of the current asyncio task, entered once.

    :meth:`cancel` cancels the task while it runs the block; the ``CancelledError`` that
    reaches the end of the block is absorbed (:attr:`cancelled_caught`) unless someone
    else asked for a cancellation too (counted with ``Task.cancelling()``, as
    ``asyncio.timeout`` counts them), which then goes on propagating.
    """

    __slots__ = ("_cancelling", "_requested", "_task", "cancelled_caught")

    def __init__(self) -> None:
        self._task: asyncio.Task[object] | None = None
        self._cancelling = 0
        self._requested = False
        self.cancelled_caught = False

    def __enter__(self) -> Self:
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - a poll always runs in a task
            raise RuntimeError("TaskInterrupt needs a running asyncio task")
        self._task = task
        self._cancelling = task.cancelling()
        return self

    def cancel(self) -> None:
        """Cancel the block (once); no-op once it has ended."""
        if self._task is not None and not self._requested:
            self._requested = True
            self._task.cancel()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        task, self._task = self._task, None
        if not self._requested or task is None:
            return False
        # Our request is withdrawn whatever happens (uncancel, always, as asyncio.timeout
        # does); the error is ours to absorb only if no other cancellation is pending.
        if task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
            self.cancelled_caught = True
            return True
        return False


#: A cancel scope for one poll: ours on asyncio, anyio's elsewhere.
Interrupt = TaskInterrupt | anyio.CancelScope


def interrupt_factory() -> type[TaskInterrupt] | type[anyio.CancelScope]:
    """The cheapest cancel scope for the running event loop (ask once, not per poll).

    A :class:`TaskInterrupt` on asyncio; anyio's :class:`~anyio.CancelScope` elsewhere.
    """
    if sniffio.current_async_library() == "asyncio":
        return TaskInterrupt
    return anyio.CancelScope
