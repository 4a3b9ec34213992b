"""Answer size and content coding against real loopback servers, on both transports.

A buffered answer is decoded by the pool and counted while it arrives: a gzip bomb and an
endless chunked body stop at ``max_answer_bytes`` in bounded time and memory, a coding the
client did not offer is refused, and ``stream_raw`` is not limited.
"""

from __future__ import annotations

import functools
import gzip
import time
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable

import anyio
import anyio.abc
import httpx
import pytest

from daktela_async import (
    DaktelaAnswerTooLargeError,
    DaktelaClient,
    DaktelaDecodeError,
    DaktelaError,
    DaktelaUsageError,
    PoolLimits,
    Timeouts,
    TransportFactory,
    httpcore_transport_factory,
)
from tests.support import TOKEN

pytestmark = pytest.mark.anyio

MiB = 2**20
LIMIT = 1 * MiB
OK_BODY = b'{"status":1,"error":null,"result":{"queue":"3"}}'

Handler = Callable[[anyio.abc.SocketStream], Awaitable[None]]


@functools.cache
def gzip_bomb() -> bytes:
    """512 MiB of JSON-ish padding in 0.5 MB of gzip: the issue's bomb."""
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    parts = [packer.compress(b'{"status":1,"result":"')]
    zeros = b"0" * MiB
    parts.extend(packer.compress(zeros) for _ in range(512))
    parts.append(packer.flush())
    return b"".join(parts)


