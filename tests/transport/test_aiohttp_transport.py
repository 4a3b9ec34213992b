"""The aiohttp-backed httpx transport against real loopback sockets (asyncio only)."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import anyio
import httpx
import pytest

# An optional extra (`daktela-async[aiohttp]`): without it there is nothing to test here.
aiohttp = pytest.importorskip("aiohttp")

from multidict import CIMultiDict, CIMultiDictProxy  # noqa: E402
from yarl import URL  # noqa: E402

from daktela_async import (  # noqa: E402
    DaktelaClient,
    DaktelaConnectError,
    DaktelaTimeoutError,
    DaktelaUsageError,
    PoolLimits,
    Timeouts,
    TransportOptions,
)
from daktela_async._transport._aiohttp import (  # noqa: E402
    AiohttpTransport,
    _http_version,
    _to_httpx,
    aiohttp_transport_factory,
)
from tests.support import TOKEN  # noqa: E402

pytestmark = pytest.mark.anyio

OK_BODY = b'{"status":1,"error":null,"result":{"queue":"3"}}'
TIMEOUTS = {"connect": 2.0, "read": 2.0, "write": 2.0, "pool": 2.0}

Handler = Callable[["Conn"], Awaitable[None]]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def ok(body: bytes = OK_BODY, extra: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\n\r\n%s"
        % (extra, len(body), body)
    )


class Conn:
    """One accepted connection: read requests, write answers."""

    def __init__(
        self, server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer

    async def request(self) -> bytes:
        """Read one request (head and Content-Length body); b"" when the client closed."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return b""
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = await self.reader.readexactly(length) if length else b""
        self.server.requests.append(head + body)
        return head + body

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    def reset(self) -> None:
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        self.writer.transport.abort()


async def answer_ok(conn: Conn) -> None:
    while await conn.request():
        await conn.send(ok())


class Server:
    """A loopback HTTP/1.1 server whose behaviour is one handler per connection."""

    def __init__(self, handler: Handler = answer_ok) -> None:
        self.handler = handler
        self.requests: list[bytes] = []
        self.accepted = 0
        self.open_connections = 0
        self.closed = anyio.Event()
        self.port = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.open_connections += 1
        try:
            await self.handler(Conn(self, reader, writer))
            # Keep the connection until the client closes it.
            while await reader.read(65536):
                pass
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.open_connections -= 1
            writer.close()
            self.closed.set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    srv = Server()
    listener = await asyncio.start_server(srv._serve, "127.0.0.1", 0)
    srv.port = listener.sockets[0].getsockname()[1]
    async with listener:
        yield srv
        listener.close()


def request(url: str, **timeouts: float) -> httpx.Request:
    req = httpx.Request("GET", url)
    req.extensions["timeout"] = {**TIMEOUTS, **timeouts}
    return req


