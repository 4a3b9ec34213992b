"""The long-poll supervisor: agent long polls, stats pollers, outages, resyncs, fan-out.

Per watched agent one task long-polls ``RTUserState``: the first request has no
``hash`` (the current state), later ones send the last ``hash`` and the server holds them
until the agent changes or its hold passes. An unchanged answer is normal: no event, no
backoff. The ``hash`` advances only after the change has been published. Below API 4.0
there is no ``hash`` and states are polled at an interval.

All agent polls share one health gate: when requests start failing, one task probes with
capped, fully jittered backoff while every other agent waits, so an outage costs one
request per backoff step however many agents are watched. The first success reopens the
gate and every agent resyncs without ``hash``, which publishes what changed during the
outage. Each ``RTStats*`` endpoint has its own poller and backoff.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AsyncExitStack
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Self

import anyio
import anyio.abc
import attrs

from .._config import (
    LONG_POLL_DEADLINE,
    LONG_POLL_READ_TIMEOUT,
    MIN_UNCHANGED_GAP,
    POLL_INTERVAL,
    REALTIME_BACKOFF_INITIAL,
    REALTIME_BACKOFF_MAX,
    STATS_INTERVAL,
    Timeouts,
)
from .._errors import DaktelaAPIError, DaktelaError, DaktelaHTTPStatusError, DaktelaUsageError
from .._models import (
    AgentState,
    RTStatsCall,
    RTStatsPause,
    RTStatsQueue,
    RTStatsQueuesSummary,
    RTStatsSession,
    structure,
)
from .._transport._request import version_key
from ._diff import agent_events, table_changes
from ._events import (
    AgentStateChanged,
    CallChanged,
    Event,
    PauseStatsChanged,
    QueuesSummaryChanged,
    QueueStatsChanged,
    SessionChanged,
    SourceFailed,
    SourceRecovered,
)
from ._hub import Hub, OverflowPolicy, SubscriberStats, Subscription

if TYPE_CHECKING:
    from .._client import DaktelaClient

__all__ = ["STATS_SOURCES", "Backoff", "SourceStats", "Watcher", "WatcherStats"]

#: Stats names accepted by ``watch(stats=...)`` and the action each one polls.
STATS_SOURCES: Final = {
    "queues": "RTStatsQueues",
    "sessions": "RTStatsSessions",
    "calls": "RTStatsCalls",
    "pauses": "RTStatsPauses",
    "summary": "RTStatsQueuesSummary",
}

_TABLE_TYPES: Final[dict[str, Any]] = {
    "queues": Mapping[str, RTStatsQueue],
    "sessions": Mapping[str, RTStatsSession],
    "calls": Mapping[str, RTStatsCall],
    "pauses": Mapping[str, RTStatsPause],
}


def _is_auth_failure(error: DaktelaError) -> bool:
    return isinstance(error, DaktelaHTTPStatusError) and error.status_code in (401, 403)


@attrs.frozen(slots=True)
class Backoff:
    """Capped exponential backoff with full jitter for realtime sources.

    Attributes:
        initial: Ceiling of the first delay (seconds).
        maximum: Largest ceiling (seconds).
    """

    initial: float = REALTIME_BACKOFF_INITIAL
    maximum: float = REALTIME_BACKOFF_MAX

    def delay(self, attempt: int) -> float:
        """A delay for failed attempt *attempt* (1-based), uniform in ``[0, ceiling]``."""
        ceiling = min(self.maximum, self.initial * 2 ** min(attempt - 1, 30))
        return random.uniform(0.0, ceiling)  # noqa: S311 - jitter, not cryptography


@attrs.frozen(slots=True)
class SourceStats:
    """Counters of one source.

    Attributes:
        name: ``"agents"``, ``"agent:<login>"`` or ``"stats:<name>"``.
        requests: Requests sent.
        consecutive_failures: Failures since the last success.
        reconnects: Outages it recovered from.
        last_success_age: Seconds since the last successful answer (``None``: never).
        stopped: Whether it gave up (authentication failure).
    """

    name: str
    requests: int
    consecutive_failures: int
    reconnects: int
    last_success_age: float | None
    stopped: bool


@attrs.frozen(slots=True)
class WatcherStats:
    """What :meth:`Watcher.stats` returns.

    Attributes:
        sources: Per source, its counters.
        subscribers: Per subscription, delivered and dropped counts.
        published: Events published so far.
    """

    sources: Mapping[str, SourceStats]
    subscribers: tuple[SubscriberStats, ...]
    published: int


class _Source:
    """Failure bookkeeping of one source: one error event per outage, one on recovery."""

    def __init__(self, name: str, hub: Hub, backoff: Backoff) -> None:
        self.name = name
        self._hub = hub
        self._backoff = backoff
        self.requests = 0
        self.failures = 0
        self.reconnects = 0
        self.last_success: float | None = None
        self.outage_started: float | None = None
        self.stopped = False
        self.last_failure: SourceFailed | None = None

    def succeeded(self) -> None:
        self.last_success = time.monotonic()
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

    def failed(self, error: DaktelaError, *, stop: bool = False) -> float:
        """Record a failure; return the delay before the next attempt."""
        self.failures += 1
        delay = self._backoff.delay(self.failures)
        if self.failures == 1 or stop:
            self.outage_started = self.outage_started or time.monotonic()
            self.last_failure = SourceFailed(
                source=self.name,
                error=str(error),
                error_type=type(error).__name__,
                attempt=self.failures,
                retry_in=None if stop else delay,
            )
            self._hub.publish(self.last_failure)
        if stop:
            self.stopped = True
        return delay

    def stats(self) -> SourceStats:
        age = None if self.last_success is None else time.monotonic() - self.last_success
        return SourceStats(
            name=self.name,
            requests=self.requests,
            consecutive_failures=self.failures,
            reconnects=self.reconnects,
            last_success_age=age,
            stopped=self.stopped,
        )


class _Gate:
    """Shared health of the agent long polls: during an outage only the prober sends."""

    def __init__(self) -> None:
        self.open = anyio.Event()
        self.open.set()
        self.prober: str | None = None

    @property
    def healthy(self) -> bool:
        return self.prober is None

    async def wait(self, user: str) -> None:
        while self.prober is not None and self.prober != user:
            await self.open.wait()

    def close(self, prober: str) -> None:
        self.prober = prober
        self.open = anyio.Event()

    def reopen(self) -> None:
        self.prober = None
        self.open.set()


class Watcher:
    """Watches agents and realtime statistics and publishes their changes.

    Create it with :meth:`DaktelaClient.watch` and use it as an async context manager;
    leaving the block cancels every poll (within ~2 s) and ends every subscription.

    Args:
        client: The client whose transport pool the polls use.
        users: Agent logins to long-poll with ``RTUserState``.
        stats: Names from :data:`STATS_SOURCES` to poll.
        stats_interval: Seconds between polls of each stats endpoint (one number, or a
            mapping by name).
        poll_interval: Seconds between agent polls when the API has no ``hash`` (< 4.0).
        long_poll_timeout: Read timeout of a held request; keep it above the server's hold
            (60 s on a real PBX).
        long_poll_deadline: Overall cap of one held request.
        backoff: Backoff of failing sources.
        min_unchanged_gap: An unchanged answer that came back faster than this means the
            server does not hold requests; the poll then waits out the rest of the gap
            instead of spinning.
        check_token: Check the token with ``GetUser`` (API >= 4.0) before polling; a
            refused token stops every source with a :class:`SourceFailed`.
    """

    def __init__(
        self,
        client: DaktelaClient,
        users: Iterable[str] = (),
        *,
        stats: Iterable[str] = (),
        stats_interval: float | Mapping[str, float] = STATS_INTERVAL,
        poll_interval: float = POLL_INTERVAL,
        long_poll_timeout: float = LONG_POLL_READ_TIMEOUT,
        long_poll_deadline: float = LONG_POLL_DEADLINE,
        backoff: Backoff | None = None,
        min_unchanged_gap: float = MIN_UNCHANGED_GAP,
        check_token: bool = True,
    ) -> None:
        self._client = client
        self._initial_users = list(dict.fromkeys(users))
        stats = tuple(dict.fromkeys(stats))
        unknown = [s for s in stats if s not in STATS_SOURCES]
        if unknown:
            raise DaktelaUsageError(
                f"unknown stats {', '.join(map(repr, unknown))}; "
                f"choose from {', '.join(STATS_SOURCES)}",
                parameter="stats",
            )
        self._stats_names = stats
        self._intervals = {
            name: (
                stats_interval.get(name, STATS_INTERVAL)
                if isinstance(stats_interval, Mapping)
                else stats_interval
            )
            for name in stats
        }
        self._poll_interval = poll_interval
        self._long_poll = Timeouts(
            read=long_poll_timeout, deadline=max(long_poll_deadline, long_poll_timeout)
        )
        self._backoff = backoff or Backoff()
        self._check_token = check_token
        self._min_gap = min_unchanged_gap
        self._has_hash = version_key(client.api_version) >= (4, 0)
        self.hub = Hub(replay=self._replay)
        self._agents: dict[str, AgentState] = {}
        self._tables: dict[str, dict[str, Any]] = {name: {} for name in stats}
        self._summary: RTStatsQueuesSummary | None = None
        self._user_scopes: dict[str, anyio.CancelScope] = {}
        self._sources: dict[str, _Source] = {}
        self._gate = _Gate()
        self._agents_source = self._source("agents")
        self._stack: AsyncExitStack | None = None
        self._outer: anyio.abc.TaskGroup | None = None
        self._tg: anyio.abc.TaskGroup | None = None
        self.failure: DaktelaError | None = None

    def __repr__(self) -> str:
        return f"<Watcher users={len(self._user_scopes)} stats={list(self._stats_names)}>"

    def _source(self, name: str) -> _Source:
        source = self._sources.get(name)
        if source is None:
            source = self._sources[name] = _Source(name, self.hub, self._backoff)
        return source

    # --- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        stack = AsyncExitStack()
        outer = await stack.enter_async_context(anyio.create_task_group())
        self._stack = stack
        self._outer = outer
        await outer.start(self._supervise)
        return self

    async def _supervise(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        # Every poll runs in this inner group, so stopping them all (auth failure) never
        # cancels the caller's code, which runs inside the outer group's scope.
        async with anyio.create_task_group() as inner:
            self._tg = inner
            task_status.started()
            await self._start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Cancel every poll, end every subscription; idempotent."""
        stack, self._stack = self._stack, None
        outer, self._outer = self._outer, None
        self._tg = None
        if outer is not None:
            outer.cancel_scope.cancel()
        if stack is not None:
            # Every task waits in a cancellable request or sleep, so the group ends at
            # once (the tests hold this to SHUTDOWN_GRACE).
            await stack.aclose()
        self._user_scopes.clear()
        self.hub.close()

    async def _start(self) -> None:
        if self._check_token and self._has_hash and not await self._token_ok():
            return
        for user in self._initial_users:
            self._spawn_user(user)
        if self._tg is not None:
            for name in self._stats_names:
                self._tg.start_soon(self._poll_stats, name)

    async def _token_ok(self) -> bool:
        source = self._source("auth")
        source.requests += 1
        try:
            await self._client.call("GetUser", retries=0)
        except DaktelaAPIError as exc:
            self._stop_everything(source, exc)
            return False
        except DaktelaError as exc:
            if _is_auth_failure(exc):
                self._stop_everything(source, exc)
                return False
            # Not an answer about the token: the pollers will meet the outage themselves.
            return True
        source.succeeded()
        return True

    def _stop_everything(self, source: _Source, error: DaktelaError) -> None:
        self.failure = error
        source.failed(error, stop=True)
        for scope in self._user_scopes.values():
            scope.cancel()
        if self._tg is not None:
            self._tg.cancel_scope.cancel()

    # --- users ----------------------------------------------------------------------------

    @property
    def users(self) -> tuple[str, ...]:
        """The agent logins being watched."""
        return tuple(self._user_scopes) if self._tg is not None else tuple(self._initial_users)

    def _spawn_user(self, user: str) -> None:
        if user in self._user_scopes or self._tg is None:
            return
        scope = anyio.CancelScope()
        self._user_scopes[user] = scope
        self._tg.start_soon(self._run_user, user, scope)

    async def add_users(self, users: Iterable[str]) -> None:
        """Start watching more agents (their current state is published when it arrives)."""
        for user in users:
            if self._tg is None:
                if user not in self._initial_users:
                    self._initial_users.append(user)
            else:
                self._spawn_user(user)
        await anyio.lowlevel.checkpoint()

    async def remove_users(self, users: Iterable[str]) -> None:
        """Stop watching agents; their polls are cancelled and their state forgotten."""
        for user in users:
            scope = self._user_scopes.pop(user, None)
            if scope is not None:
                scope.cancel()
            if self._gate.prober == user:
                # Its probes stop with it: let the next failing agent take over probing.
                self._gate.reopen()
            self._agents.pop(user, None)
            self._sources.pop(f"agent:{user}", None)
            if user in self._initial_users:
                self._initial_users.remove(user)
        await anyio.lowlevel.checkpoint()

    async def _run_user(self, user: str, scope: anyio.CancelScope) -> None:
        with scope:
            if self._has_hash:
                await self._long_poll_user(user)
            else:
                await self._interval_poll_user(user)

    async def _fetch_state(self, user: str, hash: str | None) -> AgentState:
        self._agents_source.requests += 1
        if hash is None:
            result = await self._client.call("RTUserState", user=user, retries=0)
        else:
            result = await self._client.call(
                "RTUserState", user=user, hash=hash, retries=0, timeout=self._long_poll
            )
        state: AgentState = structure(result, AgentState, action="RTUserState")
        return state

    async def _long_poll_user(self, user: str) -> None:
        gate = self._gate
        name = f"agent:{user}"
        hash: str | None = None
        while True:
            await gate.wait(user)
            started = anyio.current_time()
            try:
                state = await self._fetch_state(user, hash)
            except DaktelaAPIError as exc:
                # About this agent only (unknown login...): its own backoff, no gate.
                await anyio.sleep(self._source(name).failed(exc))
                hash = None
                continue
            except DaktelaError as exc:
                if _is_auth_failure(exc):
                    self._stop_everything(self._agents_source, exc)
                    return
                hash = None
                if gate.healthy:
                    gate.close(user)
                if gate.prober == user:
                    await anyio.sleep(self._agents_source.failed(exc))
                continue
            if gate.prober == user:
                # Only the prober's answer ends an outage: a poll that was already held
                # before it began proves nothing about new requests.
                gate.reopen()
                self._agents_source.succeeded()
            elif gate.healthy:
                self._agents_source.last_success = time.monotonic()
            user_source = self._sources.get(name)
            if user_source is not None and user_source.failures:
                user_source.succeeded()
            if hash is not None and state.hash == hash:
                elapsed = anyio.current_time() - started
                if elapsed < self._min_gap:
                    await anyio.sleep(self._min_gap - elapsed)
                continue
            self._publish_agent(user, state)
            hash = state.hash  # only now: the change is published

    async def _interval_poll_user(self, user: str) -> None:
        source = self._agents_source
        while True:
            try:
                state = await self._fetch_state(user, None)
            except DaktelaError as exc:
                if _is_auth_failure(exc):
                    self._stop_everything(source, exc)
                    return
                await anyio.sleep(source.failed(exc))
                continue
            source.succeeded()
            self._publish_agent(user, state)
            await anyio.sleep(self._poll_interval)

    def _publish_agent(self, user: str, state: AgentState) -> None:
        if user not in self._user_scopes:
            return  # removed while its request was in flight
        previous = self._agents.get(user)
        self._agents[user] = state
        for event in agent_events(user, previous, state):
            self.hub.publish(event)

    # --- statistics -----------------------------------------------------------------------

    async def _poll_stats(self, name: str) -> None:
        action = STATS_SOURCES[name]
        source = self._source(f"stats:{name}")
        interval = self._intervals[name]
        while True:
            started = anyio.current_time()
            source.requests += 1
            try:
                result = await self._client.call(action, retries=0)
                if name == "summary":
                    summary = structure(result, RTStatsQueuesSummary, action=action)
                else:
                    table = structure(result, _TABLE_TYPES[name], action=action)
            except DaktelaError as exc:
                if _is_auth_failure(exc):
                    source.failed(exc, stop=True)
                    return
                await anyio.sleep(source.failed(exc))
                continue
            source.succeeded()
            if name == "summary":
                if summary != self._summary:
                    previous, self._summary = self._summary, summary
                    self.hub.publish(QueuesSummaryChanged(previous=previous, current=summary))
            else:
                previous_table = self._tables[name]
                self._tables[name] = dict(table)
                for key, before, after in table_changes(previous_table, table):
                    self.hub.publish(_table_event(name, key, before, after))
            elapsed = anyio.current_time() - started
            await anyio.sleep(max(0.0, interval - elapsed) if math.isfinite(interval) else 0.0)

    # --- what subscribers see -------------------------------------------------------------

    def _replay(self) -> Iterator[Event]:
        # A subscriber joining during an outage learns of it first.
        for source in self._sources.values():
            if source.last_failure is not None and (source.failures or source.stopped):
                yield source.last_failure
        for user, state in self._agents.items():
            yield AgentStateChanged(user=user, previous=None, current=state)
        for name, table in self._tables.items():
            for key, row in table.items():
                yield _table_event(name, key, None, row)
        if self._summary is not None:
            yield QueuesSummaryChanged(previous=None, current=self._summary)

    def subscribe(
        self,
        *,
        kinds: Iterable[str | type[Event]] | None = None,
        users: Iterable[str] | None = None,
        maxsize: int | None = None,
        overflow: OverflowPolicy = "drop_oldest",
        block_timeout: float | None = None,
        replay: bool = True,
        name: str | None = None,
    ) -> Subscription:
        """Subscribe to the events; see :meth:`Hub.subscribe` for the options.

        The subscriber first receives the current state of every watched agent (and of
        every polled statistics row), then the changes as they happen.
        """
        options: dict[str, Any] = {}
        if maxsize is not None:
            options["maxsize"] = maxsize
        if block_timeout is not None:
            options["block_timeout"] = block_timeout
        return self.hub.subscribe(
            kinds=None if kinds is None else list(kinds),
            users=None if users is None else list(users),
            overflow=overflow,
            replay=replay,
            name=name,
            **options,
        )

    def snapshot(self) -> dict[str, AgentState]:
        """The current state of every watched agent whose state has arrived."""
        return dict(self._agents)

    def table(self, name: str) -> dict[str, Any]:
        """The current rows of a polled stats table (``"queues"``, ``"sessions"``, ...)."""
        if name == "summary":
            return {} if self._summary is None else {"summary": self._summary}
        return dict(self._tables.get(name, {}))

    def stats(self) -> WatcherStats:
        """Per source: requests, failures, reconnects, last success; per subscriber counts."""
        return WatcherStats(
            sources={name: source.stats() for name, source in self._sources.items()},
            subscribers=tuple(s.stats() for s in self.hub.subscriptions()),
            published=self.hub.published,
        )


def _table_event(name: str, key: str, before: Any, after: Any) -> Event:
    if name == "queues":
        return QueueStatsChanged(queue=key, previous=before, current=after)
    if name == "sessions":
        return SessionChanged(agent=key, previous=before, current=after)
    if name == "calls":
        return CallChanged(call=key, previous=before, current=after)
    return PauseStatsChanged(pause=key, previous=before, current=after)
