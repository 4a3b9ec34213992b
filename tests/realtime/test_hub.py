"""Fan-out: seq without gaps, filters, replay, and each overflow policy with a slow reader."""

from __future__ import annotations

import datetime as dt
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daktela_async import DaktelaUsageError, _hub
from daktela_async._event import event_kinds
from daktela_async._models import RTStatsQueue
from daktela_async.realtime import (
    Event,
    EventsDropped,
    Hub,
    OverflowPolicy,
    QueueStatsChanged,
    SourceFailed,
    SubscriberStats,
    SubscriberTooSlow,
)
from tests.realtime.support import until_failure

pytestmark = pytest.mark.anyio


def queue_event(queue: str, ready: int) -> QueueStatsChanged:
    row = RTStatsQueue(id=int(queue), users_ready=ready)
    return QueueStatsChanged(queue=queue, previous=None, current=row)


def failed(source: str) -> SourceFailed:
    return SourceFailed(source=source, error="x", error_type="E", attempt=1, retry_in=1.0)


def drain(subscription: object) -> list[Event]:
    from daktela_async.realtime import Subscription

    assert isinstance(subscription, Subscription)
    out: list[Event] = []
    while (event := subscription.get_nowait()) is not None:
        out.append(event)
    return out


async def test_publish_stamps_gap_free_seq_and_time() -> None:
    hub = Hub()
    async with hub.subscribe() as sub:
        for i in range(5):
            hub.publish(queue_event("1", i))
        events = drain(sub)
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert all(e.time.tzinfo is not None for e in events)
    assert events[0].time <= events[-1].time


async def test_iteration_waits_for_events_and_ends_when_the_hub_closes() -> None:
    hub = Hub()
    received: list[int] = []
    async with hub.subscribe() as sub:

        async def consume() -> None:
            async for event in sub:
                received.append(event.seq)

        async with anyio.create_task_group() as tg:
            tg.start_soon(consume)
            await anyio.sleep(0.01)
            hub.publish(queue_event("1", 1))
            await anyio.sleep(0.01)
            hub.publish(queue_event("1", 2))
            await anyio.sleep(0.01)
            hub.close()
    assert received == [1, 2]


async def test_a_reader_cancelled_while_waiting_leaves_the_subscription_usable() -> None:
    hub = Hub()
    async with hub.subscribe() as sub:
        with anyio.move_on_after(0.01) as scope:
            await sub.__anext__()  # waits: nothing published yet
        assert scope.cancelled_caught
        hub.publish(queue_event("1", 1))  # offered with no one waiting: buffered
        hub.publish(queue_event("1", 2))
        got: list[int] = []

        async def consume() -> None:
            async for event in sub:
                got.append(event.seq)
                if len(got) == 3:
                    return

        async with anyio.create_task_group() as tg:
            tg.start_soon(consume)
            await anyio.wait_all_tasks_blocked()
            hub.publish(queue_event("1", 3))  # wakes the waiting reader
        assert got == [1, 2, 3]


async def test_a_waiting_reader_is_woken_by_close() -> None:
    hub = Hub()
    ended = anyio.Event()
    async with hub.subscribe() as sub:

        async def consume() -> None:
            async for _ in sub:
                pass
            ended.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(consume)
            await anyio.wait_all_tasks_blocked()
            sub.close()
            with anyio.fail_after(5):
                await ended.wait()


async def test_filters_by_kind_and_user() -> None:
    from daktela_async._models import AgentState
    from daktela_async.realtime import AgentStateChanged

    def agent(user: str) -> AgentStateChanged:
        state = AgentState(agent_name=user, id_agent=1, agent_state="Idle")
        return AgentStateChanged(user=user, previous=None, current=state)

    hub = Hub()
    only_hajek = hub.subscribe(users=["hajek"])
    only_queues = hub.subscribe(kinds=[QueueStatsChanged])
    by_name = hub.subscribe(kinds=["source_failed"])
    for event in (agent("hajek"), agent("novak"), queue_event("1", 1), failed("agents")):
        hub.publish(event)
    assert [getattr(e, "user", None) for e in drain(only_hajek)] == ["hajek", None, None]
    assert [type(e) for e in drain(only_queues)] == [QueueStatsChanged]
    assert [type(e) for e in drain(by_name)] == [SourceFailed]


async def test_replay_comes_first_for_late_subscribers() -> None:
    current = [queue_event("1", 3), queue_event("2", 0)]
    hub = Hub(replay=lambda: current)
    hub.publish(failed("agents"))
    async with hub.subscribe() as sub:
        hub.publish(queue_event("1", 4))
        events = drain(sub)
    assert [getattr(e, "queue", None) for e in events] == ["1", "2", "1"]
    assert [e.seq for e in events] == [1, 1, 2]  # replay carries the last seq at join
    async with hub.subscribe(replay=False) as fresh:
        assert drain(fresh) == []


