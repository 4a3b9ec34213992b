"""Row 9: a fleet of ``daktela-async watch --fleet`` processes sharing one PBX's agents.

The simulator runs in a child process (frozen clock, a short hold: the real PBX holds
an unchanged poll for 60 s); a private ``redis-server`` runs as in row 8. The members
are real processes, ``python -m daktela_async watch --all-users --redis URL --name pbx
--fleet --shards 32 --lease-ttl 2``, each ended by its own pid (SIGTERM, then SIGKILL).

- PBX polling load: one member runs until settled (every shard leased to the member
  rendezvous hashing wants, every logged-in agent in the ``agents`` hash and held by
  the simulator exactly once); after one more hold the simulator's traffic counters are
  reset and read again a window of several holds later. That member is stopped
  (SIGTERM: it leaves the fleet), three are started and the same window is measured.
  ``RTUserState`` requests are reported per agent-hour, scaled to a 60 s hold
  (requests / agents / (window / hold) * 60): a fleet must cost the PBX what one
  watcher does, one held poll per agent at a time (no overlaps).
- Failover: with three members settled, five times: one member is picked, the agents
  of the shards it leases are listed, it is SIGKILLed, and the time until the
  simulator has counted a new ``RTUserState`` request for every one of those agents is
  taken; then a replacement starts and the fleet settles again. The baseline is the
  lease TTL, the floor of any lease-based failover.

Run alone: ``python -m benchmarks --only 9 [--quick]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import signal
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import attrs

from daktela_async.redis import RedisKeys
from daktela_async.redis._leases import shard_of

from ._support import ROOT, Child, Line, child_cpu, percentile, ratio_text
from .bench_redis import _missing, _redis_server

CASE_LOAD: Final = "PBX polling load, 3 members vs 1"
CASE_FAILOVER: Final = "Failover after a member is SIGKILLed"
NAME: Final = "pbx"
KEYS: Final = RedisKeys(NAME)
SHARDS: Final = 32
LEASE_TTL: Final = 2.0
#: The PBX's real hold: the load is scaled to it.
REAL_HOLD: Final = 60.0
#: RTUserState requests per agent-hour at a 60 s hold: one per hold, and one for the edge.
LOAD_TARGET: Final = 61.0
FAILOVER_TARGET: Final = 5.0
_SETTLE_TIMEOUT: Final = 60.0
_FAILOVER_TIMEOUT: Final = 30.0
_END_TIMEOUT: Final = 10.0


@attrs.frozen
class Sizes:
    """How big one run is."""

    agents: int
    hold: float
    #: The load window, in holds.
    holds: int
    kills: int


FULL: Final = Sizes(agents=300, hold=2.0, holds=10, kills=5)
QUICK: Final = Sizes(agents=60, hold=2.0, holds=4, kills=5)


def _wanted(shard: str, members: Sequence[str]) -> str:
    """The member the lease script wants for *shard* (the highest ``sha1(shard/member)``)."""
    return max(members, key=lambda m: hashlib.sha1(f"{shard}/{m}".encode()).hexdigest())  # noqa: S324


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class _Fleet:
    """The member processes (by pid), the simulator they poll and the Redis they meet in."""

    def __init__(self, sim: Child, redis_url: str, directory: Path) -> None:
        from redis.asyncio import Redis

        self.sim = sim
        self.redis_url = redis_url
        self.redis = Redis.from_url(redis_url)
        self.directory = directory
        #: Every agent logged in at the simulator (the members also poll the others).
        self.logins: list[str] = list(sim.hello["users"])
        self.processes: dict[int, asyncio.subprocess.Process] = {}
        self._logs: dict[int, Path] = {}

    # --- processes ------------------------------------------------------------------------

    async def add(self) -> int:
        """Start one member; returns its pid."""
        argv = ["watch", "--url", self.sim.hello["url"], "--token", self.sim.hello["token"]]
        argv += ["--all-users", "--redis", self.redis_url, "--name", NAME, "--fleet"]
        argv += ["--shards", str(SHARDS), "--lease-ttl", f"{LEASE_TTL:g}"]
        argv += ["--kind", "source_failed"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("DAKTELA_")}
        env |= {"PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        path = self.directory / f"member-{len(self._logs)}.log"
        log = path.open("wb")
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "daktela_async",
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=ROOT,
                env=env,
            )
        finally:
            log.close()
        self.processes[process.pid] = process
        self._logs[process.pid] = path
        return process.pid

    async def end(self, pid: int, sig: signal.Signals = signal.SIGTERM) -> None:
        """Send *sig* to member *pid* (one of ours); SIGKILL it if it has not exited."""
        process = self.processes.pop(pid)
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            try:
                await asyncio.wait_for(process.wait(), _END_TIMEOUT)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                await asyncio.wait_for(process.wait(), _END_TIMEOUT)

    async def close(self) -> None:
        """End every member, then the Redis client."""
        try:
            for pid in list(self.processes):
                with contextlib.suppress(Exception):
                    await self.end(pid)
        finally:
            await self.redis.aclose()

    def _check_alive(self) -> None:
        for pid, process in self.processes.items():
            if process.returncode is not None:
                tail = self._logs[pid].read_text("utf-8", "replace")[-2000:]
                raise RuntimeError(f"member {pid} exited with {process.returncode}: {tail}")

    # --- what Redis and the simulator say -------------------------------------------------

    async def members(self) -> dict[str, int]:
        """The live member ids and their pids (``host-PID-random``)."""
        found: Any = await self.redis.zrange(KEYS.fleet_members, 0, -1)
        return {_text(m): int(_text(m).split("-")[-2]) for m in found}

    async def leases(self) -> dict[str, str]:
        """Shard -> the member holding its lease (``member token expiry``)."""
        found: Any = await self.redis.hgetall(KEYS.fleet_leases)
        return {_text(k): _text(v).split(" ")[0] for k, v in found.items()}

    async def traffic(self, *, reset: bool = False) -> dict[str, Any]:
        return await self.sim.command("traffic", reset=reset)

    def agents_of(self, member: str, leases: Mapping[str, str]) -> list[str]:
        return [u for u in self.logins if leases.get(shard_of(u, SHARDS)) == member]

    async def settled(self, count: int) -> bool:
        """*count* members (ours), each shard leased to the member it should be, every
        agent's state in Redis and one poll of each agent held by the simulator."""
        self._check_alive()
        members = await self.members()
        if len(members) != count or not set(members.values()) <= set(self.processes):
            return False
        leases = await self.leases()
        if len(leases) != SHARDS:
            return False
        live = sorted(members)
        if any(leases[str(shard)] != _wanted(str(shard), live) for shard in range(SHARDS)):
            return False
        stored: Any = await self.redis.hkeys(KEYS.agents)
        if not {_text(k) for k in stored} >= set(self.logins):
            return False
        held = (await self.traffic())["held"]
        return all(held.get(login) == 1 for login in self.logins)

    async def settle(self, count: int) -> float:
        """Wait until :meth:`settled`; returns the seconds it took."""
        start = time.monotonic()
        while not await self.settled(count):
            if time.monotonic() - start > _SETTLE_TIMEOUT:
                raise RuntimeError(
                    f"the fleet did not settle with {count} members in {_SETTLE_TIMEOUT:g} s: "
                    f"members {await self.members()}, {len(await self.leases())} leases"
                )
            await asyncio.sleep(0.1)
        return time.monotonic() - start


