"""Row 5: fan-out to 100 and 1000 subscribers, each consuming in its own task.

The subject is the watcher's :class:`~daktela_async.realtime.Hub` (stamping, filters,
bounded buffers with an overflow policy). The baseline is the least fan-out there is:
one ``asyncio.Queue`` per subscriber and ``put_nowait`` into each.

- Throughput: a burst of events is published at once; deliveries per second until every
  subscriber has read every event.
- Added latency: one event at a time; for every subscriber, the time from ``publish()``
  to the moment its task holds the event.

Run alone: ``python -m benchmarks --only 5``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Final

import attrs
import orjson

from daktela_async._models import structure_agent_states
from daktela_async.realtime import AgentStateChanged, Event, Hub

from ._support import Line, ms, percentile, ratio_text, settle
from .bench_decode import make_body


@attrs.frozen
class Sizes:
    """Events per measurement for each subscriber count."""

    burst: dict[int, int]
    spaced: dict[int, int]


FULL: Final = Sizes(burst={100: 5000, 1000: 1000}, spaced={100: 1000, 1000: 100})
# 200 spaced events at 100 subscribers: one event delayed by a collection or a timer
# is 0.5% of the samples, so the quick run's p99 is not the slowest event alone.
QUICK: Final = Sizes(burst={100: 300, 1000: 50}, spaced={100: 200, 1000: 15})


def _event() -> AgentStateChanged:
    state = structure_agent_states(orjson.loads(make_body(1))["result"])["1"]
    return AgentStateChanged(user="agent0001", previous=None, current=state)


class _Fanout:
    """A publisher and *n* subscribers reading in their own tasks."""

    def __init__(self, subscribers: int) -> None:
        self.subscribers = subscribers
        self.publish: Callable[[Event], None]
        self.received = 0
        self.expected = 0
        self.done = asyncio.Event()
        self.stamps: list[float] = []
        self._tasks: list[asyncio.Task[None]] = []

    def got(self) -> None:
        self.stamps.append(time.perf_counter())
        self.received += 1
        if self.received >= self.expected:
            self.done.set()

    def expect(self, count: int) -> None:
        self.received = 0
        self.expected = count
        self.stamps = []
        self.done = asyncio.Event()

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class _HubFanout(_Fanout):
    name = "Hub"

    async def start(self) -> None:
        hub = Hub()
        subscriptions = [
            hub.subscribe(maxsize=100_000, replay=False) for _ in range(self.subscribers)
        ]

        async def consume(index: int) -> None:
            async for _event in subscriptions[index]:
                self.got()

        self._tasks = [asyncio.create_task(consume(i)) for i in range(self.subscribers)]
        self.publish = hub.publish  # type: ignore[assignment]
        await asyncio.sleep(0)


class _QueueFanout(_Fanout):
    name = "asyncio.Queue per subscriber"

    async def start(self) -> None:
        queues: list[asyncio.Queue[Event]] = [asyncio.Queue() for _ in range(self.subscribers)]

        async def consume(queue: asyncio.Queue[Event]) -> None:
            while True:
                await queue.get()
                self.got()

        def publish(event: Event) -> None:
            for queue in queues:
                queue.put_nowait(event)

        self._tasks = [asyncio.create_task(consume(q)) for q in queues]
        self.publish = publish
        await asyncio.sleep(0)


async def _throughput(fanout: _Fanout, event: Event, events: int) -> float:
    """Deliveries per second for a burst of *events*."""
    fanout.expect(events * fanout.subscribers)
    settle()
    started = time.perf_counter()
    for _ in range(events):
        fanout.publish(event)
    await fanout.done.wait()
    return events * fanout.subscribers / (time.perf_counter() - started)


async def _latencies(fanout: _Fanout, event: Event, events: int) -> list[float]:
    """Publish-to-receipt delays of every (event, subscriber), one event at a time."""
    delays: list[float] = []
    settle()
    for _ in range(events):
        fanout.expect(fanout.subscribers)
        started = time.perf_counter()
        fanout.publish(event)
        await fanout.done.wait()
        delays.extend(stamp - started for stamp in fanout.stamps)
        await asyncio.sleep(0)
    return delays


async def _measure(subscribers: int, sizes: Sizes) -> dict[str, tuple[float, list[float]]]:
    event = _event()
    results: dict[str, tuple[float, list[float]]] = {}
    for kind in (_HubFanout, _QueueFanout):
        fanout = kind(subscribers)
        await fanout.start()
        try:
            await _throughput(fanout, event, 10)  # warm up
            rate = await _throughput(fanout, event, sizes.burst[subscribers])
            delays = await _latencies(fanout, event, sizes.spaced[subscribers])
        finally:
            await fanout.stop()
        results[kind.name] = (rate, delays)
    return results


async def _main(quick: bool) -> list[Line]:
    sizes = QUICK if quick else FULL
    lines = []
    for subscribers in (100, 1000):
        results = await _measure(subscribers, sizes)
        hub_rate, hub_delays = results[_HubFanout.name]
        queue_rate, queue_delays = results[_QueueFanout.name]
        lines.append(
            Line(
                row=5,
                case=(
                    f"{subscribers} subscribers, burst of {sizes.burst[subscribers]} events: "
                    "deliveries per second"
                ),
                measured=f"{hub_rate:,.0f} events/s",
                baseline=f"{_QueueFanout.name}: {queue_rate:,.0f} events/s",
                ratio=f"{ratio_text(hub_rate / queue_rate)} the throughput",
            )
        )
        p50, p99 = percentile(hub_delays, 50), percentile(hub_delays, 99)
        base_p50, base_p99 = percentile(queue_delays, 50), percentile(queue_delays, 99)
        targeted = subscribers == 100
        lines.append(
            Line(
                row=5,
                case=(
                    f"{subscribers} subscribers, {sizes.spaced[subscribers]} events one at a "
                    "time: publish -> subscriber task, added latency"
                ),
                measured=f"p50 {ms(p50)}, p99 {ms(p99)}",
                baseline=f"{_QueueFanout.name}: p50 {ms(base_p50)}, p99 {ms(base_p99)}",
                ratio=f"p99 {ratio_text(p99 / base_p99)}",
                target="p99 < 0.5 ms" if targeted else "-",
                met=(p99 < 0.0005) if targeted else None,
                limit=(
                    "The last subscriber's task runs after every other subscriber's: the "
                    "delay grows with the subscriber count and the event loop's cost of one "
                    f"task switch (the queue baseline's p99 is {ms(base_p99)})."
                    if targeted and p99 >= 0.0005
                    else ""
                ),
            )
        )
    return lines


def run(quick: bool) -> list[Line]:
    """Measure row 5 and return its table lines."""
    return asyncio.run(_main(quick))


NOTES: Final = (
    "- **Row 5** runs in this process only: the hub (or the queue baseline) and one task "
    "per subscriber on one event loop.",
)
