"""Graceful shutdown of the long-running commands on SIGTERM, the same as on Ctrl-C.

A service manager (systemd, Docker, Kubernetes) stops a process with SIGTERM. Its
default action kills the process on the spot: exit status 143, browsers' event
streams reset, held requests never answered. The commands therefore treat SIGTERM
exactly like Ctrl-C (SIGINT): the first one starts a clean shutdown that ends with
exit status 0; a second one, while the shutdown is still running, gets the default
behaviour again (Ctrl-C raises :class:`KeyboardInterrupt`, SIGTERM kills), so a stuck
shutdown can always be forced.

- :func:`run` runs a command's coroutine on asyncio, listening for both signals.
- :func:`until_stopped` marks the part of a command that runs "until Ctrl-C": a signal
  cancels just that block, so that the cleanup after it (closing the web server, the
  watcher, the client) runs without being cancelled too.
- :func:`stopping` registers any other way to stop (a uvicorn server's
  ``should_exit``).
- :func:`sigterm_interrupts` makes SIGTERM raise :class:`KeyboardInterrupt` in
  synchronous code (starting up, the threaded simulator), as Ctrl-C does there.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from types import FrameType
from typing import Final, TypeVar, TypeVarTuple

import anyio
import anyio.abc

__all__ = ["STOP_SIGNALS", "run", "sigterm_interrupts", "stopping", "until_stopped"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

#: The signals that stop a command cleanly.
STOP_SIGNALS: Final = (signal.SIGTERM, signal.SIGINT)


class _Stopper:
    """Where a signal goes: the registered stop callbacks, else the whole command."""

    def __init__(self, whole: anyio.CancelScope) -> None:
        self.whole = whole
        self.callbacks: list[Callable[[], object]] = []
        self.signalled = False

    def stop(self) -> None:
        self.signalled = True
        if not self.callbacks:
            # Still starting up (or already cleaning up): nothing is serving anybody
            # yet, so cancelling everything is the clean way out.
            self.whole.cancel()
        for callback in list(self.callbacks):
            callback()


_stopper: ContextVar[_Stopper | None] = ContextVar("daktela_async_cli_stopper", default=None)


@contextlib.contextmanager
def stopping(callback: Callable[[], object]) -> Iterator[None]:
    """Within the block, a stop signal calls *callback* instead of cancelling the command.

    Outside :func:`run` (a test calling a command's coroutine directly), nothing is
    registered and the block just runs. When the signal came before the block was
    entered, *callback* is called at once.
    """
    stopper = _stopper.get()
    if stopper is None:
        yield
        return
    if stopper.signalled:
        callback()
    stopper.callbacks.append(callback)
    try:
        yield
    finally:
        stopper.callbacks.remove(callback)


@contextlib.contextmanager
def until_stopped() -> Iterator[anyio.CancelScope]:
    """A cancel scope around the part of a command that runs until SIGTERM or Ctrl-C.

    The signal cancels this scope only: the code after the block (the cleanup) runs
    normally, and the command returns its usual status.
    """
    with anyio.CancelScope() as scope, stopping(scope.cancel):
        yield scope


async def _listen(
    stopper: _Stopper, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
) -> None:
    with contextlib.ExitStack() as stack:
        try:
            signals = stack.enter_context(anyio.open_signal_receiver(*STOP_SIGNALS))
        except (NotImplementedError, RuntimeError, ValueError):
            # No signal handlers here (Windows' event loop, or not the main thread):
            # the default behaviour (KeyboardInterrupt on Ctrl-C) stays.
            task_status.started()
            return
        task_status.started()
        async for signum in signals:
            if signum == signal.SIGINT:
                print(file=sys.stderr, flush=True)  # end the line the terminal's ^C is on
            stopper.stop()
            # Leaving the receiver restores the default handlers: a second signal
            # forces the way out of a shutdown that hangs.
            return


def run(
    func: Callable[[*Ts], Awaitable[T]],
    *args: *Ts,
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
) -> T | None:
    """Run ``func(*args)`` on asyncio until it returns or a stop signal ends it.

    Args:
        func: The command's coroutine function.
        args: Its arguments.
        loop_factory: The event loop factory (uvicorn's choice, for the webhook server).

    Returns:
        What *func* returned, or ``None`` when a signal cancelled it before it reached
        :func:`until_stopped` or :func:`stopping` (it was still starting up).

    Raises:
        Exception: Whatever *func* raised (not wrapped in an exception group).
    """

    async def main() -> T | None:
        result: T | None = None
        error: Exception | None = None
        async with anyio.create_task_group() as tg:
            stopper = _Stopper(tg.cancel_scope)
            await tg.start(_listen, stopper)
            token = _stopper.set(stopper)
            try:
                result = await func(*args)
            except Exception as exc:  # re-raised below, outside the task group
                error = exc
            finally:
                _stopper.reset(token)
                tg.cancel_scope.cancel()  # the listener
        if error is not None:
            raise error
        return result

    options = {} if loop_factory is None else {"loop_factory": loop_factory}
    return anyio.run(main, backend="asyncio", backend_options=options)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`KeyboardInterrupt`, as Ctrl-C does.

    The previous handler comes back afterwards. Outside the main thread (where Python
    cannot set signal handlers) the block runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
