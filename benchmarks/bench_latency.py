"""Row 4: detection latency, from a state change in the simulator to the subscriber's event.

The simulator runs in a child process with every agent's long poll held. One agent at a
time is paused (or unpaused) through the child's control channel; the child stamps the
moment of the change with ``time.monotonic()`` (``CLOCK_MONOTONIC``, shared by every
process on Linux) right after the change woke the held request, and a subscriber task
stamps the ``AgentStateChanged`` it receives. The baseline is the least a client can
do: raw aiohttp long-poll loops noticing a new ``hash``.

Run alone: ``python -m benchmarks --only 4``.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Sequence
from typing import Final

import aiohttp
import attrs

from daktela_async import DaktelaClient, PoolLimits, httpcore_transport_factory
from daktela_async.realtime import AgentStateChanged

from ._support import Child, Line, ms, percentile, poll_until, ratio_text

WATCHER_POOL: Final = "watcher, httpcore pool (trio)"
WATCHER_AIOHTTP: Final = "watcher, default pool: aiohttp"
RAW_AIOHTTP: Final = "raw aiohttp loops"
_TIMEOUT: Final = 10.0


@attrs.frozen
class Sizes:
    """How big one run is."""

    agents: int
    hold: float
    samples: int


FULL: Final = Sizes(agents=1000, hold=10.0, samples=300)
QUICK: Final = Sizes(agents=200, hold=1.0, samples=50)


class _Detector:
    """Something that watches every agent and resolves a future when one changes."""

    def __init__(self) -> None:
        self.waiting: dict[str, asyncio.Future[float]] = {}

    def seen(self, user: str) -> None:
        future = self.waiting.pop(user, None)
        if future is not None and not future.done():
            future.set_result(time.monotonic())

    async def start(self) -> None:
        raise NotImplementedError

    def ready(self) -> int:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError


class _Watch(_Detector):
    def __init__(self, kind: str, url: str, token: str, users: Sequence[str]) -> None:
        super().__init__()
        # One connection per held poll, and room for the canary and a probe.
        limits = PoolLimits(max_shards=(len(users) + 16) // 10 + 1)
        # The default pool on asyncio is aiohttp's transport.
        factory = httpcore_transport_factory if kind == WATCHER_POOL else None
        self._client = DaktelaClient(url, token, limits=limits, transport_factory=factory)
        self._watcher = self._client.watch(users)
        self._consumer: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._watcher.__aenter__()
        subscription = self._watcher.subscribe(
            kinds=[AgentStateChanged], replay=False, maxsize=100_000
        )

        async def consume() -> None:
            async with subscription:
                async for event in subscription:
                    if isinstance(event, AgentStateChanged):
                        self.seen(event.user)

        self._consumer = asyncio.create_task(consume())

    def ready(self) -> int:
        return len(self._watcher.snapshot())

    async def stop(self) -> None:
        await self._watcher.aclose()
        if self._consumer is not None:
            await asyncio.gather(self._consumer, return_exceptions=True)
        await self._client.aclose()


class _Raw(_Detector):
    def __init__(self, url: str, token: str, users: Sequence[str]) -> None:
        super().__init__()
        self._base = f"{url}/api/4.1/RTUserState/json?access_token={token}&user="
        self._users = list(users)
        self._ready = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=len(self._users) + 16),
            timeout=aiohttp.ClientTimeout(total=None, sock_read=75),
        )
        self._tasks = [asyncio.create_task(self._loop(user)) for user in self._users]

    async def _loop(self, user: str) -> None:
        assert self._session is not None
        base = self._base + user
        digest: str | None = None
        while True:
            try:
                async with self._session.get(
                    base if digest is None else f"{base}&hash={digest}"
                ) as response:
                    body = await response.read()
                new = json.loads(body)["result"]["hash"]
            except Exception:
                await asyncio.sleep(1.0)
                continue
            if digest is None:
                self._ready += 1
            elif new != digest:
                self.seen(user)
            digest = new

    def ready(self) -> int:
        return self._ready

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()


async def _held(sim: Child) -> int:
    return int((await sim.command("held"))["held"])


async def _latencies(
    sim: Child, kind: str, users: Sequence[str], sizes: Sizes, *, drain: bool = True
) -> list[float]:
    url, token = sim.hello["url"], sim.hello["token"]
    detector: _Detector = (
        _Raw(url, token, users) if kind == RAW_AIOHTTP else _Watch(kind, url, token, users)
    )
    generated = [u for u in sim.hello["generated"] if u in set(users)]
    rng = random.Random(4)
    latencies: list[float] = []
    await detector.start()
    try:

        async def warmed() -> bool:
            return detector.ready() >= len(users) and await _held(sim) >= len(users)

        await poll_until(warmed, 60)
        order: list[str] = []
        loop = asyncio.get_running_loop()
        for _ in range(sizes.samples):
            if not order:
                order = generated[:]
                rng.shuffle(order)
            user = order.pop()
            future: asyncio.Future[float] = loop.create_future()
            detector.waiting[user] = future
            changed = float((await sim.command("toggle", user=user))["t"])
            received = await asyncio.wait_for(future, _TIMEOUT)
            latencies.append(received - changed)
            await asyncio.sleep(rng.uniform(0.0, 0.01))
    finally:
        await detector.stop()
    if drain:
        # Polls given up by the client stay held in the simulator until their hold ends.

        async def drained() -> bool:
            return await _held(sim) == 0

        await poll_until(drained, sizes.hold + 10)
    return latencies


async def _main(quick: bool) -> list[Line]:
    sizes = QUICK if quick else FULL
    async with Child("sim", "--agents", str(sizes.agents), "--hold", str(sizes.hold)) as sim:
        users: list[str] = sim.hello["users"][: sizes.agents]
        kinds = (RAW_AIOHTTP, WATCHER_POOL, WATCHER_AIOHTTP)
        results = {
            kind: await _latencies(sim, kind, users, sizes, drain=kind != kinds[-1])
            for kind in kinds
        }
    base = results[RAW_AIOHTTP]
    base_p50, base_p99 = percentile(base, 50), percentile(base, 99)
    lines = []
    for kind in (WATCHER_POOL, WATCHER_AIOHTTP):
        found = results[kind]
        p50, p99 = percentile(found, 50), percentile(found, 99)
        lines.append(
            Line(
                row=4,
                case=(
                    f"State change -> subscriber event, {len(users)} agents watched, "
                    f"{len(found)} changes: {kind}"
                ),
                measured=f"p50 {ms(p50)}, p99 {ms(p99)}",
                baseline=f"raw aiohttp p50 {ms(base_p50)}, p99 {ms(base_p99)}",
                ratio=f"p99 {ratio_text(p99 / base_p99)}",
                target="p99 < 20 ms",
                met=p99 < 0.020,
                limit=(
                    ""
                    if p99 < 0.020
                    else f"Largest latencies: {', '.join(ms(x) for x in sorted(found)[-5:])}."
                ),
            )
        )
    return lines


def run(quick: bool) -> list[Line]:
    """Measure row 4 and return its table lines."""
    return asyncio.run(_main(quick))


NOTES: Final = (
    "- **Row 4** changes one agent at a time in the simulator (a child process) and "
    "compares the simulator's `CLOCK_MONOTONIC` stamp of the change with the subscriber's "
    "stamp of the event; both clocks are the same system clock.",
)
