"""The long poll's plumbing: who waits on which agent, when a hold ends, who asked.

Kept apart from the application (``_app``), which serves the API around them.
"""

from __future__ import annotations

import zlib
from typing import Any, Final, Literal

import anyio

__all__ = ["HOLD_ENDS", "HoldEnds", "Traffic", "Waiters", "hold_deadline"]

#: When an unchanged held poll ends (see :func:`hold_deadline`).
HoldEnds = Literal["arrival", "spread", "together"]
HOLD_ENDS: Final[tuple[HoldEnds, ...]] = ("arrival", "spread", "together")


def hold_deadline(now: float, hold: float, login: str, ends: HoldEnds) -> float:
    """When a poll for *login* that arrived at *now* ends unchanged (loop time, seconds).

    - ``"arrival"``: a whole *hold* after it arrived, as the document describes.
    - ``"spread"``: at the agent's next point of the hold cycle (its phase, a fixed
      fraction of *hold* drawn from its login: the agents spread evenly over the
      cycle). A real PBX's holds end spread out, because its agents' changes put them
      out of step; a client that started every poll at once would otherwise meet its
      answers together for as long as nothing changes.
    - ``"together"``: at the next point of the cycle common to every agent (phase 0):
      one burst of answers per hold.

    A phased poll is never held longer than *hold* (a client's read timeout is set by
    it), and may be answered sooner: the first one a client sends. One that is sent again
    as soon as it is answered is answered every *hold*, at the same points, however the
    client started: every client meets the same pattern (what the benchmarks compare
    clients on).
    """
    if ends == "arrival":
        return now + hold
    phase = zlib.crc32(login.encode()) / 2**32 * hold if ends == "spread" else 0.0
    wait = (phase - now) % hold
    # Asked again at the very point it was answered (to the rounding of the clock): the
    # next point, a hold away, not this one again.
    return now + (wait if wait > hold * 1e-9 else hold)


class Waiters:
    """One event per agent that long polls wait on; a change sets and forgets it.

    Setting the event wakes every request held for that agent at once (one wakeup
    per change, no polling); the next waiter creates a fresh event.
    """

    def __init__(self) -> None:
        self._events: dict[str, anyio.Event] = {}

    def event(self, user_id: str) -> anyio.Event:
        found = self._events.get(user_id)
        if found is None:
            found = self._events[user_id] = anyio.Event()
        return found

    def wake(self, user_id: str) -> None:
        found = self._events.pop(user_id, None)
        if found is not None:
            found.set()

    def wake_all(self) -> None:
        events, self._events = self._events, {}
        for found in events.values():
            found.set()

    def __len__(self) -> int:
        return len(self._events)


class Traffic:
    """What the PBX was asked: requests by action and agent, held polls by agent.

    Counted on the simulator's loop; read it with :meth:`Simulator.traffic`. It is what
    a fleet test needs to prove load (requests per agent-hour) and exclusivity (no two
    held ``RTUserState`` requests for one agent at once).

    Attributes:
        requests: Requests by action.
        by_user: ``RTUserState`` requests by agent login.
        held: Held ``RTUserState`` requests by agent login, now.
        overlaps: By agent login, held requests that began while another was held.
    """

    def __init__(self) -> None:
        self.requests: dict[str, int] = {}
        self.by_user: dict[str, int] = {}
        self.held: dict[str, int] = {}
        self.overlaps: dict[str, int] = {}

    def request(self, action: str, user: object) -> None:
        """Count one request of *action* (for *user*, an ``RTUserState`` parameter)."""
        self.requests[action] = self.requests.get(action, 0) + 1
        if action == "RTUserState" and isinstance(user, str):
            self.by_user[user] = self.by_user.get(user, 0) + 1

    def hold(self, user: str) -> None:
        """A held poll of *user* begins."""
        now = self.held.get(user, 0)
        if now:
            self.overlaps[user] = self.overlaps.get(user, 0) + 1
        self.held[user] = now + 1

    def release(self, user: str) -> None:
        """A held poll of *user* ends."""
        left = self.held.get(user, 1) - 1
        if left:
            self.held[user] = left
        else:
            self.held.pop(user, None)

    def snapshot(self) -> dict[str, Any]:
        """A copy of the counters (JSON-ready)."""
        return {
            "requests": dict(self.requests),
            "by_user": dict(self.by_user),
            "held": dict(self.held),
            "overlaps": dict(self.overlaps),
        }

    def reset(self) -> None:
        """Start counting afresh (the held polls in progress stay held)."""
        self.requests.clear()
        self.by_user.clear()
        self.overlaps.clear()