# --- load -----------------------------------------------------------------------------------


@attrs.frozen
class _Load:
    members: int
    agents: int
    window: float
    polls: int
    per_agent_hour: float
    other: dict[str, int]
    #: RTUserState requests for users who are not logged in (the members poll every user).
    offline_polls: int
    overlaps: int
    max_held: int
    cpu: float
    settle: float


async def _load(fleet: _Fleet, count: int, sizes: Sizes) -> _Load:
    """Start *count* members, settle, and measure the PBX's load over the window."""
    start = time.monotonic()
    for _ in range(count):
        await fleet.add()
    await fleet.settle(count)
    settle = time.monotonic() - start
    # The polls of the start (un-held first answers, hand-overs) are over after a hold.
    await asyncio.sleep(sizes.hold + 0.5)
    pids = list(fleet.processes)
    cpu_before = sum(child_cpu(pid) for pid in pids)
    await fleet.traffic(reset=True)
    began = time.monotonic()
    await asyncio.sleep(sizes.holds * sizes.hold)
    traffic = await fleet.traffic(reset=True)
    window = time.monotonic() - began
    cpu_used = sum(child_cpu(pid) for pid in pids) - cpu_before
    by_user: dict[str, int] = traffic["by_user"]
    logins = set(fleet.logins)
    polls = sum(n for user, n in by_user.items() if user in logins)
    requests: dict[str, int] = traffic["requests"]
    other = {action: n for action, n in requests.items() if action != "RTUserState"}
    held: dict[str, int] = traffic["held"]
    return _Load(
        members=count,
        agents=len(logins),
        window=window,
        polls=polls,
        per_agent_hour=polls / len(logins) / (window / sizes.hold) * REAL_HOLD,
        other=other,
        offline_polls=sum(n for user, n in by_user.items() if user not in logins),
        overlaps=sum(traffic["overlaps"].values()),
        max_held=max(held.values(), default=0),
        cpu=cpu_used / window,
        settle=settle,
    )


