"""The sink: a watcher's events into the Redis stream, its state into the hashes.

One script writes a batch: each event's stream entry and, for state events, its hash
field, then ``{prefix}:agents:id``, all at once. A reader that loads the hashes and that
id together, then reads the stream after the id, neither misses nor double-counts a
change.

When Redis fails the watcher carries on: the sink's subscription (``drop_oldest``) keeps
the newest events, the batch that failed is counted as dropped (never written twice),
and the sink retries with capped, jittered backoff. Once Redis answers again it
resyncs: the events still buffered, an ``events_dropped`` entry for what was lost, and
the hashes rewritten from the watcher's snapshot, in one script; Redis converges to the
watcher's truth. A resync also happens at start, and when a write finds the state keys
gone (a Redis restarted empty, a flush).
"""

from __future__ import annotations

import datetime as dt
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Self

import anyio
import anyio.abc
import anyio.lowlevel
import attrs
from redis.asyncio import Redis
from redis.exceptions import RedisError

from .._errors import DaktelaError, DaktelaUsageError
from .._event import Event, EventsDropped
from ..realtime._events import (
    AgentStateChanged,
    CallChanged,
    PauseStatsChanged,
    QueueDayChanged,
    QueuesSummaryChanged,
    QueueStatsChanged,
    SessionChanged,
)
from ..realtime._health import Backoff
from ._connection import check_asyncio, open_client
from ._schema import STATS_TABLES, RedisKeys, check_name, default_name, encode_event, encode_record

if TYPE_CHECKING:
    from ..realtime._watcher import Watcher

__all__ = ["RedisSink", "RedisSinkStats"]

#: KEYS: 1 events, 2 agents:id, 3 agents, 4-7 the stats tables, 8 the summary, 9 today.
#: ARGV: maxlen, mode ("write" or "reset"), the number of events, then 4 values per event
#: (kind, seq, time, data), then the state writes as groups: key index, the number of
#: fields to delete, those fields, the number of fields to set, those (field, value)
#: pairs (the summary: one pair, its value SET). "reset" first deletes the state keys.
#: Deleting before setting keeps a hash's field order that of the writes one by one.
_SCRIPT: Final = """
local argv, keys = ARGV, KEYS
local reset = argv[2] == 'reset'
if not reset and redis.call('EXISTS', keys[2]) == 0 then
  return false
end
local id = false
local stream, maxlen = keys[1], argv[1]
local i = 4
for _ = 1, tonumber(argv[3]) do
  id = redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', 'kind', argv[i],
    'seq', argv[i + 1], 'time', argv[i + 2], 'data', argv[i + 3])
  i = i + 4
end
if reset then
  redis.call('DEL', keys[3], keys[4], keys[5], keys[6], keys[7], keys[8], keys[9])
end
local n = #argv
while i <= n do
  local index = tonumber(argv[i])
  local key = keys[index]
  local count = tonumber(argv[i + 1])
  i = i + 2
  if count > 0 then
    redis.call('HDEL', key, unpack(argv, i, i + count - 1))
    i = i + count
  end
  count = tonumber(argv[i])
  i = i + 1
  if count > 0 then
    if index == 8 then
      redis.call('SET', key, argv[i + 1])
    else
      redis.call('HSET', key, unpack(argv, i, i + 2 * count - 1))
    end
    i = i + 2 * count
  end
end
if reset and not id then
  local last = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)
  if #last > 0 then id = last[1][1] else id = '0-0' end
end
redis.call('SET', keys[2], id)
return id
"""
#: Most fields in one HSET or HDEL of the script (Lua's ``unpack`` has a limit).
_GROUP: Final = 1000

_AGENTS: Final = 3
_TABLE_INDEX: Final = {name: 4 + i for i, name in enumerate(STATS_TABLES)}
_SUMMARY: Final = 8
#: The plain sink's alone: the fenced sink's script has the fleet's keys at 9 and 10
#: (so a fleet streams ``queue_day`` events but keeps no hash of them).
_TODAY: Final = 9
_TABLE_EVENTS: Final[dict[type[Event], tuple[str, str]]] = {
    QueueStatsChanged: ("queues", "queue"),
    SessionChanged: ("sessions", "agent"),
    CallChanged: ("calls", "call"),
    PauseStatsChanged: ("pauses", "pause"),
}
#: The failures after which the sink backs off and resyncs: a refused or dropped
#: connection, a silent server, and any error answer (a server still loading its data,
#: out of memory, read-only replica), whose message is kept in the stats.
_REDIS_DOWN: Final = (RedisError, OSError)


