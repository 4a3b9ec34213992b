"""A fleet of three ``daktela-async watch --fleet`` processes over 300 simulated agents.

Real processes, a real redis-server, signals sent by process id: the member killed
outright, the member paused past its lease and resumed, and the load on the PBX.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import anyio.to_thread
import orjson
import pytest
from redis.asyncio import Redis

from daktela_async.redis import RedisKeys
from daktela_async.redis._leases import shard_of
from daktela_async.sim import Simulator
from tests.redis.support import eventually
from tests.redis_server import RedisServer

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
KEYS = RedisKeys("pbx")
AGENTS = 300
SHARDS = 32
LEASE_TTL = 2.0
#: How long the simulator holds an unchanged poll (60 s on a real PBX).
HOLD = 5.0


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(agents=AGENTS, queues=3, seed=11, speed=0, hold=HOLD) as simulator:
        yield simulator


class Fleet:
    """The member processes, by member id (``host-pid-random``: the pid is in it)."""

    def __init__(self, sim: Simulator, redis: Redis, directory: Path) -> None:
        self.sim = sim
        self.redis = redis
        self.directory = directory
        self.processes: list[anyio.abc.Process] = []
        self.logins = sorted(
            login for login, agent in sim.snapshot()["agents"].items() if agent["logged"]
        )

    async def start(self, url: str, count: int) -> None:
        for _ in range(count):
            await self.add(url)
        await self.settled(count)

    async def add(self, url: str) -> anyio.abc.Process:
        index = len(self.processes)
        argv = ["watch", "--url", self.sim.url, "--token", self.sim.token, "--all-users"]
        argv += ["--redis", url, "--name", "pbx", "--fleet", "--shards", str(SHARDS)]
        argv += ["--lease-ttl", str(LEASE_TTL), "--kind", "source_failed"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("DAKTELA_")}
        env |= {"PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        log = (self.directory / f"member-{index}.log").open("wb")
        process = await anyio.open_process(
            [sys.executable, "-m", "daktela_async", *argv],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=log,
        )
        log.close()
        self.processes.append(process)
        return process

    async def members(self) -> dict[str, int]:
        """The live member ids and their process ids."""
        found: Any = await self.redis.zrange(KEYS.fleet_members, 0, -1)
        return {m.decode(): int(m.decode().split("-")[-2]) for m in found}

    async def leases(self) -> dict[str, str]:
        """Shard to the member holding it."""
        found: Any = await self.redis.hgetall(KEYS.fleet_leases)
        return {k.decode(): v.decode().split(" ")[0] for k, v in found.items()}

    async def settled(self, count: int) -> None:
        """*count* members, every shard leased, every agent's state in the hash."""

        async def check() -> bool:
            members = await self.members()
            leases = await self.leases()
            return (
                len(members) == count
                and len(leases) == SHARDS
                and set(leases.values()) <= set(members)
                and len(set(leases.values())) == count
                and await self.hash_matches()
            )

        await eventually(check, timeout=30.0)

    async def stored(self) -> dict[str, str]:
        """Each agent's ``hash`` as the fleet wrote it to Redis."""
        raw: Any = await self.redis.hgetall(KEYS.agents)
        return {k.decode(): orjson.loads(v)["hash"] for k, v in raw.items()}

    async def hash_matches(self) -> bool:
        truth = await anyio.to_thread.run_sync(self.hashes)
        return await self.stored() == truth

    def hashes(self) -> dict[str, str]:
        return {login: self.sim.hash(login) for login in self.logins}

    def agents_of(self, member: str, leases: dict[str, str]) -> list[str]:
        return [u for u in self.logins if leases.get(shard_of(u, SHARDS)) == member]

    async def stop(self) -> None:
        for process in self.processes:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGCONT)
                    process.send_signal(signal.SIGTERM)
        for process in self.processes:
            with anyio.move_on_after(10):
                await process.wait()
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()


@pytest.fixture
async def fleet(
    sim: Simulator, redis_server: RedisServer, redis: Redis, tmp_path: Path
) -> AsyncIterator[Fleet]:
    members = Fleet(sim, redis, tmp_path)
    try:
        await members.start(redis_server.url, 3)
        yield members
    finally:
        await members.stop()


def change(sim: Simulator, login: str, rng: random.Random) -> None:
    """One state change of *login*: a pause on or off."""
    if sim.snapshot()["agents"][login]["pause"] is None:
        sim.pause_on(login, rng.choice(["7", "8"]))
    else:
        sim.pause_off(login)


