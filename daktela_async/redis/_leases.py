"""The fleet's leases: who polls which shard of the agents, decided in one Lua script.

Every member runs :data:`TICK` every ``renew_interval`` seconds. In one atomic step it
renews the member's membership (a sorted set scored by expiry, in Redis ``TIME`` so
that no member's clock matters), prunes members whose membership expired, and walks
every shard (``"0"`` .. ``"N-1"``, and ``"stats"`` for the ``RTStats*`` pollers):

- the shard's wanted owner is the live member with the highest ``sha1(shard/member)``
  (rendezvous hashing: a member joining or leaving moves only its share of shards);
- a lease held by this member and wanted by it is renewed;
- a lease held by this member but wanted by another is kept (and renewed) until the
  member says it stopped polling that shard, then deleted: the new owner never polls
  an agent while the old one still does;
- a free or expired lease wanted by this member is taken with the next fencing token.

A lease is ``"<member> <token> <expiry ms>"``; the token grows with every lease taken,
so a write carrying a token proves the writer held the lease since that token was
issued (the sink checks it in the same script that writes).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any, Final

import attrs

__all__ = ["LEAVE", "STATS_SHARD", "TICK", "Lease", "TickResult", "parse_tick", "shard_of"]

#: The lease of the ``RTStats*`` pollers: one member polls them for the whole fleet.
STATS_SHARD: Final = "stats"

#: KEYS: 1 members, 2 leases, 3 fence, 4 config.
#: ARGV: 1 member, 2 ttl (ms), 3 shards, 4 want stats ("1"/"0"), 5.. shards stopped.
#: Returns {"ok", live members, {shard, token, ...} held, {shard, ...} to hand over} or
#: {"shards", the fleet's count} when the fleet runs with another number of shards.
TICK: Final = """
if redis.replicate_commands then pcall(redis.replicate_commands) end
local member, ttl, nshards = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local config = redis.call('GET', KEYS[4])
if config and tonumber(config) ~= nshards then
  return {'shards', config}
end
redis.call('SET', KEYS[4], nshards, 'PX', ttl * 4)
redis.call('ZADD', KEYS[1], now + ttl, member)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
local stopped = {}
for i = 5, #ARGV do stopped[ARGV[i]] = true end
local held, handover = {}, {}
local function wanted(shard)
  local best, top = nil, nil
  for _, m in ipairs(members) do
    local score = redis.sha1hex(shard .. '/' .. m)
    if top == nil or score > top then best, top = m, score end
  end
  return best == member
end
local function visit(shard)
  local lease = redis.call('HGET', KEYS[2], shard)
  local holder, token, expiry = nil, nil, 0
  if lease then
    holder, token, expiry = string.match(lease, '^(%S+) (%d+) (%d+)$')
    expiry = tonumber(expiry) or 0
  end
  local mine = wanted(shard)
  if holder == member and expiry > now then
    if not mine and stopped[shard] then
      redis.call('HDEL', KEYS[2], shard)
      return
    end
    redis.call('HSET', KEYS[2], shard, member .. ' ' .. token .. ' ' .. (now + ttl))
    held[#held + 1] = shard
    held[#held + 1] = token
    if not mine then handover[#handover + 1] = shard end
  elseif mine and expiry <= now then
    token = redis.call('INCR', KEYS[3])
    redis.call('HSET', KEYS[2], shard, member .. ' ' .. token .. ' ' .. (now + ttl))
    held[#held + 1] = shard
    held[#held + 1] = tostring(token)
  elseif holder == member then
    redis.call('HDEL', KEYS[2], shard)
  end
end
for i = 0, nshards - 1 do visit(tostring(i)) end
if ARGV[4] == '1' then visit('stats') end
return {'ok', #members, held, handover}
"""

#: KEYS: 1 members, 2 leases. ARGV: 1 member. Leaves the fleet: the member's leases
#: are deleted, so that the others take its shards at their next tick.
LEAVE: Final = """
redis.call('ZREM', KEYS[1], ARGV[1])
local leases = redis.call('HGETALL', KEYS[2])
local prefix = ARGV[1] .. ' '
for i = 1, #leases, 2 do
  if string.sub(leases[i + 1], 1, #prefix) == prefix then
    redis.call('HDEL', KEYS[2], leases[i])
  end
end
return 1
"""


def shard_of(login: str, shards: int) -> str:
    """The shard of agent *login*: stable across processes, versions and languages."""
    return str(zlib.crc32(login.encode()) % shards)


@attrs.frozen(slots=True)
class Lease:
    """A lease this member holds: its shard and fencing token."""

    shard: str
    token: str


@attrs.frozen(slots=True)
class TickResult:
    """What one tick decided: the live members, the leases held, the shards to hand over."""

    members: int
    held: dict[str, str]
    handover: frozenset[str]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def parse_tick(reply: Sequence[Any]) -> TickResult | int:
    """The :data:`TICK` script's reply; the fleet's shard count when it differs."""
    status = _text(reply[0])
    if status == "shards":
        return int(_text(reply[1]))
    held_flat = [_text(v) for v in reply[2]]
    held = dict(zip(held_flat[0::2], held_flat[1::2], strict=True))
    return TickResult(
        members=int(reply[1]),
        held=held,
        handover=frozenset(_text(v) for v in reply[3]),
    )
