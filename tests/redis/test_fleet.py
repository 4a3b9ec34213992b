"""The fleet in one process: members over a real redis-server and the simulator.

Each member has its own client and watcher, as separate processes would; what the
multi-process tests (``test_fleet_processes``) cannot show cheaply is checked here:
the split, hand-overs on join and leave, the stats owner, fencing in the script, the
step-down when Redis goes away, and the checks of the options.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import anyio
import orjson
import pytest
from redis.asyncio import Redis

from daktela_async import DaktelaClient, DaktelaUsageError, Timeouts
from daktela_async.redis import RedisFleet, RedisKeys
from daktela_async.redis._leases import shard_of
from daktela_async.sim import Simulator
from tests.realtime.conftest import HOLD, WATCH
from tests.redis.support import eventually
from tests.redis_server import RedisServer

pytestmark = pytest.mark.anyio

KEYS = RedisKeys("pbx")
TIMEOUTS = Timeouts(connect=1.0, read=1.0, write=1.0, pool=1.0, deadline=2.0)
#: Short leases: a test's failover takes about a second.
FLEET: dict[str, Any] = {"name": "pbx", "shards": 16, "lease_ttl": 1.0, **WATCH}


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(agents=24, queues=2, seed=3, speed=0, hold=HOLD) as simulator:
        yield simulator


def logins(sim: Simulator) -> list[str]:
    return sorted(login for login, agent in sim.snapshot()["agents"].items() if agent["logged"])


async def member(
    stack: AsyncExitStack, sim: Simulator, redis_url: str, users: list[str], **options: Any
) -> RedisFleet:
    client = await stack.enter_async_context(DaktelaClient(sim.url, sim.token, timeout=TIMEOUTS))
    fleet = RedisFleet(redis_url, client, users=users, **{**FLEET, **options})
    return await stack.enter_async_context(fleet)


async def stored(redis: Redis) -> dict[str, dict[str, Any]]:
    raw: Any = await redis.hgetall(KEYS.agents)
    return {k.decode(): orjson.loads(v) for k, v in raw.items()}


def expected(sim: Simulator, users: list[str]) -> dict[str, str]:
    """Each agent's ``hash`` as the simulator answers now."""
    return {user: sim.hash(user) for user in users}


def _sha1(data: bytes) -> Any:
    # The fleet's rendezvous score, not a security measure.
    return hashlib.sha1(data, usedforsecurity=False)


def owners(members: list[RedisFleet], shards: int = 16) -> dict[str, str]:
    """The member each shard belongs to: the highest ``sha1(shard/member)`` (as documented)."""
    ids = [m.member for m in members]
    return {
        str(shard): max(ids, key=lambda m: _sha1(f"{shard}/{m}".encode()).hexdigest())
        for shard in range(shards)
    }


async def settled(members: list[RedisFleet], users: list[str]) -> None:
    """Every agent polled by exactly one member: the one its shard belongs to."""
    owner = owners(members)

    async def check() -> bool:
        polled = [u for m in members for u in m.polled]
        return sorted(polled) == sorted(users) and all(
            owner[shard_of(u, 16)] == m.member for m in members for u in m.polled
        )

    try:
        await eventually(check, timeout=10.0)
    except TimeoutError:
        for m in members:
            print(m.member, sorted(m._held), m._stopped, m.stats())
        print(owner)
        raise


async def test_members_split_the_agents_and_the_hash_follows_the_simulator(
    sim: Simulator, redis_server: RedisServer, redis: Redis
) -> None:
    users = logins(sim)
    async with AsyncExitStack() as stack:
        # Fixed ids: the shares are then fixed too, and each of the three gets agents.
        members = [
            await member(stack, sim, redis_server.url, users, member=f"m{i}") for i in range(3)
        ]
        await settled(members, users)
        # Each member polls only agents whose shards it holds; all three take part.
        for m in members:
            assert m.polled
            assert {shard_of(u, 16) for u in m.polled} <= set(m._held)
        assert sum(m.stats().members == 3 for m in members) == 3
        for user in users[:8]:
            await anyio.to_thread.run_sync(sim.pause_on, user)

        async def converged() -> bool:
            hashes = {u: row.get("hash") for u, row in (await stored(redis)).items()}
            return hashes == expected(sim, users)

        await eventually(converged, timeout=10.0)
        # Only one member polls at a time: the simulator never held two polls for one agent.
        assert sim.traffic()["overlaps"] == {}


