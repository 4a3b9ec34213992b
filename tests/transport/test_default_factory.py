"""The default transport: aiohttp's on asyncio when installed, httpcore's otherwise."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import anyio
import anyio.abc
import httpx
import pytest
import respx

from daktela_async import (
    DaktelaClient,
    DaktelaPoolTimeoutError,
    PoolLimits,
    Timeouts,
    TransportOptions,
    default_transport_factory,
)
from daktela_async._transport._aiohttp import AiohttpTransport
from tests.support import TOKEN
from tests.transport.test_pool import Server, serve

pytestmark = pytest.mark.anyio

OPTIONS = TransportOptions(
    ssl_context=ssl.create_default_context(),
    max_connections=10,
    keepalive_expiry=5.0,
    pool_connections=40,
)


@pytest.fixture
async def running() -> AsyncIterator[Server]:
    server = Server()
    async with anyio.create_task_group() as tg:
        await serve(server, tg)
        yield server
        tg.cancel_scope.cancel()


def client_for(server: Server, **kwargs: object) -> DaktelaClient:
    return DaktelaClient(f"http://127.0.0.1:{server.port}", TOKEN, **kwargs)  # type: ignore[arg-type]


async def test_the_default_is_aiohttp_on_asyncio_and_httpcore_on_trio(
    anyio_backend: str,
) -> None:
    transport = default_transport_factory(OPTIONS)
    try:
        if anyio_backend == "asyncio":
            assert type(transport) is AiohttpTransport
            # One shard for the whole pool: aiohttp hands out connections in O(1).
            assert transport.max_connections == 40
        else:
            assert type(transport) is httpx.AsyncHTTPTransport
    finally:
        await transport.aclose()


def test_outside_an_event_loop_the_default_is_httpcore() -> None:
    assert type(default_transport_factory(OPTIONS)) is httpx.AsyncHTTPTransport


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_default_client_takes_one_aiohttp_shard_of_the_whole_pool(
    running: Server,
) -> None:
    running.delay = 2.0  # held until the seventh request has given up
    limits = PoolLimits(shard_connections=2, max_shards=3)
    # aiohttp's wait for a free connection is bounded by pool + connect together.
    timeouts = Timeouts(pool=0.05, connect=0.05)
    async with client_for(running, limits=limits, timeout=timeouts, retries=0) as client:
        failures: list[BaseException] = []
        gave_up = anyio.Event()

        async def call() -> None:
            try:
                await client.call("GetQueues")
            except DaktelaPoolTimeoutError as exc:
                failures.append(exc)
                gave_up.set()

        async with anyio.create_task_group() as tg:
            for _ in range(7):
                tg.start_soon(call)
            with anyio.fail_after(10):
                await gave_up.wait()
            # Six in flight on one aiohttp shard (the pool's 2 x 3), none on a second;
            # the seventh waited for a connection the pool did not have, and said so.
            assert client.pool.shard_count == 1
            assert client.pool.in_flight == 6
            assert type(client.pool._shards[0].transport) is AiohttpTransport
            tg.cancel_scope.cancel()
    assert len(failures) == 1
    assert running.accepted == 6


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_respx_mocking_keeps_the_default_on_httpcore_where_respx_answers() -> None:
    with respx.mock(assert_all_called=True) as mock:
        mock.get(url__regex=r"/api/\d\.\d/GetQueues/json").respond(
            json={"status": 1, "error": None, "result": {"1": {"queue": "1"}}}
        )
        async with DaktelaClient("https://pbx.example.com", TOKEN) as client:
            assert await client.call("GetQueues") == {"1": {"queue": "1"}}
            assert type(client.pool._shards[0].transport) is httpx.AsyncHTTPTransport
    # Once respx stops, the default is aiohttp's again.
    transport = default_transport_factory(OPTIONS)
    try:
        assert type(transport) is AiohttpTransport
    finally:
        await transport.aclose()
