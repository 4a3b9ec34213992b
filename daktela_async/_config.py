"""Client settings and every default in one place, each with the reason for its value."""

from __future__ import annotations

import math
import os
import random
import ssl
from collections.abc import Awaitable, Callable
from typing import Any, Final, Literal, TypeAlias, TypeGuard

import anyio
import attrs

from ._errors import DaktelaUsageError

__all__ = [
    "API_VERSIONS",
    "DEFAULT_API_VERSION",
    "ENV_API_VERSION",
    "ENV_LOGIN",
    "ENV_PASSWORD",
    "ENV_TOKEN",
    "ENV_URL",
    "NOT_GIVEN",
    "NotGiven",
    "PoolLimits",
    "RetryPolicy",
    "Timeouts",
    "TokenPlacement",
    "VerifyTypes",
]

#: Every API version the document describes, oldest first.
API_VERSIONS: Final = (
    "3.0",
    "3.1",
    "3.2",
    "3.3",
    "3.4",
    "3.5",
    "3.6",
    "3.7",
    "3.8",
    "3.9",
    "4.0",
    "4.1",
)

#: The newest documented version: every action is available at it.
DEFAULT_API_VERSION: Final = "4.1"

#: Where the access token travels: the ``access_token`` query parameter or a cookie.
TokenPlacement = Literal["query", "cookie"]

#: How TLS certificates are checked: ``True`` (the system's and certifi's CAs, as httpx
#: does), ``False`` (not at all), the path of a CA bundle (a PEM file or a directory of
#: hashed certificates, for a PBX behind an internal CA) or a ready ``ssl.SSLContext``.
VerifyTypes: TypeAlias = bool | str | os.PathLike[str] | ssl.SSLContext

# --- environment (DaktelaClient.from_env) -----------------------------------------------------

#: The PBX address, ``https://pbx.example.com``.
ENV_URL: Final = "DAKTELA_URL"
#: The access token; or, instead, login and password (the token is their SHA1).
ENV_TOKEN: Final = "DAKTELA_TOKEN"  # noqa: S105 - a variable's name, not a token
#: The login whose ``SHA1(login + password)`` is the token, with :data:`ENV_PASSWORD`.
ENV_LOGIN: Final = "DAKTELA_LOGIN"
#: The password that goes with :data:`ENV_LOGIN`.
ENV_PASSWORD: Final = "DAKTELA_PASSWORD"  # noqa: S105 - a variable's name, not a password
#: The newest API version the PBX speaks (optional; :data:`DEFAULT_API_VERSION` otherwise).
ENV_API_VERSION: Final = "DAKTELA_API_VERSION"

# --- timeouts ---------------------------------------------------------------------------------

#: Connecting to a healthy PBX takes milliseconds; 5 s covers a slow TLS handshake.
CONNECT_TIMEOUT: Final = 5.0
#: Ordinary actions answer in well under a second; statistics over long ranges can take several.
READ_TIMEOUT: Final = 30.0
#: Requests are small query strings: a stalled write is a dead connection.
WRITE_TIMEOUT: Final = 10.0
#: Waiting for a free pooled connection longer than this means the pool is too small.
POOL_TIMEOUT: Final = 30.0
#: Overall cap on one attempt, so a trickling body cannot hold a call forever.
DEADLINE: Final = 60.0

#: The server holds RTUserState with ``hash`` for up to 60 s; the document asks clients for >= 70 s.
LONG_POLL_HOLD: Final = 60.0
#: Read timeout of a long poll: the hold plus slack (the document asks for at least 70 s).
LONG_POLL_READ_TIMEOUT: Final = 75.0
#: Overall deadline of a long poll: above the read timeout so the read timeout fires first.
LONG_POLL_DEADLINE: Final = 90.0

# --- retries ----------------------------------------------------------------------------------

