"""Backoff over long outages, checked in virtual time (trio's MockClock jumps the sleeps)."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest
import trio.testing

from daktela_async import DaktelaClient
from daktela_async.realtime import Backoff, SourceFailed, SourceRecovered
from tests.support import TOKEN, FakePBX

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, Any]]:
    return "trio", {"clock": trio.testing.MockClock(autojump_threshold=0)}


STATE = {
    "agent_name": "hajek",
    "id_agent": "4",
    "agent_state": "Idle",
    "calls": [],
    "login_oqueues": [],
    "hash": "h1",
}


async def test_a_long_outage_costs_a_request_per_backoff_step() -> None:
    pbx = FakePBX()
    down = True

    def server(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/GetUser/json"):
            return httpx.Response(200, json={"status": 1, "error": None, "result": None})
        if down:
            return httpx.Response(503)
        return httpx.Response(200, json={"status": 1, "error": None, "result": STATE})

    pbx.answer(server)
    client = DaktelaClient("https://pbx.example.com", TOKEN, transport_factory=pbx.factory)
    users = [f"agent{n}" for n in range(100)]
    async with (
        client,
        client.watch(users=users, backoff=Backoff(1.0, 30.0)) as watcher,
        watcher.subscribe(kinds=["source_failed", "source_recovered"]) as events,
    ):
        started = anyio.current_time()
        await anyio.sleep(600)  # ten virtual minutes of outage
        requests = watcher.stats().sources["agents"].requests
        down = False
        with anyio.fail_after(60):
            seen = [await events.__anext__(), await events.__anext__()]
        elapsed = anyio.current_time() - started
    # 100 agents each retrying every second would be 60 000 requests. One prober whose
    # backoff is capped at 30 s (full jitter, mean 15 s) sends a few dozen; agents that had
    # not sent yet wait at the gate instead.
    assert 600 / 30 <= requests <= 100 + 100, requests
    [failed, recovered] = seen
    assert isinstance(failed, SourceFailed)
    assert failed.source == "agents"
    assert isinstance(recovered, SourceRecovered)
    assert recovered.attempts >= 600 / 30
    assert 600 <= elapsed <= 660
