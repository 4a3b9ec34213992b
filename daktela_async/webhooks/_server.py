"""What ``webhooks serve`` adds to uvicorn, so that slow or many clients cannot starve hooks.

uvicorn keeps a connection open for as long as its client takes to send the request
head: it has no header-read timeout, and it accepts connections until the process runs
out of file descriptors. A few hundred clients sending half a request line (slowloris)
then leave no descriptor for the PBX's next hook, and asyncio logs the failing
``accept()`` again and again. :func:`guarded_protocol` makes the HTTP protocol class
that closes a connection whose request has not arrived within a timeout and keeps the
open connections under a cap, closing the one that has waited longest for its request
when a new one comes; :func:`connection_limits` fits that cap and the listen backlog
under the open-file limit; :class:`RateLimitFilter` keeps a repeated log record from
filling the disk.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar, Final

import attrs
import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from .._errors import DaktelaUsageError

__all__ = [
    "LIMITED_LOGGERS",
    "RateLimitFilter",
    "connection_limits",
    "guarded_protocol",
    "limit_logs",
]

_log = logging.getLogger("daktela_async.webhooks.server")

#: Loggers whose records can repeat as fast as clients connect: asyncio's failing
#: ``accept()`` ("out of system resource"), uvicorn's "Invalid HTTP request received",
#: and this module's closed connections.
LIMITED_LOGGERS: Final = ("asyncio", "uvicorn.error", _log.name)
#: Descriptors kept free for everything but client connections (the listening socket,
#: the event loop, log files, the lookup's own connections to the CRM).
_FD_RESERVE: Final = 48
#: asyncio accepts up to the listen backlog of connections at once, before any of them
#: is seen by the protocol that would close the surplus; the cap leaves room for one burst.
_MAX_BACKLOG: Final = 100
#: Request states in which the connection waits for the client: a request head not yet
#: complete (or none yet, on a kept-alive connection), or its body.
_WAITING: Final = (h11.IDLE, h11.SEND_BODY)


@attrs.define
class _Window:
    start: float
    passed: int = 1
    dropped: int = 0


class RateLimitFilter(logging.Filter):
    """Let at most *burst* alike records through per *period* seconds.

    Records are alike when they come from the same logger at the same level with the
    same message (the format string, before its arguments). The last record let
    through in a window says that repeats are dropped; the first of the next window
    says how many were.

    Args:
        burst: Records of a kind let through per window.
        period: The window, in seconds.
        clock: The time source (a seam for tests).
        max_kinds: Kinds remembered at most; the oldest are forgotten beyond it.

    Raises:
        DaktelaUsageError: *burst* below 1 or *period* not positive.
    """

    def __init__(
        self,
        *,
        burst: int = 3,
        period: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        max_kinds: int = 256,
    ) -> None:
        super().__init__()
        if burst < 1 or not period > 0:
            raise DaktelaUsageError("burst must be at least 1 and period positive")
        self.burst = burst
        self.period = period
        self._clock = clock
        self._max_kinds = max_kinds
        self._windows: dict[tuple[str, int, str], _Window] = {}
        # Handlers of several threads may log through one logger.
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        """Whether *record* is let through (it may get a note about repeats appended)."""
        key = (record.name, record.levelno, str(record.msg)[:300])
        now = self._clock()
        with self._lock:
            window = self._windows.get(key)
            if window is None or now - window.start >= self.period:
                dropped = window.dropped if window is not None else 0
                self._windows.pop(key, None)
                self._windows[key] = window = _Window(start=now)
                self._forget_old(now)
                if dropped:
                    self._note(record, f"{dropped} more like it were dropped before this one")
            elif window.passed < self.burst:
                window.passed += 1
            else:
                window.dropped += 1
                return False
            if window.passed == self.burst:
                self._note(record, f"repeats are dropped for up to {self.period:g} s")
            return True

    def _forget_old(self, now: float) -> None:
        if len(self._windows) <= self._max_kinds:
            return
        for key in [k for k, w in self._windows.items() if now - w.start >= self.period]:
            del self._windows[key]
        while len(self._windows) > self._max_kinds:
            del self._windows[next(iter(self._windows))]

    @staticmethod
    def _note(record: logging.LogRecord, note: str) -> None:
        # Formatted now, so that a "%" in the note cannot meet the record's arguments.
        try:
            message = record.getMessage()
        except Exception:  # a bad record is the handler's to report, not the filter's
            return
        record.msg = f"{message} ({note})"
        record.args = None


def limit_logs(loggers: tuple[str, ...] = LIMITED_LOGGERS, **settings: Any) -> None:
    """Put a :class:`RateLimitFilter` on each of *loggers* that has none yet.

    A filter on a logger sees the records logged through that logger (asyncio logs
    through ``logging.getLogger("asyncio")`` itself), not those of its children.
    """
    for name in loggers:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RateLimitFilter) for f in logger.filters):
            logger.addFilter(RateLimitFilter(**settings))


def connection_limits(max_connections: int, open_files: int | None) -> tuple[int, int]:
    """The connection cap and listen backlog that stay under *open_files* descriptors.

    Args:
        max_connections: The cap asked for.
        open_files: The process's soft ``RLIMIT_NOFILE``, or ``None`` when unknown.

    Returns:
        ``(cap, backlog)``: the cap, lowered when the open-file limit cannot hold it
        (at least 1), and the listen backlog (asyncio accepts a backlog's worth of
        connections at once, before the cap is applied).
    """
    if open_files is None or open_files <= 0:
        return max_connections, _MAX_BACKLOG
    backlog = max(8, min(_MAX_BACKLOG, open_files // 4))
    return max(1, min(max_connections, open_files - backlog - _FD_RESERVE)), backlog


def open_files_limit() -> int | None:
    """The process's soft limit of open files, or ``None`` where it is not known."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else int(soft)


