"""Fixtures of the realtime tests: a frozen simulator with short holds, on both backends."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import pytest

from daktela_async import DaktelaClient, Timeouts
from daktela_async.realtime import Backoff
from daktela_async.sim import Simulator

#: Short holds and backoffs keep every test to a few seconds of real time.
HOLD = 0.3
FAST_BACKOFF = Backoff(initial=0.05, maximum=0.2)
WATCH: dict[str, Any] = {
    "long_poll_timeout": 2.0,
    "long_poll_deadline": 3.0,
    "backoff": FAST_BACKOFF,
    "probe_backoff": FAST_BACKOFF,
    "canary_timeout": 0.5,
    "min_unchanged_gap": 0.05,
}


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(agents=6, queues=2, seed=7, speed=0, hold=HOLD) as simulator:
        yield simulator


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[DaktelaClient]:
    timeouts = Timeouts(connect=1.0, read=1.0, write=1.0, pool=1.0, deadline=2.0)
    async with DaktelaClient(sim.url, sim.token, timeout=timeouts) as c:
        yield c


@pytest.fixture
def no_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every backoff delay is its ceiling: the probes' and retries' times are exact."""
    # _health draws its jitter from the random module.
    monkeypatch.setattr(random, "uniform", lambda low, high: high)
