"""Serve the simulator with uvicorn on its own asyncio loop in a background thread.

The thread owns the event loop, the server and therefore the state: everything that
touches the state from another thread goes through :meth:`SimServer.call`, which runs
the function on the loop (``run_coroutine_threadsafe``) and waits for its result.

Binding to port 0 picks a free port; :attr:`SimServer.port` is the real one, and a
restart (outage simulation) binds the same port again.

The ``reset`` fault needs the connection's socket, which ASGI does not expose: the
server uses a subclass of uvicorn's HTTP protocol that records each connection's
transport by peer address, and :meth:`SimServer.abort` finds it from the ASGI scope's
``client`` and aborts it with ``SO_LINGER`` 0 (a TCP RST).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from .._errors import DaktelaError, DaktelaUsageError
from ._app import SimContext

__all__ = ["SimServer"]

T = TypeVar("T")

_STARTUP_TIMEOUT = 10.0
_SHUTDOWN_TIMEOUT = 5.0


def _protocol_class(registry: dict[tuple[str, int], asyncio.Transport]) -> type[asyncio.Protocol]:
    class _RegisteringProtocol(H11Protocol):
        """uvicorn's h11 protocol, remembering each connection's transport."""

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            peer = transport.get_extra_info("peername")
            if isinstance(peer, tuple):
                registry[(str(peer[0]), int(peer[1]))] = transport

        def connection_lost(self, exc: Exception | None) -> None:
            peer = self.transport.get_extra_info("peername")
            if isinstance(peer, tuple):
                registry.pop((str(peer[0]), int(peer[1])), None)
            super().connection_lost(exc)

    return _RegisteringProtocol


class SimServer:
    """One uvicorn server for one simulator application, in a daemon thread.

    Args:
        app: The ASGI application (from :func:`~daktela_async.sim.create_app`).
        ctx: Its :class:`~daktela_async.sim._app.SimContext`.
        host: Interface to bind (loopback by default).
        port: Port to bind; 0 picks a free one.
    """

    def __init__(self, app: Any, ctx: SimContext, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.ctx = ctx
        self.host = host
        self.port = port
        self._transports: dict[tuple[str, int], asyncio.Transport] = {}
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: uvicorn.Server | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        ctx.aborter = self.abort

    @property
    def running(self) -> bool:
        """Whether the server thread is serving."""
        return self._thread is not None and self._thread.is_alive() and self._loop is not None

    def start(self) -> int:
        """Start serving and wait until connections are accepted; returns the port.

        Raises:
            DaktelaUsageError: Already running.
            DaktelaError: The server did not come up (for example the port is taken);
                the cause is chained.
        """
        if self._thread is not None:
            raise DaktelaUsageError("the simulator server is already running")
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(target=self._run, name="daktela-sim", daemon=True)
        self._thread.start()
        if not self._ready.wait(_STARTUP_TIMEOUT) or self._error is not None:
            self.stop()
            raise DaktelaError(
                f"the simulator server did not start: {self._error!r}"
            ) from self._error
        return self.port

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:
            self._error = exc
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            self._loop = None
            loop.close()
            self._ready.set()

    async def _serve(self) -> None:
        config = uvicorn.Config(
            self.app,
            host=self.host,
            port=self.port,
            http=_protocol_class(self._transports),
            lifespan="on",
            log_config=None,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=2,
            timeout_keep_alive=30,
            backlog=4096,
        )
        server = uvicorn.Server(config)
        self._server = server
        task = asyncio.ensure_future(server.serve())
        # uvicorn has no "started" event to wait on.
        while not server.started and not task.done():  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        if server.started:
            self.port = server.servers[0].sockets[0].getsockname()[1]
            self._ready.set()
        await task

    def stop(self) -> None:
        """Stop serving (held requests are answered first) and join the thread."""
        thread, loop = self._thread, self._loop
        if thread is None:
            return
        if loop is not None and thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._begin_shutdown)
        thread.join(_SHUTDOWN_TIMEOUT)
        if thread.is_alive() and self._server is not None:
            self._server.force_exit = True
            thread.join(_SHUTDOWN_TIMEOUT)
        self._thread = None
        self._server = None
        self._transports.clear()

    def _begin_shutdown(self) -> None:
        self.ctx.close()
        if self._server is not None:
            self._server.should_exit = True

    def abort(self, scope: dict[str, Any]) -> bool:
        """Reset the TCP connection of an ASGI *scope*; ``False`` when it is unknown."""
        client = scope.get("client")
        if not client:
            return False
        transport = self._transports.get((str(client[0]), int(client[1])))
        if transport is None:
            return False
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
        return True

    def call(self, fn: Callable[[], T], timeout: float = 10.0) -> T:
        """Run *fn* on the server's loop (so it may touch the state) and return its result.

        When the server is not running (or this is its own thread), *fn* runs here.
        """
        loop = self._loop
        if loop is None or not self.running or threading.current_thread() is self._thread:
            return fn()

        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), loop).result(timeout)
