"""``watch --redis``, ``watch --from-redis`` and ``dashboard --redis`` on a real Redis."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import anyio.to_thread
import httpx
import pytest

from daktela_async import DaktelaClient
from daktela_async.cli._redis import redact_url
from daktela_async.realtime import AgentStateChanged, Event
from daktela_async.redis import RedisSink, RedisSource
from daktela_async.sim import Simulator
from tests.cli.support import Run, connection
from tests.redis_server import RedisServer

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cretpw"


@asynccontextmanager
async def sink(sim: Simulator, url: str, users: list[str]) -> AsyncIterator[RedisSink]:
    """A watcher of *users* on *sim* writing to *url* as ``pbx``."""
    async with (
        DaktelaClient(sim.url, sim.token) as client,
        client.watch(users) as watcher,
        RedisSink(url, watcher, name="pbx") as written,
    ):
        yield written


@asynccontextmanager
async def command(*argv: str) -> AsyncIterator[tuple[anyio.abc.Process, AsyncIterator[str]]]:
    """``daktela-async ARGV`` in a child process (no PBX settings in its environment)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAKTELA_")}
    env |= {"PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    process = await anyio.open_process(
        [sys.executable, "-m", "daktela_async", *argv], env=env, cwd=ROOT
    )
    assert process.stdout is not None

    async def lines() -> AsyncIterator[str]:
        assert process.stdout is not None
        buffer = b""
        async for chunk in process.stdout:
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                yield line.decode()

    try:
        yield process, lines()
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        with anyio.fail_after(5):
            await process.wait()


async def agents_in_redis(url: str, count: int) -> list[AgentStateChanged]:
    """The state events a source reads first, once *count* agents are in the hash."""
    with anyio.fail_after(5):
        while True:
            async with RedisSource(url, name="pbx", block=0.1) as source:
                seen: list[Event] = []
                with anyio.move_on_after(0.3):
                    async for event in source:
                        seen.append(event)
                states = [e for e in seen if isinstance(e, AgentStateChanged)]
                if len(states) >= count:
                    return states
            await anyio.sleep(0.05)


def test_watch_redis_publishes_what_it_prints(
    sim: Simulator, run: Run, redis_server: RedisServer
) -> None:
    sim.set_state("hajek", "Idle")
    argv = ("watch", "--user", "hajek", "--jsonl", "--count", "1", "--duration", "10")
    result = run(*argv, "--redis", redis_server.url, "--name", "pbx", *connection(sim))
    assert result.code == 0, result.err
    assert json.loads(result.out)["current"]["agent_state"] == "Idle"
    assert f"publishing to daktela:{{pbx}} at {redis_server.url}" in result.err
    assert "dropped" not in result.err  # the summary is printed only after a loss
    states = anyio.run(agents_in_redis, redis_server.url, 1, backend="asyncio")
    assert [(e.user, str(e.current.agent_state)) for e in states] == [("hajek", "Idle")]


@pytest.mark.anyio
async def test_watch_from_redis_prints_the_state_then_new_events(
    sim: Simulator, redis_server: RedisServer
) -> None:
    await anyio.to_thread.run_sync(sim.set_state, "hajek", "Idle")
    async with sink(sim, redis_server.url, ["hajek"]):
        await agents_in_redis(redis_server.url, 1)
        argv = ("watch", "--from-redis", redis_server.url, "--name", "pbx", "--jsonl")
        async with command(*argv, "--count", "2", "--duration", "15") as (process, lines):
            with anyio.fail_after(10):
                first = json.loads(await anext(lines))
                assert first["kind"] == "agent_state"
                assert first["previous"] is None
                assert first["current"]["agent_state"] == "Idle"
                await anyio.to_thread.run_sync(sim.pause_on, "hajek", "7")
                second = json.loads(await anext(lines))
                assert await process.wait() == 0
    assert second["kind"] == "agent_state"
    assert second["previous"]["agent_state"] == "Idle"
    assert second["current"]["agent_state"] == "Paused"


