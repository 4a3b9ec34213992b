"""The source: the events a sink wrote, read back as the same typed events.

Without a consumer group it starts like a late subscriber of the watcher: the current
state from the hashes (``AgentStateChanged`` with ``previous=None``, every stats row,
the summary), loaded together with ``{prefix}:agents:id`` in one transaction, then the
stream after that id. The sink writes every entry and its hash change in one script,
so nothing is missed or seen twice. ``resume_from=`` skips the state and reads the
stream after a stream id kept from before.

With ``group=`` the workers of a consumer group share the stream: each entry goes to
one of them, and stays pending until acknowledged (after the loop's body, or with
:meth:`RedisSource.ack`); a restarted worker first gets its own pending entries again.
With ``claim_idle=`` a worker also takes over the entries another member left pending
longer than that (``XAUTOCLAIM``): those of a worker that died.

A reader without a group notices when the stream was trimmed past its cursor (entries
after it deleted before it read them): it yields ``EventsDropped``, then the current
state again, then the stream after it, like at start.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import deque
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Final, Self

import attrs
import orjson
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from .._errors import DaktelaUsageError
from .._event import Event, EventsDropped
from .._models import (
    AgentState,
    RTStatsCall,
    RTStatsPause,
    RTStatsQueue,
    RTStatsQueuesSummary,
    RTStatsSession,
    structure,
)
from ..realtime._events import AgentStateChanged, QueuesSummaryChanged
from ..realtime._stats import table_event
from ..realtime._today import QueueDay
from ._connection import check_asyncio, open_client
from ._schema import STATS_TABLES, TODAY_TABLE, RedisKeys, check_name, decode_event

__all__ = ["RedisSource"]

_NO_ID: Final = "0-0"
_ROW_TYPES: Final[dict[str, type[Any]]] = {
    "queues": RTStatsQueue,
    "sessions": RTStatsSession,
    "calls": RTStatsCall,
    "pauses": RTStatsPause,
    TODAY_TABLE: QueueDay,
}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _id_key(entry_id: str) -> tuple[int, int] | None:
    """A stream id as a comparable pair (``"5"`` is ``5-0``); ``None`` for ``$`` and such."""
    ms, _, seq = entry_id.partition("-")
    try:
        return int(ms), int(seq or 0)
    except ValueError:
        return None


def _trimmed_past(cursor: str, info: Mapping[str, Any]) -> int | None:
    """``None`` when nothing after *cursor* was deleted; else how many (0: unknown).

    Entries were trimmed after the cursor when it is older than the stream's first
    entry (or, the stream emptied, than its last id) while entries were deleted, or
    older than the newest entry deleted with ``XDEL`` (``max-deleted-entry-id``). Redis
    keeps no trace of which entry came just before the first: a cursor at the very
    last entry trimmed counts as trimmed past too. How many were lost is only known
    when the cursor is before every entry ever added (``0-0``).
    """
    here = _id_key(cursor)
    added = int(info.get("entries-added", 0) or 0)
    length = int(info.get("length", 0) or 0)
    if here is None or added <= length:
        return None
    first = info.get("first-entry")
    edge = _id_key(_text(first[0] if first else info.get("last-generated-id") or _NO_ID))
    deleted = info.get("max-deleted-entry-id")
    gone = _id_key(_text(deleted)) if deleted is not None else None
    if not ((edge is not None and here < edge) or (gone is not None and here < gone)):
        return None
    return added - length if here == (0, 0) else 0


class RedisSource:
    """Reads the events a :class:`RedisSink` wrote; iterate it with ``async for``.

    Use it as an async context manager, on asyncio::

        async with RedisSource(url, name="pbx.example.com") as source:
            async for event in source:
                ...

    Args:
        redis: A ``redis://`` URL, or a ``redis.asyncio.Redis`` client (left open).
        name: The PBX's name in the keys, as the sink wrote them.
        resume_from: Read the stream after this stream id (:attr:`last_id` of an
            earlier run) instead of starting with the current state.
        group: Read as a member of this consumer group (created when missing): each
            entry goes to one member. No state is read first.
        consumer: This member's name in the group (required with ``group``).
        group_start: Where a newly created group starts: ``"$"`` (entries written from
            now on), ``"0"`` (the whole stream) or a stream id. ``resume_from`` wins.
        auto_ack: With ``group``: acknowledge an event when the loop asks for the next
            one (after its body ran). ``False``: call :meth:`ack` yourself.
        claim_idle: With ``group``: every ``claim_idle`` seconds, take over (``XAUTOCLAIM``)
            the entries of the group pending for longer than that, with any member,
            and yield them like new ones: a dead worker's entries are not stuck. Make
            it longer than a live worker may hold an entry (up to ``count`` entries
            are read ahead). ``None`` (the default): never.
        count: Most entries read per call.
        block: Seconds one read waits for new entries before asking again.
        timeout: Socket timeout of a client made from a URL (kept above ``block``).
    """

    def __init__(
        self,
        redis: str | Redis,
        *,
        name: str,
        resume_from: str | None = None,
        group: str | None = None,
        consumer: str | None = None,
        group_start: str = "$",
        auto_ack: bool = True,
        claim_idle: float | None = None,
        count: int = 100,
        block: float = 5.0,
        timeout: float = 5.0,
    ) -> None:
        if group is not None and not consumer:
            raise DaktelaUsageError("a consumer group needs consumer=", parameter="consumer")
        if consumer is not None and group is None:
            raise DaktelaUsageError("consumer= needs group=", parameter="group")
        if claim_idle is not None and group is None:
            raise DaktelaUsageError("claim_idle= needs group=", parameter="group")
        if claim_idle is not None and not claim_idle > 0:
            raise DaktelaUsageError(f"claim_idle must be positive, not {claim_idle!r}")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise DaktelaUsageError(f"count must be a positive integer, not {count!r}")
        self.keys = RedisKeys(check_name(name))
        self._redis, self._owned = open_client(redis, timeout=max(timeout, block + 1.0))
        self._resume_from = resume_from
        self._group = group
        self._consumer = consumer
        self._group_start = group_start
        self._auto_ack = auto_ack
        self._claim_ms = None if claim_idle is None else max(1, int(claim_idle * 1000))
        self._claimed_at = float("-inf")
        self._count = count
        self._block_ms = max(1, int(block * 1000))
        self._ready: deque[tuple[str | None, Event]] = deque()
        self._cursor: str | None = None
        self._bare_state = False  # the state was read without an id (no agents:id)
        self._unacked: list[str] = []
        self._closed = False
        #: Entries skipped because their kind is unknown here (written by a newer version).
        self.skipped = 0
        #: Entries this member took over from others with ``claim_idle``.
        self.claimed = 0
        self.last_id: str | None = None
        """The stream id of the last event yielded (for ``resume_from=``); for the state
        events, the id the state was read at."""

    def __repr__(self) -> str:
        return f"<RedisSource {self.keys.prefix} last_id={self.last_id}>"

    async def __aenter__(self) -> Self:
        check_asyncio("RedisSource")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Leaving cleanly (a `break` after the body ran) acknowledges the last event;
        # leaving on an error leaves it pending, for this worker's next start.
        await self.aclose(ack=exc_type is None)

    async def aclose(self, *, ack: bool = True) -> None:
        """Close; idempotent.

        Args:
            ack: With ``group`` and ``auto_ack``: acknowledge the events yielded and
                not yet acknowledged (the loop's body ran for the last one).
        """
        if self._closed:
            return
        self._closed = True
        try:
            if ack and self._auto_ack and self._group is not None and self._unacked:
                await self.ack()
        finally:
            if self._owned:
                await self._redis.aclose()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Event:
        if self._closed:
            raise StopAsyncIteration
        if self._auto_ack and self._unacked:
            await self.ack()
        while not self._ready:
            await self._fill()
        entry_id, event = self._ready.popleft()
        if entry_id is not None:
            self.last_id = entry_id
            if self._group is not None:
                self._unacked.append(entry_id)
        return event

    async def ack(self, *ids: str) -> int:
        """Acknowledge entries of the group: *ids*, or every one yielded and not yet acked.

        Returns:
            How many Redis acknowledged.

        Raises:
            DaktelaUsageError: This source reads without a group.
        """
        if self._group is None:
            raise DaktelaUsageError("ack() needs a consumer group (group=, consumer=)")
        if not ids:
            ids, self._unacked = tuple(self._unacked), []
        if not ids:
            return 0
        return int(await self._redis.xack(self.keys.events, self._group, *ids))

    # --- reading --------------------------------------------------------------------------

    async def _fill(self) -> None:
        if self._cursor is None:
            await self._start()
            return
        if self._group is not None:
            await self._read_group()
        else:
            await self._read()

    async def _read(self) -> None:
        assert self._cursor is not None  # noqa: S101 - checked by the caller
        cursor = self._cursor
        # XINFO before the read, in one round trip: an entry after the cursor deleted
        # by then is one the read cannot return.
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.xinfo_stream(self.keys.events)
            pipe.xread({self.keys.events: cursor}, count=self._count, block=self._block_ms)
            info, answer = await pipe.execute(raise_on_error=False)
        if isinstance(answer, Exception):
            raise answer
        if isinstance(info, Mapping):
            # A state read without an id is the hashes as they are: no cursor to lose.
            bare = self._bare_state and cursor == _NO_ID
            missed = None if bare else _trimmed_past(cursor, info)
            if missed is not None:
                await self._relist(missed)
                return
        elif not (isinstance(info, ResponseError) and "no such key" in str(info)):
            raise info
        for _, entries in answer or ():
            for entry_id, fields in entries:
                self._cursor = _text(entry_id)
                self._push(self._cursor, fields)

    async def _relist(self, missed: int) -> None:
        """The stream was trimmed past the cursor: say so, then the state again."""
        now = dt.datetime.now(dt.UTC)
        self._ready.append((None, EventsDropped(missed=missed, time=now)))
        await self._load_state()

    async def _start(self) -> None:
        if self._group is not None:
            await self._create_group()
            self._cursor = "0"  # this member's pending entries first
        elif self._resume_from is not None:
            self._cursor = self._resume_from
        else:
            await self._load_state()

    async def _create_group(self) -> None:
        assert self._group is not None  # noqa: S101 - checked by the caller
        start = self._resume_from or self._group_start
        try:
            await self._redis.xgroup_create(self.keys.events, self._group, id=start, mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _read_group(self) -> None:
        assert self._group is not None  # noqa: S101 - checked by the caller
        assert self._consumer is not None  # noqa: S101
        cursor = self._cursor or ">"
        pending = cursor != ">"
        if not pending and await self._claim():
            return
        answer: Any = await self._redis.xreadgroup(
            self._group,
            self._consumer,
            {self.keys.events: cursor},
            count=self._count,
            block=None if pending else self._block_ms,
        )
        entries = [e for _, stream in answer or () for e in stream]
        if pending and not entries:
            self._cursor = ">"  # no pending entries left: new ones from now on
        for entry_id, fields in entries:
            entry = _text(entry_id)
            if pending:
                self._cursor = entry
            if not fields:
                # Pending, but trimmed from the stream since: nothing left to process.
                await self._redis.xack(self.keys.events, self._group, entry)
                continue
            if not self._push(entry, fields):
                await self._redis.xack(self.keys.events, self._group, entry)

    async def _claim(self) -> bool:
        """Take over the group's entries idle longer than ``claim_idle``; any taken?"""
        if self._claim_ms is None or time.monotonic() - self._claimed_at < self._claim_ms / 1000:
            return False
        assert self._group is not None  # noqa: S101 - claim_idle needs a group
        assert self._consumer is not None  # noqa: S101
        self._claimed_at = time.monotonic()
        # Our own entries yielded and not acknowledged yet (auto_ack=False) are pending
        # too: claiming them again must not yield them twice.
        held = set(self._unacked)
        found = False
        start = "0-0"
        while True:
            answer: Any = await self._redis.xautoclaim(
                self.keys.events,
                self._group,
                self._consumer,
                self._claim_ms,
                start_id=start,
                count=self._count,
            )
            start = _text(answer[0])
            for entry_id, fields in answer[1]:
                entry = _text(entry_id)
                if entry in held:
                    continue
                if not fields:  # trimmed since (Redis 6.2; 7 drops these itself)
                    await self._redis.xack(self.keys.events, self._group, entry)
                    continue
                self.claimed += 1
                if self._push(entry, fields):
                    found = True
                else:
                    await self._redis.xack(self.keys.events, self._group, entry)
            if start in ("0-0", "0") or len(self._ready) >= self._count:
                return found

    def _push(self, entry_id: str, fields: Mapping[Any, Any]) -> bool:
        event = decode_event(fields)
        if event is None:
            self.skipped += 1
            return False
        self._ready.append((entry_id, event))
        return True

    async def _load_state(self) -> None:
        keys = self.keys
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(keys.agents_id)
            pipe.hgetall(keys.agents)
            for table in (*STATS_TABLES, TODAY_TABLE):
                pipe.hgetall(keys.stats(table))
            pipe.get(keys.summary)
            answer = await pipe.execute()
        state_id = _text(answer[0]) if answer[0] is not None else _NO_ID
        self._bare_state = answer[0] is None
        seq = await self._seq_at(state_id)
        now = dt.datetime.now(dt.UTC)
        events: list[Event] = []
        for login, value in sorted(answer[1].items()):
            state = structure(orjson.loads(value), AgentState)
            events.append(AgentStateChanged(user=_text(login), previous=None, current=state))
        for table, rows in zip((*STATS_TABLES, TODAY_TABLE), answer[2:-1], strict=True):
            for row_id, value in sorted(rows.items()):
                row = structure(orjson.loads(value), _ROW_TYPES[table])
                events.append(table_event(table, _text(row_id), None, row))
        if answer[-1] is not None:
            summary = structure(orjson.loads(answer[-1]), RTStatsQueuesSummary)
            events.append(QueuesSummaryChanged(previous=None, current=summary))
        for event in events:
            self._ready.append((state_id, _stamp(event, seq, now)))
        self.last_id = state_id
        self._cursor = state_id

    async def _seq_at(self, entry_id: str) -> int:
        """The ``seq`` of the entry the state was read at (0 when gone or none)."""
        if entry_id == _NO_ID:
            return 0
        found: Any = await self._redis.xrange(self.keys.events, entry_id, entry_id, count=1)
        if not found:
            return 0
        seq = found[0][1].get(b"seq", found[0][1].get("seq"))
        return int(seq) if seq is not None else 0


def _stamp(event: Event, seq: int, time: dt.datetime) -> Event:
    return attrs.evolve(event, seq=seq, time=time)
