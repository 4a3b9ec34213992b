"""Long-poll answers whose ``hash`` did not change are not structured again (issue 19)."""

from __future__ import annotations

from typing import Any

import pytest

from daktela_async import DaktelaClient
from daktela_async._models import AgentStateName, structure
from daktela_async.realtime import AgentStateChanged, _agents
from daktela_async.sim import Simulator
from tests.realtime.conftest import HOLD, WATCH
from tests.realtime.support import collect_for, collect_until

pytestmark = pytest.mark.anyio


async def test_unchanged_answers_reuse_the_stored_state(
    sim: Simulator, client: DaktelaClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    structured: list[Any] = []

    def counting(value: Any, cl: Any, **kwargs: Any) -> Any:
        if kwargs.get("action") == "RTUserState":
            structured.append(value)
        return structure(value, cl, **kwargs)

    monkeypatch.setattr(_agents, "structure", counting)
    async with client.watch(users=["hajek"], **WATCH) as watcher, watcher.subscribe() as events:
        [first] = await collect_until(events, lambda seen: len(seen) == 1)
        assert isinstance(first, AgentStateChanged)
        assert len(structured) == 1  # the first answer (no hash sent) is structured
        before = watcher.stats().sources["agents"].requests
        # Several held polls come back with the hash they sent: nothing to publish...
        assert await collect_for(events, 5 * HOLD) == []
        assert watcher.stats().sources["agents"].requests - before >= 3
        # ...and none of them was structured: the stored state itself is kept.
        assert len(structured) == 1
        assert watcher.snapshot()["hajek"] is first.current

        # A changed answer (a new hash) is still decoded in full, and published once.
        sim.pause_on("hajek", "7")
        [paused] = await collect_until(events, lambda seen: len(seen) == 1)
        assert isinstance(paused, AgentStateChanged)
        assert paused.current.agent_state == AgentStateName.PAUSED
        assert paused.current.id_pause == 7
        assert paused.current.hash == sim.hash("hajek") != first.current.hash
        assert paused.previous is first.current
        assert len(structured) == 2
        assert structured[-1]["hash"] == paused.current.hash

        # Unchanged again: the new state is kept as it is, nothing more is structured.
        assert await collect_for(events, 5 * HOLD) == []
        assert len(structured) == 2
        assert watcher.snapshot()["hajek"] is paused.current
    assert watcher.stats().sources["agents"].consecutive_failures == 0