@pytest.mark.anyio
async def test_dashboard_redis_serves_the_agents_and_their_changes(
    sim: Simulator, redis_server: RedisServer
) -> None:
    await anyio.to_thread.run_sync(sim.set_state, "hajek", "Idle")
    async with sink(sim, redis_server.url, ["hajek"]):
        await agents_in_redis(redis_server.url, 1)
        argv = ("dashboard", "--redis", redis_server.url, "--name", "pbx", "--port", "0")
        async with command(*argv, "--duration", "15") as (process, lines):
            with anyio.fail_after(10):
                url = (await anext(lines)).removeprefix("Dashboard: ")
            async with httpx.AsyncClient(base_url=url, timeout=5) as http:
                snapshot = (await http.get("/snapshot")).json()
                assert [a["user"] for a in snapshot["agents"]] == ["hajek"]
                assert snapshot["users"] == ["hajek"]
                assert snapshot["title"] == "Daktela · pbx"
                async with http.stream("GET", "/events") as response:
                    messages = response.aiter_lines()

                    async def agent(done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
                        with anyio.fail_after(10):
                            async for line in messages:
                                if line.startswith("data: "):
                                    message: dict[str, Any] = json.loads(line[6:])
                                    if message["type"] == "agent" and done(message):
                                        return message
                        raise AssertionError("the stream ended")

                    hello = await agent(lambda m: m["state"] == "Idle")
                    assert hello["user"] == "hajek"
                    await anyio.to_thread.run_sync(sim.pause_on, "hajek", "7")
                    paused = await agent(lambda m: m["state"] != "Idle")
                    assert paused["user"] == "hajek"
            process.send_signal(signal.SIGTERM)
            assert await process.wait() == 0


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (("watch", "--from-redis", f"http://me:{SECRET}@host/0", "--name", "x"), "--from-redis"),
        (("watch", "--user", "x", "--redis", f"file://me:{SECRET}@host"), "--redis"),
        (("watch", "--from-redis", f"redis://me:{SECRET}@host:port/0", "--name", "x"), "URL"),
        (("dashboard", "--redis", f"https://:{SECRET}@h", "--name", "x"), "--redis"),
        (("watch", "--from-redis", "redis://h/0"), "needs --name"),
        (("dashboard", "--redis", f"redis://:{SECRET}@h/0"), "needs --name"),
        (("watch", "--from-redis", "redis://h/0", "--name", "x", "--user", "a"), "--user"),
        (("watch", "--user", "a", "--name", "x"), "--name goes with"),
        (("watch", "--from-redis", "redis://h/0", "--name", "a b"), "--name"),
        (("watch", "--user", "a", "--fleet"), "--fleet needs --redis"),
        (("watch", "--from-redis", "redis://h/0", "--name", "x", "--fleet"), "--fleet"),
        (
            ("watch", "--user", "a", "--redis", "redis://h/0", "--fleet", "--shards", "0"),
            "--shards",
        ),
        (
            ("watch", "--user", "a", "--redis", "redis://h/0", "--fleet", "--lease-ttl", "0"),
            "--lease",
        ),
    ],
)
def test_bad_redis_options_are_one_line_usage_errors(
    run: Run, argv: tuple[str, ...], needle: str
) -> None:
    result = run(*argv)
    assert result.code == 2, result.text
    assert needle in result.err
    assert result.err.count("\n") == 1
    assert SECRET not in result.text
    assert result.out == ""


def test_an_unreachable_redis_is_one_line(run: Run, redis_server: RedisServer) -> None:
    url = f"redis://me:{SECRET}@127.0.0.1:{redis_server.port + 1}/0"
    if redis_server.port + 1 > 65535:
        pytest.skip("no port above the server's")
    result = run("watch", "--from-redis", url, "--name", "pbx")
    assert result.code == 1
    assert "cannot reach Redis at redis://***@127.0.0.1" in result.err
    assert result.err.count("\n") == 1
    assert SECRET not in result.text


def test_redact_url() -> None:
    assert redact_url("redis://u:pw@h:1/0") == "redis://***@h:1/0"
    assert redact_url("rediss://:pw@h") == "rediss://***@h"
    assert redact_url("redis://h:1/0?password=pw&db=2") == "redis://h:1/0?password=***&db=2"
    assert redact_url("unix:///run/redis.sock") == "unix:///run/redis.sock"
    assert redact_url("u:pw@h") == "***@h"