class _GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a request timeout and a cap on open connections.

    A connection *waits* while its request (head and body) has not fully arrived:
    from when it opens, or from the end of the previous response on a kept-alive
    connection. A connection that waits longer than :attr:`request_timeout` is closed.
    When a connection opens beyond :attr:`max_connections`, the one that has waited
    longest is closed (the new one, if none waits): clients that send their request
    at once, as the PBX does, are answered however many others dawdle.
    """

    request_timeout: ClassVar[float] = 10.0
    max_connections: ClassVar[int] = 512

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.waiting_since: float | None = None
        self._request_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._track()
        if self._open_connections() > self.max_connections:
            self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._track()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._track()

    def _open_connections(self) -> int:
        return sum(1 for c in self.connections if not c.transport.is_closing())

    def _make_room(self) -> None:
        waiting = [
            c
            for c in self.connections
            if isinstance(c, _GuardedH11Protocol)
            and c.waiting_since is not None
            and not c.transport.is_closing()
        ]
        victim = min(waiting, key=lambda c: c.waiting_since or 0.0, default=self)
        victim.close_waiting(
            f"more than {self.max_connections} connections open; closed the one waiting "
            "longest for its request"
        )

    def _track(self) -> None:
        waiting = not self.transport.is_closing() and self.conn.their_state in _WAITING
        if waiting and self.waiting_since is None:
            self.waiting_since = self.loop.time()
            self._request_timer = self.loop.call_later(
                self.request_timeout,
                self.close_waiting,
                f"no complete request within {self.request_timeout:g} s",
            )
        elif not waiting:
            self._stop_waiting()

    def _stop_waiting(self) -> None:
        self.waiting_since = None
        if self._request_timer is not None:
            self._request_timer.cancel()
            self._request_timer = None

    def close_waiting(self, reason: str) -> None:
        """Close the connection if it still waits for its request."""
        if self.waiting_since is None or self.transport.is_closing():
            return
        self._stop_waiting()
        client = "%s:%d" % self.client if self.client else "?"  # noqa: UP031 - uvicorn's form
        _log.warning("closed the connection from %s: %s", client, reason)
        self.transport.close()


def guarded_protocol(*, request_timeout: float, max_connections: int) -> type[asyncio.Protocol]:
    """The h11 protocol of uvicorn, closing connections whose request is slow, or too many.

    Pass it as ``uvicorn.Config(http=...)``.

    Args:
        request_timeout: Seconds a connection may wait for its whole request.
        max_connections: Connections kept open at most.
    """
    attributes = {"request_timeout": request_timeout, "max_connections": max_connections}
    protocol: type[asyncio.Protocol] = type("HookProtocol", (_GuardedH11Protocol,), attributes)
    return protocol
