"""The watcher: settings, lifecycle and the public surface over agents, stats and the hub.

The parts live in their own rooms: ``_health`` judges failures (the verdict table is
drawn there) and keeps the outage gate and the canary, ``_agents`` runs the long polls,
the prober and the resync, ``_stats`` the ``RTStats*`` pollers, ``daktela_async._hub`` the fan-out.
This module starts and stops them, and stops everything for good when a failure is
final (a refused token, a usage error): every subscription then raises it after its
last event, so a consumer never waits on a watcher that has died.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import AsyncExitStack
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self, overload

import anyio
import anyio.abc
import attrs

from .._config import (
    CANARY_INTERVAL,
    CANARY_TIMEOUT,
    LONG_POLL_DEADLINE,
    LONG_POLL_READ_TIMEOUT,
    MIN_UNCHANGED_GAP,
    POLL_INTERVAL,
    RESYNC_CONCURRENCY,
)
from .._errors import DaktelaAPIError, DaktelaAuthError, DaktelaError, DaktelaUsageError
from .._event import Event
from .._hub import Hub, OverflowPolicy, SubscriberStats, Subscription, check_kinds
from .._models import (
    AgentState,
    RTStatsCall,
    RTStatsPause,
    RTStatsQueue,
    RTStatsQueuesSummary,
    RTStatsSession,
)
from .._transport._request import version_key
from ._agents import Agents
from ._core import STATS_SOURCES, Core, Settings, check_logins, check_version
from ._events import AgentStateChanged
from ._health import Backoff, SourceStats, Verdict, classify
from ._stats import StatsTables
from ._today import SERVICE_LEVEL_THRESHOLD, QueueDay

if TYPE_CHECKING:
    from .._client import DaktelaClient

__all__ = ["Watcher", "WatcherStats"]


@attrs.frozen(slots=True)
class WatcherStats:
    """What :meth:`Watcher.stats` returns.

    Attributes:
        sources: Per source, its counters.
        subscribers: Per subscription, delivered and dropped counts.
        published: Events published so far.
        failing: The sources whose last attempt failed (or that stopped): what a board
            should show as stale.
    """

    sources: Mapping[str, SourceStats]
    subscribers: tuple[SubscriberStats, ...]
    published: int
    failing: tuple[str, ...] = ()


class Watcher:
    """Watches agents and realtime statistics and publishes their changes.

    Create it with :meth:`DaktelaClient.watch` and use it as an async context manager;
    leaving the block cancels every poll (within ~2 s) and ends every subscription.
    Every argument is checked when it is created: bad values raise
    :class:`DaktelaUsageError` (:class:`DaktelaVersionError` when the client's
    ``api_version`` lacks ``RTUserState`` or a requested ``RTStats*``).

    Args:
        client: The client whose transport pool the polls use.
        users: Agent logins to long-poll with ``RTUserState`` (a list, not one string);
            more can be added at any time with :meth:`add_users`.
        stats: Names from :data:`STATS_SOURCES` to poll: the ``RTStats*`` tables, and
            ``"today"``, the day's figures per queue (:class:`QueueDay`, counted from
            ``StatsCalls``, API 4.1).
        stats_interval: Seconds between polls of each stats endpoint: one number for
            all, or a mapping by name. By default (``None``, and for the names a
            mapping leaves out) 2 s, and 30 s for ``"today"``.
        poll_interval: Seconds between agent polls when there is no ``hash`` (API < 4.0,
            or a PBX that answers without one).
        long_poll_timeout: Read timeout of a held request; keep it above the server's hold
            (60 s on a real PBX). Connect, write and pool timeouts stay the client's.
        long_poll_deadline: Overall cap of one held request.
        backoff: Backoff of one failing agent or stats endpoint (1 s doubling to 30 s).
        probe_backoff: Backoff of the outage prober (0.25 s doubling to 2 s).
        min_unchanged_gap: A held poll that came back faster than this with nothing new
            means the server does not hold requests; the poll waits out the rest of it.
        check_token: Check the token with ``GetUser`` (API >= 4.0) before polling.
        canary_interval: Seconds between canary requests that notice a hung PBX and a
            revoked token while every poll is held (``None``: no canary).
        canary_timeout: Read timeout of the canary and of the outage probes.
        resync_concurrency: Un-held ``RTUserState`` requests (first polls, the re-arm
            after an outage) in flight at once.
        service_level_threshold: Seconds of waiting within which an answered call
            meets the service level, for ``"today"``'s figures (a number >= 0).
    """

    def __init__(
        self,
        client: DaktelaClient,
        users: Iterable[str] = (),
        *,
        stats: Iterable[str] = (),
        stats_interval: float | Mapping[str, float] | None = None,
        poll_interval: float = POLL_INTERVAL,
        long_poll_timeout: float = LONG_POLL_READ_TIMEOUT,
        long_poll_deadline: float = LONG_POLL_DEADLINE,
        backoff: Backoff | None = None,
        probe_backoff: Backoff | None = None,
        min_unchanged_gap: float = MIN_UNCHANGED_GAP,
        check_token: bool = True,
        canary_interval: float | None = CANARY_INTERVAL,
        canary_timeout: float = CANARY_TIMEOUT,
        resync_concurrency: int = RESYNC_CONCURRENCY,
        service_level_threshold: float = SERVICE_LEVEL_THRESHOLD,
    ) -> None:
        self._client = client
        self._pending = check_logins(users)
        self._settings = Settings.build(
            client,
            self._pending,
            stats=stats,
            stats_interval=stats_interval,
            poll_interval=poll_interval,
            long_poll_timeout=long_poll_timeout,
            long_poll_deadline=long_poll_deadline,
            backoff=backoff,
            probe_backoff=probe_backoff,
            min_unchanged_gap=min_unchanged_gap,
            check_token=check_token,
            canary_interval=canary_interval,
            canary_timeout=canary_timeout,
            resync_concurrency=resync_concurrency,
            service_level_threshold=service_level_threshold,
        )
        self.hub = Hub(replay=self._replay)
        self._core = Core(client, self._settings, self.hub, self._stop, self._suspect_token)
        self._agents = Agents(self._core)
        self._stats = StatsTables(self._core)
        self._started = False
        self._stopped = False
        self._stack: AsyncExitStack | None = None
        self._outer: anyio.abc.TaskGroup | None = None
        self._inner: anyio.abc.TaskGroup | None = None
        self.failure: DaktelaError | None = None
        # A fleet member polls the stats only while it holds their lease: it sets this
        # before entering, then resumes and pauses them (_resume_stats, _pause_stats).
        self._stats_paused = False
        self._stats_scope: anyio.CancelScope | None = None
        self._stats_seed: Mapping[str, Mapping[str, Any]] | None = None

    def __repr__(self) -> str:
        return f"<Watcher users={len(self.users)} stats={list(self._settings.stats)}>"

    # --- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._stopped or self._stack is not None:
            raise DaktelaUsageError("a watcher can be entered once; call client.watch() again")
        stack = AsyncExitStack()
        outer = await stack.enter_async_context(anyio.create_task_group())
        self._stack = stack
        self._outer = outer
        await outer.start(self._supervise)
        return self

    async def _supervise(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        # Every poll runs in this inner group, so stopping them all (a refused token)
        # never cancels the caller's code, which runs inside the outer group's scope.
        async with anyio.create_task_group() as inner:
            self._inner = inner
            task_status.started()
            if (
                self._settings.check_token
                and version_key(self._client.api_version) >= (4, 0)
                and not await self._token_ok()
            ):
                return
            self._started = True
            self._agents.start(inner, self._pending)
            if not self._stats_paused:
                self._resume_stats(self._stats_seed)
            # Alive with no agents and no stats too: agents may be added at any time.
            await anyio.sleep_forever()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Cancel every poll, end every subscription; idempotent."""
        self._stopped = True
        stack, self._stack = self._stack, None
        outer, self._outer = self._outer, None
        if outer is not None:
            outer.cancel_scope.cancel()
        if stack is not None:
            # Every task waits in a cancellable request or sleep, so the group ends at
            # once: there is no grace period to wait out (test_leaving_cancels_every_poll_quickly
            # holds leaving under 2 s with a 30 s hold in flight).
            await stack.aclose()
        self.hub.close()

    def _resume_stats(self, seed: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        """Start the stats pollers (a fleet member that took their lease).

        *seed* is what Redis held, by table (``summary``: one row under ``"summary"``):
        the first poll then publishes only what changed since, rows gone included.
        """
        self._stats_paused = False
        if self._inner is None or self._stats_scope is not None or not self._started:
            self._stats_seed = seed  # started with the watcher
            return
        self._stats_seed = None
        if seed:
            self._stats.seed(seed)
        scope = self._stats_scope = anyio.CancelScope()

        async def run() -> None:
            with scope:
                async with anyio.create_task_group() as group:
                    for name in self._settings.stats:
                        group.start_soon(self._stats.poll, name)

        self._inner.start_soon(run)

    def _watch(self, user: str) -> None:
        """Start polling *user* now, or when the watcher starts (a fleet's lease taken)."""
        if self._started:
            self._agents.add(user)
        elif user not in self._pending:
            self._pending.append(user)

    def _unwatch(self, user: str) -> None:
        """Stop polling *user* and forget its state (a fleet's lease gone)."""
        self._agents.remove(user)
        if user in self._pending:
            self._pending.remove(user)

    def _pause_stats(self) -> None:
        """Stop the stats pollers and forget the tables (their lease went elsewhere)."""
        self._stats_paused = True
        self._stats_seed = None
        scope, self._stats_scope = self._stats_scope, None
        if scope is not None:
            scope.cancel()
        self._stats.clear()
        for name in self._settings.stats:
            self._core.sources.pop(f"stats:{name}", None)

    @property
    def stopped(self) -> bool:
        """Whether the watcher stopped: left, closed, or a final failure (:attr:`failure`)."""
        return self._stopped

    async def _token_ok(self) -> bool:
        source = self._core.source("auth")
        source.requests += 1
        try:
            await self._client.call("GetUser", retries=0, timeout=self._settings.probe)
        except DaktelaError as exc:
            verdict = classify(exc)
            if verdict in (Verdict.AUTH, Verdict.USAGE) or isinstance(exc, DaktelaAPIError):
                # GetUser takes nothing but the token: a status 0 refuses the token.
                self._stop(exc, Verdict.USAGE if verdict is Verdict.USAGE else Verdict.AUTH)
                return False
            # An outage or a garbled answer says nothing about the token: the polls meet it.
            return True
        source.succeeded()
        return True

    def _suspect_token(self) -> None:
        self._agents.canary.suspect()

    def _stop(self, error: DaktelaError, verdict: Verdict) -> None:
        """Stop for good: one final :class:`SourceFailed`, then every subscription raises."""
        if self._stopped:
            return
        self._stopped = True
        if verdict is Verdict.AUTH:
            failure: DaktelaError = DaktelaAuthError(f"the PBX refused the access token ({error})")
            failure.__cause__ = error
        else:
            failure = error
        self.failure = failure
        for other in self._core.sources.values():
            other.stopped = True
        final = self._core.source("auth" if verdict is Verdict.AUTH else "watcher")
        final.failed(failure, None)
        if self._inner is not None:
            self._inner.cancel_scope.cancel()
        self.hub.close(failure)

    # --- users ----------------------------------------------------------------------------

    @property
    def users(self) -> tuple[str, ...]:
        """The agent logins being watched."""
        return self._agents.users if self._started else tuple(self._pending)

    def _check_running(self, what: str) -> None:
        if self._stopped:
            reason = f": {self.failure}" if self.failure is not None else ""
            raise DaktelaUsageError(f"cannot {what}: the watcher has stopped{reason}")

    async def add_users(self, users: Iterable[str]) -> None:
        """Start watching more agents (their current state is published when it arrives).

        Raises:
            DaktelaUsageError: *users* is not a list of logins, or the watcher stopped.
            DaktelaVersionError: The client's ``api_version`` has no ``RTUserState``.
        """
        logins = check_logins(users)
        self._check_running("add users")
        if logins:
            check_version(self._client, "RTUserState", "watching agents")
        for user in logins:
            if self._started:
                self._agents.add(user)
            elif user not in self._pending:
                self._pending.append(user)
        await anyio.lowlevel.checkpoint()

    async def remove_users(self, users: Iterable[str]) -> None:
        """Stop watching agents; their polls are cancelled and their state forgotten.

        Raises:
            DaktelaUsageError: *users* is not a list of logins, or the watcher stopped.
        """
        logins = check_logins(users)
        self._check_running("remove users")
        for user in logins:
            self._agents.remove(user)
            if user in self._pending:
                self._pending.remove(user)
        await anyio.lowlevel.checkpoint()

    # --- what subscribers see -------------------------------------------------------------

    def _replay(self) -> Iterator[Event]:
        # A subscriber joining during an outage learns of it first.
        for source in self._core.sources.values():
            # Kept only while failing: an answer (succeeded) or reset() clears it.
            if source.last_failure is not None:
                yield source.last_failure
        for user, state in self._agents.states.items():
            yield AgentStateChanged(user=user, previous=None, current=state)
        yield from self._stats.replay()

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
        every polled statistics row), then the changes as they happen. When the watcher
        stops for good, iteration raises :attr:`failure` after the final event.

        Raises:
            DaktelaUsageError: An unknown kind, bad options, or the watcher stopped.
        """
        self._check_running("subscribe")
        options: dict[str, Any] = {}
        if maxsize is not None:
            options["maxsize"] = maxsize
        if block_timeout is not None:
            options["block_timeout"] = block_timeout
        return self.hub.subscribe(
            kinds=None if kinds is None else check_kinds(kinds),
            users=None if users is None else list(check_logins(users)),
            overflow=overflow,
            replay=replay,
            name=name,
            **options,
        )

    def snapshot(self) -> dict[str, AgentState]:
        """The current state of every watched agent whose state has arrived."""
        return dict(self._agents.states)

    @overload
    def table(self, name: Literal["queues"]) -> dict[str, RTStatsQueue]: ...
    @overload
    def table(self, name: Literal["sessions"]) -> dict[str, RTStatsSession]: ...
    @overload
    def table(self, name: Literal["calls"]) -> dict[str, RTStatsCall]: ...
    @overload
    def table(self, name: Literal["pauses"]) -> dict[str, RTStatsPause]: ...
    @overload
    def table(self, name: Literal["summary"]) -> dict[str, RTStatsQueuesSummary]: ...
    @overload
    def table(self, name: Literal["today"]) -> dict[str, QueueDay]: ...
    @overload
    def table(self, name: str) -> dict[str, Any]: ...
    def table(self, name: str) -> dict[str, Any]:
        """The current rows of a polled stats table: a new ``dict``, by the row's ID.

        - ``"queues"``: :class:`RTStatsQueue` rows by queue ID (``"1"``, not the number);
        - ``"sessions"``: :class:`RTStatsSession` rows by agent (user) ID (``"17"``), not
          by login; by login:
          ``RTStatsSessions(watcher.table("sessions")).by_login(watcher.snapshot())``;
        - ``"calls"``: :class:`RTStatsCall` rows by call ID;
        - ``"pauses"``: :class:`RTStatsPause` rows by pause ID;
        - ``"summary"``: the one :class:`RTStatsQueuesSummary` under ``"summary"`` (empty
          before the first answer);
        - ``"today"``: the day's :class:`QueueDay` figures by queue ID (a queue appears
          with its first call of the day that has ended).

        A literal *name* gives a type checker the row type:
        ``watcher.table("queues")["1"].calls_wait`` is an ``int | None``.

        Raises:
            DaktelaUsageError: *name* is not a stats table, or this watcher does not poll it.
        """
        if name not in STATS_SOURCES:
            raise DaktelaUsageError(
                f"unknown stats table {name!r}; choose from {', '.join(STATS_SOURCES)}",
                parameter="name",
            )
        if name not in self._settings.stats:
            raise DaktelaUsageError(
                f"this watcher does not poll {name!r}: pass stats=[..., {name!r}] to watch()",
                parameter="name",
            )
        if name == "summary":
            summary = self._stats.summary
            return {} if summary is None else {"summary": summary}
        return dict(self._stats.tables[name])

    def stats(self) -> WatcherStats:
        """Per source: requests, failures, reconnects, last success; per subscriber counts."""
        sources = self._core.sources
        return WatcherStats(
            sources={name: source.stats() for name, source in sources.items()},
            subscribers=tuple(s.stats() for s in self.hub.subscriptions()),
            published=self.hub.published,
            failing=tuple(name for name, source in sources.items() if source.failing),
        )