def _others(load: _Load) -> str:
    total = sum(load.other.values())
    per_member_hour = total / load.members / load.window * 3600
    detail = ", ".join(f"{action} {n}" for action, n in sorted(load.other.items()))
    return f"{per_member_hour:,.0f}/member-hour ({detail or 'none'})"


def _load_line(one: _Load, three: _Load, sizes: Sizes, stop: tuple[float, bool]) -> Line:
    ratio = three.per_agent_hour / one.per_agent_hour
    met = three.per_agent_hour <= LOAD_TARGET and three.overlaps == 0
    limit = ""
    if not met:
        limit = (
            f"3 members: {three.polls} RTUserState requests for {three.agents} agents in "
            f"{three.window:.1f} s (hold {sizes.hold:g} s), {three.overlaps} overlapping held "
            f"polls, at most {three.max_held} held at once for one agent; 1 member: "
            f"{one.polls} requests, {one.overlaps} overlaps."
        )
    return Line(
        row=9,
        case=(
            f"{CASE_LOAD}: {three.agents} agents logged in, {SHARDS} shards, simulator hold "
            f"{sizes.hold:g} s, window {three.window:.1f} s after settling; RTUserState "
            f"requests per agent-hour scaled to the PBX's {REAL_HOLD:g} s hold. Overlapping "
            f"held polls: {three.overlaps} (3 members), {one.overlaps} (1 member). Other "
            f"requests: 3 members {_others(three)}; 1 member {_others(one)}; RTUserState "
            f"for users not logged in {three.offline_polls} / {one.offline_polls}. Members' "
            f"CPU {three.cpu * 100:.1f}% / {one.cpu * 100:.1f}% of a core; settled in "
            f"{three.settle:.1f} s / {one.settle:.1f} s from start; the member stopped "
            f"with SIGTERM exited in {stop[0]:.2f} s and "
            + ("left the fleet cleanly" if stop[1] else "**did not** delete its leases")
        ),
        measured=f"3 members: {three.per_agent_hour:.1f} per agent-hour",
        baseline=f"1 member: {one.per_agent_hour:.1f} per agent-hour",
        ratio=ratio_text(ratio),
        target=f"<= {LOAD_TARGET:g} per agent-hour, ratio ~1.0, 0 overlaps",
        met=met,
        limit=limit,
    )


# --- failover -------------------------------------------------------------------------------


@attrs.frozen
class _Failover:
    #: Kill -> a new RTUserState request for every agent of the killed member.
    repolled: float
    #: Kill -> every shard of the killed member leased to another member.
    leased: float
    orphans: int
    #: Replacement started -> settled again.
    resettle: float


async def _kill_one(fleet: _Fleet, round_: int) -> _Failover:
    members = await fleet.members()
    leases = await fleet.leases()
    ids = sorted(members)
    victim = ids[round_ % len(ids)]
    pid = members[victim]
    if pid not in fleet.processes:
        raise RuntimeError(f"member {victim} is not one of this run's processes")
    orphans = fleet.agents_of(victim, leases)
    shards = {shard for shard, holder in leases.items() if holder == victim}
    if not orphans:
        raise RuntimeError(f"member {victim} polls no agent: {len(shards)} shards")
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    # Taken after the kill: only a survivor can poll these agents from now on.
    before: dict[str, int] = (await fleet.traffic())["by_user"]
    leased: float | None = None
    repolled: float | None = None
    while repolled is None:
        now = time.monotonic()
        if now - killed > _FAILOVER_TIMEOUT:
            raise RuntimeError(
                f"the agents of {victim} were not polled again within {_FAILOVER_TIMEOUT:g} s"
            )
        if leased is None:
            current = await fleet.leases()
            if all(current.get(s) not in (None, victim) for s in shards):
                leased = time.monotonic() - killed
        counts: dict[str, int] = (await fleet.traffic())["by_user"]
        if all(counts.get(u, 0) > before.get(u, 0) for u in orphans):
            repolled = time.monotonic() - killed
        else:
            await asyncio.sleep(0.02)
    await fleet.end(pid, signal.SIGKILL)  # reaps it
    if leased is None:
        leased = repolled  # every lease had moved by then: an agent is polled under one
    await fleet.add()
    resettle = await fleet.settle(3)
    return _Failover(repolled=repolled, leased=leased, orphans=len(orphans), resettle=resettle)


