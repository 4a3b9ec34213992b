"""The transport pool: requests spread over small httpx transports ("shards").

One httpx connection pool serving a thousand concurrent long polls spends most of its CPU
assigning requests to connections (httpcore's assignment is O(connections x queued)).
Keeping each shard small and opening shards only when the open ones are full keeps that
cost flat. Every shard shares one SSL context: building one per shard cost ~1 MB each.
It is built from the client's ``verify`` (:func:`ssl_context_for`) and handed to every
transport, httpcore's and aiohttp's alike.

This module is also the one boundary where httpx exceptions become ours. Answers are
read by :mod:`._reading` (decoded and counted as they grow, so ``max_answer_bytes`` stops
a gzip bomb or an endless body at the limit).
"""

from __future__ import annotations

import asyncio
import functools
import os
import ssl
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Final, NoReturn

import anyio
import attrs
import httpcore
import httpx
import sniffio

from .._config import MAX_ANSWER_BYTES, PoolLimits, Timeouts, VerifyTypes
from .._errors import (
    DaktelaConnectError,
    DaktelaPoolTimeoutError,
    DaktelaTimeoutError,
    DaktelaTransportError,
    DaktelaUsageError,
)
from ._deadline import Sweep, deadline_scope
from ._reading import Answering, check_content_encoding, read_answer
from ._token import Outgoing, Secret, SecretRequest

__all__ = [
    "Answer",
    "TransportFactory",
    "TransportOptions",
    "TransportPool",
    "default_transport_factory",
    "httpcore_transport_factory",
    "ssl_context_for",
]


@attrs.frozen(slots=True)
class TransportOptions:
    """What the pool asks of each transport it opens.

    Attributes:
        ssl_context: The pool's one shared SSL context, built from the client's
            ``verify`` (verification on unless it is ``False``); a transport must use it.
        max_connections: Connections this shard may open.
        keepalive_expiry: Seconds an idle connection stays open.
        pool_connections: Connections the whole pool may open (``None``: as many as
            ``max_connections``). A transport that hands out connections cheaply (the
            aiohttp one) takes them all in one shard, and says so in its own
            ``max_connections`` attribute.
    """

    ssl_context: ssl.SSLContext
    max_connections: int
    keepalive_expiry: float
    pool_connections: int | None = None


#: Builds one shard's transport (see :func:`default_transport_factory`).
TransportFactory = Callable[[TransportOptions], httpx.AsyncBaseTransport]


def httpcore_transport_factory(options: TransportOptions) -> httpx.AsyncBaseTransport:
    """Open an :class:`httpx.AsyncHTTPTransport` (httpcore) sized and secured by *options*.

    Runs on asyncio and trio; the default's choice on trio and when aiohttp is missing.
    """
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


#: httpx's and httpcore's request handlers as imported: respx (``respx.mock``) replaces
#: them while it mocks, and the default then keeps to httpcore, which respx intercepts.
_HANDLERS: Final = (
    (httpx.AsyncHTTPTransport, httpx.AsyncHTTPTransport.handle_async_request),
    (httpcore.AsyncConnectionPool, httpcore.AsyncConnectionPool.handle_async_request),
)


@functools.cache
def _aiohttp_installed() -> bool:
    try:
        import aiohttp
    except ImportError:
        return False
    # 3.10 brought the connect/read timeout exceptions the transport maps.
    major, minor = (int(part) for part in aiohttp.__version__.split(".")[:2])
    return (major, minor) >= (3, 10)


def _aiohttp_fits() -> bool:
    """Whether the default factory picks the aiohttp transport now."""
    try:
        if sniffio.current_async_library() != "asyncio":
            return False  # aiohttp runs on asyncio only
    except sniffio.AsyncLibraryNotFoundError:
        return False
    if any(getattr(cls, "handle_async_request", None) is not found for cls, found in _HANDLERS):
        return False  # a mock library is intercepting httpx: keep to what it intercepts
    return _aiohttp_installed()


def default_transport_factory(options: TransportOptions) -> httpx.AsyncBaseTransport:
    """The default: aiohttp's transport on asyncio, else httpcore's.

    aiohttp costs a fraction of httpcore's CPU per request (``docs/benchmarks.md``,
    rows 1 and 3) and serves the whole pool from one shard. httpcore's
    (:func:`httpcore_transport_factory`) is chosen on trio, in an installation without
    aiohttp (a dependency, but the client works without it), and while respx (or another
    library replacing httpx's or httpcore's request handler) mocks requests, so that its
    routes still answer. Pass a factory to the client to choose for yourself.
    """
    if _aiohttp_fits():
        from ._aiohttp import aiohttp_transport_factory

        return aiohttp_transport_factory(options)
    return httpcore_transport_factory(options)


