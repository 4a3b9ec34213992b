"""The transport pool: requests spread over small httpx transports ("shards").

One httpx connection pool serving a thousand concurrent long polls spends most of its CPU
assigning requests to connections (httpcore's assignment is O(connections x queued)).
Keeping each shard small and opening shards only when the open ones are full keeps that
cost flat. Every shard shares one SSL context: building one per shard cost ~1 MB each.

This module is also the one boundary where httpx exceptions become ours.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import NoReturn

import anyio
import attrs
import httpx

from .._config import PoolLimits, Timeouts
from .._errors import (
    DaktelaConnectError,
    DaktelaError,
    DaktelaTimeoutError,
    DaktelaTransportError,
    DaktelaUsageError,
)

__all__ = ["TransportFactory", "TransportOptions", "TransportPool", "default_transport_factory"]


@attrs.frozen(slots=True)
class TransportOptions:
    """What the pool asks of each transport it opens.

    Attributes:
        ssl_context: The pool's one shared SSL context (verification on).
        max_connections: Connections this shard may open.
        keepalive_expiry: Seconds an idle connection stays open.
    """

    ssl_context: ssl.SSLContext
    max_connections: int
    keepalive_expiry: float


#: Builds one shard's transport. The default uses httpcore (works on asyncio and trio);
#: an aiohttp-backed httpx transport can be plugged in for asyncio-only services.
TransportFactory = Callable[[TransportOptions], httpx.AsyncBaseTransport]


def default_transport_factory(options: TransportOptions) -> httpx.AsyncBaseTransport:
    """Open an :class:`httpx.AsyncHTTPTransport` sized and secured by *options*."""
    return httpx.AsyncHTTPTransport(
        verify=options.ssl_context,
        limits=httpx.Limits(
            max_connections=options.max_connections,
            max_keepalive_connections=options.max_connections,
            keepalive_expiry=options.keepalive_expiry,
        ),
        # Retries are ours to decide, per action: httpcore's would resend writes.
        retries=0,
    )


class _Shard:
    __slots__ = ("in_flight", "transport")

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self.transport = transport
        self.in_flight = 0


@contextmanager
def map_httpx_errors(action: str | None, url: str) -> Iterator[None]:
    """Translate httpx's exceptions into the error tree (the one mapping boundary).

    ``sent`` records whether the request may have reached the server: connecting and
    waiting for a pooled connection happen before a byte is written.
    """
    try:
        yield
    except DaktelaError:
        raise
    except (httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        _raise(DaktelaTimeoutError, exc, action, url, sent=False)
    except httpx.TimeoutException as exc:
        _raise(DaktelaTimeoutError, exc, action, url, sent=True)
    except httpx.ConnectError as exc:
        _raise(DaktelaConnectError, exc, action, url, sent=False)
    except httpx.TransportError as exc:
        # ReadError, WriteError, RemoteProtocolError, ...: the request may have arrived.
        _raise(DaktelaConnectError, exc, action, url, sent=True)


@contextmanager
def _deadline(seconds: float | None, action: str | None, url: str) -> Iterator[None]:
    """Cap one attempt as a whole, so a trickling body cannot outlive its caller's patience."""
    try:
        with anyio.fail_after(seconds):
            yield
    except TimeoutError as exc:
        _raise(DaktelaTimeoutError, exc, action, url, sent=True, what="deadline exceeded")


def _raise(
    kind: type[DaktelaTransportError],
    exc: BaseException,
    action: str | None,
    url: str,
    *,
    sent: bool,
    what: str | None = None,
) -> NoReturn:
    detail = what or str(exc) or type(exc).__name__
    message = f"{action or 'request'}: {type(exc).__name__}: {detail} ({url})"
    raise kind(message, action=action, url=url, sent=sent) from exc


def _timeout_extension(timeouts: Timeouts) -> dict[str, float | None]:
    return {
        "connect": timeouts.connect,
        "read": timeouts.read,
        "write": timeouts.write,
        "pool": timeouts.pool,
    }


class TransportPool:
    """Spreads requests over shards, opening a new shard only when every open one is full.

    Args:
        limits: Shard size and count.
        transport_factory: Builds each shard's transport.
    """

    def __init__(
        self,
        limits: PoolLimits,
        transport_factory: TransportFactory = default_transport_factory,
    ) -> None:
        self._limits = limits
        self._factory = transport_factory
        self._shards: list[_Shard] = []
        self._ssl_context: ssl.SSLContext | None = None
        self._closed = False

    def __repr__(self) -> str:
        in_flight = sum(s.in_flight for s in self._shards)
        return f"<TransportPool shards={len(self._shards)} in_flight={in_flight}>"

    @property
    def shard_count(self) -> int:
        """How many shards are open."""
        return len(self._shards)

    @property
    def in_flight(self) -> int:
        """Requests under way, over all shards."""
        return sum(s.in_flight for s in self._shards)

    def _open_shard(self) -> _Shard:
        if self._ssl_context is None:
            self._ssl_context = httpx.create_ssl_context()
        shard = _Shard(
            self._factory(
                TransportOptions(
                    ssl_context=self._ssl_context,
                    max_connections=self._limits.shard_connections,
                    keepalive_expiry=self._limits.keepalive_expiry,
                )
            )
        )
        self._shards.append(shard)
        return shard

    def _pick(self) -> _Shard:
        if self._closed:
            raise DaktelaUsageError("the client is closed; open a new one")
        best: _Shard | None = None
        for shard in self._shards:
            if best is None or shard.in_flight < best.in_flight:
                best = shard
                if shard.in_flight == 0:
                    break
        full = self._limits.shard_connections
        if best is None or (best.in_flight >= full and len(self._shards) < self._limits.max_shards):
            best = self._open_shard()
        return best

    async def send(
        self, request: httpx.Request, timeouts: Timeouts, *, action: str | None, url: str
    ) -> httpx.Response:
        """Send *request* and read the whole body within the attempt's deadline.

        Raises:
            DaktelaTransportError: The request got no complete answer (mapped from httpx).
        """
        request.extensions["timeout"] = _timeout_extension(timeouts)
        shard = self._pick()
        shard.in_flight += 1
        try:
            with _deadline(timeouts.deadline, action, url), map_httpx_errors(action, url):
                response = await shard.transport.handle_async_request(request)
                try:
                    await response.aread()
                finally:
                    await response.aclose()
            return response
        finally:
            shard.in_flight -= 1

    @asynccontextmanager
    async def stream(
        self, request: httpx.Request, timeouts: Timeouts, *, action: str | None, url: str
    ) -> AsyncIterator[httpx.Response]:
        """Send *request* and yield the response with its body unread (closed on exit).

        Only the per-read timeouts apply while the caller reads, so a large recording can
        take as long as it needs while a stalled one still fails.
        """
        request.extensions["timeout"] = _timeout_extension(timeouts)
        shard = self._pick()
        shard.in_flight += 1
        try:
            with _deadline(timeouts.deadline, action, url), map_httpx_errors(action, url):
                response = await shard.transport.handle_async_request(request)
            try:
                with map_httpx_errors(action, url):
                    yield response
            finally:
                with anyio.CancelScope(shield=True):
                    await response.aclose()
        finally:
            shard.in_flight -= 1

    async def aclose(self) -> None:
        """Close every shard and its connections; later requests raise a usage error."""
        self._closed = True
        shards, self._shards = self._shards, []
        with anyio.CancelScope(shield=True):
            for shard in shards:
                await shard.transport.aclose()