@attrs.frozen(slots=True)
class RedisSinkStats:
    """What :meth:`RedisSink.stats` returns.

    Attributes:
        written: Events written to the stream.
        dropped: Events that never reached the stream: batches whose write failed, and
            events the subscription dropped while the sink could not keep up.
        failures: Failed calls to Redis.
        resyncs: Times the hashes were rewritten from the watcher (at start, and after
            every reconnect).
        connected: Whether the last call to Redis succeeded.
        buffered: Events waiting in the sink's subscription.
        last_error: The last failure's message (``None`` before any).
    """

    written: int
    dropped: int
    failures: int
    resyncs: int
    connected: bool
    buffered: int
    last_error: str | None


def _op(event: Event) -> tuple[str, int, str, bytes]:
    """The hash write of a state event: (op, key index, field, value); ``("", ...)`` if none."""
    if isinstance(event, AgentStateChanged):
        return "hset", _AGENTS, event.user, encode_record(event.current)
    if isinstance(event, QueueDayChanged):
        if event.current is None:
            return "hdel", _TODAY, event.queue, b""
        return "hset", _TODAY, event.queue, encode_record(event.current)
    if isinstance(event, QueuesSummaryChanged):
        return "set", _SUMMARY, "", encode_record(event.current)
    table = _TABLE_EVENTS.get(type(event))
    if table is not None:
        name, attribute = table
        row_id = getattr(event, attribute)
        current = getattr(event, "current", None)
        if current is None:
            return "hdel", _TABLE_INDEX[name], row_id, b""
        return "hset", _TABLE_INDEX[name], row_id, encode_record(current)
    return "", 0, "", b""


class _StateWrites:
    """The hash writes of a batch, merged: per key the fields deleted, the values set.

    Applied as the script does (the deletions, then the values), they leave each key as
    the writes one by one would, field order included: a field set again after being
    deleted moves to the end, as it would.
    """

    __slots__ = ("_keys",)

    def __init__(self) -> None:
        self._keys: dict[int, tuple[dict[str, None], dict[str, bytes]]] = {}

    def set(self, index: int, field: str, value: bytes) -> None:
        self._keys.setdefault(index, ({}, {}))[1][field] = value

    def delete(self, index: int, field: str) -> None:
        deleted, values = self._keys.setdefault(index, ({}, {}))
        values.pop(field, None)
        deleted[field] = None

    def add_to(self, args: list[Any]) -> None:
        for index, (deleted, values) in self._keys.items():
            fields = list(deleted)
            for start in range(0, len(fields), _GROUP):
                chunk = fields[start : start + _GROUP]
                args += [index, len(chunk), *chunk, 0]
            pairs = list(values.items())
            for start in range(0, len(pairs), _GROUP):
                chunk_pairs = pairs[start : start + _GROUP]
                args += [index, 0, len(chunk_pairs)]
                for field, value in chunk_pairs:
                    args += [field, value]