def ssl_context_for(verify: object) -> ssl.SSLContext:
    """The SSL context that *verify* asks for (see :data:`VerifyTypes`).

    ``True`` is httpx's default context (certifi's CAs, ``SSL_CERT_FILE`` /
    ``SSL_CERT_DIR`` when set); ``False`` checks neither the certificate nor the host
    name; a path loads only that CA bundle (a PEM file, or a directory of
    ``c_rehash``-style certificates); an :class:`ssl.SSLContext` is used as it is.

    Raises:
        DaktelaUsageError: *verify* is none of these, or the CA bundle cannot be loaded
            (``parameter="verify"``).
    """
    if isinstance(verify, ssl.SSLContext):
        return verify
    if isinstance(verify, bool):
        return httpx.create_ssl_context(verify=verify)
    path = os.fspath(verify) if isinstance(verify, str | os.PathLike) else None
    if not isinstance(path, str) or not path:
        shown = "an empty path" if path == "" else type(verify).__name__
        raise DaktelaUsageError(
            "verify must be True, False, the path of a CA bundle or an ssl.SSLContext, "
            f"not {shown}",
            parameter="verify",
        )
    try:
        if os.path.isdir(path):
            return ssl.create_default_context(capath=path)
        return ssl.create_default_context(cafile=path)
    except FileNotFoundError:
        raise DaktelaUsageError(f"verify: no CA bundle at {path!r}", parameter="verify") from None
    except (ssl.SSLError, OSError) as exc:
        raise DaktelaUsageError(
            f"verify: cannot load the CA bundle {path!r}: {exc}", parameter="verify"
        ) from None


@attrs.frozen(slots=True)
class Answer:
    """A whole answer as :meth:`TransportPool.send` returns it: the body read and decoded.

    Attributes:
        status_code: The HTTP status.
        reason_phrase: The status line's reason (may be empty).
        headers: The response headers; ``get`` compares names case-insensitively
            (:class:`httpx.Headers`, or the aiohttp transport's own multidict).
        content: The decoded body.
    """

    status_code: int
    reason_phrase: str
    headers: Any = attrs.field(repr=False)
    content: bytes = attrs.field(repr=False)


#: A transport's fast path (see :meth:`AiohttpTransport.fetch`): a prepared request
#: in, an answer with its body unread out, no httpx objects in between.
_Fetch = Callable[[Outgoing, Timeouts], Awaitable[Answering]]


class _Shard:
    __slots__ = ("capacity", "fetch", "in_flight", "transport")

    def __init__(self, transport: httpx.AsyncBaseTransport, capacity: int) -> None:
        self.transport = transport
        self.in_flight = 0
        self.capacity = capacity
        fetch = getattr(transport, "fetch", None)
        # Only our own transport classes, exactly: any other (httpcore's, MockTransport,
        # respx, an ASGI app, a subclass or wrapper counting requests) gets the httpx
        # request its handle_async_request expects.
        ours = type(transport).__module__.startswith(f"{__package__}.")
        self.fetch: _Fetch | None = fetch if ours and callable(fetch) else None


@contextmanager
def map_httpx_errors(
    action: str | None,
    url: str,
    request: httpx.Request | None = None,
    *,
    secret: Secret | None = None,
) -> Iterator[None]:
    """Translate httpx's exceptions into the error tree (the one mapping boundary).

    The httpx exception stays the cause, cut loose first from everything that could show
    the token (see :func:`_detach`); *request* brings the token, to redact it from the
    transport's message. See :func:`raise_mapped` for the mapping itself.
    """
    if isinstance(request, SecretRequest):
        secret = request.secret
    # What the caller was handling when it called us: the chain is detached up to it,
    # never through it (its traceback is the caller's).
    outer = sys.exc_info()[1]
    try:
        yield
    except httpx.TransportError as exc:
        raise_mapped(exc, action, url, secret, outer)


