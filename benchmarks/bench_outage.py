"""Row 7: the server goes down for a while with every agent watched, then comes back.

The simulator (a child process) stops serving; while it is down every agent's state is
changed; after the outage it serves again on the same port. Measured, for the watcher
(one shared health gate: one prober with capped, jittered backoff) and for a naive
baseline (raw aiohttp, one loop per agent, each with the same backoff of its own):

- requests sent from the moment the server is stopped until it serves again;
- this process's CPU over the same span;
- after the server returns: the time to the first answer, and to the moment every
  agent's new state has been delivered (the watcher: to a subscriber).

Run alone: ``python -m benchmarks --only 7``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Sequence
from typing import Final

import aiohttp
import attrs

from daktela_async import DaktelaClient
from daktela_async.realtime import AgentStateChanged, Backoff, SourceRecovered

from ._support import Child, Line, cpu, poll_until, ratio_text, settle

WATCHER: Final = "watcher, httpcore pool"
NAIVE: Final = "raw aiohttp, one backoff per agent"
#: Named operators of the simulator's directory; the rest are ``agentNNN``.
_NAMED: Final = 8


@attrs.frozen
class Sizes:
    """How big one run is."""

    agents: int
    outage: float
    resync_timeout: float


FULL: Final = Sizes(agents=1000, outage=10.0, resync_timeout=60.0)
QUICK: Final = Sizes(agents=200, outage=3.0, resync_timeout=3.0)


@attrs.frozen
class _Outcome:
    requests: int
    first_second: int  # of which sent in the outage's first second (the polls in flight)
    cpu: float
    first_answer: float
    resynced: float
    complete: int


class _Subject:
    def __init__(self, users: Sequence[str]) -> None:
        self.users = list(users)
        self.up_at: float | None = None
        self.first_answer: float | None = None
        self.changed: dict[str, float] = {}
        self.all_changed = asyncio.Event()

    def mark(self, user: str) -> None:
        if self.up_at is None or user in self.changed:
            return
        self.changed[user] = time.monotonic()
        if len(self.changed) >= len(self.users):
            self.all_changed.set()

    def answered(self) -> None:
        if self.up_at is not None and self.first_answer is None:
            self.first_answer = time.monotonic()

    async def start(self) -> None:
        raise NotImplementedError

    def ready(self) -> int:
        raise NotImplementedError

    def requests(self) -> int:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError


class _Watch(_Subject):
    def __init__(self, url: str, token: str, users: Sequence[str]) -> None:
        super().__init__(users)
        self._client = DaktelaClient(url, token)
        self._watcher = self._client.watch(users)
        self._consumer: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._watcher.__aenter__()
        subscription = self._watcher.subscribe(replay=False, maxsize=100_000)

        async def consume() -> None:
            async with subscription:
                async for event in subscription:
                    if isinstance(event, SourceRecovered) and event.source == "agents":
                        self.answered()
                    elif isinstance(event, AgentStateChanged):
                        self.mark(event.user)

        self._consumer = asyncio.create_task(consume())

    def ready(self) -> int:
        return len(self._watcher.snapshot())

    def requests(self) -> int:
        return self._watcher.stats().sources["agents"].requests

    async def stop(self) -> None:
        await self._watcher.aclose()
        if self._consumer is not None:
            await asyncio.gather(self._consumer, return_exceptions=True)
        await self._client.aclose()


class _Naive(_Subject):
    def __init__(self, url: str, token: str, users: Sequence[str]) -> None:
        super().__init__(users)
        self._base = f"{url}/api/4.1/RTUserState/json?access_token={token}&user="
        self._session: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._ready = 0
        self._requests = 0
        self._backoff = Backoff()

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=len(self.users) + 16),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=75),
        )
        self._tasks = [asyncio.create_task(self._loop(user)) for user in self.users]

    async def _loop(self, user: str) -> None:
        assert self._session is not None
        base = self._base + user
        digest: str | None = None
        failures = 0
        while True:
            self._requests += 1
            try:
                async with self._session.get(
                    base if digest is None else f"{base}&hash={digest}"
                ) as response:
                    body = await response.read()
                new = json.loads(body)["result"]["hash"]
            except Exception:
                failures += 1
                await asyncio.sleep(self._backoff.delay(failures))
                digest = None
                continue
            failures = 0
            self.answered()
            if digest is None and user not in self.changed and self.up_at is None:
                self._ready += 1
            elif self.up_at is not None:
                # Every agent changed during the outage: its first answer after it is new.
                self.mark(user)
            digest = new

    def ready(self) -> int:
        return self._ready

    def requests(self) -> int:
        return self._requests

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()


async def _held(sim: Child) -> int:
    return int((await sim.command("held"))["held"])


async def _outage(sim: Child, kind: str, users: Sequence[str], sizes: Sizes) -> _Outcome:
    url, token = sim.hello["url"], sim.hello["token"]
    subject: _Subject = _Watch(url, token, users) if kind == WATCHER else _Naive(url, token, users)
    await subject.start()
    try:

        async def warmed() -> bool:
            return subject.ready() >= len(users) and await _held(sim) >= len(users)

        await poll_until(warmed, 60)
        settle()
        requests, used, down = subject.requests(), cpu(), time.monotonic()
        await sim.command("stop")
        await sim.command("toggle_all", users=list(users))
        await asyncio.sleep(max(0.0, down + 1.0 - time.monotonic()))
        first_second = subject.requests() - requests
        await asyncio.sleep(max(0.0, down + sizes.outage - time.monotonic()))
        requests, used = subject.requests() - requests, cpu() - used
        subject.up_at = up = float((await sim.command("start"))["t"])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(subject.all_changed.wait(), sizes.resync_timeout)
        last = (
            max(subject.changed.values())
            if subject.all_changed.is_set()
            else time.monotonic()  # not every agent came back in time: a lower bound
        )
        first = subject.first_answer if subject.first_answer is not None else float("nan")
        return _Outcome(
            requests=requests,
            first_second=first_second,
            cpu=used,
            first_answer=first - up,
            resynced=last - up,
            complete=len(subject.changed),
        )
    finally:
        await subject.stop()


async def _main(quick: bool) -> list[Line]:
    sizes = QUICK if quick else FULL
    agents = str(sizes.agents + _NAMED)
    async with Child("sim", "--agents", agents, "--hold", "30") as sim:
        users: list[str] = sim.hello["generated"][: sizes.agents]
        watcher = await _outage(sim, WATCHER, users, sizes)
        # The watcher's polls stay held in the simulator until their hold ends: restart.
        await sim.command("stop")
        await sim.command("start")
        naive = await _outage(sim, NAIVE, users, sizes)
    count = len(users)
    case = f"{count} agents, server down {sizes.outage:g} s"
    return [
        Line(
            row=7,
            case=f"{case}: requests sent during the outage",
            measured=(
                f"{watcher.requests} ({WATCHER}; {watcher.first_second} in the first second, "
                "as the polls in flight failed)"
            ),
            baseline=f"{naive.requests} ({NAIVE}; {naive.first_second} in the first second)",
            ratio=ratio_text(watcher.requests / naive.requests, 3) if naive.requests else "-",
        ),
        Line(
            row=7,
            case=f"{case}: client CPU used during the outage",
            measured=f"{watcher.cpu:.3f} s",
            baseline=f"{naive.cpu:.3f} s",
            ratio=ratio_text(watcher.cpu / naive.cpu) if naive.cpu else "-",
        ),
        Line(
            row=7,
            case=(f"{case}: after it returns, first answer / every agent's new state delivered"),
            measured=_resync(watcher, count),
            baseline=_resync(naive, count),
            ratio=ratio_text(watcher.resynced / naive.resynced) if naive.resynced else "-",
        ),
    ]


def _resync(outcome: _Outcome, agents: int) -> str:
    if outcome.complete >= agents:
        return f"{outcome.first_answer:.2f} s / {outcome.resynced:.2f} s"
    return (
        f"{outcome.first_answer:.2f} s / > {outcome.resynced:.2f} s "
        f"(gave up waiting: {outcome.complete}/{agents} agents back)"
    )


def run(quick: bool) -> list[Line]:
    """Measure row 7 and return its table lines."""
    return asyncio.run(_main(quick))


NOTES: Final = (
    "- **Row 7** stops the simulator (a child process) with every agent's poll held, changes "
    "every agent while it is down, and serves again on the same port. The time to the first "
    "answer after the return is mostly the backoff's jittered wait for the next probe "
    "(1 s doubling up to 30 s, full jitter), so it varies from run to run.",
)
