"""Redis for the commands: ``watch --redis``/``--from-redis`` and ``dashboard --redis``.

This module imports redis-py only when a command uses Redis, so that the other
commands work without the ``redis`` extra. The URLs are checked before anything
connects, and every message shows them with the password blanked out
(:func:`redact_url`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

import anyio
import anyio.abc
import attrs

from .._errors import DaktelaError, DaktelaUsageError
from ..realtime import (
    Backoff,
    Event,
    Hub,
    OverflowPolicy,
    SourceFailed,
    SourceRecovered,
    Subscription,
)
from ._settings import CLIError

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = [
    "SCHEMES",
    "RedisFeed",
    "check_redis_name",
    "check_redis_url",
    "connect",
    "redact_url",
    "redis_failure",
]

#: The URL schemes redis-py connects by.
SCHEMES: Final = ("redis", "rediss", "unix")

#: The name of the feed's source in ``SourceFailed`` and ``SourceRecovered``.
SOURCE: Final = "redis"

#: Marks an event without a ``current`` attribute.
_MISSING: Final = object()

#: Socket timeout of the commands' client; above the source's blocking read (5 s).
_TIMEOUT: Final = 10.0


def redact_url(url: str) -> str:
    """*url* with its ``user:password@`` part replaced by ``***@``."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        rest, scheme = url, ""
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rpartition("@")[2]
    # A password may also travel as a query parameter (``?password=...``).
    path, q, query = path.partition("?")
    if q:
        query = "&".join(
            f"{k}=***" if k.lower() == "password" else f"{k}{e}{v}"
            for k, e, v in (p.partition("=") for p in query.split("&"))
        )
    return f"{scheme}{sep}{authority}{slash}{path}{q}{query}"


def check_redis_url(url: str, flag: str) -> str:
    """*url* if redis-py can connect by it, else a usage :class:`CLIError` (exit 2).

    The message shows the URL with its password blanked out.
    """
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in SCHEMES:
        raise CLIError(
            f"{flag} wants a redis://, rediss:// or unix:// URL, not {redact_url(url)!r}",
            exit_code=2,
        )
    if parts.scheme == "unix" and not parts.path:
        raise CLIError(f"{flag} {redact_url(url)!r} names no socket path", exit_code=2)
    return url


@contextlib.asynccontextmanager
async def connect(url: str) -> AsyncIterator[Redis]:
    """A client for *url* that answered ``PING``; closed when the block is left.

    Raises:
        CLIError: Redis cannot be reached (the message shows the URL without password).
    """
    from redis.exceptions import RedisError

    from ..redis._connection import open_client

    try:
        client, _ = open_client(url, timeout=_TIMEOUT)
    except (ValueError, DaktelaUsageError) as exc:
        raise CLIError(f"bad Redis URL {redact_url(url)!r}: {exc}", exit_code=2) from None
    try:
        try:
            await client.ping()
        except (RedisError, OSError) as exc:
            raise CLIError(f"cannot reach Redis at {redact_url(url)}: {exc}") from None
        yield client
    finally:
        await client.aclose()


def redis_failure(url: str, exc: BaseException) -> CLIError:
    """The one-line error of Redis failing while a command reads it."""
    return CLIError(f"Redis at {redact_url(url)} failed: {type(exc).__name__}: {exc}")


class RedisFeed:
    """What the dashboard watches when it serves from Redis: a watcher's look-alike.

    One :class:`~daktela_async.redis.RedisSource` reads the state and the stream a
    sink wrote, and publishes every event on a local :class:`Hub`; the dashboard's
    board and each browser subscribe to that hub exactly as they would to a watcher.
    This beats a source per subscriber: Redis serves one reader however many browsers
    are open, the browsers get the hub's overflow policies (a slow one holds only the
    newest state), and a browser that connects late gets the current state from the
    hub's replay at once, without reading the hashes again.

    When Redis fails the feed publishes ``SourceFailed(source="redis")`` (the page shows
    the board as stale), retries with backoff, and on reconnecting reads the state
    again, then publishes ``SourceRecovered``.

    Args:
        redis: The client to read through (left open).
        name: The PBX's name in the keys, as the sink wrote them.
        block: Seconds one blocking read of the stream waits.
        backoff: Delays between attempts while Redis fails.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        name: str,
        block: float = 5.0,
        backoff: Backoff | None = None,
    ) -> None:
        self._redis = redis
        self.name = name
        self._block = block
        self._backoff = backoff or Backoff(0.25, 5.0)
        #: The current state, by event key: what a late subscriber is replayed.
        self._state: dict[tuple[Any, ...], Event] = {}
        self._users: dict[str, None] = {}
        self._outage: SourceFailed | None = None
        self.hub = Hub(replay=self._replay)
        self.failure: DaktelaError | None = None

    @property
    def users(self) -> tuple[str, ...]:
        """The agents whose state Redis holds (in the order they were first seen)."""
        return tuple(self._users)

    @property
    def stopped(self) -> bool:
        """Whether the feed ended (its hub is closed)."""
        return self.hub.closed

    def subscribe(
        self,
        *,
        kinds: Iterable[str | type[Event]] | None = None,
        maxsize: int | None = None,
        overflow: OverflowPolicy = "drop_oldest",
        name: str | None = None,
    ) -> Subscription:
        """Subscribe to the hub: the current state first, then the changes."""
        options: dict[str, Any] = {} if maxsize is None else {"maxsize": maxsize}
        return self.hub.subscribe(
            kinds=None if kinds is None else list(kinds), overflow=overflow, name=name, **options
        )

    def _replay(self) -> Iterator[Event]:
        if self._outage is not None:
            yield self._outage
        yield from self._state.values()

    def _publish(self, event: Event) -> None:
        current = getattr(event, "current", _MISSING)
        if current is None:
            self._state.pop(event.key, None)
        elif current is not _MISSING and hasattr(event, "previous"):
            self._state[event.key] = attrs.evolve(event, previous=None)  # type: ignore[call-arg]
            user = getattr(event, "user", None)
            if isinstance(user, str):
                self._users.setdefault(user, None)
        self.hub.publish(event)

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Read Redis and publish on the hub until cancelled; the hub closes at the end."""
        from redis.exceptions import RedisError

        from ..redis import RedisSource

        attempt = 0
        first_failure = 0.0
        task_status.started()
        try:
            while True:
                try:
                    if attempt:
                        await self._redis.ping()
                        outage = anyio.current_time() - first_failure
                        self._outage = None
                        self._publish(
                            SourceRecovered(source=SOURCE, outage=outage, attempts=attempt)
                        )
                        attempt = 0
                    source = RedisSource(self._redis, name=self.name, block=self._block)
                    async with source:
                        async for event in source:
                            self._publish(event)
                except (RedisError, OSError) as exc:
                    attempt += 1
                    if attempt == 1:
                        first_failure = anyio.current_time()
                    delay = self._backoff.delay(attempt)
                    self._outage = SourceFailed(
                        source=SOURCE,
                        error=str(exc),
                        error_type=type(exc).__name__,
                        attempt=attempt,
                        retry_in=delay,
                    )
                    self._publish(self._outage)
                    await anyio.sleep(delay)
        except DaktelaError as exc:  # an entry that does not decode: the feed stops
            self.failure = exc
            raise
        finally:
            self.hub.close(self.failure)


def check_redis_name(name: str) -> str:
    """*name* if it can go into the Redis keys, else a usage :class:`CLIError`."""
    from ..redis._schema import check_name

    try:
        return check_name(name)
    except DaktelaUsageError as exc:
        raise CLIError(f"--name: {exc}", exit_code=2) from None
