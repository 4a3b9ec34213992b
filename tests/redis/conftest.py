"""Fixtures of the Redis tests: a real ``redis-server`` on a free loopback port, a watcher.

The server is Debian's ``redis-server`` binary, started in a temporary directory with no
persistence. Where it is missing the tests are skipped, except under ``CI=true``, where
a missing server is a failure (CI must run them).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from daktela_async import DaktelaClient, Timeouts
from daktela_async.realtime import Watcher
from daktela_async.sim import Simulator
from tests.realtime.conftest import HOLD, WATCH

USERS = ["hajek", "novak", "demouser"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One ``redis-server`` process that can be stopped and started again on its port."""

    def __init__(self, binary: str, directory: Path) -> None:
        self.binary = binary
        self.directory = directory
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.directory)]
        # A fixed argument list built from the binary found on PATH, no shell.
        self.process = subprocess.Popen(  # noqa: S603
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 5.0
        while not _answers_ping(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not answer PING on port {self.port}")
            time.sleep(0.02)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is not installed, and CI must run the Redis tests")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer(binary, tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def anyio_backend() -> str:
    """redis-py's client is asyncio-only: so are these tests."""
    return "asyncio"


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server.url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(agents=6, queues=2, seed=7, speed=0, hold=HOLD) as simulator:
        yield simulator


@pytest.fixture
async def watcher(sim: Simulator) -> AsyncIterator[Watcher]:
    timeouts = Timeouts(connect=1.0, read=1.0, write=1.0, pool=1.0, deadline=2.0)
    options: dict[str, Any] = {**WATCH, "stats_interval": 0.1}
    stats = ["queues", "sessions", "calls", "pauses", "summary"]
    async with (
        DaktelaClient(sim.url, sim.token, timeout=timeouts) as client,
        client.watch(users=USERS, stats=stats, **options) as w,
    ):
        yield w
