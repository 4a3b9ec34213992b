"""Health of the realtime sources: one classification of failures, backoff, the outage gate.

Every failure a poll meets is judged once, by :func:`classify`, into a :class:`Verdict`:

============  ===========================================  ================================
verdict       what it is                                   what the watcher does
============  ===========================================  ================================
``OUTAGE``    no HTTP answer (refused, reset, timeout),    close the gate: one prober,
              or 429/502/503/504                           everyone else waits
``AGENT``     an answer about this one request: status 0,  that source's own backoff; the
              HTTP 500 or another status, a body the       others carry on (a status 0 also
              model cannot read                            asks for a token check)
``AUTH``      401/403, or a token check answered status 0  stop every source, end every
                                                           subscription with the failure
``USAGE``     bad settings, version too old, closed client stop: asking again cannot help
============  ===========================================  ================================
"""

from __future__ import annotations

import enum
import math
import random
import time
from collections.abc import Awaitable, Callable
from typing import Final

import anyio
import attrs

from .._config import (
    PROBE_BACKOFF_INITIAL,
    PROBE_BACKOFF_MAX,
    REALTIME_BACKOFF_INITIAL,
    REALTIME_BACKOFF_MAX,
    REALTIME_RETRY_AFTER_MAX,
)
from .._errors import (
    DaktelaAPIError,
    DaktelaError,
    DaktelaHTTPStatusError,
    DaktelaPoolTimeoutError,
    DaktelaTransportError,
    DaktelaUsageError,
)
from .._hub import Hub
from ._events import SourceFailed, SourceRecovered

__all__ = [
    "Backoff",
    "OutageGate",
    "SourceStats",
    "TokenCheck",
    "Verdict",
    "classify",
]

#: Statuses a proxy or an overloaded PBX answers for every request alike.
OUTAGE_STATUSES: Final = frozenset({429, 502, 503, 504})
#: Statuses that refuse the credentials themselves.
AUTH_STATUSES: Final = frozenset({401, 403})


class Verdict(enum.Enum):
    """What a failure says about the PBX (see the module docstring's table)."""

    OUTAGE = "outage"
    AGENT = "agent"
    AUTH = "auth"
    USAGE = "usage"


def classify(error: DaktelaError) -> Verdict:
    """Judge one failed realtime request: the one place where that decision is made."""
    if isinstance(error, DaktelaUsageError):
        # Bad settings, an action newer than api_version, a closed client: the same
        # request fails the same way however often it is sent.
        return Verdict.USAGE
    if isinstance(error, DaktelaPoolTimeoutError):
        # Our own pool is full (held polls on every connection): nothing was sent, so it
        # says nothing about the PBX; this request backs off like one agent's problem.
        return Verdict.AGENT
    if isinstance(error, DaktelaTransportError):
        # No HTTP answer at all: the PBX, or the path to it, is down for every agent.
        return Verdict.OUTAGE
    if isinstance(error, DaktelaHTTPStatusError):
        if error.status_code in AUTH_STATUSES:
            # The credentials are refused: every other request would be refused too.
            return Verdict.AUTH
        if error.status_code in OUTAGE_STATUSES:
            # A gateway without its backend, or an overloaded PBX: down for everyone.
            return Verdict.OUTAGE
        # 500, 404, ...: the PBX answered, so it is up; this request hit a problem.
        return Verdict.AGENT
    # Status 0 ("Agent není přihlášen do Call Centra"), or a body the model cannot read:
    # an answer about this request. A status 0 may also mean a revoked token, which only
    # a token check can tell (the API answers a wrong token with status 0 as well).
    return Verdict.AGENT


def retry_after(error: DaktelaError) -> float | None:
    """The server's ``Retry-After`` on *error*, if it sent one."""
    return error.retry_after if isinstance(error, DaktelaHTTPStatusError) else None


