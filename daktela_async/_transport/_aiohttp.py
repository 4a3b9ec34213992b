"""An httpx transport backed by one ``aiohttp.ClientSession`` (asyncio only).

aiohttp (3.10 or newer: the connect/read timeout exceptions it maps appeared there) is a
dependency, and on asyncio the default factory uses this transport; to ask for it
explicitly::

    from daktela_async import DaktelaClient
    from daktela_async.transports import aiohttp_transport_factory

    client = DaktelaClient(url, token, transport_factory=aiohttp_transport_factory)

One shard takes the whole pool's connections (``TransportOptions.pool_connections``):
httpcore assigns requests to connections in O(connections x queued), which is why the
pool splits its connections into small shards for it; aiohttp's connector hands out idle
connections from a per-host list, so one session holds a thousand long polls without
that cost, and more sessions would only cost memory.

The client feeds it directly (:meth:`AiohttpTransport.fetch`): no :class:`httpx.Request`
or :class:`httpx.Response` is built for a buffered call. :meth:`handle_async_request`
serves streams (``stream_raw``) and anyone using it as a plain httpx transport.

The transport keeps httpx's contract, so the client's error mapping and retry rules hold:

- Nothing is retried here. aiohttp resends an idempotent-method request once when a
  reused keep-alive connection turns out closed; every Daktela action is a ``GET``,
  including the writes (``CreateCall``), so that resend is switched off: the client alone
  decides what may be sent twice.
- Errors become httpx's: :class:`httpx.ConnectError` only when no byte was sent (the
  connection could not be made), :class:`httpx.ConnectTimeout` /
  :class:`httpx.PoolTimeout` before sending, :class:`httpx.ReadTimeout`,
  :class:`httpx.ReadError` and :class:`httpx.RemoteProtocolError` once the request may
  have arrived.
- Timeouts come from ``request.extensions["timeout"]`` (or the pool's, on the fast
  path): ``pool`` and ``connect`` together bound the wait for a free connection and
  opening one (aiohttp times both as one), ``connect`` alone the socket and TLS,
  ``read`` the gap between two reads. aiohttp has no write timeout; requests are query
  strings, and the pool's per-attempt deadline bounds a stalled write.
- The body is streamed (:class:`httpx.AsyncByteStream`); closing a response before its
  end closes its connection instead of returning it to the pool.
- The session sends exactly the request's headers (no ``Accept-Encoding``,
  ``User-Agent`` or ``Content-Type`` of its own), keeps no cookie jar and never follows
  redirects, like :class:`httpx.AsyncHTTPTransport`. Bodies are handed over raw (aiohttp's
  own decompression is off): the pool decodes them while counting against
  ``max_answer_bytes``, the same way for both transports, and refuses a coding the request
  did not offer.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Final, NoReturn

import aiohttp
import httpx
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from .._errors import DaktelaUsageError

if TYPE_CHECKING:
    from .._config import Timeouts
    from ._pool import TransportOptions
    from ._token import Outgoing

__all__ = ["AiohttpAnswer", "AiohttpTransport", "aiohttp_transport_factory"]

#: Headers aiohttp would add on its own; httpx sends only what the request carries.
_SKIP_AUTO_HEADERS: Final = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")
#: Hop-by-hop framing aiohttp computes itself from the body it is given.
_FRAMING: Final = frozenset({b"transfer-encoding", b"content-length"})
#: ``aiohttp.ClientTimeout`` objects kept per distinct (pool, connect, read) triple.
_TIMEOUT_CACHE: Final = 32
_HTTP_VERSIONS: Final[dict[tuple[int, int], bytes]] = {
    (1, 1): b"HTTP/1.1",
    (1, 0): b"HTTP/1.0",
}


def _timeout(request: httpx.Request) -> dict[str, float | None]:
    value = request.extensions.get("timeout")
    return value if isinstance(value, dict) else {}


def _sum(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b


def _to_httpx(exc: Exception, *, pool_full: bool = False) -> Exception:
    """The httpx exception matching an aiohttp (or asyncio) one; others are returned as-is.

    The order matters: aiohttp's classes inherit from each other and from
    :class:`OSError` / :class:`asyncio.TimeoutError`.
    """
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        # Raised only before the request is written: waiting for a slot, or connecting.
        kind = httpx.PoolTimeout if pool_full else httpx.ConnectTimeout
        return kind(str(exc) or "timed out opening a connection")
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return httpx.ReadTimeout(str(exc) or "timed out reading the response")
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ServerFingerprintMismatch):
        # The connection (TCP, TLS, certificate pin) could not be made: nothing was sent.
        return httpx.ConnectError(str(exc))
    if isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
        return httpx.UnsupportedProtocol(str(exc))
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        # The server closed the connection before a complete answer.
        return httpx.RemoteProtocolError(str(exc) or type(exc).__name__)
    if isinstance(exc, aiohttp.ClientResponseError):
        # A malformed status line or header block.
        return httpx.RemoteProtocolError(str(exc))
    if isinstance(exc, aiohttp.ClientConnectionError | ConnectionError):
        # Reset or broken pipe on an established connection: the request may have arrived.
        return httpx.ReadError(str(exc) or type(exc).__name__)
    if isinstance(exc, TimeoutError):
        return httpx.ReadTimeout(str(exc) or "timed out")
    if isinstance(exc, aiohttp.ClientError):
        return httpx.RemoteProtocolError(str(exc) or type(exc).__name__)
    if isinstance(exc, OSError):
        return httpx.ReadError(str(exc) or type(exc).__name__)
    return exc


def _http_version(version: tuple[int, int] | None) -> bytes:
    if version is None:
        return b"HTTP/1.1"
    return _HTTP_VERSIONS.get(version) or f"HTTP/{version[0]}.{version[1]}".encode()


def _raise_as_httpx(exc: Exception, *, pool_full: bool = False) -> NoReturn:
    mapped = _to_httpx(exc, pool_full=pool_full)
    if mapped is exc:
        raise exc
    raise mapped from exc


class AiohttpAnswer:
    """An answer of :meth:`AiohttpTransport.fetch`: status and headers, the body unread.

    What the pool reads an answer from, without the :class:`httpx.Response` (and its
    stream wrapper) that :meth:`~AiohttpTransport.handle_async_request` builds around
    it. Its repr shows the status only: the aiohttp response it wraps knows the URL.
    """

    __slots__ = ("_closed", "_response", "_transport", "headers", "reason_phrase", "status_code")

    def __init__(self, response: aiohttp.ClientResponse, transport: AiohttpTransport) -> None:
        self._response = response
        self._transport = transport
        self._closed = False
        self.status_code: int = response.status
        self.reason_phrase: str = response.reason or ""
        self.headers: CIMultiDictProxy[str] = response.headers

    def __repr__(self) -> str:
        return f"<AiohttpAnswer [{self.status_code}]>"

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        """The body, chunk by chunk as it arrives (aiohttp's errors become httpx's)."""
        content = self._response.content
        while True:
            try:
                chunk = await content.readany()
            except Exception as exc:
                _raise_as_httpx(exc)
            if not chunk:
                return
            yield chunk

    async def aread(self) -> bytes:
        """The rest of the body, whole (aiohttp's parser stops at its declared length)."""
        try:
            return await self._response.content.read()
        except Exception as exc:
            _raise_as_httpx(exc)

    async def aclose(self) -> None:
        """Give the connection back (the body was read to its end) or close it."""
        if self._closed:
            return
        self._closed = True
        self._transport._in_flight -= 1
        response = self._response
        if response.content.at_eof():
            response.release()  # complete: the connection goes back to the pool
        else:
            response.close()  # abandoned mid-body: the connection cannot be reused


class _ResponseStream(httpx.AsyncByteStream):
    """The body of one aiohttp response as an httpx stream, chunk by chunk as it arrives."""

    __slots__ = ("_answer",)

    def __init__(self, answer: AiohttpAnswer) -> None:
        self._answer = answer

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._answer.aiter_raw():
            yield chunk

    async def aclose(self) -> None:
        await self._answer.aclose()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An :class:`httpx.AsyncBaseTransport` sending through one ``aiohttp.ClientSession``.

    The session is created on the first request (it needs the running asyncio loop).

    Args:
        ssl_context: Verifies TLS connections (``None``: aiohttp's default verification).
        max_connections: Connections open at once; further requests wait for one
            (``pool`` timeout).
        keepalive_expiry: Seconds an idle connection stays open; ``0`` closes each
            connection after its response.

    Raises:
        DaktelaUsageError: Used outside an asyncio event loop (trio: use the default
            transport), or after it was closed.
    """

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_connections: int = 100,
        keepalive_expiry: float = 30.0,
    ) -> None:
        if max_connections < 1:
            raise DaktelaUsageError(
                "max_connections must be at least 1", parameter="max_connections"
            )
        self._ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
        self._max_connections = max_connections
        self._keepalive_expiry = keepalive_expiry
        self._session: aiohttp.ClientSession | None = None
        self._in_flight = 0
        self._closed = False
        self._timeouts: dict[tuple[float | None, ...], aiohttp.ClientTimeout] = {}

    def __repr__(self) -> str:
        return (
            f"<AiohttpTransport max_connections={self._max_connections} "
            f"in_flight={self._in_flight}>"
        )

    @property
    def in_flight(self) -> int:
        """Requests sent whose response has not been closed yet."""
        return self._in_flight

    @property
    def max_connections(self) -> int:
        """Connections open at once (the pool counts this shard's capacity from it)."""
        return self._max_connections

    def _client_timeout(self, request: httpx.Request) -> aiohttp.ClientTimeout:
        found = _timeout(request)
        return self._timeout_for(found.get("pool"), found.get("connect"), found.get("read"))

    def _timeout_for(
        self, pool: float | None, connect: float | None, read: float | None
    ) -> aiohttp.ClientTimeout:
        key = (pool, connect, read)
        found = self._timeouts.get(key)
        if found is None:
            if len(self._timeouts) >= _TIMEOUT_CACHE:
                self._timeouts.clear()
            found = self._timeouts[key] = aiohttp.ClientTimeout(
                total=None,
                # aiohttp's `connect` spans the wait for a slot and the connecting itself.
                connect=_sum(pool, connect),
                sock_connect=connect,
                sock_read=read,
            )
        return found

    def _open_session(self) -> aiohttp.ClientSession:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            raise DaktelaUsageError(
                "the aiohttp transport runs on asyncio only; under trio use the default "
                "(httpcore) transport"
            ) from None
        if self._closed:
            raise DaktelaUsageError("the transport is closed")
        keepalive: dict[str, Any] = (
            {"force_close": True}
            if self._keepalive_expiry <= 0
            else {"keepalive_timeout": self._keepalive_expiry}
        )
        connector = aiohttp.TCPConnector(
            ssl=self._ssl, limit=self._max_connections, limit_per_host=0, **keepalive
        )
        session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=_SKIP_AUTO_HEADERS,
            auto_decompress=False,
            timeout=aiohttp.ClientTimeout(total=None),
            trust_env=False,
        )
        # aiohttp resends an idempotent-method request once when a reused connection
        # was closed under it; Daktela writes are GETs, so that could repeat a write.
        # There is no public switch; checked against aiohttp 3.14, and
        # test_a_dropped_keep_alive_request_is_not_resent fails if a release renames it.
        session._retry_connection = False
        self._session = session
        return session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send *request* and return the response once its headers have arrived."""
        session = self._session or self._open_session()
        client_timeout = self._client_timeout(request)
        # The raw list keeps the names' case and repeated headers, as httpcore sends them.
        headers: CIMultiDict[str] = CIMultiDict(
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in request.headers.raw
            if k.lower() not in _FRAMING
        )
        try:
            body = request.content
        except httpx.RequestNotRead:
            body = await request.aread()
        pool_full = self._in_flight >= self._max_connections
        self._in_flight += 1
        try:
            response = await session.request(
                request.method,
                URL(str(request.url), encoded=True),
                headers=headers,
                data=body or None,
                allow_redirects=False,
                timeout=client_timeout,
            )
        except BaseException as exc:
            self._in_flight -= 1
            if isinstance(exc, Exception):
                _raise_as_httpx(exc, pool_full=pool_full)
            raise
        version = response.version
        return httpx.Response(
            response.status,
            headers=response.raw_headers,
            stream=_ResponseStream(AiohttpAnswer(response, self)),
            extensions={
                "http_version": _http_version(version),
                "reason_phrase": (response.reason or "").encode("ascii", "replace"),
            },
        )

    async def fetch(self, outgoing: Outgoing, timeouts: Timeouts) -> AiohttpAnswer:
        """Send a prepared GET and return its answer once the headers have arrived.

        The pool's fast path: no :class:`httpx.Request` or :class:`httpx.Response` is
        built, and the token is added here, in this frame only. Errors are httpx's, as
        from :meth:`handle_async_request`; the pool maps them (and drops this frame from
        what it raises, so no traceback shows the URL sent).
        """
        session = self._session or self._open_session()
        client_timeout = self._timeout_for(timeouts.pool, timeouts.connect, timeouts.read)
        pool_full = self._in_flight >= self._max_connections
        self._in_flight += 1
        sent = outgoing.with_token()
        try:
            response = await session.request(
                "GET",
                URL(sent[0], encoded=True),
                headers=sent[1],
                allow_redirects=False,
                timeout=client_timeout,
            )
        except BaseException as exc:
            self._in_flight -= 1
            if isinstance(exc, Exception):
                _raise_as_httpx(exc, pool_full=pool_full)
            raise
        finally:
            # Unwound before any traceback is looked at: this frame no longer holds it.
            del sent
        return AiohttpAnswer(response, self)

    async def aclose(self) -> None:
        """Close the session and every connection it holds."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()


def aiohttp_transport_factory(options: TransportOptions) -> httpx.AsyncBaseTransport:
    """Build an :class:`AiohttpTransport` for the pool (``TransportFactory``).

    Honours the pool's shared SSL context and keep-alive expiry, and takes the whole
    pool's connections (``pool_connections``) in one shard: aiohttp's connector hands
    them out in O(1), so more shards would only cost memory.
    """
    return AiohttpTransport(
        ssl_context=options.ssl_context,
        max_connections=options.pool_connections or options.max_connections,
        keepalive_expiry=options.keepalive_expiry,
    )