async def test_drop_oldest_keeps_the_newest_and_says_how_many_were_missed() -> None:
    hub = Hub()
    sub = hub.subscribe(maxsize=3, overflow="drop_oldest")
    for i in range(10):
        hub.publish(queue_event("1", i))
    events = drain(sub)
    assert isinstance(events[0], EventsDropped)
    assert events[0].missed == 7
    assert [e.seq for e in events[1:]] == [8, 9, 10]
    assert sub.stats().dropped == 7
    assert sub.stats().delivered == 4


async def test_latest_coalesces_per_key() -> None:
    hub = Hub()
    sub = hub.subscribe(maxsize=100, overflow="latest")
    for i in range(50):
        hub.publish(queue_event(str(i % 3), i))
    hub.publish(failed("agents"))
    events = drain(sub)
    rows = {
        e.queue: e.current.users_ready
        for e in events
        if isinstance(e, QueueStatsChanged) and e.current is not None
    }
    assert rows == {"0": 48, "1": 49, "2": 47}
    assert isinstance(events[0], EventsDropped)
    assert events[0].missed == 47
    assert len(events) == 5  # the drop notice, three queues, the failure


async def test_block_loses_nothing_then_drops_a_stuck_subscriber() -> None:
    hub = Hub()
    patient = hub.subscribe(maxsize=2, overflow="block", block_timeout=0.05)
    for i in range(10):
        hub.publish(queue_event("1", i))
    assert [e.seq for e in drain(patient)] == list(range(1, 11))
    stuck = hub.subscribe(maxsize=2, overflow="block", block_timeout=0.05)
    for i in range(5):
        hub.publish(queue_event("1", i))
    await anyio.sleep(0.1)
    hub.publish(queue_event("1", 99))
    with pytest.raises(SubscriberTooSlow, match="disconnected"):
        async for _ in stuck:
            pass
    assert stuck not in hub.subscriptions()


async def test_a_slow_subscriber_does_not_delay_the_others() -> None:
    hub = Hub()
    slow = hub.subscribe(maxsize=10, overflow="drop_oldest")
    fast = hub.subscribe(maxsize=10_000)
    received = 0
    async with anyio.create_task_group() as tg:

        async def read_fast() -> None:
            nonlocal received
            async for _ in fast:
                received += 1

        tg.start_soon(read_fast)
        for i in range(2000):
            hub.publish(queue_event("1", i))
            if i % 100 == 0:
                await anyio.lowlevel.checkpoint()
        await anyio.sleep(0.01)
        hub.close()
    assert received == 2000
    assert slow.stats().dropped == 1990


def test_bad_options_are_usage_errors() -> None:
    hub = Hub()
    with pytest.raises(DaktelaUsageError):
        hub.subscribe(overflow="wait")  # type: ignore[arg-type]
    with pytest.raises(DaktelaUsageError):
        hub.subscribe(maxsize=0)
    hub.close()
    with pytest.raises(DaktelaUsageError, match="closed"):
        hub.subscribe()


@given(
    policy=st.sampled_from(["drop_oldest", "latest"]),
    maxsize=st.integers(1, 6),
    script=st.lists(st.one_of(st.sampled_from("123456"), st.just("read")), max_size=80),
)
@settings(max_examples=200, deadline=None)
def test_seq_strictly_increases_as_a_slow_reader_sees_it(
    policy: OverflowPolicy, maxsize: int, script: list[str]
) -> None:
    # A reader that falls behind sees EventsDropped in the place of what it lost, stamped
    # with the last lost seq: never 6, 4, 5, 6.
    hub = Hub()
    sub = hub.subscribe(maxsize=maxsize, overflow=policy)
    seen: list[Event] = []
    for step in script:
        if step == "read":
            event = sub.get_nowait()
            if event is not None:
                seen.append(event)
        else:
            hub.publish(queue_event(step, len(seen)))
    seen += drain(sub)
    seqs = [e.seq for e in seen]
    assert seqs == sorted(set(seqs)), seqs
    lost = sum(e.missed for e in seen if isinstance(e, EventsDropped))
    assert lost + sum(not isinstance(e, EventsDropped) for e in seen) == hub.published


async def test_a_closing_failure_is_raised_after_the_buffered_events() -> None:
    hub = Hub()
    first, second = hub.subscribe(), hub.subscribe()
    hub.publish(failed("auth"))
    hub.close(DaktelaUsageError("gone"))
    for sub in (first, second):
        [event], error = await until_failure(sub)
        assert isinstance(event, SourceFailed)
        assert str(error) == "gone"
    with pytest.raises(DaktelaUsageError, match="closed"):
        hub.subscribe()


async def test_unknown_kinds_are_refused() -> None:
    hub = Hub()
    with pytest.raises(DaktelaUsageError, match="agent_state"):
        hub.subscribe(kinds=["agent_sate"])
    with pytest.raises(DaktelaUsageError, match="one string"):
        hub.subscribe(kinds="agent_state")
    assert hub.subscribe(kinds=[SourceFailed, "queue_stats"]).wants(failed("x"))


