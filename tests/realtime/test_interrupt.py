"""The poll's cancel scope on asyncio: it absorbs its own cancellation and nobody else's."""

from __future__ import annotations

import asyncio

import anyio
import pytest

from daktela_async.realtime._interrupt import TaskInterrupt, interrupt_factory

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # TaskInterrupt is asyncio's; trio polls use anyio's CancelScope


async def _held(scope: TaskInterrupt, started: asyncio.Event, seconds: float = 30.0) -> str:
    with scope:
        started.set()
        await asyncio.sleep(seconds)
        return "answered"
    return "interrupted"


async def test_cancel_ends_the_block_and_the_task_goes_on() -> None:
    scope, started = TaskInterrupt(), asyncio.Event()

    async def poll() -> tuple[str, int]:
        result = await _held(scope, started)
        await asyncio.sleep(0)  # the next await is not cancelled
        current = asyncio.current_task()
        assert current is not None
        return result, current.cancelling()

    task = asyncio.create_task(poll())
    await started.wait()
    scope.cancel()
    assert await asyncio.wait_for(task, 5) == ("interrupted", 0)
    assert scope.cancelled_caught


async def test_a_block_that_ends_by_itself_is_not_marked_cancelled() -> None:
    scope, started = TaskInterrupt(), asyncio.Event()
    assert await _held(scope, started, 0) == "answered"
    assert not scope.cancelled_caught


async def test_cancel_after_the_block_ended_does_nothing() -> None:
    scope, started = TaskInterrupt(), asyncio.Event()
    assert await _held(scope, started, 0) == "answered"
    scope.cancel()
    await asyncio.sleep(0.01)  # would raise CancelledError if the task had been cancelled
    assert not scope.cancelled_caught


async def test_someone_elses_cancellation_goes_on() -> None:
    scope, started = TaskInterrupt(), asyncio.Event()
    task = asyncio.create_task(_held(scope, started))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not scope.cancelled_caught


@pytest.mark.parametrize("ours_first", [True, False])
async def test_ours_and_someone_elses_together_still_cancel_the_task(ours_first: bool) -> None:
    scope, started = TaskInterrupt(), asyncio.Event()
    task = asyncio.create_task(_held(scope, started))
    await started.wait()
    if ours_first:
        scope.cancel()
        task.cancel()
    else:
        task.cancel()
        scope.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not scope.cancelled_caught


async def test_cancelling_twice_is_absorbed_once() -> None:
    scope, started = TaskInterrupt(), asyncio.Event()

    async def poll() -> int:
        await _held(scope, started)
        current = asyncio.current_task()
        assert current is not None
        return current.cancelling()

    task = asyncio.create_task(poll())
    await started.wait()
    scope.cancel()
    scope.cancel()
    assert await asyncio.wait_for(task, 5) == 0
    assert scope.cancelled_caught


async def test_an_error_raised_in_the_block_passes_through() -> None:
    scope = TaskInterrupt()
    with pytest.raises(LookupError), scope:
        raise LookupError("from the block")
    assert not scope.cancelled_caught


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_the_factory_picks_ours_on_asyncio_and_anyios_elsewhere(anyio_backend: str) -> None:
    expected = TaskInterrupt if anyio_backend == "asyncio" else anyio.CancelScope
    assert interrupt_factory() is expected