#: Attempts for a read in total (first try plus three retries): enough to ride out a restart.
MAX_ATTEMPTS: Final = 4
#: First backoff ceiling; full jitter picks a delay between zero and this.
BACKOFF_INITIAL: Final = 0.5
#: Backoff ceiling growth stops here so a retried read never stalls a caller for long.
BACKOFF_MAX: Final = 8.0
#: A ``Retry-After`` longer than this is not waited for: the error is raised instead.
RETRY_AFTER_MAX: Final = 30.0

# --- pool -------------------------------------------------------------------------------------

#: Connections per shard: httpcore's pool assignment is O(connections x queued), so shards stay
#: small (1000 long polls: one client 22.7 s CPU per cycle, 100 shards of 10: 0.90 s).
SHARD_CONNECTIONS: Final = 10
#: Shard ceiling: 100 x 10 connections carries 1000 concurrent long polls.
MAX_SHARDS: Final = 100
#: Idle keep-alive connections are closed after this, below common server keep-alive limits.
KEEPALIVE_EXPIRY: Final = 30.0

# --- answers ----------------------------------------------------------------------------------

#: Largest buffered answer, counted decoded: a full 1000-row page of CDRs is a few MB, so
#: 64 MiB leaves ample room while a gzip bomb or an endless body cannot exhaust memory.
#: Recordings stream (``stream_raw``) and are not limited by it.
MAX_ANSWER_BYTES: Final = 64 * 2**20


class NotGiven:
    """Sentinel type: "use the client's default" for a per-call option.

    ``None`` cannot play this role because ``timeout=None`` means "no timeout".
    """

    _instance: NotGiven | None = None

    def __new__(cls) -> NotGiven:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __bool__(self) -> bool:
        return False


#: The one :class:`NotGiven` instance.
NOT_GIVEN: Final = NotGiven()


def _shown(value: object) -> str:
    """A refused setting as the error shows it: numbers as they are, others by type."""
    return repr(value) if isinstance(value, int | float) else type(value).__name__


def _is_number(value: object) -> TypeGuard[float]:
    # bool is an int, but True seconds or attempts is a mistake, not a setting.
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_seconds(name: str, value: object) -> None:
    """Refuse *value* unless it is a positive, finite number of seconds or ``None``.

    Raises:
        DaktelaUsageError: It is not (``parameter`` is *name*).
    """
    if value is None:
        return
    if not _is_number(value) or not (value > 0 and math.isfinite(value)):
        raise DaktelaUsageError(
            f"{name} must be a positive number of seconds or None, not {_shown(value)}",
            parameter=name,
        )


