"""Helpers of the command-line tests."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Sequence

import attrs

from daktela_async.sim import Simulator

#: The simulator's long-poll hold: short, so watches see changes fast.
HOLD = 0.3


@attrs.frozen
class Result:
    """What one in-process run of the command printed and returned."""

    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


Run = Callable[..., Result]


class LineStream(io.StringIO):
    """A stdout that tells another thread when a line (or the n-th line) was written."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._lines = 0
        self._changed = threading.Condition(self._lock)

    def write(self, s: str) -> int:
        with self._lock:
            written = super().write(s)
            self._lines += s.count("\n")
            self._changed.notify_all()
            return written

    def wait_lines(self, count: int, timeout: float = 10.0) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self._lines >= count, timeout)


def connection(sim: Simulator) -> Sequence[str]:
    """The command-line options that reach *sim*."""
    return ("--url", sim.url, "--token", sim.token)