@attrs.frozen(slots=True)
class Backoff:
    """Capped exponential backoff with full jitter for realtime sources.

    Attributes:
        initial: Ceiling of the first delay (seconds).
        maximum: Largest ceiling (seconds).
        retry_after_max: Longest ``Retry-After`` honoured; a longer one is cut to this.
    """

    initial: float = REALTIME_BACKOFF_INITIAL
    maximum: float = REALTIME_BACKOFF_MAX
    retry_after_max: float = REALTIME_RETRY_AFTER_MAX

    @classmethod
    def probe(cls) -> Backoff:
        """The outage prober's default: 0.25 s doubling to 2 s."""
        return cls(PROBE_BACKOFF_INITIAL, PROBE_BACKOFF_MAX)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """A delay for failed attempt *attempt* (1-based), uniform in ``[0, ceiling]``.

        A server's ``Retry-After`` is honoured (up to :attr:`retry_after_max`) when it is
        longer: it knows when it will answer again.
        """
        ceiling = min(self.maximum, self.initial * 2 ** min(max(attempt, 1) - 1, 30))
        jittered = random.uniform(0.0, ceiling)  # noqa: S311 - jitter, not cryptography
        if retry_after is not None and retry_after > 0:
            # At least the backoff: "Retry-After: 0" (or a date in the past) must not
            # turn a failing source into a request loop.
            return max(min(retry_after, self.retry_after_max), jittered)
        return jittered


@attrs.frozen(slots=True)
class SourceStats:
    """Counters of one source.

    Attributes:
        name: ``"agents"``, ``"agent:<login>"``, ``"stats:<name>"`` or ``"auth"``.
        requests: Requests sent.
        consecutive_failures: Failures since the last success.
        reconnects: Outages it recovered from.
        last_success_age: Seconds since the last successful answer (``None``: never).
        stopped: Whether it gave up for good (authentication or usage failure).
    """

    name: str
    requests: int
    consecutive_failures: int
    reconnects: int
    last_success_age: float | None
    stopped: bool


class Source:
    """Failure bookkeeping of one source: one error event per outage, one on recovery."""

    def __init__(self, name: str, hub: Hub) -> None:
        self.name = name
        self._hub = hub
        self.requests = 0
        self.failures = 0
        self.reconnects = 0
        self.last_success: float | None = None
        self.outage_started: float | None = None
        self.stopped = False
        self.last_failure: SourceFailed | None = None

    @property
    def failing(self) -> bool:
        """Whether its last attempt failed (or it stopped): what the board shows as stale."""
        return self.failures > 0 or self.stopped

    def succeeded(self) -> None:
        """Record an answer; publish :class:`SourceRecovered` when it ends a failure."""
        self.last_success = anyio.current_time()
        if self.failures:
            self.reconnects += 1
            started = self.outage_started or self.last_success
            self._hub.publish(
                SourceRecovered(
                    source=self.name, outage=self.last_success - started, attempts=self.failures
                )
            )
        self.failures = 0
        self.outage_started = None
        self.last_failure = None

    def failed(self, error: DaktelaError, retry_in: float | None) -> None:
        """Record a failure; the first of a run (or a final one) publishes a :class:`SourceFailed`.

        Args:
            error: What failed.
            retry_in: Seconds to the next attempt; ``None`` when the source stops for good.
        """
        self.failures += 1
        if self.failures == 1 or retry_in is None:
            self.outage_started = self.outage_started or anyio.current_time()
            self.last_failure = SourceFailed(
                source=self.name,
                error=str(error),
                error_type=type(error).__name__,
                attempt=self.failures,
                retry_in=retry_in,
            )
            self._hub.publish(self.last_failure)
        if retry_in is None:
            self.stopped = True

    def reset(self) -> None:
        """Forget a failure without announcing a recovery (nothing is left to recover)."""
        self.failures = 0
        self.outage_started = None
        self.last_failure = None

    def stats(self) -> SourceStats:
        """This source's counters."""
        age = None if self.last_success is None else _now() - self.last_success
        return SourceStats(
            name=self.name,
            requests=self.requests,
            consecutive_failures=self.failures,
            reconnects=self.reconnects,
            last_success_age=age,
            stopped=self.stopped,
        )


