"""Row 3: watching 1000 agents: CPU per idle long poll, memory per agent, idle requests.

The simulator runs in a child process with a frozen clock, so every long poll is idle:
held for the whole hold, then answered unchanged. When a hold ends is the simulator's
doing, not the client's (``Simulator(hold_ends=...)``), so every client meets the same
pattern of answers: ``"spread"``, each agent's at its own point of the hold cycle (a
real PBX's, whose agents' changes put them out of step), and ``"together"``, every
agent's at once (one burst per hold, for the aiohttp subjects only). The pattern decides
much of the cost: a burst is served in a few loop iterations, answers spread out wake the
loop for almost every one. Four clients watch the same agents, one after the other,
against the same simulator:

- the watcher on the httpcore pool (shards of 10 connections; the default on trio);
- the watcher on the default pool, which on asyncio is the aiohttp transport in one
  shard (one ``aiohttp.ClientSession``);
- raw aiohttp: one loop per agent on one session (``json.loads`` for the hash);
- raw httpx: one loop per agent on one shared ``httpx.AsyncClient`` whose limits allow
  a connection per agent.

Each warms up until every agent's poll is held, waits half a hold (with every answer at
once, until the middle of a hold cycle: no burst is cut in two), then counts requests and
this process's CPU over whole holds.
Memory is measured in a fresh child process per client (RSS with every agent watched,
minus RSS before the client existed, divided by the agents). Idle requests per agent-hour
are counted with the document's 60 s hold over one whole hold in the full run.

Run alone: ``python -m benchmarks --only 3``.
"""

from __future__ import annotations

import asyncio
import functools
import json
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final

import aiohttp
import attrs
import httpx

from daktela_async import DaktelaClient, PoolLimits, httpcore_transport_factory

from ._support import Child, Line, Profile, cpu, kib, poll_until, ratio_text, rss, settle

WATCHER_POOL: Final = "watcher, httpcore pool (trio)"
WATCHER_AIOHTTP: Final = "watcher, default pool: aiohttp (1 session)"
RAW_AIOHTTP: Final = "raw aiohttp"
RAW_HTTPX: Final = "raw httpx, one shared client"
SUBJECTS: Final = (WATCHER_POOL, WATCHER_AIOHTTP)
#: The most CPU per idle poll each subject may cost, in raw aiohttp polls (issue 19's
#: goals). The shared httpx client is shown beside them, for what a plain httpx watcher
#: would cost; it is no target (measured once, and far off either way).
_AIOHTTP_TARGET: Final[dict[str, float | None]] = {WATCHER_POOL: 2.5, WATCHER_AIOHTTP: 1.5}
# Baselines first: a subject that misses its target is profiled over one more hold.
ORDER: Final = (RAW_AIOHTTP, WATCHER_POOL, RAW_HTTPX, WATCHER_AIOHTTP)
_LONG_POLL_TIMEOUT: Final = 75.0
_MEMORY_TARGET: Final = 48 * 1024


@attrs.frozen
class Sizes:
    """How big one run is."""

    agents: int
    hold: float
    holds_measured: int
    warm_timeout: float
    httpx_warm: float  # the shared httpx client's warm-up (it never quite gets there)
    hour_hold: float | None  # the hold of the requests-per-agent-hour run (None: skip)
    subjects: tuple[str, ...]
    profile: bool  # profile a subject that misses its target (one more hold)
    rounds: int  # interleaved rounds of the CPU windows (raw httpx: one), median reported


FULL: Final = Sizes(
    agents=1000,
    hold=5.0,
    holds_measured=2,
    warm_timeout=60,
    httpx_warm=12,
    hour_hold=60.0,
    subjects=SUBJECTS,
    profile=True,
    rounds=3,
)
QUICK: Final = Sizes(
    agents=200,
    hold=1.0,
    holds_measured=1,
    warm_timeout=10,
    httpx_warm=2,
    hour_hold=None,
    subjects=(WATCHER_POOL, WATCHER_AIOHTTP),
    profile=False,
    rounds=2,
)


# --- the clients ------------------------------------------------------------------------------


class _Subject:
    """One way of watching the agents."""

    async def start(self) -> None:
        raise NotImplementedError

    def requests(self) -> int:
        raise NotImplementedError

    def ready(self) -> int:
        """How many agents have their first state."""
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError


def _client(kind: str, url: str, token: str, agents: int) -> DaktelaClient:
    # One connection per held poll, and room for the canary and a probe.
    limits = PoolLimits(max_shards=(agents + 16) // 10 + 1)
    if kind == WATCHER_POOL:
        return DaktelaClient(
            url, token, limits=limits, transport_factory=httpcore_transport_factory
        )
    # The default factory, which on asyncio is aiohttp's transport,
    # taking the whole pool in one shard (checked once the watcher runs).
    return DaktelaClient(url, token, limits=limits)


class _Watch(_Subject):
    def __init__(self, kind: str, url: str, token: str, users: Sequence[str]) -> None:
        self._kind = kind
        self._client = _client(kind, url, token, len(users))
        self._watcher = self._client.watch(users, long_poll_timeout=_LONG_POLL_TIMEOUT)

    async def start(self) -> None:
        await self._watcher.__aenter__()
        if self._kind == WATCHER_AIOHTTP:
            # The row is labelled with what the default factory picked: make sure.
            picked = {type(s.transport).__name__ for s in self._client.pool._shards}
            if picked - {"AiohttpTransport"}:
                raise RuntimeError(f"the default pool opened {picked}, not aiohttp's transport")

    def requests(self) -> int:
        return self._watcher.stats().sources["agents"].requests

    def ready(self) -> int:
        return len(self._watcher.snapshot())

    async def stop(self) -> None:
        await self._watcher.aclose()
        await self._client.aclose()


class _RawLoops(_Subject):
    """One long-poll loop per agent, the least a client can do: GET, read the hash, repeat."""

    def __init__(self, kind: str, url: str, token: str, users: Sequence[str]) -> None:
        self._kind = kind
        self._base = f"{url}/api/4.1/RTUserState/json?access_token={token}&user="
        self._users = list(users)
        self._tasks: list[asyncio.Task[None]] = []
        self._completed = 0
        self._ready = 0
        self.errors = 0
        self._get: Callable[[str], Awaitable[bytes]]
        self._close: Callable[[], Awaitable[None]]

    async def start(self) -> None:
        agents = len(self._users)
        if self._kind == RAW_AIOHTTP:
            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=agents + 16),
                timeout=aiohttp.ClientTimeout(total=None, sock_read=_LONG_POLL_TIMEOUT),
            )

            async def get_aiohttp(url: str) -> bytes:
                async with session.get(url) as response:
                    return await response.read()

            self._get, self._close = get_aiohttp, session.close
        else:
            client = httpx.AsyncClient(
                limits=httpx.Limits(max_connections=agents + 16, max_keepalive_connections=agents),
                timeout=httpx.Timeout(_LONG_POLL_TIMEOUT, connect=30.0, pool=None),
            )

            async def get_httpx(url: str) -> bytes:
                return (await client.get(url)).content

            self._get, self._close = get_httpx, client.aclose
        self._tasks = [asyncio.create_task(self._loop(user)) for user in self._users]

    async def _loop(self, user: str) -> None:
        base = self._base + user
        digest: str | None = None
        while True:
            try:
                body = await self._get(base if digest is None else f"{base}&hash={digest}")
                new = json.loads(body)["result"]["hash"]
            except Exception:
                self.errors += 1
                await asyncio.sleep(1.0)
                continue
            if digest is None:
                self._ready += 1
            digest = new
            self._completed += 1

    def requests(self) -> int:
        return self._completed

    def ready(self) -> int:
        return self._ready

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._close()


def _subject(kind: str, url: str, token: str, users: Sequence[str]) -> _Subject:
    if kind in (RAW_AIOHTTP, RAW_HTTPX):
        return _RawLoops(kind, url, token, users)
    return _Watch(kind, url, token, users)


# --- measuring ----------------------------------------------------------------------------


@attrs.frozen
class _Window:
    requests: int
    cpu: float
    seconds: float
    ready: int
    held: int
    profile: str = ""
    spread: str = ""  # the rounds' range, when several were measured

    @property
    def cpu_per_request(self) -> float:
        return self.cpu / self.requests if self.requests else float("inf")


async def _held(sim: Child) -> int:
    return int((await sim.command("held"))["held"])


