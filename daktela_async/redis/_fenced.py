"""The fleet member's sink: every write checked against the writer's lease, in Redis.

A member that was paused or cut off past its lease may still hold events from before
(an answer read from a socket after ``SIGCONT``, a batch encoded before the pause).
Another member has since taken the shard and written newer states. So each event
carries the lease (shard) it was polled under and that lease's fencing token, and the
script that writes the stream entry and the hash field first checks, at Redis ``TIME``,
that the lease is still this member's, with that token, and unexpired. An event that
fails the check is not written at all: neither its stream entry nor its state.

Events of no shard (the member's own outage, ``events_dropped``) are written while the
member's membership is alive. The member also drops, before sending, events polled
under an ownership it has since given up (:meth:`RedisFleet.fence` says which).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import anyio
from redis.asyncio import Redis
from redis.exceptions import RedisError

from .._errors import DaktelaUsageError
from .._event import Event
from ._schema import STATS_TABLES, RedisKeys, encode_event, encode_record
from ._sink import _AGENTS, _SUMMARY, _TABLE_INDEX, _TODAY, RedisSink, _op

if TYPE_CHECKING:
    from ..realtime._watcher import Watcher

__all__ = ["FencedSink"]

#: KEYS: 1 events, 2 agents:id, 3 agents, 4-7 the stats tables, 8 the summary, 9 today,
#: then (the last two) leases and members.
#: ARGV: 1 maxlen, 2 member, 3 the number of events, then 10 values per event (kind,
#: seq, time, data, lease, token, op, key index, field, value), then 6 values per state
#: write of a resync (lease, token, op, key index, field, value). A lease ``""`` is the
#: member's membership. ``op``: ``hset``, ``hdel``, ``set``, ``del`` (the whole key) or
#: ``""``. Returns {events written, events fenced, state writes fenced}.
_SCRIPT: Final = """
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local argv, keys, member = ARGV, KEYS, ARGV[2]
local leases, members = KEYS[#KEYS - 1], KEYS[#KEYS]
local checked = {}
local function valid(lease, token)
  local key = lease .. ' ' .. token
  local ok = checked[key]
  if ok == nil then
    ok = false
    if lease == '' then
      local score = redis.call('ZSCORE', members, member)
      ok = score ~= false and tonumber(score) > now
    else
      local value = redis.call('HGET', leases, lease)
      if value then
        local holder, held, expiry = string.match(value, '^(%S+) (%d+) (%d+)$')
        ok = holder == member and held == token and tonumber(expiry) > now
      end
    end
    checked[key] = ok
  end
  return ok
end
local function apply(op, index, field, value)
  if op == '' then return end
  local key = keys[tonumber(index)]
  if op == 'hset' then redis.call('HSET', key, field, value)
  elseif op == 'hdel' then redis.call('HDEL', key, field)
  elseif op == 'set' then redis.call('SET', key, value)
  elseif op == 'del' then redis.call('DEL', key) end
end
local id, written, fenced, state_fenced, touched = false, 0, 0, 0, false
local i = 4
for _ = 1, tonumber(argv[3]) do
  if valid(argv[i + 4], argv[i + 5]) then
    id = redis.call('XADD', keys[1], 'MAXLEN', '~', argv[1], '*', 'kind', argv[i],
      'seq', argv[i + 1], 'time', argv[i + 2], 'data', argv[i + 3])
    apply(argv[i + 6], argv[i + 7], argv[i + 8], argv[i + 9])
    written = written + 1
  else
    fenced = fenced + 1
  end
  i = i + 10
end
local n = #argv
while i <= n do
  if valid(argv[i], argv[i + 1]) then
    apply(argv[i + 2], argv[i + 3], argv[i + 4], argv[i + 5])
    touched = true
  else
    state_fenced = state_fenced + 1
  end
  i = i + 6
end
if not id and touched then
  local last = redis.call('XREVRANGE', keys[1], '+', '-', 'COUNT', 1)
  if #last > 0 then id = last[1][1] else id = '0-0' end
end
if id then redis.call('SET', keys[2], id) end
return {written, fenced, state_fenced}
"""

#: Where an event is fenced: its lease and token, or ``None`` (drop it unsent).
Fence = Callable[[Event], "tuple[str, str] | None"]


class FencedSink(RedisSink):
    """A :class:`RedisSink` whose every write is checked against the member's leases.

    Args:
        redis: The client to write through (left open).
        watcher: The member's watcher.
        keys: The PBX's keys.
        member: The member's id in the fleet.
        fence: The lease and token an event was polled under, or ``None``.
        owned_state: The leases and tokens held now, by shard (for a resync).
        shard_of: The shard of an agent login.
        options: The sink's other options (``maxlen``, ``buffer``, ...).
    """

    def __init__(
        self,
        redis: Redis,
        watcher: Watcher,
        *,
        keys: RedisKeys,
        member: str,
        fence: Fence,
        owned_state: Callable[[], dict[str, str]],
        shard_of: Callable[[str], str],
        **options: Any,
    ) -> None:
        super().__init__(redis, watcher, name=keys.name, **options)
        self._member = member
        self._fence = fence
        self._owned_state = owned_state
        self._shard_of = shard_of
        self._script = self._redis.register_script(_SCRIPT)
        self._key_list = [
            keys.events,
            keys.agents_id,
            *keys.state_keys(),
            keys.today,
            keys.fleet_leases,
            keys.fleet_members,
        ]
        #: Events not written because their lease had gone (here or in Redis).
        self.fenced = 0
        #: The highest ``seq`` done with: written, fenced or lost.
        self.done_seq = 0
        self._progress = anyio.Event()

    def _args(self, mode: str, events: list[Event], state: Any = None) -> list[Any]:
        args: list[Any] = [self._maxlen, self._member, 0]
        count = 0
        for event in events:
            lease = self._fence(event)
            if lease is None:
                self.fenced += 1
                continue
            entry = encode_event(event)
            op, index, field, value = _op(event)
            args += [entry["kind"], entry["seq"], entry["time"], entry["data"], *lease]
            args += [op, index, field, value]
            count += 1
        args[2] = count
        if state:
            args += state
        return args

    def _accepted(self, result: Any, batch: list[Event]) -> bool:
        written, fenced, _ = (int(v) for v in result)
        self._written += written
        self.fenced += fenced
        self._finished(batch)
        return True

    def _resynced(self, result: Any, written: list[Event]) -> None:
        self._accepted(result, written)

    def _lose(self, events: list[Event]) -> None:
        super()._lose(events)
        self._finished(events)

    def _finished(self, events: list[Event]) -> None:
        if events:
            self.done_seq = max(self.done_seq, max(event.seq for event in events))
            self._progress.set()
            self._progress = anyio.Event()

    async def write_state(self, writes: list[Any]) -> bool:
        """Apply fenced state *writes* (6 values each) now; whether Redis took them."""
        try:
            await self._script(keys=self._key_list, args=[self._maxlen, self._member, 0, *writes])
        except (RedisError, OSError):
            return False  # the next resync rewrites what this member polls
        return True

    async def flushed(self, seq: int, timeout: float) -> bool:
        """Wait (up to *timeout* s) until every event up to *seq* was written or dropped."""
        with anyio.move_on_after(timeout):
            while self.done_seq < seq:
                await self._progress.wait()
            return True
        return False

    def _state_writes(self) -> list[Any]:
        """The hash writes of a resync: the owned agents' states, the stats if owned."""
        owned = self._owned_state()
        writes: list[Any] = []
        for login, record in self._watcher.snapshot().items():
            shard = self._shard_of(login)
            token = owned.get(shard)
            if token is not None:
                writes += [shard, token, "hset", _AGENTS, login, encode_record(record)]
        token = owned.get("stats")
        if token is None:
            return writes
        for name in STATS_TABLES:
            try:
                rows = self._watcher.table(name)
            except DaktelaUsageError:
                continue  # a table this fleet does not poll
            index = _TABLE_INDEX[name]
            writes += ["stats", token, "del", index, "", ""]
            for row_id, row in rows.items():
                writes += ["stats", token, "hset", index, row_id, encode_record(row)]
        try:
            today = self._watcher.table("today")
        except DaktelaUsageError:
            today = None  # not polled
        if today is not None:
            writes += ["stats", token, "del", _TODAY, "", ""]
            for queue, figures in today.items():
                writes += ["stats", token, "hset", _TODAY, queue, encode_record(figures)]
        try:
            summary = self._watcher.table("summary")
        except DaktelaUsageError:
            summary = {}  # not polled
        if summary:
            writes += ["stats", token, "set", _SUMMARY, "", encode_record(summary["summary"])]
        return writes