def _failover_line(results: Sequence[_Failover], overlaps: int, sizes: Sizes) -> Line:
    times = [r.repolled for r in results]
    leased = [r.leased for r in results]
    worst = max(times)
    orphans = sum(r.orphans for r in results) / len(results)
    return Line(
        row=9,
        case=(
            f"{CASE_FAILOVER}: 3 members, {sizes.agents} agents, {len(results)} kills "
            f"(~{orphans:.0f} agents orphaned each); kill -> a new RTUserState request at "
            f"the simulator for every agent of the killed member. Its shards leased to a "
            f"survivor after p50 {percentile(leased, 50):.2f} s, max {max(leased):.2f} s; "
            f"overlapping held polls during the kills {overlaps}; replacement settled in "
            f"p50 {percentile([r.resettle for r in results], 50):.1f} s"
        ),
        measured=f"p50 {percentile(times, 50):.2f} s, max {worst:.2f} s",
        baseline=f"lease TTL {LEASE_TTL:g} s (renewed every {LEASE_TTL / 4:g} s)",
        ratio=f"max {ratio_text(worst / LEASE_TTL)}",
        target=f"max <= {FAILOVER_TARGET:g} s",
        met=worst <= FAILOVER_TARGET,
        limit=(
            ""
            if worst <= FAILOVER_TARGET
            else "Kill -> re-polled, each kill: "
            + ", ".join(f"{r.repolled:.2f} s (leases {r.leased:.2f} s)" for r in results)
        ),
    )


# --- the row --------------------------------------------------------------------------------


async def _main(quick: bool) -> list[Line]:
    sizes = QUICK if quick else FULL
    with (
        _redis_server() as (url, _pid),
        tempfile.TemporaryDirectory(prefix="bench-fleet-") as directory,
    ):
        async with Child("sim", "--agents", str(sizes.agents), "--hold", str(sizes.hold)) as sim:
            fleet = _Fleet(sim, url, Path(directory))
            try:
                one = await _load(fleet, 1, sizes)
                stopping = time.monotonic()
                for pid in list(fleet.processes):
                    await fleet.end(pid)  # SIGTERM: it leaves the fleet
                exited = time.monotonic() - stopping
                # Left cleanly: its membership and leases deleted, not left to expire.
                left = not await fleet.members() and not await fleet.leases()
                three = await _load(fleet, 3, sizes)
                await fleet.traffic(reset=True)
                results = [await _kill_one(fleet, i) for i in range(sizes.kills)]
                overlaps = sum((await fleet.traffic())["overlaps"].values())
            finally:
                await fleet.close()
    return [
        _load_line(one, three, sizes, (exited, left)),
        _failover_line(results, overlaps, sizes),
    ]


def run(quick: bool) -> list[Line]:
    """Measure row 9 and return its table lines ("-" with the reason when it cannot run)."""
    reason = _missing()
    if reason is not None:
        return [
            Line(row=9, case=case, measured=f"- ({reason})") for case in (CASE_LOAD, CASE_FAILOVER)
        ]
    return asyncio.run(_main(quick))


NOTES: Final = (
    "- **Row 9** runs a fleet of real `python -m daktela_async watch --all-users --redis URL "
    f"--name {NAME} --fleet --shards {SHARDS} --lease-ttl {LEASE_TTL:g}` processes against "
    "the simulator (a child process, frozen clock, an unchanged poll held 2 s instead of "
    "the PBX's 60 s) and a private `redis-server` (as in row 8); each member is ended by "
    "its own pid (SIGTERM, SIGKILL after 10 s). A fleet is *settled* when the members "
    "set has the expected members, every shard is leased to the member rendezvous hashing "
    "wants, every logged-in agent is in the `agents` hash and the simulator holds exactly "
    "one poll of each. *Load*: one member is started and settled, one more hold passes, "
    "the simulator's request counters are reset and read again a window of several holds "
    "later; the member is stopped with SIGTERM (it leaves the fleet), three are started "
    "and the same window is measured. `RTUserState` requests for logged-in agents are "
    "shown per agent-hour scaled to a 60 s hold (requests / agents / (window / hold) x 60): "
    "one poll per agent per hold is 60, and a fleet should cost the PBX what one watcher "
    "does. *Overlaps* are held polls of an agent that began while another of the same "
    "agent was held (the simulator counts them); other requests (the `GetUser` canary, "
    "every 10 s: 360 per member-hour) are per member-hour over the same short window, "
    "unscaled, so a count of a few requests. *Failover*: with three members settled, five times a "
    "member is picked from the fleet's members set (its pid is in its id), the agents of "
    "the shards it leases are listed, it is SIGKILLed, and the time until the simulator "
    "has counted a new `RTUserState` request for every one of those agents is taken; a "
    "replacement is then started and the fleet settles again. The baseline is the lease "
    "TTL: no lease-based failover can be faster.",
)