def raise_mapped(
    exc: httpx.TransportError,
    action: str | None,
    url: str,
    secret: Secret | None,
    outer: BaseException | None,
) -> NoReturn:
    """Raise the error of the tree that *exc* (an httpx transport error) maps to.

    ``sent`` records whether the request may have reached the server: connecting and
    waiting for a pooled connection happen before a byte is written. *outer* is what
    the caller was handling when it called the client (see :func:`_detach`).
    """
    if isinstance(exc, httpx.PoolTimeout):
        # Waiting for our own pool: nothing was sent, and the PBX may be perfectly well.
        _raise(DaktelaPoolTimeoutError, exc, action, url, sent=False, secret=secret, outer=outer)
    if isinstance(exc, httpx.ConnectTimeout):
        _raise(DaktelaTimeoutError, exc, action, url, sent=False, secret=secret, outer=outer)
    if isinstance(exc, httpx.TimeoutException):
        _raise(DaktelaTimeoutError, exc, action, url, sent=True, secret=secret, outer=outer)
    if isinstance(exc, httpx.ConnectError):
        _raise(DaktelaConnectError, exc, action, url, sent=False, secret=secret, outer=outer)
    if isinstance(exc, httpx.LocalProtocolError):
        # h11 refused to write the request (an illegal header, say) before a byte went
        # out. Sending it again would be refused the same way: a usage error, not retried.
        _detach(exc, secret, outer)
        raise DaktelaUsageError(
            f"{action or 'request'}: the request cannot be sent: {exc} ({url})", action=action
        ) from exc
    # ReadError, WriteError, RemoteProtocolError, ...: the request may have arrived.
    _raise(DaktelaConnectError, exc, action, url, sent=True, secret=secret, outer=outer)


@contextmanager
def _deadline(seconds: float | None, action: str | None, url: str) -> Iterator[None]:
    """Cap one attempt as a whole, so a trickling body cannot outlive its caller's patience."""
    outer = sys.exc_info()[1]
    try:
        with anyio.fail_after(seconds):
            yield
    except TimeoutError as exc:
        what = "deadline exceeded"
        _raise(DaktelaTimeoutError, exc, action, url, sent=True, what=what, outer=outer)


def _detach(exc: BaseException, secret: Secret | None, outer: BaseException | None) -> None:
    """Cut *exc* loose from everything that could show the token, so it can be a cause.

    Dropped: its traceback (the transport's frames, whose locals hold the request, its
    URL and header list, and while writing the request's bytes), the exceptions chained
    to it (httpcore's, h11's, aiohttp's, with their own frames; aiohttp's keep the URL;
    under a deadline, the cancellation that went through the transport), and the request
    httpx exceptions may carry (``exc.request``). The token is redacted from its message
    (aiohttp quotes the URL in some). Its type and message stay: what a cause is for.

    The chained exceptions lose their tracebacks too before they are let go: a frame
    of ours may still hold one (contextlib's ``__exit__`` holds the cancellation that a
    deadline turned into ``TimeoutError``). The walk stops at *outer*, the exception the
    caller was handling when it called the client: that one, and what is chained to it,
    are the caller's and stay untouched.
    """
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        item = pending.pop()
        if item is outer or id(item) in seen:
            continue
        seen.add(id(item))
        pending += [e for e in (item.__cause__, item.__context__) if e is not None]
        item.__traceback__ = None
        if isinstance(item, httpx.RequestError):
            item._request = None
        if secret is not None:
            item.args = tuple(secret.redact(a) if isinstance(a, str) else a for a in item.args)
    exc.__cause__ = None
    exc.__context__ = None


