"""The autodialer's number checks (``CheckNumber``)."""

from __future__ import annotations

import hashlib

from .defaults import CHECK_STATUSES
from .lookups import StateLookups

__all__ = ["DialerMixin"]


class DialerMixin(StateLookups):
    """The dialer transitions of :class:`~.SimState`."""

    def check_number(self, number: str) -> tuple[float, str]:
        """``CheckNumber``: the autodialer's (deterministic) verdict on *number*."""
        if number not in self.checked_numbers:
            digest = hashlib.sha1(f"{self.seed}:{number}".encode()).digest()  # noqa: S324
            self.checked_numbers[number] = (self.now(), CHECK_STATUSES[digest[0] % 3][0])
        return self.checked_numbers[number]