def head(extra: bytes = b"", length: int | None = None) -> bytes:
    framing = (
        b"Transfer-Encoding: chunked\r\n" if length is None else b"Content-Length: %d\r\n" % length
    )
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n%s%s\r\n" % (extra, framing)


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class Server:
    """A loopback HTTP/1.1 server: reads one request head per answer, counts bytes sent."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.port = 0
        self.sent = 0
        self.requests: list[bytes] = []

    async def send(self, stream: anyio.abc.SocketStream, data: bytes) -> None:
        await stream.send(data)
        self.sent += len(data)

    async def _serve(self, stream: anyio.abc.SocketStream) -> None:
        try:
            async with stream:
                while True:
                    data = b""
                    while b"\r\n\r\n" not in data:
                        data += await stream.receive(65536)
                    self.requests.append(data)
                    await self.handler(stream)
        except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
            pass

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[Server]]]:
    async with anyio.create_task_group() as tg:

        async def start(handler: Handler) -> Server:
            server = Server(handler)
            listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
            server.port = listener.extra(anyio.abc.SocketAttribute.local_port)

            async def run() -> None:
                async with listener:
                    await listener.serve(server._serve)

            tg.start_soon(run)
            return server

        yield start
        tg.cancel_scope.cancel()


TRANSPORTS = [
    pytest.param(("httpcore", "asyncio"), id="httpcore-asyncio"),
    pytest.param(("httpcore", "trio"), id="httpcore-trio"),
    pytest.param(("aiohttp", "asyncio"), id="aiohttp-asyncio"),
]


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    name: str = request.param[0]
    return name


@pytest.fixture
def anyio_backend(request: pytest.FixtureRequest) -> str:
    # The backend follows the transport parameter (aiohttp runs on asyncio only).
    callspec = getattr(request.node, "callspec", None)
    params = callspec.params if callspec is not None else {}
    backend: str = params.get("transport", ("httpcore", "asyncio"))[1]
    return backend


def factory_for(transport: str) -> TransportFactory:
    if transport == "aiohttp":
        pytest.importorskip("aiohttp")
        from daktela_async.transports import aiohttp_transport_factory

        return aiohttp_transport_factory
    return httpcore_transport_factory


def make_client(
    server: Server, transport: str, *, offer: str | None = None, **kwargs: object
) -> DaktelaClient:
    headers = {"Accept-Encoding": offer} if offer else None
    return DaktelaClient(
        server.url,
        TOKEN,
        transport_factory=factory_for(transport),
        limits=PoolLimits(shard_connections=4, max_shards=1),
        timeout=Timeouts(connect=5, read=5, write=5, pool=5, deadline=5),
        retries=0,
        headers=headers,
        **kwargs,  # type: ignore[arg-type]
    )


class Ticker:
    """Counts ticks of a 10 ms loop, to show the event loop stays responsive."""

    def __init__(self) -> None:
        self.ticks = 0
        self.longest_gap = 0.0

    async def run(self) -> None:
        last = time.perf_counter()
        while True:
            await anyio.sleep(0.01)
            now = time.perf_counter()
            self.longest_gap = max(self.longest_gap, now - last)
            last = now
            self.ticks += 1


# --- gzip bomb --------------------------------------------------------------------------------


async def test_gzip_bomb_stops_at_the_limit_in_bounded_time_and_memory(
    serve: Callable[[Handler], Awaitable[Server]], transport: str
) -> None:
    bomb = gzip_bomb()

    async def answer(stream: anyio.abc.SocketStream) -> None:
        await server.send(stream, head(b"Content-Encoding: gzip\r\n", len(bomb)) + bomb)

    server = await serve(answer)
    ticker = Ticker()
    async with (
        make_client(server, transport, offer="gzip", max_answer_bytes=LIMIT) as client,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(ticker.run)
        tracemalloc.start()
        started = time.perf_counter()
        try:
            with pytest.raises(DaktelaAnswerTooLargeError) as info:
                await client.call("GetQueues")
            elapsed = time.perf_counter() - started
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        tg.cancel_scope.cancel()
    assert info.value.limit == LIMIT
    assert info.value.action == "GetQueues"
    assert "max_answer_bytes" in str(info.value)
    assert TOKEN not in str(info.value)
    # Unbounded, 512 MiB would be inflated; stopped at 1 MiB, a few MiB at most are held.
    assert peak < 16 * MiB, peak
    # Wall-clock bounds, deliberately generous: the bug they catch (inflating all 512 MiB,
    # or one blocking inflate call) takes tens of seconds, while the fix takes tens of
    # milliseconds; a loaded two-core CI machine fits easily between the two.
    assert elapsed < 5.0
    assert ticker.longest_gap < 1.0


async def test_gzip_is_decoded_when_offered_and_small(
    serve: Callable[[Handler], Awaitable[Server]], transport: str
) -> None:
    packed = gzip.compress(OK_BODY)

    async def answer(stream: anyio.abc.SocketStream) -> None:
        await server.send(stream, head(b"Content-Encoding: gzip\r\n", len(packed)) + packed)

    server = await serve(answer)
    async with make_client(server, transport, offer="gzip, deflate") as client:
        assert await client.call("GetQueues") == {"queue": "3"}
        raw = await client.call_raw("GetQueues")
    assert raw.content == OK_BODY
    assert b"accept-encoding: gzip, deflate" in server.requests[0].lower()


@pytest.mark.parametrize(
    "packed",
    [
        pytest.param(zlib.compress(OK_BODY), id="zlib-wrapped"),
        pytest.param(zlib.compress(OK_BODY, wbits=-zlib.MAX_WBITS), id="raw"),
    ],
)
async def test_deflate_both_forms_are_decoded(
    serve: Callable[[Handler], Awaitable[Server]], transport: str, packed: bytes
) -> None:
    async def answer(stream: anyio.abc.SocketStream) -> None:
        await server.send(stream, head(b"Content-Encoding: deflate\r\n", len(packed)) + packed)

    server = await serve(answer)
    async with make_client(server, transport, offer="deflate") as client:
        assert await client.call("GetQueues") == {"queue": "3"}


async def test_a_coding_the_client_did_not_offer_is_refused(
    serve: Callable[[Handler], Awaitable[Server]], transport: str
) -> None:
    packed = gzip.compress(OK_BODY)

    async def answer(stream: anyio.abc.SocketStream) -> None:
        await server.send(stream, head(b"Content-Encoding: gzip\r\n", len(packed)) + packed)

    server = await serve(answer)
    async with make_client(server, transport) as client:
        with pytest.raises(DaktelaDecodeError, match="did not offer") as info:
            await client.call("GetQueues")
    assert not isinstance(info.value, DaktelaAnswerTooLargeError)
    assert info.value.status_code == 200
    # The client offers nothing by default.
    assert b"accept-encoding" not in server.requests[0].lower()


@pytest.mark.parametrize(
    ("offer", "sent"),
    [
        pytest.param("gzip", b"br", id="other-coding"),
        pytest.param("gzip;q=0, deflate", b"gzip", id="q-zero"),
        pytest.param("gzip", b"gzip, gzip", id="stacked"),
    ],
)
async def test_refused_codings(
    serve: Callable[[Handler], Awaitable[Server]], transport: str, offer: str, sent: bytes
) -> None:
    body = gzip.compress(gzip.compress(OK_BODY))

    async def answer(stream: anyio.abc.SocketStream) -> None:
        await server.send(stream, head(b"Content-Encoding: %s\r\n" % sent, len(body)) + body)

    server = await serve(answer)
    async with make_client(server, transport, offer=offer) as client:
        with pytest.raises(DaktelaDecodeError):
            await client.call("GetQueues")


async def test_corrupt_gzip_is_a_decode_error(
    serve: Callable[[Handler], Awaitable[Server]], transport: str
) -> None:
    body = b"\x1f\x8b\x08\x00garbage-not-deflate" * 10

    async def answer(stream: anyio.abc.SocketStream) -> None:
        await server.send(stream, head(b"Content-Encoding: gzip\r\n", len(body)) + body)

    server = await serve(answer)
    async with make_client(server, transport, offer="gzip") as client:
        with pytest.raises(DaktelaDecodeError, match="corrupt"):
            await client.call("GetQueues")


# --- endless and oversized bodies -------------------------------------------------------------


async def test_endless_chunked_body_stops_at_the_limit(
    serve: Callable[[Handler], Awaitable[Server]], transport: str
) -> None:
    piece = chunk(b" " * 65536)

    async def endless(stream: anyio.abc.SocketStream) -> None:
        await server.send(stream, head() + chunk(b'{"status":1,"result":"'))
        # Endless as far as the client can tell; capped so that a regression fails on
        # the deadline instead of filling the machine's memory.
        while server.sent < 64 * MiB:
            await server.send(stream, piece)
        await anyio.sleep(60)

    server = await serve(endless)
    ticker = Ticker()
    async with (
        make_client(server, transport, max_answer_bytes=LIMIT) as client,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(ticker.run)
        tracemalloc.start()
        started = time.perf_counter()
        try:
            with anyio.fail_after(15), pytest.raises(DaktelaAnswerTooLargeError):
                await client.call("GetQueues")
            elapsed = time.perf_counter() - started
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        tg.cancel_scope.cancel()
    # Generous on purpose (see above): reading the whole endless body would hit the 15 s
    # fail_after; stopping at the limit takes milliseconds.
    assert elapsed < 5.0
    assert peak < 16 * MiB, peak
    # The server could write only what the socket buffers held after the client left.
    assert server.sent < 64 * MiB, server.sent
    assert ticker.longest_gap < 1.0


async def test_the_default_limit_is_64_mib_and_stops_an_endless_body(
    serve: Callable[[Handler], Awaitable[Server]],
) -> None:
    piece = chunk(b" " * 65536)

    async def endless(stream: anyio.abc.SocketStream) -> None:
        await server.send(stream, head())
        while server.sent < 256 * MiB:  # capped as above
            await server.send(stream, piece)
        await anyio.sleep(60)

    server = await serve(endless)
    async with make_client(server, "httpcore") as client:
        assert client.pool.max_answer_bytes == 64 * MiB
        with anyio.fail_after(15), pytest.raises(DaktelaAnswerTooLargeError) as info:
            await client.call("GetQueues")
    assert info.value.limit == 64 * MiB
    assert 64 * MiB < server.sent < 128 * MiB


async def test_limit_counts_bytes_exactly(
    serve: Callable[[Handler], Awaitable[Server]], transport: str
) -> None:
    sizes = iter([100, 101])

    async def answer(stream: anyio.abc.SocketStream) -> None:
        body = OK_BODY.ljust(next(sizes))
        # Chunked: no Content-Length to refuse early, every byte is counted as read.
        await server.send(stream, head() + chunk(body) + chunk(b""))

    server = await serve(answer)
    async with make_client(server, transport, max_answer_bytes=100) as client:
        assert await client.call("GetQueues") == {"queue": "3"}  # exactly the limit
        with pytest.raises(DaktelaAnswerTooLargeError):
            await client.call("GetQueues")  # one byte more


async def test_a_declared_length_above_the_limit_is_refused_before_reading(
    serve: Callable[[Handler], Awaitable[Server]], transport: str
) -> None:
    async def answer(stream: anyio.abc.SocketStream) -> None:
        await server.send(stream, head(length=10 * LIMIT))
        await anyio.sleep(30)  # never sends the body

    server = await serve(answer)
    async with make_client(server, transport, max_answer_bytes=LIMIT) as client:
        with anyio.fail_after(5), pytest.raises(DaktelaAnswerTooLargeError):
            await client.call("GetQueues")


async def test_none_removes_the_limit(
    serve: Callable[[Handler], Awaitable[Server]], transport: str
) -> None:
    body = b'{"status":1,"result":"' + b"x" * (3 * LIMIT) + b'"}'

    async def answer(stream: anyio.abc.SocketStream) -> None:
        await server.send(stream, head(length=len(body)) + body)

    server = await serve(answer)
    async with make_client(server, transport, max_answer_bytes=None) as client:
        assert len(await client.call("GetQueues")) == 3 * LIMIT


# --- streams ----------------------------------------------------------------------------------


async def test_stream_raw_is_not_limited(
    serve: Callable[[Handler], Awaitable[Server]], transport: str
) -> None:
    body = b"\x00" * (3 * LIMIT)

    async def answer(stream: anyio.abc.SocketStream) -> None:
        await server.send(stream, head(length=len(body)) + body)

    server = await serve(answer)
    async with (
        make_client(server, transport, max_answer_bytes=LIMIT) as client,
        client.stream_raw("GetRecording", query={"recording_hash": "x"}) as response,
    ):
        received = sum([len(c) async for c in response.aiter_bytes()])
    assert received == 3 * LIMIT


async def test_stream_raw_refuses_a_coding_it_did_not_offer(
    serve: Callable[[Handler], Awaitable[Server]], transport: str
) -> None:
    bomb = gzip_bomb()

    async def answer(stream: anyio.abc.SocketStream) -> None:
        await server.send(stream, head(b"Content-Encoding: gzip\r\n", len(bomb)) + bomb)

    server = await serve(answer)
    async with make_client(server, transport) as client:
        with pytest.raises(DaktelaDecodeError, match="did not offer"):
            async with client.stream_raw("GetRecording", query={"recording_hash": "x"}):
                pytest.fail("the stream must not be handed out")


# --- the setting ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, -1, True, 1.5, "64"])
def test_bad_max_answer_bytes_is_a_usage_error(value: object) -> None:
    with pytest.raises(DaktelaUsageError) as info:
        DaktelaClient("http://127.0.0.1", TOKEN, max_answer_bytes=value)  # type: ignore[arg-type]
    assert info.value.parameter == "max_answer_bytes"


def test_too_large_is_a_decode_error() -> None:
    assert issubclass(DaktelaAnswerTooLargeError, DaktelaDecodeError)
    assert issubclass(DaktelaAnswerTooLargeError, DaktelaError)


async def test_mock_transport_answers_are_limited_too() -> None:
    def handler(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b'{"status":1,"result":"' + b"x" * 200 + b'"}')

    async with DaktelaClient(
        "http://127.0.0.1",
        TOKEN,
        transport_factory=lambda _options: httpx.MockTransport(handler),
        max_answer_bytes=100,
    ) as client:
        with pytest.raises(DaktelaAnswerTooLargeError):
            await client.call("GetQueues")


class _LongInMemory(httpx.AsyncByteStream):
    """16 MiB that never wait: the cancellation cannot land in them."""

    def __init__(self) -> None:
        self.chunks = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.chunks < 256:  # finite, so that a regression cannot fill the memory
            self.chunks += 1
            yield b" " * 65536


async def test_a_stream_that_never_waits_still_stops_at_the_limit() -> None:
    body = _LongInMemory()

    def handler(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=body)

    async with DaktelaClient(
        "http://127.0.0.1",
        TOKEN,
        transport_factory=lambda _options: httpx.MockTransport(handler),
        max_answer_bytes=LIMIT,
    ) as client:
        with anyio.fail_after(5), pytest.raises(DaktelaAnswerTooLargeError):
            await client.call("GetQueues")
    assert body.chunks < 100  # 16 chunks fill the limit, then at most 64 are dropped