async def test_a_killed_members_agents_are_polled_again_within_5_s(fleet: Fleet) -> None:
    sim = fleet.sim
    members = await fleet.members()
    leases = await fleet.leases()
    victim = sorted(members)[0]
    orphans = fleet.agents_of(victim, leases)
    assert orphans
    before = sim.traffic()["by_user"]
    rng = random.Random(5)
    os.kill(members[victim], signal.SIGKILL)
    killed = anyio.current_time()

    async def changes() -> None:
        # 200 state changes while the fleet fails over, the orphans' among them.
        for i in range(200):
            login = orphans[i % len(orphans)] if i % 2 else rng.choice(fleet.logins)
            await anyio.to_thread.run_sync(change, sim, login, rng)
            await anyio.sleep(0.015)

    repolled: float | None = None
    async with anyio.create_task_group() as group:
        group.start_soon(changes)
        with anyio.fail_after(15):
            while True:
                now = sim.traffic()["by_user"]
                if all(now.get(u, 0) > before.get(u, 0) for u in orphans):
                    repolled = anyio.current_time() - killed
                    break
                await anyio.sleep(0.05)
    assert repolled is not None
    assert repolled <= 5.0, f"the killed member's agents were polled again after {repolled:.1f} s"
    # The survivors own every shard, and the hash equals the simulator's state.
    await eventually(lambda: _async(_two_left(fleet)), timeout=10.0)
    await eventually(fleet.hash_matches, timeout=10.0)


async def _async(value: Any) -> bool:
    return bool(await value)


async def _two_left(fleet: Fleet) -> bool:
    members = await fleet.members()
    leases = await fleet.leases()
    return len(members) == 2 and len(leases) == SHARDS and set(leases.values()) <= set(members)


async def test_a_member_paused_past_its_lease_never_writes_an_older_state(
    fleet: Fleet, redis_server: RedisServer
) -> None:
    sim = fleet.sim
    members = await fleet.members()
    leases = await fleet.leases()
    victim = sorted(members)[1]
    pid = members[victim]
    agents = fleet.agents_of(victim, leases)[:20]
    assert redis_server.process is not None
    redis_pid = redis_server.process.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        # Answered to the paused member's held polls, and read from its sockets only
        # after SIGCONT, when the agents have changed again since.
        for login in agents:
            await anyio.to_thread.run_sync(sim.pause_on, login, "7")
        await eventually(lambda: _async(_two_left(fleet)), timeout=10.0)
        for login in agents:
            await anyio.to_thread.run_sync(sim.pause_off, login)
        await eventually(fleet.hash_matches, timeout=10.0)
        # Redis stalls while the member resumes: it reads those old answers and
        # publishes them before any tick can tell it that its leases are gone.
        os.kill(redis_pid, signal.SIGSTOP)
        os.kill(pid, signal.SIGCONT)
        await anyio.sleep(1.5)
    finally:
        os.kill(pid, signal.SIGCONT)
        os.kill(redis_pid, signal.SIGCONT)
    # Whatever it had to write is older than what Redis holds: fenced, never written.
    with anyio.move_on_after(3.0):
        while True:
            assert await fleet.hash_matches()
            await anyio.sleep(0.05)
    await fleet.settled(3)


async def test_one_poll_per_agent_at_a_time_whatever_the_number_of_members(
    fleet: Fleet,
) -> None:
    sim = fleet.sim
    sim.traffic(reset=True)
    window = 2 * HOLD
    await anyio.sleep(window)
    traffic = sim.traffic()
    # Never two held polls for one agent: each has exactly one poller.
    assert traffic["overlaps"] == {}
    assert all(count == 1 for count in traffic["held"].values())
    # Every agent is polled: seen held in one of a few samples (a poll that just came
    # back is re-sent within milliseconds, so one sample may catch it in between).
    held: set[str] = set()
    for _ in range(10):
        held |= set(sim.traffic()["held"])
        await anyio.sleep(0.1)
    assert held >= set(fleet.logins)
    # Idle agents cost one request per hold, as with one watcher: at most one more
    # each for the polls that straddle the window's edges.
    polls = traffic["requests"].get("RTUserState", 0)
    assert polls <= len(fleet.logins) * (window / HOLD + 1)
