"""Transports for the pool: aiohttp's or httpcore's, chosen by the default or by you.

Pass a factory as ``DaktelaClient(..., transport_factory=...)``. The default,
:func:`default_transport_factory`, opens the aiohttp-backed transport on asyncio (aiohttp
is a dependency): it costs a fraction of httpcore's CPU per request
(``docs/benchmarks.md``, rows 1 and 3) and serves the whole pool from one shard. On trio,
or while respx mocks httpx, it opens httpcore's (:func:`httpcore_transport_factory`). To
choose yourself::

    from daktela_async import DaktelaClient
    from daktela_async.transports import httpcore_transport_factory

    client = DaktelaClient(url, token=token, transport_factory=httpcore_transport_factory)
"""

from __future__ import annotations

import httpx

from ._transport._pool import (
    TransportFactory,
    TransportOptions,
    default_transport_factory,
    httpcore_transport_factory,
)

__all__ = [
    "TransportFactory",
    "TransportOptions",
    "aiohttp_transport_factory",
    "default_transport_factory",
    "httpcore_transport_factory",
]


def aiohttp_transport_factory(options: TransportOptions) -> httpx.AsyncBaseTransport:
    """Open an aiohttp-backed httpx transport sized and secured by *options* (asyncio only).

    Raises:
        ModuleNotFoundError: aiohttp is not installed (it is a dependency; an
            installation that left it out).
    """
    # Imported here so that this module, and the default transport, work without aiohttp.
    from ._transport._aiohttp import aiohttp_transport_factory as factory

    return factory(options)
