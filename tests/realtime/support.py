"""Helpers of the realtime tests: collect events until a condition holds, with a deadline."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
import trio.testing

from daktela_async.realtime import Event, Subscription


async def collect_until(
    events: Subscription, done: Callable[[list[Event]], bool], timeout: float = 5.0
) -> list[Event]:
    """Read events until *done* says so; fail the test after *timeout* seconds."""
    seen: list[Event] = []
    with anyio.fail_after(timeout):
        async for event in events:
            seen.append(event)
            if done(seen):
                break
    return seen


async def collect_for(events: Subscription, seconds: float) -> list[Event]:
    """Read whatever arrives in *seconds*."""
    seen: list[Event] = []
    with anyio.move_on_after(seconds):
        async for event in events:
            seen.append(event)
    return seen


def established_to(port: int) -> int | None:
    """Client-side TCP connections to *port* in ESTABLISHED state (Linux ``/proc``)."""
    table = Path("/proc/net/tcp")
    if not table.exists():
        return None
    count = 0
    for line in table.read_text().splitlines()[1:]:
        fields = line.split()
        remote_port = int(fields[2].split(":")[1], 16)
        if remote_port == port and fields[3] == "01":
            count += 1
    return count


async def until_failure(
    events: Subscription, timeout: float = 5.0
) -> tuple[list[Event], Exception]:
    """Read events until the iterator raises; fail the test if it ends quietly or times out."""
    seen: list[Event] = []
    with anyio.fail_after(timeout):
        try:
            async for event in events:
                seen.append(event)
        except Exception as exc:
            return seen, exc
    raise AssertionError(f"the subscription ended without a failure after {seen}")


@pytest.fixture(name="anyio_backend")
def virtual_time() -> tuple[str, dict[str, Any]]:
    """Trio with a ``MockClock`` that jumps every sleep: a test module imports this.

    Its tests then run in virtual time: a minute of holds and backoffs passes at once, and
    their assertions are about order and virtual seconds, not the machine's load.
    """
    return "trio", {"clock": trio.testing.MockClock(autojump_threshold=0)}