async def _measure(
    sim: Child,
    kind: str,
    users: Sequence[str],
    sizes: Sizes,
    *,
    hold: float | None = None,
    holds: int | None = None,
    profile_if: Callable[[_Window], bool] | None = None,
    drain: bool = True,
    align: bool = False,
) -> _Window:
    """Warm *kind* up, then count requests and CPU over whole holds.

    When *profile_if* says so about the measured window, one more hold is profiled
    (never the measured one: the profiler's own cost would be counted).
    """
    hold = sizes.hold if hold is None else hold
    holds = sizes.holds_measured if holds is None else holds
    url, token = sim.hello["url"], sim.hello["token"]
    agents = len(users)
    subject = _subject(kind, url, token, users)
    await subject.start()
    try:

        async def warmed() -> bool:
            return subject.ready() >= agents and await _held(sim) >= agents

        # One shared httpx client cannot keep up with every poll (its pool's CPU grows
        # with connections x waiting requests): measure it however far it got.
        await poll_until(warmed, sizes.httpx_warm if kind == RAW_HTTPX else sizes.warm_timeout)
        # The window starts between two rounds of polls, at least half a hold from now;
        # aligned, half a hold from the points of the cycle where phased holds end
        # "together" (the simulator's loop clock is this CLOCK_MONOTONIC).
        await asyncio.sleep(hold / 2 + ((-time.monotonic()) % hold if align else 0.0))
        settle()
        requests, used, started = subject.requests(), cpu(), time.monotonic()
        await asyncio.sleep(hold * holds)
        window = _Window(
            requests=subject.requests() - requests,
            cpu=cpu() - used,
            seconds=time.monotonic() - started,
            ready=subject.ready(),
            held=await _held(sim),
        )
        if profile_if is not None and profile_if(window):
            with Profile() as profile:
                await asyncio.sleep(hold)
            window = attrs.evolve(window, profile=profile.top(30, "cumulative"))
    finally:
        await subject.stop()
    if drain:
        # Requests the client gave up stay held in the simulator until their hold ends.
        await poll_until(lambda: _zero_held(sim), hold + 10)
    return window


async def _zero_held(sim: Child) -> bool:
    return await _held(sim) == 0


# --- memory, in a fresh process per client ---------------------------------------------------


async def _memory_child(config: dict[str, Any]) -> dict[str, Any]:
    users: list[str] = config["users"]
    trace = bool(config.get("trace"))
    settle()
    before = rss()
    if trace:
        tracemalloc.start()
        first = tracemalloc.take_snapshot()
    subject = _subject(config["kind"], config["url"], config["token"], users)
    await subject.start()

    async def all_ready() -> bool:
        return subject.ready() >= len(users)

    await poll_until(all_ready, float(config["timeout"]))
    await asyncio.sleep(float(config["settle"]))  # every agent's next poll is held
    settle()
    after = rss()
    result: dict[str, Any] = {"before": before, "after": after, "ready": subject.ready()}
    if trace:
        growth = tracemalloc.take_snapshot().compare_to(first, "filename")
        result["python"] = sum(stat.size_diff for stat in growth)
        result["top"] = [
            (_short_path(stat.traceback[0].filename), stat.size_diff) for stat in growth[:10]
        ]
    await subject.stop()
    return result


