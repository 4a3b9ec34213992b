"""Transports for the pool: the default httpcore one, and an aiohttp-backed one for asyncio.

Pass a factory as ``DaktelaClient(..., transport_factory=...)``. The default,
:func:`default_transport_factory`, uses httpcore and runs on asyncio and trio. On asyncio,
:func:`aiohttp_transport_factory` (``pip install 'daktela-async[aiohttp]'``) costs less CPU
per request (see ``docs/benchmarks.md``); one aiohttp connector handles many connections
cheaply, so use it with one shard::

    from daktela_async import DaktelaClient, PoolLimits
    from daktela_async.transports import aiohttp_transport_factory

    client = DaktelaClient(
        url,
        token=token,
        transport_factory=aiohttp_transport_factory,
        limits=PoolLimits(shard_connections=1000, max_shards=1),
    )
"""

from __future__ import annotations

import httpx

from ._transport._pool import TransportFactory, TransportOptions, default_transport_factory

__all__ = [
    "TransportFactory",
    "TransportOptions",
    "aiohttp_transport_factory",
    "default_transport_factory",
]


def aiohttp_transport_factory(options: TransportOptions) -> httpx.AsyncBaseTransport:
    """Open an aiohttp-backed httpx transport sized and secured by *options* (asyncio only).

    Raises:
        ModuleNotFoundError: aiohttp is not installed (``pip install
            'daktela-async[aiohttp]'``).
    """
    # Imported here so that this module, and the default transport, work without aiohttp.
    from ._transport._aiohttp import aiohttp_transport_factory as factory

    return factory(options)