def _raise(
    kind: type[DaktelaTransportError],
    exc: BaseException,
    action: str | None,
    url: str,
    *,
    sent: bool,
    what: str | None = None,
    secret: Secret | None = None,
    outer: BaseException | None = None,
) -> NoReturn:
    _detach(exc, secret, outer)
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
        max_answer_bytes: Largest body :meth:`send` reads, counted decoded; ``None``
            reads any size. :meth:`stream` is not limited.
        verify: How TLS certificates are checked (see :func:`ssl_context_for`). A CA
            bundle is loaded here, so a wrong path fails at once; the default context is
            built when the first shard opens.

    Raises:
        DaktelaUsageError: *max_answer_bytes* is not a positive integer or ``None``, or
            *verify* is not valid.
    """

    def __init__(
        self,
        limits: PoolLimits,
        transport_factory: TransportFactory = default_transport_factory,
        *,
        max_answer_bytes: int | None = MAX_ANSWER_BYTES,
        verify: VerifyTypes = True,
    ) -> None:
        if max_answer_bytes is not None and (
            type(max_answer_bytes) is not int or max_answer_bytes < 1
        ):
            raise DaktelaUsageError(
                f"max_answer_bytes must be a positive number of bytes or None, "
                f"not {max_answer_bytes!r}",
                parameter="max_answer_bytes",
            )
        self._limits = limits
        self._factory = transport_factory
        self._max_answer_bytes = max_answer_bytes
        self._shards: list[_Shard] = []
        self._opened = 0  # connections the open shards may hold, together
        # Built lazily for True/False (certifi's bundle costs ~1 MB and many clients never
        # open a shard); a caller's context or CA bundle now, so a wrong one fails at once.
        self._verify: VerifyTypes = verify
        self._ssl_context: ssl.SSLContext | None = (
            None if isinstance(verify, bool) else ssl_context_for(verify)
        )
        self._closed = False
        # The coarse deadlines of the requests in flight, per asyncio loop (_deadline.py).
        self._sweeps: dict[asyncio.AbstractEventLoop, Sweep] = {}

    def __repr__(self) -> str:
        in_flight = sum(s.in_flight for s in self._shards)
        return f"<TransportPool shards={len(self._shards)} in_flight={in_flight}>"

    @property
    def shard_count(self) -> int:
        """How many shards are open."""
        return len(self._shards)

    @property
    def capacity(self) -> int:
        """Requests that can be in flight at once (connections per shard x shards)."""
        return self._limits.shard_connections * self._limits.max_shards

    @property
    def in_flight(self) -> int:
        """Requests under way, over all shards."""
        return sum(s.in_flight for s in self._shards)

    @property
    def max_answer_bytes(self) -> int | None:
        """Largest body :meth:`send` reads, counted decoded (``None``: no limit)."""
        return self._max_answer_bytes

    def _open_shard(self) -> _Shard:
        if self._ssl_context is None:
            self._ssl_context = ssl_context_for(self._verify)
        transport = self._factory(
            TransportOptions(
                ssl_context=self._ssl_context,
                max_connections=self._limits.shard_connections,
                keepalive_expiry=self._limits.keepalive_expiry,
                pool_connections=self.capacity,
            )
        )
        # A transport that took more than a shard's connections says how many.
        capacity = getattr(transport, "max_connections", None)
        if type(capacity) is not int or capacity < 1:
            capacity = self._limits.shard_connections
        shard = _Shard(transport, min(capacity, self.capacity - self._opened))
        self._opened += shard.capacity
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
        if best is None or (best.in_flight >= best.capacity and self._opened < self.capacity):
            best = self._open_shard()
        return best

    async def send(
        self, outgoing: Outgoing, timeouts: Timeouts, *, action: str | None, url: str
    ) -> Answer:
        """Send *outgoing* and read the whole body within the attempt's deadline.

        The body is decoded here and counted as it arrives (see :func:`read_answer`). A
        transport of ours with a fast path (the aiohttp one) is handed *outgoing* as it
        is; any other gets an :class:`httpx.Request` built from it.

        Raises:
            DaktelaTransportError: The request got no complete answer (mapped from httpx).
            DaktelaAnswerTooLargeError: The decoded body passed ``max_answer_bytes``.
            DaktelaDecodeError: A content coding the request did not offer, or a corrupt one.
        """
        shard = self._pick()
        shard.in_flight += 1
        outer = sys.exc_info()[1]
        # One frame from here to the transport: every await level is re-entered each
        # time the request resumes (an idle long poll resumes several times).
        try:
            async with deadline_scope(timeouts.deadline, self._sweeps):
                try:
                    response: Answering
                    if shard.fetch is not None:
                        response = await shard.fetch(outgoing, timeouts)
                    else:
                        request = outgoing.request()
                        request.extensions["timeout"] = _timeout_extension(timeouts)
                        response = await shard.transport.handle_async_request(request)
                        del request
                    try:
                        body = await read_answer(
                            outgoing.headers,
                            response,
                            self._max_answer_bytes,
                            action=action,
                            url=url,
                        )
                    finally:
                        await response.aclose()
                except httpx.TransportError as exc:
                    # map_httpx_errors inlined: a context manager per request costs more
                    # than the rest of this frame.
                    raise_mapped(exc, action, url, outgoing.secret, outer)
        except TimeoutError as exc:
            what = "deadline exceeded"
            _raise(DaktelaTimeoutError, exc, action, url, sent=True, what=what, outer=outer)
        finally:
            shard.in_flight -= 1
        return Answer(response.status_code, response.reason_phrase, response.headers, body)

    @asynccontextmanager
    async def stream(
        self, request: httpx.Request, timeouts: Timeouts, *, action: str | None, url: str
    ) -> AsyncIterator[httpx.Response]:
        """Send *request* and yield the response with its body unread (closed on exit).

        Only the per-read timeouts apply while the caller reads, so a large recording can
        take as long as it needs while a stalled one still fails. ``max_answer_bytes``
        does not apply; a content coding the request did not offer is still refused.

        Raises:
            DaktelaDecodeError: A content coding the request did not offer (before
                yielding).
        """
        request.extensions["timeout"] = _timeout_extension(timeouts)
        shard = self._pick()
        shard.in_flight += 1
        try:
            with _deadline(timeouts.deadline, action, url), map_httpx_errors(action, url, request):
                response = await shard.transport.handle_async_request(request)
            try:
                check_content_encoding(request.headers, response, action=action, url=url)
                with map_httpx_errors(action, url, request):
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
        self._opened = 0
        with anyio.CancelScope(shield=True):
            for shard in shards:
                await shard.transport.aclose()
