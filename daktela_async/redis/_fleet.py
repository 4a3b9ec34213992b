"""A fleet: several processes share one PBX's agents through Redis, each polled once.

The agents are cut into ``shards`` by a hash of their login (plus one ``stats`` shard for
the ``RTStats*`` pollers). Each member holds a lease per shard it polls; the leases are
decided in one script per tick (see ``_leases``): rendezvous hashing over the live
members, renewal, hand-over only after the old owner stopped, expiry. A member:

- polls exactly the agents of the shards it holds (``watcher.add_users`` /
  ``remove_users``), and the stats while it holds ``stats``, seeded with what Redis
  holds so that the first poll publishes only what changed, rows gone included;
- writes through a :class:`FencedSink`: each event carries the lease it was polled
  under, checked in the script that writes it;
- steps down (stops polling everything) when it could not renew before its leases may
  have expired (``lease_ttl`` after the last renewal was sent): a member cut off from
  Redis never polls alongside the one that took its shards;
- leaves on exit: its leases are deleted, and the others take its shards at their next
  tick instead of waiting for the expiry.

A member killed outright stops renewing; its membership and leases expire after
``lease_ttl`` and the others take its shards at their next tick, then poll the agents
afresh (their first request is un-held: the current state) and publish it.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import secrets
import socket
from collections.abc import Iterable, Mapping
from contextlib import AsyncExitStack
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Self

import anyio
import anyio.abc
import attrs
import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from .._errors import DaktelaError, DaktelaUsageError
from .._event import Event
from .._hub import OverflowPolicy, Subscription
from .._models import RTStatsQueuesSummary, structure
from ..realtime._core import check_logins
from ..realtime._events import (
    AgentCallEnded,
    AgentCallStarted,
    AgentStateChanged,
    QueueLoginChanged,
    SourceFailed,
    SourceRecovered,
)
from ..realtime._watcher import Watcher
from ._connection import check_asyncio, open_client
from ._fenced import FencedSink
from ._leases import LEAVE, STATS_SHARD, TICK, TickResult, parse_tick, shard_of
from ._schema import STATS_TABLES, RedisKeys, check_name, default_name
from ._sink import RedisSinkStats
from ._source import _ROW_TYPES

if TYPE_CHECKING:
    from .._client import DaktelaClient

__all__ = ["FleetStats", "RedisFleet"]

_log = logging.getLogger("daktela_async.redis")

_USER_EVENTS: Final = (AgentStateChanged, AgentCallStarted, AgentCallEnded, QueueLoginChanged)
_STATS_EVENTS: Final = frozenset(
    {"queue_stats", "queues_summary", "session", "call", "pause_stats", "queue_day"}
)
_REDIS_DOWN: Final = (RedisError, OSError, TimeoutError)


@attrs.frozen(slots=True)
class FleetStats:
    """What :meth:`RedisFleet.stats` returns.

    Attributes:
        member: This member's id.
        members: Live members at the last tick.
        shards: Shards this member holds (``stats`` included).
        agents: Agents this member polls.
        stats_owner: Whether this member polls the ``RTStats*`` tables.
        taken: Leases taken so far.
        handed_over: Leases handed to another member (one joined, or the shares moved).
        lost: Leases lost: expired (paused past them, cut off from Redis) or taken.
        step_downs: Times the member stopped polling everything, unable to renew.
        fenced: Events not written because their lease had gone.
        tick_failures: Ticks that failed (Redis down or slow).
        last_error: The last tick failure's message.
        sink: The sink's counters.
    """

    member: str
    members: int
    shards: int
    agents: int
    stats_owner: bool
    taken: int
    handed_over: int
    lost: int
    step_downs: int
    fenced: int
    tick_failures: int
    last_error: str | None
    sink: RedisSinkStats


@attrs.define(slots=True)
class _Held:
    token: str
    #: The first ``seq`` published under this lease: events before it were not.
    since: int


def _member_id() -> str:
    host = socket.gethostname().split(".")[0] or "host"
    return f"{host}-{os.getpid()}-{secrets.token_hex(3)}"


def _positive(name: str, value: object, *, integer: bool = False) -> float:
    kinds: tuple[type, ...] = (int,) if integer else (int, float)
    if (
        isinstance(value, bool)
        or not isinstance(value, kinds)
        or not math.isfinite(float(value))  # type: ignore[arg-type]
        or float(value) <= 0  # type: ignore[arg-type]
    ):
        what = "a positive whole number" if integer else "a positive number of seconds"
        raise DaktelaUsageError(f"{name} must be {what}, not {value!r}", parameter=name)
    return float(value)  # type: ignore[arg-type]


class RedisFleet:
    """Joins a fleet of watchers that share one PBX's agents through Redis.

    Run one per process, each with the same ``users``, ``stats`` and ``shards``; every
    agent is long-polled by exactly one live member, and every member writes what it
    polls to the same stream and hashes (read them with :class:`RedisSource`)::

        async with RedisFleet(url, client, users=logins, stats=["queues"]) as fleet:
            await anyio.sleep_forever()

    Entering it joins the fleet (the first tick has run when the block starts);
    leaving it stops the polls, writes what is buffered and hands the leases over at
    once. Needs asyncio (redis-py).

    Args:
        redis: A ``redis://`` URL, or a ``redis.asyncio.Redis`` client (left open).
        client: The client the member's watcher polls through.
        users: Every agent login the fleet watches (a list); each member polls its share.
        stats: ``RTStats*`` names (``"queues"``...) the fleet polls; one member does.
        name: The PBX's name in the keys; by default the host of the client's address.
        member: This member's id (no spaces); by default ``host-pid-random``.
        shards: The number of shards the agents are cut into (the same on every member).
        lease_ttl: Seconds a lease lasts without renewal: a killed member's agents are
            polled again this long (plus a tick) after its last renewal.
        renew_interval: Seconds between ticks (default: a quarter of ``lease_ttl``).
        handover_timeout: Seconds a member waits for its sink to write a shard's last
            events before handing the shard over.
        maxlen: The stream is trimmed to about this many entries.
        buffer: Events the sink holds while Redis is slow or down.
        batch_size: Most events one write carries.
        timeout: Socket timeout of a client made from a URL.
        watch: Other options of the member's :class:`Watcher` (``stats_interval``,
            ``long_poll_timeout``, ``canary_interval``...).
    """

    def __init__(
        self,
        redis: str | Redis,
        client: DaktelaClient,
        *,
        users: Iterable[str],
        stats: Iterable[str] = (),
        name: str | None = None,
        member: str | None = None,
        shards: int = 64,
        lease_ttl: float = 3.0,
        renew_interval: float | None = None,
        handover_timeout: float = 1.0,
        maxlen: int = 100_000,
        buffer: int = 10_000,
        batch_size: int = 500,
        timeout: float = 5.0,
        **watch: Any,
    ) -> None:
        logins = check_logins(users)
        self._shards = int(_positive("shards", shards, integer=True))
        self._ttl = _positive("lease_ttl", lease_ttl)
        self._renew = (
            self._ttl / 4 if renew_interval is None else _positive("renew_interval", renew_interval)
        )
        if self._renew * 2 > self._ttl:
            raise DaktelaUsageError(
                f"renew_interval ({self._renew:g} s) must be at most half of lease_ttl "
                f"({self._ttl:g} s): a lease would expire between two renewals",
                parameter="renew_interval",
            )
        self._handover_timeout = _positive("handover_timeout", handover_timeout)
        self._timeout = _positive("timeout", timeout)
        if member is None:
            member = _member_id()
        if not isinstance(member, str) or not member or any(c.isspace() for c in member):
            raise DaktelaUsageError(
                f"member must be a non-empty id without spaces, not {member!r}", parameter="member"
            )
        self.member = member
        if name is None:
            name = default_name(client.base_url)
        self.keys = RedisKeys(check_name(name))
        self._client = client
        # Built now, so that every option is checked before anything connects.
        self._watcher = Watcher(client, (), stats=stats, **watch)
        self._watcher._stats_paused = True
        self._want_stats = bool(self._watcher._settings.stats)
        self._redis_arg = redis
        if not isinstance(redis, str | Redis):
            raise DaktelaUsageError(
                f"pass a redis:// URL or a redis.asyncio.Redis, not {type(redis).__name__}",
                parameter="redis",
            )
        self._sink_options = {"maxlen": maxlen, "buffer": buffer, "batch_size": batch_size}
        self._users: dict[str, str] = {}
        self._by_shard: dict[str, dict[str, None]] = {}
        for login in logins:
            self._enrol(login)
        self._held: dict[str, _Held] = {}
        self._stopped: set[str] = set()
        self._deadline = -math.inf
        self._members = 0
        self._taken = self._handed_over = self._lost = self._step_downs = 0
        self._tick_failures = 0
        self._last_error: str | None = None
        self._redis: Redis | None = None
        self._owned_client = False
        self._sink: FencedSink | None = None
        self._stack: AsyncExitStack | None = None
        self._wake = anyio.Event()
        self._entered = False

    def __repr__(self) -> str:
        return f"<RedisFleet {self.keys.prefix} member={self.member} shards={len(self._held)}>"

    # --- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        check_asyncio("RedisFleet")
        if self._entered:
            raise DaktelaUsageError("a RedisFleet can be entered once")
        self._entered = True
        stack = AsyncExitStack()
        try:
            self._redis, self._owned_client = open_client(self._redis_arg, timeout=self._timeout)
            if self._owned_client:
                stack.push_async_callback(self._redis.aclose)
            self._tick_script = self._redis.register_script(TICK)
            self._leave_script = self._redis.register_script(LEAVE)
            await stack.enter_async_context(self._watcher)
            self._sink = FencedSink(
                self._redis,
                self._watcher,
                keys=self.keys,
                member=self.member,
                fence=self.fence,
                owned_state=lambda: {shard: held.token for shard, held in self._held.items()},
                shard_of=self._shard,
                **self._sink_options,
            )
            await stack.enter_async_context(self._sink)
            stack.push_async_callback(self._leave)
            group = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(group.cancel_scope.cancel)
            await group.start(self._run)
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop polling, write what is buffered, hand every lease over; idempotent."""
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()

    async def _leave(self) -> None:
        # Stop polling first: once the leases are gone another member may start.
        for shard in list(self._held):
            self._drop(shard)
        if self._sink is not None:
            await self._sink.flushed(self._watcher.hub.seq, self._handover_timeout)
        with contextlib.suppress(*_REDIS_DOWN), anyio.move_on_after(self._timeout):
            await self._leave_script(
                keys=[self.keys.fleet_members, self.keys.fleet_leases], args=[self.member]
            )

    # --- what users see -------------------------------------------------------------------

    @property
    def watcher(self) -> Watcher:
        """The member's watcher: the agents (and stats) this member polls now."""
        return self._watcher

    @property
    def users(self) -> tuple[str, ...]:
        """Every agent the fleet watches (this member polls :attr:`polled`)."""
        return tuple(self._users)

    @property
    def polled(self) -> tuple[str, ...]:
        """The agents this member polls now."""
        return self._watcher.users

    def subscribe(
        self,
        *,
        kinds: Iterable[str | type[Event]] | None = None,
        maxsize: int | None = None,
        overflow: OverflowPolicy = "drop_oldest",
        name: str | None = None,
    ) -> Subscription:
        """The events this member polls (the whole fleet's are in Redis)."""
        return self._watcher.subscribe(kinds=kinds, maxsize=maxsize, overflow=overflow, name=name)

    def stats(self) -> FleetStats:
        """The member's counters."""
        sink = self._sink
        return FleetStats(
            member=self.member,
            members=self._members,
            shards=len(self._held),
            agents=len(self._watcher.users),
            stats_owner=STATS_SHARD in self._held,
            taken=self._taken,
            handed_over=self._handed_over,
            lost=self._lost,
            step_downs=self._step_downs,
            fenced=sink.fenced if sink is not None else 0,
            tick_failures=self._tick_failures,
            last_error=self._last_error,
            sink=sink.stats() if sink is not None else RedisSinkStats(0, 0, 0, 0, False, 0, None),
        )

    async def add_users(self, users: Iterable[str]) -> None:
        """Watch more agents; this member polls those in its shards.

        Raises:
            DaktelaUsageError: *users* is not a list of logins.
        """
        for login in check_logins(users):
            if login in self._users:
                continue
            shard = self._enrol(login)
            if shard in self._held:
                self._watcher._watch(login)
        await anyio.lowlevel.checkpoint()

    async def remove_users(self, users: Iterable[str]) -> None:
        """Stop watching agents; the member that polled one deletes it from the hash.

        Raises:
            DaktelaUsageError: *users* is not a list of logins.
        """
        writes: list[Any] = []
        for login in check_logins(users):
            shard = self._users.pop(login, None)
            if shard is None:
                continue
            self._by_shard[shard].pop(login, None)
            self._watcher._unwatch(login)
            held = self._held.get(shard)
            if held is not None:
                writes += [shard, held.token, "hdel", 3, login, ""]
        if writes and self._sink is not None:
            await self._sink.write_state(writes)

    # --- fencing --------------------------------------------------------------------------

    def _shard(self, login: str) -> str:
        return shard_of(login, self._shards)

    def _enrol(self, login: str) -> str:
        shard = self._shard(login)
        self._users[login] = shard
        self._by_shard.setdefault(shard, {})[login] = None
        return shard

    def fence(self, event: Event) -> tuple[str, str] | None:
        """The lease and token *event* is written under; ``None``: not to be written.

        An event belongs to an agent's shard, to ``stats``, or (``""``) to the member
        itself. It is written only under a lease this member still holds and held when
        the event was published; the write script checks that lease in Redis too.
        """
        if anyio.current_time() >= self._deadline and self._held:
            # Paused or cut off past the last renewal: the leases may be gone.
            self._step_down("the leases were not renewed in time")
        shard = self._event_shard(event)
        if shard == "":
            return "", "0"
        held = self._held.get(shard)
        if held is None or event.seq < held.since:
            return None
        return shard, held.token

    def _event_shard(self, event: Event) -> str:
        if isinstance(event, _USER_EVENTS):
            return self._shard(event.user)
        if event.kind in _STATS_EVENTS:
            return STATS_SHARD
        if isinstance(event, SourceFailed | SourceRecovered):
            kind, _, subject = event.source.partition(":")
            if kind == "agent" and subject:
                return self._shard(subject)
            if kind == "stats":
                return STATS_SHARD
        return ""

    # --- the ticks ------------------------------------------------------------------------

    async def _run(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        first = True
        while True:
            if self._watcher.stopped:
                # Stopped for good (a refused token): holding leases nobody polls would
                # keep the other members off these agents. Its failure is the watcher's.
                await self._leave()
                if first:
                    task_status.started()
                return
            self._wake = anyio.Event()
            again = await self._tick(first=first)
            if first:
                task_status.started()
                first = False
            if not again:
                with anyio.move_on_after(self._renew):
                    await self._wake.wait()

    async def _tick(self, *, first: bool = False) -> bool:
        """One tick; whether another should follow at once (a hand-over to finish)."""
        sent = anyio.current_time()
        args: list[Any] = [
            self.member,
            int(self._ttl * 1000),
            self._shards,
            "1" if self._want_stats else "0",
            *sorted(self._stopped),
        ]
        keys = [
            self.keys.fleet_members,
            self.keys.fleet_leases,
            self.keys.fleet_fence,
            self.keys.fleet_config,
        ]
        try:
            # Never longer than a renewal: a slow Redis must not hold the step-down back.
            with anyio.fail_after(min(self._timeout, self._renew * 2)):
                reply = await self._tick_script(keys=keys, args=args)
        except _REDIS_DOWN as exc:
            self._tick_failed(exc)
            return False
        result = parse_tick(reply)
        if isinstance(result, int):
            error = DaktelaUsageError(
                f"the fleet {self.keys.prefix} runs with {result} shards and this member "
                f"with {self._shards}: give every member the same shards=",
                parameter="shards",
            )
            if first:
                raise error
            self._tick_failed(error)
            return False
        self._deadline = sent + self._ttl
        self._members = result.members
        source = self._watcher._core.sources.get("fleet")
        if source is not None and source.failures:
            source.succeeded()
        return await self._apply(result)

    def _tick_failed(self, exc: BaseException) -> None:
        self._tick_failures += 1
        self._last_error = f"{type(exc).__name__}: {exc}"
        error = exc if isinstance(exc, DaktelaError) else DaktelaError(f"Redis: {self._last_error}")
        self._watcher._core.source("fleet").failed(error, self._renew)
        if anyio.current_time() >= self._deadline and self._held:
            self._step_down(f"cannot renew the leases ({self._last_error})")

    async def _apply(self, result: TickResult) -> bool:
        held = result.held
        for shard in list(self._held):
            if held.get(shard) != self._held[shard].token:
                # Expired (paused, cut off) and maybe taken by another member.
                self._lost += 1
                self._drop(shard)
        # The script deleted the stopped shards that were due; the others are still ours.
        self._stopped &= result.handover
        handing = [s for s in result.handover if s not in self._stopped]
        for shard in handing:
            if shard in self._held:
                self._drop(shard)
                self._handed_over += 1
        for shard, token in held.items():
            if shard not in self._held and shard not in result.handover:
                await self._take(shard, token)
        if not handing:
            return False
        # Their last events go out under the lease before it is released.
        if self._sink is not None:
            await self._sink.flushed(self._watcher.hub.seq, self._handover_timeout)
        self._stopped.update(handing)
        return True

    async def _take(self, shard: str, token: str) -> None:
        self._taken += 1
        if shard == STATS_SHARD:
            seed = await self._stored_stats()
            self._held[shard] = _Held(token, self._watcher.hub.seq + 1)
            self._watcher._resume_stats(seed)
            return
        self._held[shard] = _Held(token, self._watcher.hub.seq + 1)
        for login in self._by_shard.get(shard, ()):
            self._watcher._watch(login)

    def _drop(self, shard: str) -> None:
        """Stop polling *shard* here (its lease is gone, or is being handed over)."""
        if self._held.pop(shard, None) is None:
            return
        if shard == STATS_SHARD:
            self._watcher._pause_stats()
            return
        for login in self._by_shard.get(shard, ()):
            self._watcher._unwatch(login)

    def _step_down(self, reason: str) -> None:
        self._step_downs += 1
        _log.warning(
            "fleet member %s stops polling its %d shards: %s", self.member, len(self._held), reason
        )
        for shard in list(self._held):
            self._lost += 1
            self._drop(shard)

    async def _stored_stats(self) -> dict[str, Mapping[str, Any]]:
        """The stats tables as Redis holds them: what the last owner published."""
        if self._redis is None:
            return {}
        try:
            with anyio.fail_after(self._timeout):
                async with self._redis.pipeline(transaction=True) as pipe:
                    for table in STATS_TABLES:
                        pipe.hgetall(self.keys.stats(table))
                    pipe.get(self.keys.summary)
                    replies = await pipe.execute()
        except _REDIS_DOWN:
            return {}  # the first poll then publishes every row afresh
        seed: dict[str, Mapping[str, Any]] = {}
        for table, rows in zip(STATS_TABLES, replies, strict=False):
            row_type = _ROW_TYPES[table]
            decoded: dict[str, Any] = {}
            for key, value in rows.items():
                with contextlib.suppress(DaktelaError, ValueError):
                    # A row that does not decode is left out: the first poll writes it.
                    decoded[_text(key)] = structure(orjson.loads(value), row_type)
            seed[table] = decoded
        if replies[-1]:
            with contextlib.suppress(DaktelaError, ValueError):
                seed["summary"] = {
                    "summary": structure(orjson.loads(replies[-1]), RTStatsQueuesSummary)
                }
        return seed


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