async def test_stats_count_what_each_policy_buffers_delivers_and_drops() -> None:
    hub = Hub()
    ring = hub.subscribe(maxsize=5, overflow="drop_oldest", name="ring")
    latest = hub.subscribe(maxsize=5, overflow="latest", name="latest")
    for i in range(4):
        hub.publish(queue_event(str(i % 2), i))
    assert ring.stats() == SubscriberStats(
        name="ring", delivered=0, dropped=0, buffered=4, policy="drop_oldest"
    )
    assert latest.stats() == SubscriberStats(
        name="latest", delivered=0, dropped=2, buffered=2, policy="latest"
    )
    assert repr(latest) == "<Subscription latest latest buffered=2>"
    hub.close()
    assert [e.seq async for e in ring] == [1, 2, 3, 4]
    assert ring.stats().delivered == 4
    assert ring.stats().buffered == 0


async def test_latest_over_maxsize_keys_drops_the_oldest_key() -> None:
    hub = Hub()
    sub = hub.subscribe(maxsize=2, overflow="latest")
    for queue in ("1", "2", "3"):
        hub.publish(queue_event(queue, 0))
    assert sub.stats().buffered == 2
    assert sub.stats().dropped == 1
    events = drain(sub)
    assert isinstance(events[0], EventsDropped)
    assert (events[0].seq, events[0].missed) == (1, 1)
    assert [e.queue for e in events[1:] if isinstance(e, QueueStatsChanged)] == ["2", "3"]


async def test_the_first_failure_a_subscription_is_closed_with_is_the_one_raised() -> None:
    hub = Hub()
    sub = hub.subscribe()
    sub.close(DaktelaUsageError("first"))
    sub.close(DaktelaUsageError("second"))
    hub.close(DaktelaUsageError("third"))
    with pytest.raises(DaktelaUsageError, match=r"^first$"):
        await sub.__anext__()


def test_unknown_kinds_are_refused_with_the_choices() -> None:
    hub = Hub()
    with pytest.raises(DaktelaUsageError) as caught:
        hub.subscribe(kinds=["agent_sate"])
    known = ", ".join(sorted(event_kinds()))
    assert caught.value.message == (
        f"unknown event kind 'agent_sate'; choose from {known} (or pass the event classes)"
    )
    assert caught.value.parameter == "kinds"
    with pytest.raises(DaktelaUsageError) as caught:
        hub.subscribe(kinds="agent_state")
    assert caught.value.parameter == "kinds"


NOON = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)


async def test_published_replayed_and_drop_notices_carry_the_hubs_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_hub, "_now", lambda: NOON)
    hub = Hub(replay=lambda: [failed("agent:hajek"), failed("agent:novak")])
    sub = hub.subscribe(maxsize=1)
    hub.publish(queue_event("1", 0))
    events = drain(sub)
    # Both replayed events (seq 0) and the first published one did not fit in maxsize=1.
    assert isinstance(events[0], EventsDropped)
    assert (events[0].seq, events[0].missed) == (0, 2)
    assert [e.seq for e in events[1:]] == [1]
    assert [e.time for e in events] == [NOON, NOON]
    # A later subscriber's replay is stamped with the current seq and the hub's time.
    replayed = drain(hub.subscribe())
    assert [(e.seq, e.time) for e in replayed] == [(1, NOON), (1, NOON)]


async def test_replay_goes_through_the_subscriptions_filters() -> None:
    hub = Hub(replay=lambda: [failed("a"), queue_event("1", 0), queue_event("2", 0)])
    sub = hub.subscribe(kinds=["queue_stats"])
    assert [e.queue for e in drain(sub) if isinstance(e, QueueStatsChanged)] == ["1", "2"]


def test_subscriptions_are_named_in_order_unless_named() -> None:
    hub = Hub()
    assert hub.closed is False
    names = [hub.subscribe().name, hub.subscribe(name="board").name, hub.subscribe().name]
    assert names == ["subscriber-1", "board", "subscriber-3"]


@pytest.mark.parametrize(
    ("options", "message", "parameter"),
    [
        (
            {"overflow": "wait"},
            "overflow must be one of drop_oldest, latest, block, not 'wait'",
            "overflow",
        ),
        ({"maxsize": 0}, "maxsize must be at least 1", "maxsize"),
        (
            {"users": "hajek"},
            "users must be a list of logins, not one string: write users=['hajek']",
            "users",
        ),
    ],
)
def test_bad_options_are_refused_with_these_messages(
    options: dict[str, Any], message: str, parameter: str
) -> None:
    hub = Hub()
    with pytest.raises(DaktelaUsageError) as caught:
        hub.subscribe(**options)
    assert (caught.value.message, caught.value.parameter) == (message, parameter)
    hub.close()
    with pytest.raises(DaktelaUsageError) as caught:
        hub.subscribe()
    assert caught.value.message == "the watcher is closed"