def _now() -> float:
    # The event loop's clock (virtual under trio's MockClock), as everywhere in the watcher.
    try:
        return anyio.current_time()
    except Exception:  # no event loop: stats() called after it ended
        return time.monotonic()


class OutageGate:
    """Shared health of the agent polls: closed during an outage, when only the prober sends.

    ``epoch`` counts the outages; a poll that started in an earlier epoch than the current
    one carries an answer from before the outage, which the resync has superseded.
    """

    def __init__(self) -> None:
        self._open = anyio.Event()
        self._open.set()
        self.epoch = 0

    @property
    def closed(self) -> bool:
        """Whether an outage is going on."""
        return not self._open.is_set()

    async def wait(self) -> None:
        """Return at once while the gate is open, else when the outage ends."""
        while not self._open.is_set():
            await self._open.wait()

    def close(self) -> bool:
        """Start an outage; ``False`` when one is already going on."""
        if self.closed:
            return False
        self.epoch += 1
        self._open = anyio.Event()
        return True

    def reopen(self) -> None:
        """End the outage: every waiting poll goes on."""
        self._open.set()


class TokenCheck:
    """The canary: one cheap token-only request now and then, and early on suspicion.

    Held polls cannot tell a hold from a hang for up to their read timeout, so the canary
    asks every *interval* seconds, with a short timeout, for something a healthy PBX
    answers at once. Because the request depends on nothing but the token, its answer
    also settles whether a status 0 from a poll meant a revoked token: a status 0 (or
    401/403) to the check means the token is refused.

    Args:
        request: Sends the check (the caller counts it and sets its timeouts).
        interval: Seconds between periodic checks (``None``: only on suspicion).
        gap: Least seconds between two checks, however often :meth:`suspect` is called.
        periodic: Whether a periodic check is wanted now (agents are watched).
        ready: Whether any check may be sent now (not during an outage: the prober asks).
        on_outage: Called with an ``OUTAGE`` failure of the check.
        on_refused: Called with the failure when the token is refused (or usage is wrong).
        on_answer: Called after a successful check.
    """

    def __init__(
        self,
        request: Callable[[], Awaitable[object]],
        *,
        interval: float | None,
        gap: float,
        periodic: Callable[[], bool],
        ready: Callable[[], bool],
        on_outage: Callable[[DaktelaError], None],
        on_refused: Callable[[DaktelaError, Verdict], None],
        on_answer: Callable[[], None],
    ) -> None:
        self._request = request
        self._interval = math.inf if interval is None else interval
        self._gap = gap
        self._periodic = periodic
        self._ready = ready
        self._on_outage = on_outage
        self._on_refused = on_refused
        self._on_answer = on_answer
        self._wake = anyio.Event()
        self._last: float | None = None

    def suspect(self) -> None:
        """Ask for a check as soon as the gap allows (an answer looked like a refused token)."""
        self._wake.set()

    async def run(self) -> None:
        """Check forever; returns only after the token was refused."""
        while True:
            suspected = False
            with anyio.move_on_after(self._interval):
                await self._wake.wait()
                suspected = True
            self._wake = anyio.Event()
            if self._last is not None:
                await anyio.sleep(max(0.0, self._last + self._gap - anyio.current_time()))
            if not self._ready() or not (suspected or self._periodic()):
                continue
            self._last = anyio.current_time()
            if not await self.check():
                return

    async def check(self) -> bool:
        """Send one check and act on its verdict; ``False`` once the token is refused."""
        try:
            await self._request()
        except DaktelaError as exc:
            verdict = classify(exc)
            if verdict is Verdict.OUTAGE:
                self._on_outage(exc)
            elif verdict in (Verdict.AUTH, Verdict.USAGE) or isinstance(exc, DaktelaAPIError):
                # A token-only request refused: nothing but the token can be at fault.
                self._on_refused(exc, Verdict.USAGE if verdict is Verdict.USAGE else Verdict.AUTH)
                return False
            # A 500, a garbled body or a full pool says nothing about the token.
            return True
        self._on_answer()
        return True
