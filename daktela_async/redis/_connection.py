"""What the sink and the source share: the client they talk through, and the asyncio check."""

from __future__ import annotations

from typing import Any

import sniffio
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from .._errors import DaktelaUsageError

__all__ = ["check_asyncio", "open_client"]


def open_client(redis: str | Redis, *, timeout: float, **options: Any) -> tuple[Redis, bool]:
    """A client for *redis* (a ``redis://`` URL or a client) and whether it is ours to close.

    A client made from a URL fails fast (no retries of its own: the caller decides what a
    failed call means) and gives up on a silent server after *timeout* seconds.
    """
    if isinstance(redis, Redis):
        return redis, False
    if not isinstance(redis, str):
        raise DaktelaUsageError(
            f"pass a redis:// URL or a redis.asyncio.Redis, not {type(redis).__name__}",
            parameter="redis",
        )
    client = Redis.from_url(
        redis,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        **options,
    )
    return client, True


def check_asyncio(what: str) -> None:
    """Raise :class:`DaktelaUsageError` unless running on asyncio (redis-py needs it)."""
    try:
        library = sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        library = None
    if library != "asyncio":
        raise DaktelaUsageError(
            f"{what} needs asyncio (redis-py's client is asyncio-only), not {library}"
        )
