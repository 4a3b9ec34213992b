"""Recovery at scale, checked in virtual time (trio's MockClock jumps every sleep).

The goal of the failure model: 200 agents, the PBX down for 8 s while every agent
changes; every new state is delivered within 3 s of the PBX answering again, with at
most 64 un-held requests in flight and a few requests during the outage. A scripted PBX
behind ``httpx.MockTransport`` plays every kind of outage: refused connections, 503,
and a hang.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from daktela_async.realtime import AgentStateChanged, SourceFailed, SourceRecovered
from tests.realtime.pbx import Outage, ScriptedPBX
from tests.realtime.support import virtual_time  # noqa: F401 - the anyio_backend fixture

pytestmark = pytest.mark.anyio


async def _outage(agents: int, kind: Outage, down: float) -> dict[str, Any]:
    users = [f"agent{n:04d}" for n in range(agents)]
    pbx = ScriptedPBX(users, hold=60.0, latency=0.05)
    delivered: dict[str, float] = {}
    failed: list[tuple[str, float]] = []
    recovered: list[str] = []
    everyone = anyio.Event()
    ready: set[str] = set()
    all_ready = anyio.Event()
    again: dict[str, float] = {}
    everyone_again = anyio.Event()
    async with (
        pbx.client() as client,
        client.watch(users) as watcher,
        watcher.subscribe(maxsize=100_000) as events,
        anyio.create_task_group() as tg,
    ):

        async def consume() -> None:
            async for event in events:
                now = anyio.current_time()
                if isinstance(event, AgentStateChanged) and event.previous is None:
                    ready.add(event.user)
                    if len(ready) == agents:
                        all_ready.set()
                if isinstance(event, SourceFailed):
                    failed.append((event.source, now))
                elif isinstance(event, SourceRecovered):
                    recovered.append(event.source)
                elif isinstance(event, AgentStateChanged) and event.current.agent_state == "Paused":
                    # Every agent changed while the PBX was down: this is its new state.
                    delivered.setdefault(event.user, now)
                    if len(delivered) == agents:
                        everyone.set()
                elif (
                    isinstance(event, AgentStateChanged) and event.current.agent_state == "Ringing"
                ):
                    again.setdefault(event.user, now)
                    if len(again) == agents:
                        everyone_again.set()

        tg.start_soon(consume)
        with anyio.fail_after(120):
            await all_ready.wait()
        await anyio.sleep(5)  # every poll held
        before = len(pbx.requests)
        pbx.go_down(kind)
        went_down = anyio.current_time()
        for user in users:
            pbx.change(user, "Paused")
        await anyio.sleep(down)
        during = len(pbx.requests) - before
        pbx.unheld_peak = 0
        pbx.come_back()
        back = anyio.current_time()
        with anyio.fail_after(120):
            await everyone.wait()
        # The long polls are armed again: the next changes arrive as they happen.
        await anyio.sleep(5)
        changed = anyio.current_time()
        for user in users:
            pbx.change(user, "Ringing")
        with anyio.fail_after(120):
            await everyone_again.wait()
        tg.cancel_scope.cancel()
    return {
        "failed": [source for source, _ in failed],
        "detected": [at - went_down for _, at in failed],
        "recovered": recovered,
        "during": during,
        "resynced": max(delivered.values()) - back,
        "next_change": max(again.values()) - changed,
        "unheld_peak": pbx.unheld_peak,
        "bulk": pbx.count("RTUsersState"),
    }


@pytest.mark.parametrize(("kind", "down"), [("refuse", 8.0), ("503", 8.0), ("hang", 30.0)])
async def test_200_agents_recover_within_3_s_with_bounded_unheld_requests(
    kind: Outage, down: float
) -> None:
    outcome = await _outage(200, kind, down)
    assert outcome["resynced"] <= 3.0, outcome
    assert outcome["unheld_peak"] <= 64, outcome
    assert outcome["next_change"] <= 1.0, outcome
    assert outcome["failed"] == ["agents"]
    assert outcome["recovered"] == ["agents"]
    # One RTUsersState at the recovery carried every agent's new state.
    assert outcome["bulk"] == 1
    if kind == "hang":
        # Held polls cannot tell; the canary (every 10 s, 5 s timeout) can.
        assert outcome["detected"][0] <= 20.0, outcome
        # Canaries, then probes that hang for 5 s each: a few.
        assert outcome["during"] <= 12, outcome
    else:
        # One prober, one request per step (0.25 s doubling to 2 s, full jitter): about
        # eight in 8 s, for 200 agents.
        assert outcome["during"] <= 25, outcome


async def test_a_long_outage_costs_one_request_per_step_whatever_the_agent_count() -> None:
    small = await _outage(50, "503", 120.0)
    large = await _outage(1000, "503", 120.0)
    # 120 s at a mean of ~1 s per step: about 120 probes, for 50 agents as for 1000.
    for outcome, agents in ((small, 50), (large, 1000)):
        assert 30 <= outcome["during"] <= 250, (agents, outcome["during"])
        assert outcome["resynced"] <= 3.0
        assert outcome["unheld_peak"] <= 32
