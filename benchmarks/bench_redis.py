"""Row 8: the Redis sink and source, against raw redis-py in the same run.

A real ``redis-server`` runs as a child process on a free loopback port, in a temporary
directory, without persistence (``--save '' --appendonly no``); it is stopped by its pid
when the row ends.

- Sink throughput: a burst of synthetic events (``AgentStateChanged`` with two realistic
  ``AgentState`` records, one ``QueueStatsChanged`` row in ten) is published into a
  :class:`~daktela_async.realtime.Hub` that a :class:`~daktela_async.redis.RedisSink`
  is subscribed to (through a stand-in for the watcher: ``subscribe()``, an empty
  ``snapshot()`` and no stats tables); timed from the first ``publish()`` until the sink
  counts every event written. The baseline writes the same entries, encoded beforehand,
  with a raw redis-py pipeline of ``XADD ... MAXLEN ~`` in batches of the sink's batch
  size (and, for reference, ``XADD`` plus the ``HSET`` of the state the sink also writes).
  Rounds alternate between subject and baselines; medians are reported.
- Change -> event read from Redis: the simulator runs in a child process (as in row 4);
  a watcher and a sink run here, with a :class:`~daktela_async.redis.RedisSource`
  reading the stream and an in-process subscriber of the same watcher. One agent at a
  time is toggled; the simulator's ``CLOCK_MONOTONIC`` stamp of the change is compared
  with the moment each reader holds the event.

Run alone: ``python -m benchmarks --only 8``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from typing import Any, Final, cast

import attrs
import orjson

from daktela_async import DaktelaClient, PoolLimits
from daktela_async._errors import DaktelaUsageError
from daktela_async._models import RTStatsQueue, structure, structure_agent_states
from daktela_async.realtime import AgentStateChanged, Event, Hub, QueueStatsChanged

from ._support import (
    Child,
    Line,
    child_cpu,
    cpu,
    median,
    ms,
    percentile,
    poll_until,
    ratio_text,
    settle,
)
from .bench_decode import _EXAMPLES, make_body

CASE_SINK: Final = "Sink throughput"
CASE_LATENCY: Final = "State change -> event read from Redis"
_TIMEOUT: Final = 10.0
_READY_TIMEOUT: Final = 20.0


@attrs.frozen
class Sizes:
    """How big one run is."""

    events: int
    batch: int
    rounds: int
    agents: int
    hold: float
    samples: int


FULL: Final = Sizes(events=50_000, batch=500, rounds=5, agents=500, hold=10.0, samples=300)
QUICK: Final = Sizes(events=5_000, batch=500, rounds=3, agents=100, hold=1.0, samples=50)


# --- the server -----------------------------------------------------------------------------


def _missing() -> str | None:
    """Why the row cannot run here, or ``None``."""
    if importlib.util.find_spec("redis") is None:
        return "redis-py is not installed (pip install 'daktela-async[redis]')"
    if shutil.which("redis-server") is None:
        return "redis-server is not on PATH"
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def _redis_server() -> Iterator[tuple[str, int]]:
    """A private ``redis-server``: yields its URL and pid; stopped by its pid at the end."""
    binary = shutil.which("redis-server")
    assert binary is not None
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as directory:
        port = _free_port()
        process = subprocess.Popen(  # noqa: S603
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--dir",
                directory,
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=directory,
        )
        try:
            deadline = time.monotonic() + _READY_TIMEOUT
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"redis-server exited with status {process.returncode}")
                with (
                    contextlib.suppress(OSError),
                    socket.create_connection(("127.0.0.1", port), timeout=1) as conn,
                ):
                    conn.sendall(b"PING\r\n")
                    if conn.recv(64).startswith(b"+PONG"):
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not answer PING")
                time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0", process.pid
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# --- sink throughput ------------------------------------------------------------------------


class _HubWatcher:
    """What :class:`RedisSink` uses of a watcher: a hub to subscribe to, no state."""

    def __init__(self) -> None:
        self.hub = Hub()

    def subscribe(self, **options: Any) -> Any:
        return self.hub.subscribe(**options)

    def snapshot(self) -> dict[str, Any]:
        return {}

    def table(self, name: str) -> dict[str, Any]:
        raise DaktelaUsageError(f"not polled: {name}")


def _events(count: int) -> list[Event]:
    """*count* events: nine agent state changes (1000 agents) for one queue stats row."""
    before = structure_agent_states(orjson.loads(make_body(1000, seed=1))["result"])
    after = structure_agent_states(orjson.loads(make_body(1000, seed=2))["result"])
    examples = json.loads(_EXAMPLES.read_text(encoding="utf-8"))
    queues = next(e for e in examples if e["action"] == "RTStatsQueues")
    rows = [structure(row, RTStatsQueue) for row in json.loads(queues["output"])["result"].values()]
    keys = sorted(before)
    events: list[Event] = []
    for i in range(count):
        if i % 10 == 9:
            row = rows[i % len(rows)]
            events.append(QueueStatsChanged(queue=str(row.id), previous=row, current=row))
        else:
            key = keys[i % len(keys)]
            events.append(
                AgentStateChanged(
                    user=after[key].agent_name or key, previous=before[key], current=after[key]
                )
            )
    return events


def _entries(events: Sequence[Event]) -> list[tuple[dict[Any, Any], tuple[str, str, bytes]]]:
    """The stream entries of *events* (stamped as the hub would) and their hash writes."""
    from daktela_async.redis import encode_event
    from daktela_async.redis._sink import _op

    hashes = ("", "", "", "agents", "queues", "sessions", "calls", "pauses", "summary")
    now = Hub().publish(events[0]).time
    out = []
    for seq, event in enumerate(events, 1):
        stamped = attrs.evolve(event, seq=seq, time=now)
        _, index, field, value = _op(stamped)
        out.append((dict(encode_event(stamped)), (hashes[index], field, value)))
    return out


async def _sink_round(url: str, events: Sequence[Event], sizes: Sizes, name: str) -> float:
    """Events per second through the hub and a RedisSink into the stream."""
    from daktela_async.redis import RedisSink

    stand_in = _HubWatcher()
    sink = RedisSink(
        url,
        cast(Any, stand_in),
        name=name,
        buffer=len(events) + 10,
        batch_size=sizes.batch,
        flush_timeout=30.0,
    )
    async with sink:

        async def synced() -> bool:
            return sink.stats().resyncs >= 1

        if not await poll_until(synced, _TIMEOUT):
            raise RuntimeError(f"the sink did not sync: {sink.stats()}")
        before = sink.stats().written
        expected = before + len(events)
        settle()
        start = time.perf_counter()
        for event in events:
            stand_in.hub.publish(event)
        while sink.stats().written < expected:
            if time.perf_counter() - start > 120:
                raise RuntimeError(f"the sink did not write every event: {sink.stats()}")
            await asyncio.sleep(0.0005)
        elapsed = time.perf_counter() - start
        stats = sink.stats()
        if stats.dropped:
            raise RuntimeError(f"the sink dropped events: {stats}")
    return len(events) / elapsed


async def _raw_round(
    url: str,
    entries: Sequence[tuple[dict[Any, Any], tuple[str, str, bytes]]],
    sizes: Sizes,
    name: str,
    *,
    hset: bool,
) -> float:
    """Events per second written by a raw pipelined ``XADD`` loop (pre-encoded)."""
    from redis.asyncio import Redis

    from daktela_async.redis import RedisKeys

    keys = RedisKeys(name)
    client = Redis.from_url(url)
    try:
        await client.ping()
        settle()
        start = time.perf_counter()
        for offset in range(0, len(entries), sizes.batch):
            pipe = client.pipeline(transaction=False)
            for fields, (table, field, value) in entries[offset : offset + sizes.batch]:
                pipe.xadd(keys.events, fields, maxlen=100_000, approximate=True)
                if hset and table:
                    if table == "agents":
                        pipe.hset(keys.agents, field, value)
                    else:
                        pipe.hset(keys.stats(table), field, value)
            await pipe.execute()
        elapsed = time.perf_counter() - start
        written = await client.xlen(keys.events)
        if written != len(entries):
            raise RuntimeError(f"the raw loop wrote {written} of {len(entries)} entries")
    finally:
        await client.aclose()
    return len(entries) / elapsed


async def _flush(url: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    try:
        await client.flushall()
    finally:
        await client.aclose()


def _encode_rate(events: Sequence[Event]) -> float:
    """Events per second encoded as the sink does (entry and hash value), for reference."""
    from daktela_async.redis import encode_event
    from daktela_async.redis._sink import _op

    settle()
    start = time.perf_counter()
    for event in events:
        encode_event(event)
        _op(event)
    return len(events) / (time.perf_counter() - start)


async def _throughput(url: str, pid: int, sizes: Sizes) -> Line:
    events = _events(sizes.events)
    entries = _entries(events)
    rates: dict[str, list[float]] = {"sink": [], "xadd": [], "xadd+hset": []}
    cpu_used: dict[str, float] = {"sink": 0.0, "xadd": 0.0, "xadd+hset": 0.0}
    server_cpu: dict[str, float] = {"sink": 0.0, "xadd": 0.0, "xadd+hset": 0.0}
    order = list(rates)
    for index in range(sizes.rounds):
        for kind in order if index % 2 == 0 else order[::-1]:
            name = f"bench-{kind.replace('+', '-')}-{index}"
            started, server_started = cpu(), child_cpu(pid)
            if kind == "sink":
                rate = await _sink_round(url, events, sizes, name)
            else:
                rate = await _raw_round(url, entries, sizes, name, hset=kind == "xadd+hset")
            cpu_used[kind] += cpu() - started
            server_cpu[kind] += child_cpu(pid) - server_started
            rates[kind].append(rate)
            await _flush(url)
    encode = _encode_rate(events)
    sink, xadd, both = (median(rates[k]) for k in order)
    total = sizes.events * sizes.rounds
    per_event = {k: cpu_used[k] / total * 1e6 for k in order}
    server_per_event = {k: server_cpu[k] / total * 1e6 for k in order}
    ratio = sink / xadd
    return Line(
        row=8,
        case=(
            f"{CASE_SINK}: {sizes.events:,} events (9 agent states : 1 queue row) published "
            f"into a hub, until all are in the stream; batches of {sizes.batch}, median of "
            f"{sizes.rounds} rounds (client CPU {per_event['sink']:.1f} µs/event, "
            f"redis-server {server_per_event['sink']:.1f} µs/event)"
        ),
        measured=f"{sink:,.0f} events/s",
        baseline=(
            f"raw pipelined XADD of the pre-encoded entries {xadd:,.0f} events/s "
            f"(client {per_event['xadd']:.1f} µs/event, server "
            f"{server_per_event['xadd']:.1f}); XADD + HSET {both:,.0f} events/s "
            f"(client {per_event['xadd+hset']:.1f}, server "
            f"{server_per_event['xadd+hset']:.1f})"
        ),
        ratio=f"{ratio_text(ratio)} ({ratio_text(sink / both)} of XADD + HSET)",
        target=">= 0.8x",
        met=ratio >= 0.8,
        limit=(
            ""
            if ratio >= 0.8
            else (
                f"Encoding alone (encode_event and the state's JSON, as the sink does) runs "
                f"at {encode:,.0f} events/s in this process; the raw loop's entries were "
                f"encoded beforehand. Rounds: sink "
                f"{', '.join(f'{x:,.0f}' for x in rates['sink'])}; XADD "
                f"{', '.join(f'{x:,.0f}' for x in rates['xadd'])}."
            )
        ),
    )


# --- change -> event read from Redis --------------------------------------------------------


async def _held(sim: Child) -> int:
    return int((await sim.command("held"))["held"])


class _Waiters:
    """Futures resolved with ``time.monotonic()`` when a reader sees an agent change."""

    def __init__(self) -> None:
        self.waiting: dict[str, asyncio.Future[float]] = {}

    def seen(self, event: Event) -> None:
        if not isinstance(event, AgentStateChanged) or event.previous is None:
            return
        future = self.waiting.pop(event.user, None)
        if future is not None and not future.done():
            future.set_result(time.monotonic())


async def _latency(url: str, sizes: Sizes) -> tuple[list[float], list[float], int]:
    """(Redis reader latencies, in-process subscriber latencies, agents watched)."""
    from daktela_async.redis import RedisSink, RedisSource

    name = "bench-latency"
    local, remote = _Waiters(), _Waiters()
    from_redis: list[float] = []
    in_process: list[float] = []
    async with Child("sim", "--agents", str(sizes.agents), "--hold", str(sizes.hold)) as sim:
        users: list[str] = sim.hello["users"][: sizes.agents]
        generated = [u for u in sim.hello["generated"] if u in set(users)]
        client = DaktelaClient(
            sim.hello["url"],
            sim.hello["token"],
            limits=PoolLimits(max_shards=(len(users) + 16) // 10 + 1),
        )
        tasks: list[asyncio.Task[None]] = []
        try:
            async with client.watch(users) as watcher, RedisSink(url, watcher, name=name) as sink:
                subscription = watcher.subscribe(
                    kinds=[AgentStateChanged], replay=False, maxsize=100_000
                )
                source = RedisSource(url, name=name, block=1.0)

                async def subscriber() -> None:
                    async with subscription:
                        async for event in subscription:
                            local.seen(event)

                async def reader() -> None:
                    async with source:
                        async for event in source:
                            remote.seen(event)

                tasks = [asyncio.create_task(subscriber()), asyncio.create_task(reader())]

                async def warmed() -> bool:
                    stats = sink.stats()
                    return (
                        len(watcher.snapshot()) >= len(users)
                        and await _held(sim) >= len(users)
                        and stats.resyncs >= 1
                        and stats.buffered == 0
                    )

                if not await poll_until(warmed, 60):
                    raise RuntimeError(f"not warmed up: {sink.stats()}")
                await asyncio.sleep(0.5)  # the reader catches up with the start's writes
                rng = random.Random(8)
                order: list[str] = []
                loop = asyncio.get_running_loop()
                for _ in range(sizes.samples):
                    if not order:
                        order = generated[:]
                        rng.shuffle(order)
                    user = order.pop()
                    mine: asyncio.Future[float] = loop.create_future()
                    theirs: asyncio.Future[float] = loop.create_future()
                    local.waiting[user] = mine
                    remote.waiting[user] = theirs
                    changed = float((await sim.command("toggle", user=user))["t"])
                    got_local, got_remote = await asyncio.wait_for(
                        asyncio.gather(mine, theirs), _TIMEOUT
                    )
                    in_process.append(got_local - changed)
                    from_redis.append(got_remote - changed)
                    await asyncio.sleep(rng.uniform(0.0, 0.01))
                if sink.stats().dropped:
                    raise RuntimeError(f"the sink dropped events: {sink.stats()}")
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await client.aclose()
    return from_redis, in_process, len(users)


async def _main(quick: bool) -> list[Line]:
    sizes = QUICK if quick else FULL
    with _redis_server() as (url, pid):
        throughput = await _throughput(url, pid, sizes)
        await _flush(url)
        from_redis, in_process, agents = await _latency(url, sizes)
    p50, p99 = percentile(from_redis, 50), percentile(from_redis, 99)
    base_p50, base_p99 = percentile(in_process, 50), percentile(in_process, 99)
    added = [r - i for r, i in zip(from_redis, in_process, strict=True)]
    latency = Line(
        row=8,
        case=(
            f"{CASE_LATENCY} (watcher + RedisSink -> RedisSource XREAD), {agents} agents "
            f"watched, {len(from_redis)} changes; Redis adds p50 {ms(percentile(added, 50))}, "
            f"p99 {ms(percentile(added, 99))}"
        ),
        measured=f"p50 {ms(p50)}, p99 {ms(p99)}",
        baseline=f"in-process subscriber p50 {ms(base_p50)}, p99 {ms(base_p99)}",
        ratio=f"p50 {ratio_text(p50 / base_p50)}, p99 {ratio_text(p99 / base_p99)}",
    )
    return [throughput, latency]


def run(quick: bool) -> list[Line]:
    """Measure row 8 and return its table lines ("-" with the reason when it cannot run)."""
    reason = _missing()
    if reason is not None:
        return [
            Line(row=8, case=case, measured=f"- ({reason})") for case in (CASE_SINK, CASE_LATENCY)
        ]
    return asyncio.run(_main(quick))


NOTES: Final = (
    "- **Row 8** starts a private `redis-server` (a child process on a free loopback port, "
    "`--save '' --appendonly no`, stopped by its pid at the end); without redis-server or "
    "redis-py it reports `-` and the reason. *Sink throughput*: a burst of synthetic "
    "events (nine `AgentStateChanged` with realistic `AgentState` records for one "
    "`QueueStatsChanged` row) is published into a `Hub` that a `RedisSink` reads through "
    "a stand-in for the watcher (its `subscribe()`, an empty `snapshot()`, no stats "
    "tables), timed until the sink has written every event (one Lua script per batch: "
    "`XADD` plus the state's `HSET`). The baseline writes the same entries, encoded "
    "beforehand, with a raw redis-py pipeline of `XADD ... MAXLEN ~` in batches of the "
    "same size (and, for reference, `XADD` + `HSET`); rounds alternate, medians are "
    "shown, with client and redis-server CPU per event. *Latency*: as in row 4, the "
    "simulator (child process) stamps each change with `CLOCK_MONOTONIC`; a watcher with "
    "a `RedisSink` and a `RedisSource` (XREAD) run in this process, and the time the "
    "source yields the event is compared with the time an in-process subscriber of the "
    "same watcher got it.",
)