def _positive(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    _check_seconds(attribute.name, value)


def _at_least(minimum: int) -> Callable[[object, attrs.Attribute[Any], object], None]:
    def check(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise DaktelaUsageError(
                f"{attribute.name} must be an integer >= {minimum}, not {_shown(value)}",
                parameter=attribute.name,
            )

    return check


def _non_negative(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    # inf is allowed (no ceiling); NaN is not, as no comparison would ever stop it.
    if not _is_number(value) or not value >= 0:
        raise DaktelaUsageError(
            f"{attribute.name} must be a number >= 0, not {_shown(value)}",
            parameter=attribute.name,
        )


def _callable(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not callable(value):
        raise DaktelaUsageError(f"{attribute.name} must be callable", parameter=attribute.name)


@attrs.frozen(slots=True, cache_hash=True)
class Timeouts:
    """Timeouts of one request, in seconds (``None`` disables that one).

    Each must be a positive, finite number or ``None``; anything else raises
    :class:`~daktela_async.DaktelaUsageError` (a ``ValueError``).

    Attributes:
        connect: Establishing the TCP and TLS connection.
        read: Waiting for the next bytes of the answer.
        write: Sending the request.
        pool: Waiting for a free connection in the shard.
        deadline: The whole attempt, from sending to the last byte read.
    """

    connect: float | None = attrs.field(default=CONNECT_TIMEOUT, validator=_positive)
    read: float | None = attrs.field(default=READ_TIMEOUT, validator=_positive)
    write: float | None = attrs.field(default=WRITE_TIMEOUT, validator=_positive)
    pool: float | None = attrs.field(default=POOL_TIMEOUT, validator=_positive)
    deadline: float | None = attrs.field(default=DEADLINE, validator=_positive)

    @classmethod
    def long_poll(cls) -> Timeouts:
        """Timeouts for a held ``RTUserState`` request: read 75 s, deadline 90 s."""
        return cls(read=LONG_POLL_READ_TIMEOUT, deadline=LONG_POLL_DEADLINE)

    @classmethod
    def of(cls, value: float | Timeouts | None) -> Timeouts:
        """Accept a single number (every timeout), ``None`` (none) or a :class:`Timeouts`.

        Raises:
            DaktelaUsageError: *value* is not one of these (``parameter="timeout"``).
        """
        if isinstance(value, Timeouts):
            return value
        _check_seconds("timeout", value)
        return cls(connect=value, read=value, write=value, pool=value, deadline=value)

    def at_least_long_poll(self) -> Timeouts:
        """Raise read and deadline to the long-poll minimum; a shorter one would cut the hold."""

        def floor(current: float | None, minimum: float) -> float | None:
            return None if current is None else max(current, minimum)

        return attrs.evolve(
            self,
            read=floor(self.read, LONG_POLL_READ_TIMEOUT),
            deadline=floor(self.deadline, LONG_POLL_DEADLINE),
        )


#: Backoff doubling stops counting here: 2 ** 64 times any initial delay passes any ceiling.
_MAX_EXPONENT: Final = 64


def _full_jitter(ceiling: float) -> float:
    return random.uniform(0.0, ceiling)  # noqa: S311 - jitter, not cryptography


@attrs.frozen(slots=True, cache_hash=True)
class RetryPolicy:
    """How failed reads are retried (writes only ever retry when nothing was sent).

    The delay before retry ``n`` (1-based) is drawn uniformly from
    ``[0, min(backoff_max, backoff_initial * 2 ** (n - 1))]`` ("full jitter"), or is
    the server's ``Retry-After`` when it sent one no longer than ``retry_after_max``.
    Invalid values raise :class:`~daktela_async.DaktelaUsageError` (a ``ValueError``).

    Attributes:
        max_attempts: Attempts in total, the first included; ``1`` disables retries.
        backoff_initial: Ceiling of the first delay, in seconds.
        backoff_max: Largest ceiling, in seconds.
        retry_after_max: Longest ``Retry-After`` that is honoured; a longer one ends the
            retries and the error is raised.
        sleep: The coroutine used to wait (tests make it instant or record delays).
        jitter: Picks a delay in ``[0, ceiling]``.
    """

    max_attempts: int = attrs.field(default=MAX_ATTEMPTS, validator=_at_least(1))
    backoff_initial: float = attrs.field(default=BACKOFF_INITIAL, validator=_non_negative)
    backoff_max: float = attrs.field(default=BACKOFF_MAX, validator=_non_negative)
    retry_after_max: float = attrs.field(default=RETRY_AFTER_MAX, validator=_non_negative)
    sleep: Callable[[float], Awaitable[None]] = attrs.field(
        default=anyio.sleep, repr=False, validator=_callable
    )
    jitter: Callable[[float], float] = attrs.field(
        default=_full_jitter, repr=False, validator=_callable
    )

    @classmethod
    def of(cls, value: int | RetryPolicy, base: RetryPolicy | None = None) -> RetryPolicy:
        """Accept a policy, or an int meaning "this many retries" on top of *base*.

        Raises:
            DaktelaUsageError: *value* is neither (``parameter="retries"``).
        """
        if isinstance(value, RetryPolicy):
            return value
        if not isinstance(value, int) or value < 0:
            raise DaktelaUsageError(
                f"retries must be a RetryPolicy or an integer >= 0, not {_shown(value)}",
                parameter="retries",
            )
        return attrs.evolve(base or cls(), max_attempts=value + 1)

    def delay(self, retry_number: int) -> float:
        """The jittered delay before retry *retry_number* (1 for the first retry)."""
        # The ceiling stops growing long before 2 ** 64; capping the exponent keeps a huge
        # retry number from overflowing the float (2.0 ** 1024 raises OverflowError).
        exponent = min(max(retry_number - 1, 0), _MAX_EXPONENT)
        ceiling = min(self.backoff_max, self.backoff_initial * 2.0**exponent)
        return self.jitter(ceiling)


@attrs.frozen(slots=True)
class PoolLimits:
    """Size of the transport pool.

    Shards are opened only when the ones already open are full, so a client that makes
    a few calls holds one small shard while a watcher of 1000 agents grows to 100.
    Invalid values raise :class:`~daktela_async.DaktelaUsageError` (a ``ValueError``).

    Attributes:
        shard_connections: Connections per shard (each an httpx transport).
        max_shards: Most shards opened; requests beyond ``shard_connections *
            max_shards`` wait for a free connection (``Timeouts.pool``).
        keepalive_expiry: Seconds an idle connection is kept open.
    """

    shard_connections: int = attrs.field(default=SHARD_CONNECTIONS, validator=_at_least(1))
    max_shards: int = attrs.field(default=MAX_SHARDS, validator=_at_least(1))
    keepalive_expiry: float = attrs.field(default=KEEPALIVE_EXPIRY, validator=_non_negative)


# --- realtime ---------------------------------------------------------------------------------

#: First backoff ceiling after one agent's (or one stats endpoint's) request fails.
REALTIME_BACKOFF_INITIAL: Final = 1.0
#: Backoff ceiling of one failing agent: a logged-out agent costs one request per <= 30 s.
REALTIME_BACKOFF_MAX: Final = 30.0
#: First ceiling of the outage prober's backoff: a blip is over in a fraction of a second.
PROBE_BACKOFF_INITIAL: Final = 0.25
#: The prober's ceiling: one request per <= 2 s however many agents wait, so the board is
#: stale for at most ~2 s after the PBX listens again (mean 1 s with full jitter).
PROBE_BACKOFF_MAX: Final = 2.0
#: A ``Retry-After`` up to this long is honoured by realtime sources; a longer one is capped.
REALTIME_RETRY_AFTER_MAX: Final = 30.0
#: Held polls cannot tell a hold from a hang for up to their read timeout (75 s): a cheap
#: canary request this often (plus its timeout) notices a hung PBX within ~15 s.
CANARY_INTERVAL: Final = 10.0
#: The canary's read timeout and deadline: it asks for something a healthy PBX serves in ms.
CANARY_TIMEOUT: Final = 5.0
#: Token checks triggered by suspicious answers are at least this far apart.
TOKEN_CHECK_GAP: Final = 1.0
#: Un-held ``RTUserState`` requests (no ``hash``: first polls, resyncs) in flight at once, so
#: re-arming 1000 agents after an outage does not stampede a PBX that just came back.
RESYNC_CONCURRENCY: Final = 32
#: RTStats* endpoints are polled this often: dashboards refresh about every 2 s.
STATS_INTERVAL: Final = 2.0
#: Without ``hash`` (API < 4.0) agent states are polled this often.
POLL_INTERVAL: Final = 2.0
#: Events a subscriber may have buffered before its overflow policy applies.
SUBSCRIBER_MAXSIZE: Final = 1000
#: A ``"block"`` subscriber that stays full this long is dropped with an error.
BLOCK_TIMEOUT: Final = 5.0
#: An unchanged long-poll answer faster than this means the server is not holding requests.
MIN_UNCHANGED_GAP: Final = 1.0

# --- webhooks ---------------------------------------------------------------------------------

#: The caller hears silence while the CRM answers; 1.5 s is about the longest that stays unnoticed.
LOOKUP_BUDGET: Final = 1.5
#: A hook is five short fields; a larger POST body is not a hook.
MAX_BODY: Final = 64 * 1024