class RedisSink:
    """Writes a watcher's events and state to Redis, and keeps them there.

    Use it as an async context manager next to the watcher, on asyncio::

        async with client.watch(users=logins) as watcher, RedisSink(url, watcher):
            ...

    Leaving the block writes what is still buffered (for up to ``flush_timeout``
    seconds) and closes the connection when the sink opened it.

    Args:
        redis: A ``redis://`` URL, or a ``redis.asyncio.Redis`` client (left open).
        watcher: The watcher whose events and state are written.
        name: The PBX's name in the keys; by default the host of the client's address.
        maxlen: The stream is trimmed to about this many entries (``MAXLEN ~``).
        buffer: Events the sink's subscription holds while Redis is slow or down; beyond
            it the oldest are dropped (and counted).
        batch_size: Most events written by one script call.
        backoff: Delays between attempts while Redis fails (0.1 s doubling to 5 s, with
            full jitter).
        timeout: Socket timeout of a client made from a URL.
        flush_timeout: Seconds leaving the block waits for the buffered events.
    """

    def __init__(
        self,
        redis: str | Redis,
        watcher: Watcher,
        *,
        name: str | None = None,
        maxlen: int = 100_000,
        buffer: int = 10_000,
        batch_size: int = 500,
        backoff: Backoff | None = None,
        timeout: float = 5.0,
        flush_timeout: float = 2.0,
    ) -> None:
        for parameter, value in (
            ("maxlen", maxlen),
            ("buffer", buffer),
            ("batch_size", batch_size),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise DaktelaUsageError(
                    f"{parameter} must be a positive integer, not {value!r}", parameter=parameter
                )
        if name is None:
            name = default_name(watcher._client.base_url)
        self.keys = RedisKeys(check_name(name))
        self._redis, self._owned = open_client(redis, timeout=timeout)
        self._watcher = watcher
        self._maxlen = maxlen
        self._buffer = buffer
        self._batch_size = batch_size
        self._backoff = backoff or Backoff(0.1, 5.0)
        self._flush_timeout = flush_timeout
        self._script = self._redis.register_script(_SCRIPT)
        self._key_list = [
            self.keys.events,
            self.keys.agents_id,
            *self.keys.state_keys(),
            self.keys.today,
        ]
        self._events: Any = None
        #: The next batch, taken from the subscription and encoded, not yet sent.
        self._ahead: tuple[list[Event], list[Any]] | None = None
        self._group: anyio.abc.TaskGroup | None = None
        self._done = anyio.Event()
        self._synced = False
        self._written = 0
        self._lost = 0
        self._unreported = 0
        self._lost_seq = 0
        self._failures = 0
        self._resyncs = 0
        self._connected = False
        self._last_error: str | None = None

    def __repr__(self) -> str:
        return f"<RedisSink {self.keys.prefix} written={self._written}>"

    async def __aenter__(self) -> Self:
        check_asyncio("RedisSink")
        if self._events is not None:
            raise DaktelaUsageError("a RedisSink can be entered once")
        self._events = self._watcher.subscribe(
            maxsize=self._buffer, overflow="drop_oldest", replay=False, name="redis-sink"
        )
        self._group = anyio.create_task_group()
        await self._group.__aenter__()
        self._group.start_soon(self._run)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Write what is buffered (up to ``flush_timeout``), stop, close our connection."""
        group, self._group = self._group, None
        if group is not None:
            # The subscription ends after its buffered events: the loop writes them.
            self._events.close()
            with anyio.move_on_after(self._flush_timeout):
                await self._done.wait()
            group.cancel_scope.cancel()
            await group.__aexit__(None, None, None)
        if self._owned:
            self._owned = False
            await self._redis.aclose()

    def stats(self) -> RedisSinkStats:
        """The sink's counters."""
        overflowed = self._events.dropped if self._events is not None else 0
        buffered = self._events.stats().buffered if self._events is not None else 0
        return RedisSinkStats(
            written=self._written,
            dropped=self._lost + overflowed,
            failures=self._failures,
            resyncs=self._resyncs,
            connected=self._connected,
            buffered=buffered,
            last_error=self._last_error,
        )

    # --- the loop -------------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            await self._loop()
        finally:
            self._done.set()

    async def _loop(self) -> None:
        attempt = 0
        pending: list[Event] = []
        while True:
            try:
                if not self._synced:
                    if self._ahead is not None:
                        # Taken from the subscription but not sent: still to write.
                        pending += self._ahead[0]
                        self._ahead = None
                    await self._resync(pending)
                    pending = []
                    attempt = 0
                if self._ahead is None:
                    batch = await self._next_batch()
                    if batch is None:
                        return
                    self._ahead = (batch, self._args("write", batch))
                batch, args = self._ahead
                self._ahead = None
                if not await self._write(batch, args):
                    # The state keys are gone (Redis restarted empty, or was flushed).
                    pending, self._synced = batch, False
            except _REDIS_DOWN as exc:
                self._failed(exc)
                attempt += 1
                await anyio.sleep(self._backoff.delay(attempt))

    async def _next_batch(self) -> list[Event] | None:
        try:
            first = await self._events.__anext__()
        except (StopAsyncIteration, DaktelaError):
            return None  # the watcher stopped (its failure is the watcher's to report)
        batch: list[Event] = [first]
        while len(batch) < self._batch_size:
            event = self._events.get_nowait()
            if event is None:
                break
            batch.append(event)
        return batch

    def _failed(self, exc: BaseException) -> None:
        self._failures += 1
        self._connected = False
        self._synced = False
        self._last_error = f"{type(exc).__name__}: {exc}"

    def _args(self, mode: str, events: list[Event], state: Any = None) -> list[Any]:
        """The script's arguments: *events* and their state writes, or *state* (reset)."""
        args: list[Any] = [self._maxlen, mode, len(events)]
        writes = _StateWrites() if state is None else None
        for event in events:
            entry = encode_event(event)
            args += [entry["kind"], entry["seq"], entry["time"], entry["data"]]
            if writes is not None:
                op, index, field, value = _op(event)
                if op == "hdel":
                    writes.delete(index, field)
                elif op:
                    writes.set(index, field, value)
        (writes or state or _StateWrites()).add_to(args)
        return args

    async def _write(self, batch: list[Event], args: list[Any]) -> bool:
        """Write *batch* (encoded as *args*); ``False`` when the state keys are missing.

        While the script runs, the events already buffered are taken and encoded as the
        next batch (``self._ahead``): at most one call is in flight, in order.
        """
        outcome: list[Any] = []

        async def call() -> None:
            try:
                outcome.append(await self._script(keys=self._key_list, args=args))
            except _REDIS_DOWN as exc:
                outcome.append(exc)

        async with anyio.create_task_group() as group:
            group.start_soon(call)
            await anyio.lowlevel.checkpoint()
            self._encode_ahead()
        result = outcome[0]
        if isinstance(result, BaseException):
            # Maybe written, maybe not: never written twice, so counted as lost.
            self._lose(batch)
            raise result
        self._connected = True
        return self._accepted(result, batch)

    def _accepted(self, result: Any, batch: list[Event]) -> bool:
        """Count what the script wrote; ``False`` when it found the state keys missing."""
        if result is None:
            return False
        self._written += len(batch)
        return True

    def _encode_ahead(self) -> None:
        """Take the buffered events (up to a batch) and encode them as the next batch."""
        if self._ahead is not None:
            return
        batch: list[Event] = []
        while len(batch) < self._batch_size:
            event = self._events.get_nowait()
            if event is None:
                break
            batch.append(event)
        if batch:
            self._ahead = (batch, self._args("write", batch))

    async def _resync(self, pending: list[Event]) -> None:
        """Write *pending* and the buffered events, then rewrite the state, at once."""
        # Taken without a checkpoint in between: the snapshot reflects exactly the
        # events published so far, and every later one is written after it.
        events = list(pending)
        while (event := self._events.get_nowait()) is not None:
            events.append(event)
        state = self._state_writes()
        marker: list[Event] = []
        if self._unreported:
            now = dt.datetime.now(dt.UTC)
            marker.append(EventsDropped(seq=self._lost_seq, time=now, missed=self._unreported))
        written = marker + events
        args = self._args("reset", written, state)
        try:
            result = await self._script(keys=self._key_list, args=args)
        except _REDIS_DOWN:
            self._lose(events)
            raise
        self._connected = True
        self._synced = True
        self._resyncs += 1
        self._unreported = 0
        self._resynced(result, written)

    def _resynced(self, result: Any, written: list[Event]) -> None:
        """Count what the resync's script wrote."""
        self._written += len(written)

    def _lose(self, events: list[Event]) -> None:
        """Count *events* as dropped: their write failed, and is never retried."""
        self._lost += len(events)
        self._unreported += len(events)
        if events:
            self._lost_seq = max(self._lost_seq, events[-1].seq)

    def _state_writes(self) -> Any:
        watcher = self._watcher
        state = _StateWrites()
        for login, record in watcher.snapshot().items():
            state.set(_AGENTS, login, encode_record(record))
        for name in (*STATS_TABLES, "summary"):
            try:
                table = watcher.table(name)
            except DaktelaUsageError:
                continue  # not polled by this watcher
            if name == "summary":
                if table:
                    state.set(_SUMMARY, "", encode_record(table["summary"]))
                continue
            index = _TABLE_INDEX[name]
            for row_id, row in table.items():
                state.set(index, row_id, encode_record(row))
        try:
            today = watcher.table("today")
        except DaktelaUsageError:
            today = {}  # not polled
        for queue, figures in today.items():
            state.set(_TODAY, queue, encode_record(figures))
        return state