async def test_a_member_leaving_hands_its_agents_over_at_once(
    sim: Simulator, redis_server: RedisServer, redis: Redis
) -> None:
    users = logins(sim)
    async with AsyncExitStack() as outer:
        stay = await member(outer, sim, redis_server.url, users)
        async with AsyncExitStack() as inner:
            leave = await member(inner, sim, redis_server.url, users)
            await settled([stay, leave], users)
            assert leave.polled
            moved = list(leave.polled)
        # Left: its leases were deleted, the other takes them at its next tick (0.25 s),
        # long before they would have expired.
        with anyio.fail_after(0.9):
            while sorted(stay.polled) != users:  # noqa: ASYNC110 - the fleet sends no wake-up
                await anyio.sleep(0.02)
        await anyio.to_thread.run_sync(sim.pause_on, moved[0])

        async def published() -> bool:
            return bool((await stored(redis))[moved[0]]["hash"] == sim.hash(moved[0]))

        await eventually(published)
        # Taken back after the hand-over, not after an expiry.
        assert stay.stats().lost == 0
        assert stay.stats().taken == 16 + stay.stats().handed_over


async def test_a_member_joining_takes_its_share_without_two_pollers(
    sim: Simulator, redis_server: RedisServer
) -> None:
    users = logins(sim)
    async with AsyncExitStack() as stack:
        first = await member(stack, sim, redis_server.url, users)
        await settled([first], users)
        sim.traffic(reset=True)
        second = await member(stack, sim, redis_server.url, users)
        await settled([first, second], users)
        assert second.polled
        assert first.stats().handed_over >= 1
        # The old owner stopped polling before the new one began.
        assert sim.traffic()["overlaps"] == {}


def _stats_pair() -> tuple[str, str]:
    """Two member ids of which the second owns the ``stats`` shard."""
    first = "member-a"
    top = _sha1(f"stats/{first}".encode()).hexdigest()
    second = next(
        f"member-{i}" for i in range(100) if _sha1(f"stats/member-{i}".encode()).hexdigest() > top
    )
    return first, second


async def test_one_member_polls_the_stats_and_the_next_one_starts_from_redis(
    sim: Simulator, redis_server: RedisServer, redis: Redis
) -> None:
    users = logins(sim)[:4]
    stats: dict[str, Any] = {"stats": ["queues", "summary"], "stats_interval": 0.05}
    first, second = _stats_pair()
    async with AsyncExitStack() as outer:
        a = await member(outer, sim, redis_server.url, users, member=first, **stats)
        async with AsyncExitStack() as inner:
            b = await member(inner, sim, redis_server.url, users, member=second, **stats)
            await eventually(lambda: _async(b.stats().stats_owner and not a.stats().stats_owner))
            await eventually(lambda: _async(bool(b.watcher.table("queues"))))
            assert not a.watcher.table("queues")
            await eventually(lambda: _exists(redis, KEYS.summary))
            # A queue Redis still holds that the PBX no longer has.
            row = orjson.loads(await redis.hget(KEYS.stats("queues"), "1") or b"{}")
            await redis.hset(KEYS.stats("queues"), "999", orjson.dumps({**row, "id": 999}))
            events = a.subscribe(kinds=["queue_stats", "queues_summary"], name="test")
        # b left: a takes the stats, starting from what Redis holds. Its first poll
        # publishes only the difference: the queue that is gone, nothing else.
        await eventually(lambda: _async(a.stats().stats_owner))
        with anyio.fail_after(5):
            gone = await events.__anext__()
        assert gone.queue == "999"  # type: ignore[attr-defined]
        assert gone.current is None  # type: ignore[attr-defined]
        await anyio.sleep(0.2)
        assert events.get_nowait() is None
        events.close()
        await eventually(lambda: _async_not(redis.hexists(KEYS.stats("queues"), "999")))


async def _async_not(value: Any) -> bool:
    return not await value


async def _async(value: bool) -> bool:
    return value


async def _exists(redis: Redis, key: str) -> bool:
    return bool(await redis.exists(key))


