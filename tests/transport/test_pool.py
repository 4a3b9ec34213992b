"""The transport pool against real loopback sockets: shards, deadlines, cancellation."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import anyio
import anyio.abc
import httpx
import pytest

from daktela_async import (
    DaktelaClient,
    DaktelaConnectError,
    DaktelaTimeoutError,
    PoolLimits,
    Timeouts,
    TransportOptions,
    httpcore_transport_factory,
)
from tests.support import TOKEN

pytestmark = pytest.mark.anyio

OK_BODY = b'{"status":1,"error":null,"result":{"queue":"3"}}'


class Server:
    """A tiny HTTP/1.1 server on loopback that can answer, hang or trickle, and counts."""

    def __init__(self, mode: str = "ok", delay: float = 0.0) -> None:
        self.mode = mode
        self.delay = delay
        self.open_connections = 0
        self.accepted = 0
        self.port = 0
        self.closed_by_client = anyio.Event()

    async def handle(self, stream: anyio.abc.SocketStream) -> None:
        self.accepted += 1
        self.open_connections += 1
        try:
            async with stream:
                while True:
                    data = b""
                    while b"\r\n\r\n" not in data:
                        chunk = await stream.receive(65536)
                        data += chunk
                    if self.mode == "hang":
                        await stream.receive(65536)  # until the client goes away
                    if self.mode == "trickle":
                        head = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
                        await stream.send(head)
                        for _ in range(1000):
                            await stream.send(b" ")
                            await anyio.sleep(0.05)
                    await anyio.sleep(self.delay)
                    await stream.send(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        b"Content-Length: %d\r\n\r\n%s" % (len(OK_BODY), OK_BODY)
                    )
        except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
            pass
        finally:
            self.open_connections -= 1
            self.closed_by_client.set()


async def serve(server: Server, tg: anyio.abc.TaskGroup) -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    server.port = listener.extra(anyio.abc.SocketAttribute.local_port)

    async def run() -> None:
        async with listener:
            await listener.serve(server.handle)

    tg.start_soon(run)


@pytest.fixture
async def running() -> AsyncIterator[tuple[Server, anyio.abc.TaskGroup]]:
    server = Server()
    async with anyio.create_task_group() as tg:
        await serve(server, tg)
        yield server, tg
        tg.cancel_scope.cancel()


def client_for(server: Server, **kwargs: object) -> DaktelaClient:
    # httpcore's shards, whose sizing these tests are about (aiohttp's transport takes
    # the whole pool in one shard: test_default_factory.py).
    kwargs.setdefault("transport_factory", httpcore_transport_factory)
    return DaktelaClient(f"http://127.0.0.1:{server.port}", TOKEN, **kwargs)  # type: ignore[arg-type]


async def test_real_request_round_trip(running: tuple[Server, anyio.abc.TaskGroup]) -> None:
    server, _ = running
    async with client_for(server) as client:
        assert await client.call("GetQueues", 3) == {"queue": "3"}
        assert await client.call("GetQueues", 3) == {"queue": "3"}
    assert server.accepted == 1  # keep-alive reused the connection


async def test_shards_open_only_when_the_open_ones_are_full(
    running: tuple[Server, anyio.abc.TaskGroup],
) -> None:
    server, _ = running
    server.delay = 0.2
    limits = PoolLimits(shard_connections=4, max_shards=3)
    async with client_for(server, limits=limits) as client:
        await client.call("GetQueues")
        assert client.pool.shard_count == 1
        async with anyio.create_task_group() as tg:
            for _ in range(12):
                tg.start_soon(client.call, "GetQueues")
            await anyio.sleep(0.1)
            assert client.pool.in_flight == 12
            assert client.pool.shard_count == 3
        assert client.pool.in_flight == 0
    assert server.accepted == 12


async def test_requests_beyond_the_pool_wait_for_a_connection(
    running: tuple[Server, anyio.abc.TaskGroup],
) -> None:
    server, _ = running
    server.delay = 0.1
    limits = PoolLimits(shard_connections=2, max_shards=2)
    async with client_for(server, limits=limits) as client:
        async with anyio.create_task_group() as tg:
            for _ in range(10):
                tg.start_soon(client.call, "GetQueues")
        assert client.pool.shard_count == 2
    assert server.accepted <= 4


async def test_shards_share_one_ssl_context() -> None:
    contexts: list[object] = []

    def factory(options: TransportOptions) -> httpx.AsyncBaseTransport:
        contexts.append(options.ssl_context)
        return httpx.MockTransport(lambda r: httpx.Response(200, content=OK_BODY))

    limits = PoolLimits(shard_connections=1, max_shards=5)
    async with DaktelaClient(
        "https://pbx.example.com", TOKEN, limits=limits, transport_factory=factory
    ) as client:
        # MockTransport answers at once; hold requests open by starting them together.
        for _ in range(5):
            client.pool._open_shard()
    assert len(contexts) == 5
    assert all(c is contexts[0] for c in contexts)


async def test_cancelled_call_leaves_no_connection_open(
    running: tuple[Server, anyio.abc.TaskGroup],
) -> None:
    server, _ = running
    server.mode = "hang"
    async with client_for(server) as client:
        with anyio.move_on_after(0.3) as scope:
            await client.call("GetQueues")
        assert scope.cancelled_caught
        with anyio.fail_after(5):
            await server.closed_by_client.wait()
        assert server.open_connections == 0
        assert client.pool.in_flight == 0


async def test_overall_deadline_stops_a_trickling_answer(
    running: tuple[Server, anyio.abc.TaskGroup],
) -> None:
    server, _ = running
    server.mode = "trickle"
    timeouts = Timeouts(read=5.0, deadline=0.5)
    async with client_for(server, timeout=timeouts, retries=0) as client:
        with anyio.fail_after(5), pytest.raises(DaktelaTimeoutError, match="deadline"):
            await client.call("GetQueues")
        with anyio.fail_after(5):
            await server.closed_by_client.wait()


async def test_connection_refused_is_a_connect_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with DaktelaClient(f"http://127.0.0.1:{port}", TOKEN, retries=0) as client:
        with pytest.raises(DaktelaConnectError) as info:
            await client.call("CreateCall", user="hajek", number="1")
    assert info.value.sent is False
    assert TOKEN not in str(info.value)