def _short_path(path: str) -> str:
    for marker in ("site-packages/", "/lib/python3.11/", "/main/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


async def _memory(
    kind: str, url: str, token: str, users: Sequence[str], hold: float, *, trace: bool = False
) -> dict[str, Any]:
    """RSS before and after watching *users*, in a fresh process (``trace``: by file)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "benchmarks.bench_watch",
        "--memory",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    config = {
        "kind": kind,
        "url": url,
        "token": token,
        "users": list(users),
        "timeout": 60,
        "settle": min(1.0, hold / 2),
        "trace": trace,
    }
    out, _ = await asyncio.wait_for(process.communicate(json.dumps(config).encode()), 180)
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


def _memory_limit(traced: dict[str, Any], agents: int) -> str:
    rows = "\n".join(f"| {path} | {kib(size / agents)} |" for path, size in traced.get("top", []))
    return (
        "Python allocations still held with every agent watched, by the file that made "
        f"them (tracemalloc in a separate run: {kib(traced.get('python', 0) / agents)} per "
        "agent of Python objects; the rest of the RSS is the allocator's and the "
        "interpreter's own overhead):\n\n| File | Per agent |\n|---|---|\n" + rows
    )


# --- the row ------------------------------------------------------------------------------


#: When the simulator ends the held polls (``Simulator(hold_ends=...)``) -> the subjects
#: measured that way. The aiohttp ones alone also meet every answer at once: the httpcore
#: pool and the shared httpx client are measured on a real PBX's pattern only.
HOLD_ENDS: Final[dict[str, tuple[str, ...]]] = {
    "spread": ORDER,
    "together": (RAW_AIOHTTP, WATCHER_AIOHTTP),
}


async def _rounds(
    sim: Child, kinds: Sequence[str], sizes: Sizes, *, align: bool
) -> dict[str, _Window]:
    """Each of *kinds* measured in interleaved rounds; the median round of each."""
    users: list[str] = sim.hello["users"][: sizes.agents]
    rounds: dict[str, list[_Window]] = {}

    def missed(window: _Window, kind: str) -> bool:
        base = rounds.get(RAW_AIOHTTP)
        target = _AIOHTTP_TARGET[kind]
        if target is None:
            return False
        limit = target * (_median(base).cpu_per_request if base else 0)
        return base is None or window.cpu_per_request > limit

    # Rounds interleave the subjects, so a drift of the machine's speed (a neighbour on
    # the host, the other core busy) reaches all of them alike; the median is reported.
    for round_ in range(sizes.rounds):
        last = round_ == sizes.rounds - 1
        for kind in kinds:
            if kind in SUBJECTS and kind not in sizes.subjects:
                continue
            if kind == RAW_HTTPX and not last:
                continue  # far off its target either way, and slow to warm up
            profile = (
                functools.partial(missed, kind=kind)
                if kind in SUBJECTS and sizes.profile and last
                else None
            )
            window = await _measure(sim, kind, users, sizes, profile_if=profile, align=align)
            rounds.setdefault(kind, []).append(window)
    return {kind: _median(found) for kind, found in rounds.items()}


async def _main(quick: bool) -> list[Line]:
    sizes = QUICK if quick else FULL
    windows: dict[str, dict[str, _Window]] = {}
    memory: dict[str, dict[str, Any]] = {}
    hour: _Window | None = None
    for ends, kinds in HOLD_ENDS.items():
        async with Child(
            "sim", "--agents", str(sizes.agents), "--hold", str(sizes.hold), "--hold-ends", ends
        ) as sim:
            users: list[str] = sim.hello["users"][: sizes.agents]
            windows[ends] = await _rounds(sim, kinds, sizes, align=ends == "together")
            if ends != "spread":
                continue
            url, token = sim.hello["url"], sim.hello["token"]
            for kind in (WATCHER_POOL, WATCHER_AIOHTTP, RAW_AIOHTTP):
                memory[kind] = await _memory(kind, url, token, users, sizes.hold)
                await poll_until(lambda: _zero_held(sim), sizes.hold + 10)
            for kind in (WATCHER_POOL, WATCHER_AIOHTTP):
                found = memory[kind]
                if sizes.profile and found["after"] - found["before"] > _MEMORY_TARGET * len(users):
                    traced = await _memory(kind, url, token, users, sizes.hold, trace=True)
                    found["limit"] = _memory_limit(traced, len(users))
                    await poll_until(lambda: _zero_held(sim), sizes.hold + 10)
            if sizes.hour_hold is not None:
                await sim.command("hold", seconds=sizes.hour_hold)
                hour = await _measure(
                    sim, WATCHER_POOL, users, sizes, hold=sizes.hour_hold, holds=1, drain=False
                )
    return _lines(sizes, sizes.agents, windows, memory, hour)


def _median(found: list[_Window]) -> _Window:
    """The window of median CPU per poll (the upper one of two), with the rounds' range."""
    ordered = sorted(found, key=lambda w: w.cpu_per_request)
    middle = ordered[len(ordered) // 2]
    profile = next((w.profile for w in found if w.profile), "")
    if len(ordered) == 1:
        return attrs.evolve(middle, profile=profile)
    low, high = ordered[0].cpu_per_request * 1000, ordered[-1].cpu_per_request * 1000
    spread = f"median of {len(ordered)} interleaved rounds, {low:.2f}-{high:.2f}"
    return attrs.evolve(middle, profile=profile, spread=spread)


def _per_1000(window: _Window) -> str:
    if not window.requests:
        return "no request completed"
    spread = f" ({window.spread})" if window.spread else ""
    return f"{window.cpu_per_request * 1000:.2f} s CPU / 1000 polls{spread}"


#: How each pattern of answers reads in the table.
_ENDS_TEXT: Final = {
    "spread": "answers spread over the hold",
    "together": "every answer at once",
}


def _lines(
    sizes: Sizes,
    agents: int,
    windows: dict[str, dict[str, _Window]],
    memory: dict[str, dict[str, Any]],
    hour: _Window | None,
) -> list[Line]:
    lines = []
    holds = f"{sizes.holds_measured} hold{'s' if sizes.holds_measured != 1 else ''}"
    window_note = f"{agents} agents, hold {sizes.hold:g} s, {holds} measured"
    for ends, found in windows.items():
        raw_aiohttp, raw_httpx = found[RAW_AIOHTTP], found.get(RAW_HTTPX)
        for kind in sizes.subjects:
            if kind not in found:
                continue
            window = found[kind]
            versus_aiohttp = window.cpu_per_request / raw_aiohttp.cpu_per_request
            target = _AIOHTTP_TARGET[kind]
            met = target is None or versus_aiohttp <= target
            baseline = f"raw aiohttp {_per_1000(raw_aiohttp)}"
            ratio = f"{ratio_text(versus_aiohttp)} aiohttp"
            goals = [] if target is None else [f"≤ {target:g}x aiohttp"]
            if raw_httpx is not None:
                less_than_httpx = raw_httpx.cpu_per_request / window.cpu_per_request
                ready = "" if raw_httpx.ready >= agents else f" ({raw_httpx.ready}/{agents} ready)"
                baseline += f"; shared httpx {_per_1000(raw_httpx)}{ready}"
                ratio += f"; {less_than_httpx:.0f}x less than shared httpx"
            limit = ""
            if not met and window.profile:
                limit = (
                    "Where the watcher's CPU goes (cProfile of one more hold, cumulative):\n\n"
                    f"```\n{window.profile}\n```"
                )
            lines.append(
                Line(
                    row=3,
                    case=f"CPU per idle long poll, {window_note}, {_ENDS_TEXT[ends]}: {kind}",
                    measured=f"{_per_1000(window)} ({window.requests} polls)",
                    baseline=baseline,
                    ratio=ratio,
                    target="; ".join(goals),
                    met=met,
                    limit=limit,
                )
            )
    base = memory[RAW_AIOHTTP]
    base_per = (base["after"] - base["before"]) / agents
    for kind in (WATCHER_POOL, WATCHER_AIOHTTP):
        used = memory[kind]
        per = (used["after"] - used["before"]) / agents
        lines.append(
            Line(
                row=3,
                case=f"Memory per watched agent (RSS, pool base included), {agents} agents: {kind}",
                measured=f"{kib(per)} ({int(used['ready'])}/{agents} agents ready)",
                baseline=f"raw aiohttp {kib(base_per)}",
                ratio=ratio_text(per / base_per) if base_per > 0 else "-",
                target="≤ 48 KB",
                met=per <= _MEMORY_TARGET,
                limit=str(used.get("limit", "")),
            )
        )
    if hour is not None:
        per_hour = hour.requests / agents * 3600 / hour.seconds
        case = f"Idle requests per agent-hour, hold 60 s, {agents} agents: {WATCHER_POOL}"
        measured = f"{per_hour:.1f} ({hour.requests} requests in {hour.seconds:.0f} s)"
    else:
        window = windows["spread"][WATCHER_POOL]
        per_hold = window.requests / agents / sizes.holds_measured
        per_hour = per_hold * 60
        case = (
            f"Idle requests per agent-hour, {agents} agents: {WATCHER_POOL} (quick run: "
            f"{per_hold:.3f} requests per agent per {sizes.hold:g} s hold, scaled to 60 s)"
        )
        measured = f"{per_hour:.1f}"
    lines.append(
        Line(
            row=3,
            case=case,
            measured=measured,
            baseline="one request per hold: 60",
            ratio=ratio_text(per_hour / 60),
            target="≤ 61",
            met=per_hour <= 61,
        )
    )
    return lines


def run(quick: bool) -> list[Line]:
    """Measure row 3 and return its table lines."""
    return asyncio.run(_main(quick))


NOTES: Final = (
    "- **Row 3** runs the simulator (frozen clock: every poll is idle) in a child process "
    "and counts this process's CPU over whole holds once every agent's poll is held. When "
    "an unchanged hold ends is the simulator's doing (`Simulator(hold_ends=...)`), so every "
    "client meets the same answers: **spread** ends each agent's polls at its own point of "
    "the hold cycle, as a real PBX's end (its agents' changes put them out of step; this "
    "wakes the client for almost every answer), **together** ends every agent's at once (one "
    "burst per hold, served in a few loop iterations: the aiohttp subjects only). Before "
    "2026-12 the holds ended a hold after each poll arrived, which gave the raw loops, "
    "started at once, the bursts and the watcher, started a few at a time, answers spread "
    "out: half the raw client's CPU per poll, so its ratio compared two patterns. Rounds "
    "interleave the subjects (3 in a full run, 2 in a quick one; the shared httpx "
    "client once), each started afresh: the median round is shown (of two, the higher) with "
    "the range; "
    "memory is the RSS growth of a fresh child process watching every agent, divided by "
    "the agents.",
)


def _memory_main() -> None:
    config = json.loads(sys.stdin.read())
    result = asyncio.run(_memory_child(config))
    print(json.dumps(result))


if __name__ == "__main__":
    if "--memory" in sys.argv:
        _memory_main()