async def test_a_write_under_a_lease_taken_by_another_member_is_fenced(
    sim: Simulator, redis_server: RedisServer, redis: Redis
) -> None:
    users = logins(sim)[:6]
    async with AsyncExitStack() as stack:
        # Long leases and rare ticks: no tick notices the intruder before the write does.
        fleet = await member(
            stack, sim, redis_server.url, users, shards=1, lease_ttl=30.0, renew_interval=15.0
        )
        await eventually(lambda: _async(sorted(fleet.polled) == users))
        await eventually(lambda: _async_len(redis, len(users)))
        # Another member took the only shard (as after this one was paused past its
        # lease): the script must refuse this member's writes, stream and hash alike.
        await redis.hset(KEYS.fleet_leases, "0", "intruder 999 99999999999999")
        before = await stored(redis)
        length = await redis.xlen(KEYS.events)
        await anyio.to_thread.run_sync(sim.pause_on, users[0])
        await eventually(lambda: _async(fleet.stats().fenced >= 1))
        assert await stored(redis) == before
        assert await redis.xlen(KEYS.events) == length
        # The next tick finds the lease gone: the member stops polling the shard.
        fleet._wake.set()
        await eventually(lambda: _async(not fleet.polled))
        assert fleet.stats().lost >= 1


async def _async_len(redis: Redis, count: int) -> bool:
    return int(await redis.hlen(KEYS.agents)) == count


async def test_a_member_cut_off_from_redis_stops_polling(
    sim: Simulator, redis_server: RedisServer
) -> None:
    users = logins(sim)[:6]
    async with AsyncExitStack() as stack:
        fleet = await member(stack, sim, redis_server.url, users)
        await eventually(lambda: _async(sorted(fleet.polled) == users))
        redis_server.stop()
        # Within its lease (1 s) it steps down: another member may take the agents.
        with anyio.fail_after(1.5):
            while fleet.polled:  # noqa: ASYNC110 - the fleet sends no wake-up
                await anyio.sleep(0.02)
        assert fleet.stats().step_downs == 1
        assert "fleet" in fleet.watcher.stats().failing
        redis_server.start()
        await eventually(lambda: _async(sorted(fleet.polled) == users), timeout=5.0)
        assert "fleet" not in fleet.watcher.stats().failing


async def test_remove_users_deletes_them_from_the_hash(
    sim: Simulator, redis_server: RedisServer, redis: Redis
) -> None:
    users = logins(sim)[:4]
    async with AsyncExitStack() as stack:
        fleet = await member(stack, sim, redis_server.url, users)
        await eventually(lambda: _async_len(redis, 4))
        await fleet.remove_users([users[0]])
        assert users[0] not in fleet.polled
        assert users[0] not in await stored(redis)
        await fleet.add_users([users[0]])
        await eventually(lambda: _async_len(redis, 4))


async def test_members_with_other_shard_counts_are_refused(
    sim: Simulator, redis_server: RedisServer
) -> None:
    users = logins(sim)[:2]
    async with AsyncExitStack() as stack:
        await member(stack, sim, redis_server.url, users, shards=16)
        with pytest.raises(DaktelaUsageError, match="16 shards"):
            await member(stack, sim, redis_server.url, users, shards=8)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"shards": 0}, "shards"),
        ({"shards": 2.5}, "shards"),
        ({"lease_ttl": -1}, "lease_ttl"),
        ({"lease_ttl": 1.0, "renew_interval": 0.8}, "at most half"),
        ({"member": "two words"}, "member"),
        ({"users": "hajek"}, "one string"),
        ({"name": "a b"}, "name"),
        ({"stats": ["nope"]}, "unknown stats"),
    ],
)
async def test_bad_options_fail_before_connecting(options: dict[str, Any], match: str) -> None:
    async with DaktelaClient("https://pbx.example.com", "0" * 40) as client:
        arguments: dict[str, Any] = {"users": ["hajek"], **options}
        with pytest.raises(DaktelaUsageError, match=match):
            RedisFleet("redis://127.0.0.1:1/0", client, **arguments)


async def test_a_member_whose_watcher_stopped_leaves_the_fleet(
    sim: Simulator, redis_server: RedisServer, redis: Redis
) -> None:
    users = logins(sim)[:4]
    async with AsyncExitStack() as stack:
        fleet = await member(stack, sim, redis_server.url, users, canary_interval=0.2)
        await eventually(lambda: _async(sorted(fleet.polled) == users))
        # A refused token stops the watcher for good: its leases must not stay held.
        await anyio.to_thread.run_sync(sim.revoke_token)
        await eventually(lambda: _async(fleet.watcher.stopped), timeout=5.0)
        await eventually(lambda: _async_not(redis.exists(KEYS.fleet_leases)), timeout=5.0)
        assert not await redis.zscore(KEYS.fleet_members, fleet.member)