@pytest.fixture
async def transport() -> AsyncIterator[AiohttpTransport]:
    t = AiohttpTransport(max_connections=4)
    yield t
    await t.aclose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def full_backlog() -> Iterator[int]:
    """A port whose accept queue is full: new connections hang in SYN_SENT."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(listener.getsockname())
        fillers.append(filler)
    try:
        yield int(listener.getsockname()[1])
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


# --- round trips --------------------------------------------------------------------------


async def test_round_trip_and_keep_alive(server: Server, transport: AiohttpTransport) -> None:
    for _ in range(2):
        response = await transport.handle_async_request(request(server.url + "/api/x"))
        assert response.status_code == 200
        assert response.reason_phrase == "OK"
        assert response.http_version == "HTTP/1.1"
        assert response.headers["content-type"] == "application/json"
        assert await response.aread() == OK_BODY
        await response.aclose()
    assert server.accepted == 1
    assert transport.in_flight == 0


async def test_query_headers_and_cookie_pass_through_unchanged(
    server: Server, transport: AiohttpTransport
) -> None:
    url = "/api/4.1/GetQueues/json?queues%5B%5D=1&queues%5B%5D=2&f%5Bx%5D=a+b&q=%C5%BE&e="
    req = httpx.Request(
        "GET",
        server.url + url,
        headers=[("User-Agent", "daktela-async"), ("Cookie", "access_token=abc"), ("X-A", "1")],
        extensions={"timeout": TIMEOUTS},
    )
    response = await transport.handle_async_request(req)
    await response.aread()
    await response.aclose()
    head = server.requests[0].decode()
    lines = head.split("\r\n")
    assert lines[0] == f"GET {url} HTTP/1.1"
    headers = [tuple(h.split(": ", 1)) for h in lines[1:] if h]
    names = sorted(name.lower() for name, _ in headers)
    # Exactly what the request carried: no Accept-Encoding or User-Agent of aiohttp's.
    assert names == ["cookie", "host", "user-agent", "x-a"]
    assert ("Cookie", "access_token=abc") in headers
    assert ("User-Agent", "daktela-async") in headers


async def test_set_cookie_is_not_replayed(server: Server, transport: AiohttpTransport) -> None:
    async def set_cookie(conn: Conn) -> None:
        while await conn.request():
            await conn.send(ok(extra=b"Set-Cookie: session=1; Path=/\r\n"))

    server.handler = set_cookie
    for _ in range(2):
        response = await transport.handle_async_request(request(server.url + "/"))
        await response.aread()
        await response.aclose()
    assert b"cookie" not in server.requests[1].lower()


async def test_post_body_and_content_type_are_sent(
    server: Server, transport: AiohttpTransport
) -> None:
    req = httpx.Request(
        "POST", server.url + "/api/x", data={"a": "1", "b": "ž"}, extensions={"timeout": TIMEOUTS}
    )
    response = await transport.handle_async_request(req)
    await response.aread()
    await response.aclose()
    sent = server.requests[0]
    assert sent.startswith(b"POST /api/x HTTP/1.1\r\n")
    assert b"Content-Type: application/x-www-form-urlencoded" in sent
    assert sent.endswith(b"\r\n\r\na=1&b=%C5%BE")


async def test_compressed_body_is_decoded_once(server: Server, transport: AiohttpTransport) -> None:
    async def gzipped(conn: Conn) -> None:
        while await conn.request():
            await conn.send(ok(gzip.compress(OK_BODY), extra=b"Content-Encoding: gzip\r\n"))

    server.handler = gzipped
    response = await transport.handle_async_request(request(server.url + "/"))
    assert await response.aread() == OK_BODY
    await response.aclose()


async def test_body_is_streamed_as_it_arrives(server: Server, transport: AiohttpTransport) -> None:
    release = anyio.Event()

    async def chunked(conn: Conn) -> None:
        await conn.request()
        await conn.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
        await release.wait()
        await conn.send(b"4\r\nlast\r\n0\r\n\r\n")

    server.handler = chunked
    response = await transport.handle_async_request(request(server.url + "/"))
    chunks = []
    async for chunk in response.aiter_raw():
        chunks.append(chunk)
        release.set()  # the rest is sent only once the first part was read
    await response.aclose()
    assert b"".join(chunks) == b"firstlast"
    assert chunks[0] == b"first"


async def test_closing_a_response_early_closes_its_connection(
    server: Server, transport: AiohttpTransport
) -> None:
    async def big(conn: Conn) -> None:
        await conn.request()
        await conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 1000)

    server.handler = big
    response = await transport.handle_async_request(request(server.url + "/"))
    async for _ in response.aiter_raw():
        break
    await response.aclose()
    with anyio.fail_after(5):
        await server.closed.wait()
    assert server.open_connections == 0
    assert transport.in_flight == 0


# --- error mapping ------------------------------------------------------------------------


async def test_refused_connection_is_connect_error(transport: AiohttpTransport) -> None:
    with pytest.raises(httpx.ConnectError):
        await transport.handle_async_request(request(f"http://127.0.0.1:{free_port()}/"))
    assert transport.in_flight == 0


async def test_tls_handshake_failure_is_connect_error(
    server: Server, transport: AiohttpTransport
) -> None:
    async def plain_http(conn: Conn) -> None:
        await conn.reader.read(100)  # a TLS ClientHello
        await conn.send(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        conn.writer.close()

    server.handler = plain_http
    with pytest.raises(httpx.ConnectError):
        await transport.handle_async_request(request(f"https://127.0.0.1:{server.port}/"))


async def test_slow_connect_is_connect_timeout(
    full_backlog: int, transport: AiohttpTransport
) -> None:
    with anyio.fail_after(5), pytest.raises(httpx.ConnectTimeout):
        await transport.handle_async_request(
            request(f"http://127.0.0.1:{full_backlog}/", connect=0.2)
        )


async def test_waiting_for_a_free_connection_is_pool_timeout(server: Server) -> None:
    async def hang(conn: Conn) -> None:
        await conn.request()

    server.handler = hang
    transport = AiohttpTransport(max_connections=1)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(transport.handle_async_request, request(server.url + "/", read=5))
            await anyio.sleep(0.1)
            with anyio.fail_after(5), pytest.raises(httpx.PoolTimeout):
                await transport.handle_async_request(request(server.url + "/", pool=0.2))
            tg.cancel_scope.cancel()
    finally:
        await transport.aclose()


async def test_silent_server_is_read_timeout(server: Server, transport: AiohttpTransport) -> None:
    async def hang(conn: Conn) -> None:
        await conn.request()

    server.handler = hang
    with anyio.fail_after(5), pytest.raises(httpx.ReadTimeout):
        await transport.handle_async_request(request(server.url + "/", read=0.2))


async def test_stalled_body_is_read_timeout(server: Server, transport: AiohttpTransport) -> None:
    async def stall(conn: Conn) -> None:
        await conn.request()
        await conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")

    server.handler = stall
    response = await transport.handle_async_request(request(server.url + "/", read=0.2))
    with anyio.fail_after(5), pytest.raises(httpx.ReadTimeout):
        await response.aread()
    await response.aclose()


async def test_close_without_answer_is_remote_protocol_error(
    server: Server, transport: AiohttpTransport
) -> None:
    async def close(conn: Conn) -> None:
        await conn.request()
        conn.writer.close()

    server.handler = close
    with pytest.raises(httpx.RemoteProtocolError):
        await transport.handle_async_request(request(server.url + "/"))


async def test_truncated_body_is_remote_protocol_error(
    server: Server, transport: AiohttpTransport
) -> None:
    async def truncate(conn: Conn) -> None:
        await conn.request()
        await conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
        conn.writer.close()

    server.handler = truncate
    response = await transport.handle_async_request(request(server.url + "/"))
    with pytest.raises(httpx.RemoteProtocolError):
        await response.aread()
    await response.aclose()


async def test_malformed_answer_is_remote_protocol_error(
    server: Server, transport: AiohttpTransport
) -> None:
    async def garbage(conn: Conn) -> None:
        await conn.request()
        await conn.send(b"NOT HTTP AT ALL\r\n\r\n")

    server.handler = garbage
    with pytest.raises(httpx.RemoteProtocolError):
        await transport.handle_async_request(request(server.url + "/"))


async def test_reset_after_the_request_is_a_read_side_error(
    server: Server, transport: AiohttpTransport
) -> None:
    async def reset(conn: Conn) -> None:
        await conn.request()
        conn.reset()

    server.handler = reset
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        await transport.handle_async_request(request(server.url + "/"))


async def test_a_dropped_keep_alive_request_is_not_resent(
    server: Server, transport: AiohttpTransport
) -> None:
    async def once_then_drop(conn: Conn) -> None:
        await conn.request()
        await conn.send(ok())
        await conn.request()  # the second request arrives...
        conn.writer.close()  # ...and the server goes away without answering

    server.handler = once_then_drop
    first = await transport.handle_async_request(request(server.url + "/CreateCall"))
    await first.aread()
    await first.aclose()
    with pytest.raises(httpx.RemoteProtocolError):
        await transport.handle_async_request(request(server.url + "/CreateCall"))
    await anyio.sleep(0.1)
    assert len(server.requests) == 2  # aiohttp's own resend of a GET is switched off
    assert server.accepted == 1


# --- cancellation and closing ---------------------------------------------------------------


async def test_cancellation_while_waiting_leaves_no_open_connection(
    server: Server, transport: AiohttpTransport
) -> None:
    async def hang(conn: Conn) -> None:
        await conn.request()

    server.handler = hang
    with anyio.move_on_after(0.2) as scope:
        await transport.handle_async_request(request(server.url + "/"))
    assert scope.cancelled_caught
    with anyio.fail_after(5):
        await server.closed.wait()
    assert server.open_connections == 0
    assert transport.in_flight == 0


async def test_cancellation_mid_body_leaves_no_open_connection(
    server: Server, transport: AiohttpTransport
) -> None:
    async def stall(conn: Conn) -> None:
        await conn.request()
        await conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")

    server.handler = stall
    response = await transport.handle_async_request(request(server.url + "/"))
    with anyio.move_on_after(0.2) as scope:
        try:
            await response.aread()
        finally:
            await response.aclose()
    assert scope.cancelled_caught
    with anyio.fail_after(5):
        await server.closed.wait()
    assert server.open_connections == 0
    assert transport.in_flight == 0


async def test_aclose_closes_idle_connections(server: Server) -> None:
    transport = AiohttpTransport()
    response = await transport.handle_async_request(request(server.url + "/"))
    await response.aread()
    await response.aclose()
    assert server.open_connections == 1
    await transport.aclose()
    with anyio.fail_after(5):
        await server.closed.wait()
    assert server.open_connections == 0
    with pytest.raises(DaktelaUsageError, match="closed"):
        await transport.handle_async_request(request(server.url + "/"))


def test_trio_is_refused_with_a_clear_error() -> None:
    import trio

    async def main() -> None:
        transport = AiohttpTransport()
        with pytest.raises(DaktelaUsageError, match="asyncio only"):
            await transport.handle_async_request(request("http://127.0.0.1:1/"))

    trio.run(main)


# --- the factory and the client -------------------------------------------------------------


async def test_factory_honours_the_pool_options(server: Server) -> None:
    context = httpx.create_ssl_context()
    transport = aiohttp_transport_factory(
        TransportOptions(ssl_context=context, max_connections=7, keepalive_expiry=0)
    )
    assert isinstance(transport, AiohttpTransport)
    try:
        for _ in range(2):
            response = await transport.handle_async_request(request(server.url + "/"))
            await response.aread()
            await response.aclose()
        session = transport._session
        assert session is not None
        connector = session.connector
        assert connector is not None
        assert connector.limit == 7
        assert connector.force_close  # keepalive_expiry=0: one connection per request
        assert server.accepted == 2
    finally:
        await transport.aclose()


def client_for(server: Server, **kwargs: object) -> DaktelaClient:
    return DaktelaClient(
        server.url,
        TOKEN,
        transport_factory=aiohttp_transport_factory,
        limits=PoolLimits(shard_connections=100, max_shards=1),
        **kwargs,  # type: ignore[arg-type]
    )


async def test_client_calls_and_streams_through_aiohttp(server: Server) -> None:
    async with client_for(server, token_in="cookie") as client:
        assert await client.call("GetQueues", 3) == {"queue": "3"}
        async with client.stream_raw("GetQueues", 3) as response:
            assert b"".join([c async for c in response.aiter_bytes()]) == OK_BODY
    assert server.accepted == 1
    assert b"\r\nCookie: access_token=" + TOKEN.encode() in server.requests[0]
    assert TOKEN.encode() not in server.requests[0].split(b"\r\n")[0]


async def test_client_error_mapping_keeps_sent_flags(server: Server) -> None:
    async with DaktelaClient(
        f"http://127.0.0.1:{free_port()}",
        TOKEN,
        transport_factory=aiohttp_transport_factory,
        retries=0,
    ) as client:
        with pytest.raises(DaktelaConnectError) as refused:
            await client.call("CreateCall", user="hajek", number="1")
    assert refused.value.sent is False

    async def hang(conn: Conn) -> None:
        await conn.request()

    server.handler = hang
    async with client_for(server, retries=0, timeout=Timeouts(read=0.2)) as client:
        with anyio.fail_after(5), pytest.raises(DaktelaTimeoutError) as timed_out:
            await client.call("GetQueues")
    assert timed_out.value.sent is True


# --- the mapping table, exception by exception ----------------------------------------------

_INFO = aiohttp.RequestInfo(
    URL("http://pbx/"), "GET", CIMultiDictProxy(CIMultiDict()), URL("http://pbx/")
)


@pytest.mark.parametrize(
    ("error", "pool_full", "expected"),
    [
        (aiohttp.ConnectionTimeoutError("slow"), False, httpx.ConnectTimeout),
        (aiohttp.ConnectionTimeoutError("slow"), True, httpx.PoolTimeout),
        (aiohttp.SocketTimeoutError("slow"), False, httpx.ReadTimeout),
        (aiohttp.ServerFingerprintMismatch(b"a", b"b", "pbx", 443), False, httpx.ConnectError),
        (aiohttp.InvalidURL("ftp://pbx"), False, httpx.UnsupportedProtocol),
        (aiohttp.ServerDisconnectedError(), False, httpx.RemoteProtocolError),
        (aiohttp.ClientPayloadError("cut"), False, httpx.RemoteProtocolError),
        (aiohttp.ClientResponseError(_INFO, (), message="bad"), False, httpx.RemoteProtocolError),
        (aiohttp.ClientOSError(104, "reset"), False, httpx.ReadError),
        (ConnectionResetError(), False, httpx.ReadError),
        (TimeoutError(), False, httpx.ReadTimeout),
        (aiohttp.ClientError("other"), False, httpx.RemoteProtocolError),
        (OSError("other"), False, httpx.ReadError),
    ],
)
def test_each_aiohttp_error_maps_to_its_httpx_error(
    error: Exception, pool_full: bool, expected: type[Exception]
) -> None:
    mapped = _to_httpx(error, pool_full=pool_full)
    assert type(mapped) is expected
    assert str(mapped)


def test_other_exceptions_are_left_alone() -> None:
    error = ValueError("not a transport error")
    assert _to_httpx(error) is error


def test_http_versions() -> None:
    assert _http_version(None) == b"HTTP/1.1"
    assert _http_version((1, 0)) == b"HTTP/1.0"
    assert _http_version((2, 0)) == b"HTTP/2.0"


def test_at_least_one_connection() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        AiohttpTransport(max_connections=0)
    assert "max_connections=3" in repr(AiohttpTransport(max_connections=3))


async def test_streamed_request_body_is_sent(server: Server, transport: AiohttpTransport) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"a=1"
        yield b"&b=2"

    req = httpx.Request(
        "POST", server.url + "/api/x", content=chunks(), extensions={"timeout": TIMEOUTS}
    )
    response = await transport.handle_async_request(req)
    await response.aread()
    await response.aclose()
    assert server.requests[0].endswith(b"\r\n\r\na=1&b=2")
    assert b"Transfer-Encoding" not in server.requests[0]


# --- the pool's fast path ----------------------------------------------------------------------


async def test_the_client_takes_the_fast_path_without_httpx_objects(server: Server) -> None:
    async with client_for(server) as client:
        transport = client.pool._pick().transport
        assert isinstance(transport, AiohttpTransport)

        async def refuse(request: httpx.Request) -> httpx.Response:
            raise AssertionError("the fast path builds no httpx request")

        transport.handle_async_request = refuse  # type: ignore[method-assign]
        assert await client.call("GetQueues", 3) == {"queue": "3"}
        raw = await client.call_raw("GetQueues", 3)
    assert raw.headers["content-type"] == "application/json"
    assert isinstance(raw.headers, httpx.Headers)
    first_line = server.requests[0].split(b"\r\n")[0]
    assert (
        first_line == b"GET /api/3.0/GetQueues/3/json?access_token=" + TOKEN.encode() + b" HTTP/1.1"
    )
    assert b"\r\nUser-Agent: daktela-async\r\n" in server.requests[0]


async def test_a_views_headers_take_the_fast_path_too(server: Server) -> None:
    async with client_for(server, headers={"X-Site": "prague"}) as client:
        view = client.with_options(headers={"X-Team": "ops"})
        assert await view.call("GetQueues", 3) == {"queue": "3"}
        assert await client.call("GetQueues", 3) == {"queue": "3"}
    through_view, direct = server.requests
    assert b"\r\nX-Site: prague\r\nX-Team: ops\r\n" in through_view
    assert b"\r\nX-Site: prague\r\n" in direct
    assert b"X-Team" not in direct


async def test_a_subclass_or_wrapper_gets_every_request(server: Server) -> None:
    # Someone counting (or changing) requests in handle_async_request must see them all:
    # the fast path is for the transport class of ours, exactly.
    seen: list[str] = []

    class Counting(AiohttpTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            seen.append(request.url.path)
            return await super().handle_async_request(request)

    async with DaktelaClient(
        server.url,
        TOKEN,
        transport_factory=lambda options: Counting(ssl_context=options.ssl_context),
    ) as client:
        assert await client.call("GetQueues", 3) == {"queue": "3"}
    assert seen == ["/api/3.0/GetQueues/3/json"]
