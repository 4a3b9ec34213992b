"""The attempt's deadline: the coarse sweep on asyncio keeps asyncio.timeout's semantics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import anyio
import anyio.abc
import pytest

from daktela_async import DaktelaTimeoutError, Timeouts
from daktela_async._transport import _deadline
from daktela_async._transport._deadline import Sweep, deadline_scope
from tests.transport.test_pool import Server, client_for, serve

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the sweep is asyncio's; trio's deadline is anyio's own


@pytest.fixture
def fast_sweep(monkeypatch: pytest.MonkeyPatch) -> None:
    """Coarse from 0.1 s, swept every 0.02 s: the tests' deadlines take the sweep's path."""
    monkeypatch.setattr(_deadline, "COARSE_FROM", 0.1)
    monkeypatch.setattr(_deadline, "SWEEP_EVERY", 0.02)


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    found = Server()
    async with anyio.create_task_group() as tg:
        await serve(found, tg)
        yield found
        tg.cancel_scope.cancel()


def test_the_form_follows_the_length_and_the_loop() -> None:
    sweeps: dict[asyncio.AbstractEventLoop, Sweep] = {}

    async def forms() -> list[str]:
        return [
            type(deadline_scope(seconds, sweeps)).__name__
            for seconds in (None, 5.0, _deadline.COARSE_FROM, 90.0)
        ]

    assert asyncio.run(forms()) == ["_NoDeadline", "Timeout", "_CoarseDeadline", "_CoarseDeadline"]
    assert anyio.run(forms, backend="trio") == ["_AnyioDeadline"] * 4


@pytest.mark.usefixtures("fast_sweep")
async def test_a_passed_deadline_raises_timeout_error_soon_after() -> None:
    sweeps: dict[asyncio.AbstractEventLoop, Sweep] = {}
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TimeoutError):
        async with deadline_scope(0.2, sweeps):
            await asyncio.sleep(10)
    elapsed = loop.time() - started
    assert 0.2 <= elapsed < 2.0
    [sweep] = sweeps.values()
    assert sweep.pending == 0


@pytest.mark.usefixtures("fast_sweep")
async def test_a_block_done_in_time_leaves_nothing_behind() -> None:
    sweeps: dict[asyncio.AbstractEventLoop, Sweep] = {}
    async with deadline_scope(5.0, sweeps):
        await asyncio.sleep(0)
    [sweep] = sweeps.values()
    assert sweep.pending == 0
    await asyncio.sleep(0.1)  # the timer's next run finds nothing and stops
    assert not sweep.armed
    await asyncio.sleep(0.3)  # and no late cancellation reaches this task


@pytest.mark.usefixtures("fast_sweep")
async def test_a_callers_cancellation_stays_a_cancellation() -> None:
    sweeps: dict[asyncio.AbstractEventLoop, Sweep] = {}

    async def guarded() -> None:
        async with deadline_scope(5.0, sweeps):
            await asyncio.sleep(10)

    task = asyncio.create_task(guarded())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.usefixtures("fast_sweep")
async def test_a_cancellation_with_the_deadline_passed_too_is_the_callers() -> None:
    """Both at once: the caller asked too, so it is not swallowed as a timeout."""
    sweeps: dict[asyncio.AbstractEventLoop, Sweep] = {}
    entered = asyncio.Event()

    async def guarded() -> None:
        async with deadline_scope(0.1, sweeps):
            entered.set()
            try:
                await asyncio.sleep(10)
            finally:
                # The deadline's cancellation arrived; the caller's comes on top of it.
                asyncio.current_task().cancel()  # type: ignore[union-attr]

    task = asyncio.create_task(guarded())
    await entered.wait()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.usefixtures("fast_sweep")
async def test_the_coarse_deadline_stops_a_trickling_answer(server: Server) -> None:
    server.mode = "trickle"
    timeouts = Timeouts(read=5.0, deadline=0.3)
    async with client_for(server, timeout=timeouts, retries=0) as client:
        with anyio.fail_after(5), pytest.raises(DaktelaTimeoutError, match="deadline"):
            await client.call("GetQueues")
        [sweep] = client.pool._sweeps.values()
        assert sweep.pending == 0
        with anyio.fail_after(5):
            await server.closed_by_client.wait()


@pytest.mark.usefixtures("fast_sweep")
async def test_a_cancelled_call_under_a_coarse_deadline_is_not_a_timeout(server: Server) -> None:
    server.mode = "hang"
    async with client_for(server, timeout=Timeouts(read=5.0, deadline=3.0)) as client:
        with anyio.move_on_after(0.2) as scope:
            await client.call("GetQueues")
        assert scope.cancelled_caught
        [sweep] = client.pool._sweeps.values()
        assert sweep.pending == 0
        assert client.pool.in_flight == 0


@pytest.mark.usefixtures("fast_sweep")
async def test_another_error_raised_as_the_deadline_passes_is_kept() -> None:
    """What the block raised instead of the cancellation is what the caller gets."""
    sweeps: dict[asyncio.AbstractEventLoop, Sweep] = {}

    async def guarded() -> None:
        async with deadline_scope(0.1, sweeps):
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                raise ValueError("instead") from None

    with pytest.raises(ValueError, match="instead"):
        await guarded()
