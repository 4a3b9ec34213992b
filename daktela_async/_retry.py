"""Should this failure be retried, and after how long? One answer per branch.

Reads (``ActionSpec.idempotent``) are retried on:

- connect errors and timeouts: the PBX restarted or the network blinked;
- HTTP 429: the server asked us to slow down (its ``Retry-After`` is honoured up to
  ``RetryPolicy.retry_after_max``; a longer one is not waited for);
- HTTP 502, 503, 504: a proxy in front of the PBX could not reach it.

Writes (CreateCall, SendSMS, PauseOn, Transfer, ...) are retried only when the request
certainly never left this machine (the connection could not be made, or no pooled
connection became free): resending a call that may have arrived could ring a customer
twice. Everything else (``status: 0`` answers, decode errors, other HTTP statuses,
usage errors) is raised at once: retrying would give the same answer.
"""

from __future__ import annotations

import email.utils
import math
import time
from typing import Final

from ._config import RetryPolicy
from ._errors import DaktelaError, DaktelaHTTPStatusError, DaktelaTransportError

__all__ = ["RETRY_STATUSES", "next_delay", "parse_retry_after"]

#: Statuses that mean "the PBX was not reached or is overloaded": safe to retry reads.
RETRY_STATUSES: Final = frozenset({429, 502, 503, 504})


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (ValueError, TypeError):
            return None
        seconds = parsed.timestamp() - time.time()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def next_delay(
    error: DaktelaError, policy: RetryPolicy, attempt: int, idempotent: bool
) -> float | None:
    """The delay before the next attempt, or ``None`` when *error* must be raised.

    Args:
        error: What the attempt raised.
        policy: The retry policy in force.
        attempt: The number of the attempt that failed (1 for the first).
        idempotent: Whether the action may be resent after it may have arrived.
    """
    if attempt >= policy.max_attempts:
        return None
    if isinstance(error, DaktelaTransportError):
        # Never sent: safe for every action. Sent (or maybe sent): only for reads.
        if not error.sent or idempotent:
            return policy.delay(attempt)
        return None
    if isinstance(error, DaktelaHTTPStatusError):
        if not idempotent or error.status_code not in RETRY_STATUSES:
            return None
        if error.retry_after is not None:
            # Honour the server's wish, but never wait longer than the policy allows.
            return error.retry_after if error.retry_after <= policy.retry_after_max else None
        return policy.delay(attempt)
    return None
