"""Bugs that once survived the suite, each pinned by a test that fails when it comes back.

Found by planting small bugs by hand and by mutation testing (``docs/mutation.md``): the
``block`` policy forgetting a past overflow, the gate reopening when every agent is
removed during an outage, the anti-spin sleep of a poll whose server does not hold, and
the guard against publishing an agent removed while its answer was on the way.

Everything runs in virtual time (trio's ``MockClock`` jumps every sleep), so the
assertions are about order and virtual seconds, never about how loaded the machine is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest
import trio.testing

from daktela_async.realtime import (
    AgentStateChanged,
    Hub,
    SourceFailed,
    SubscriberTooSlow,
)
from tests.realtime.conftest import FAST_BACKOFF
from tests.realtime.pbx import ScriptedPBX
from tests.realtime.test_hub import drain, queue_event

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, Any]]:
    return "trio", {"clock": trio.testing.MockClock(autojump_threshold=0)}


#: Watcher options for the scripted PBX: fast backoffs, a one-second anti-spin gap.
WATCH: dict[str, Any] = {
    "backoff": FAST_BACKOFF,
    "probe_backoff": FAST_BACKOFF,
    "min_unchanged_gap": 1.0,
    "canary_interval": None,
}


# --- the hub's "block" policy -------------------------------------------------------------


async def test_block_forgets_an_overflow_once_the_reader_caught_up() -> None:
    """Over ``maxsize`` at t=0, drained, over again at t=5: not "over for 5 s"."""
    hub = Hub()
    sub = hub.subscribe(maxsize=2, overflow="block", block_timeout=1.0, replay=False)
    for i in range(3):
        hub.publish(queue_event("1", i))  # over maxsize: the clock starts
    assert len(drain(sub)) == 3  # caught up: the overflow is over
    await anyio.sleep(5.0)
    for i in range(3):
        hub.publish(queue_event("1", i))  # over again, for the first time since t=5
    await anyio.sleep(0.5)
    hub.publish(queue_event("1", 9))  # 0.5 s over: within block_timeout
    assert sub in hub.subscriptions()
    assert [e.seq for e in drain(sub)] == [4, 5, 6, 7]


async def test_block_forgets_an_overflow_once_the_buffer_is_back_to_maxsize() -> None:
    """Over at t=0 for a moment, back to ``maxsize`` at once, over again at t=5: patient.

    The buffer has been over ``maxsize`` for a moment, not for 5 s: reading it back
    down to ``maxsize`` (not below) ends the overflow.
    """
    hub = Hub()
    sub = hub.subscribe(maxsize=2, overflow="block", block_timeout=1.0, replay=False)
    for i in range(3):
        hub.publish(queue_event("1", i))
    assert sub.get_nowait() is not None  # two left: maxsize, no longer over
    await anyio.sleep(5.0)
    hub.publish(queue_event("1", 3))  # over again, since t=5
    await anyio.sleep(0.5)
    hub.publish(queue_event("1", 4))
    assert sub in hub.subscriptions()
    assert [e.seq for e in drain(sub)] == [2, 3, 4, 5]


async def test_block_disconnects_a_reader_over_maxsize_for_longer_than_the_timeout() -> None:
    """The same timeline without the reader catching up: disconnected after 1 s over."""
    hub = Hub()
    sub = hub.subscribe(maxsize=2, overflow="block", block_timeout=1.0, replay=False)
    for i in range(3):
        hub.publish(queue_event("1", i))
    await anyio.sleep(0.9)
    hub.publish(queue_event("1", 3))
    assert sub in hub.subscriptions()  # 0.9 s over: still patient
    await anyio.sleep(0.2)
    hub.publish(queue_event("1", 4))  # 1.1 s over
    assert sub not in hub.subscriptions()
    with pytest.raises(SubscriberTooSlow, match="more than 1 s"):
        async for _ in sub:
            pass


# --- the agents: gate, anti-spin, removed agents --------------------------------------------


async def test_removing_every_agent_during_an_outage_reopens_the_gate() -> None:
    """An agent added after the last one was removed mid-outage is polled at once."""
    pbx = ScriptedPBX(["hajek", "novak"], hold=60.0, latency=0.01)
    async with (
        pbx.client() as client,
        client.watch(["hajek"], **WATCH) as watcher,
        watcher.subscribe() as events,
    ):
        with anyio.fail_after(30):
            async for event in events:
                if isinstance(event, AgentStateChanged):
                    break  # hajek's first state: its poll is now held
            pbx.go_down("refuse")
            async for event in events:
                if isinstance(event, SourceFailed) and event.source == "agents":
                    break  # the gate is closed, the prober waits out its backoff
            await watcher.remove_users(["hajek"])
            await anyio.sleep(5.0)  # the prober wakes to find no agent to probe for
            pbx.come_back()
            await watcher.add_users(["novak"])
            async for event in events:
                if isinstance(event, AgentStateChanged) and event.user == "novak":
                    break
        assert watcher.snapshot().keys() == {"novak"}


async def test_a_server_that_does_not_hold_is_asked_once_per_gap() -> None:
    """Held polls that come back at once with nothing new wait ``min_unchanged_gap``."""
    pbx = ScriptedPBX(["hajek"], hold=0.0, latency=0.01)
    async with pbx.client() as client, client.watch(["hajek"], **WATCH):
        await anyio.sleep(10.0)
    # One un-held request, then one held request per second (not one per 10 ms).
    assert 9 <= pbx.count("RTUserState", held=True) <= 11


async def test_an_agent_that_changes_at_every_answer_is_slowed_down() -> None:
    """A hash that "changes" at every answer: after three fast ones, one per gap."""
    pbx = ScriptedPBX(["hajek"], hold=60.0, latency=0.01)
    pbx.agent_faults["hajek"] = "flap"
    async with pbx.client() as client, client.watch(["hajek"], **WATCH):
        await anyio.sleep(10.0)
    assert 9 <= pbx.count("RTUserState") <= 15


class RemovingPBX(ScriptedPBX):
    """Calls ``on_answer(login)`` as it answers an ``RTUserState``, before it returns."""

    on_answer: Callable[[str], None] | None = None

    async def _answer(self, action: str, params: dict[str, Any]) -> httpx.Response:
        response = await super()._answer(action, params)
        if self.on_answer is not None and action == "RTUserState":
            self.on_answer(str(params["user"]))
        return response


async def test_an_agent_removed_while_its_answer_arrives_is_not_published() -> None:
    """The answer that arrives for an agent just removed changes nothing and says nothing."""
    pbx = RemovingPBX(["hajek", "novak"], hold=60.0)
    async with pbx.client() as client, client.watch(["hajek", "novak"], **WATCH) as watcher:
        agents = watcher._agents

        def remove_novak(user: str) -> None:
            if user == "novak":
                # Removed while the server answers: no checkpoint follows before the
                # answer reaches novak's poll, so only the guard in _publish stops it.
                agents.remove("novak")

        with anyio.fail_after(30):
            await anyio.sleep(10.0)  # virtual seconds: both answered, both polls held
            assert set(watcher.snapshot()) == {"hajek", "novak"}
        async with watcher.subscribe(replay=False) as events:
            with anyio.fail_after(30):
                pbx.on_answer = remove_novak
                pbx.change("novak", "Paused")  # novak's held poll answers
                await anyio.sleep(1.0)
                assert watcher.users == ("hajek",)  # removed as its answer went out
                pbx.change("hajek", "Paused")  # then an event to wait for
                changed = []
                async for event in events:
                    if isinstance(event, AgentStateChanged):
                        changed.append(event.user)
                        if event.user == "hajek":
                            break
        assert changed == ["hajek"]
        assert "novak" not in watcher.snapshot()
        assert watcher.users == ("hajek",)
