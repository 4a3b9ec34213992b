"""The web dashboard: a Starlette app fed by a watcher, and ``daktela-async dashboard``.

Routes:

- ``/``: the page (:mod:`daktela_async.cli._page`), everything inline.
- ``/events``: server-sent events. Each browser gets its own watcher subscription with
  ``overflow="latest"``, so a slow browser holds only the newest state of each agent
  and queue, never a backlog. The stream opens with ``retry:`` (the reconnection
  delay) and a ``hello`` message, then the replayed current state (every agent and
  queue row at once), then changes as they happen, a ``sample`` of the chart every
  couple of seconds (an hour of them kept), and a ``ping`` when nothing else was sent
  for a while (the page reopens a stream that stays silent). ``source_failed``,
  ``source_recovered`` and ``queue_day`` events also come as they are
  (``event.to_dict()`` less ``previous``): the page dates outages and shows today's
  figures from them.
- ``/snapshot``: the whole board as JSON (the page uses it after ``dropped``).
- ``/metrics``: Prometheus metrics (:class:`~daktela_async.metrics.WatcherMetrics`), in
  the text format.
- ``/healthz``: ``200`` with ``{"status": "ok", ...}`` while no source is failing,
  ``503`` with ``{"status": "stale", "failing": [...], "since": ..., "reason": ...}``
  while one is (or the watch stopped, or the dashboard is stopping).

Every route answers only requests whose ``Host`` is one of the dashboard's names
(``localhost``, ``127.0.0.1``, ``::1``, the address it listens on, and the names given
as ``allowed_hosts``); any other gets ``400``. The dashboard has no login, so without
this check a web page on another site could rebind its own name to this address (DNS
rebinding) and read agents' names and callers' numbers through the visitor's browser;
such a request carries the other site's name as its ``Host``.

Messages are JSON objects with a ``type``: ``hello``, ``agent``, ``queue``,
``sample``, ``source``, ``dropped`` and ``ping`` (the fields are what
:meth:`~daktela_async.cli._view.Board.message` writes).

The server is uvicorn on the caller's asyncio loop (the dashboard needs the asyncio
backend), bound to a socket opened here, so that a port in use is an ``OSError`` to
report rather than uvicorn's exit. Closing the dashboard ends every stream first, so
the server stops at once. :func:`serve_metrics` serves only ``/metrics`` and ``/healthz``
the same way (``daktela-async watch --metrics-port``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import socket
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any, Final

import anyio
import anyio.abc
import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from .._errors import DaktelaError
from .._metrics import Health, MetricsFeed, WatcherMetrics
from ..realtime import (
    AgentStateChanged,
    Event,
    QueueDayChanged,
    QueuesSummaryChanged,
    QueueStatsChanged,
    SourceFailed,
    SourceRecovered,
    Subscription,
)
from ._page import render_page
from ._settings import CLIError
from ._view import Board, ClockOffset, to_millis

# The dashboard's feed is the metrics' feed: a watcher, or Redis read into a hub.
EventFeed = MetricsFeed

__all__ = ["Dashboard", "EventFeed", "metrics_routes", "serve_dashboard", "serve_metrics"]

#: What the board is made of (calls and queue logins are inside the agent states).
_BOARD_KINDS: Final = (
    AgentStateChanged,
    QueueDayChanged,
    QueueStatsChanged,
    QueuesSummaryChanged,
    SourceFailed,
    SourceRecovered,
)

#: Events the page also reads as they are (``event.to_dict()``, without ``previous``):
#: outages with the time they began and their kind of error (the board's ``source``
#: message has neither), and today's figures per queue (the ``today`` stats source).
_PASSED_KINDS: Final = (SourceFailed, SourceRecovered, QueueDayChanged)

_HEADERS: Final = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_PAGE_HEADERS: Final = {
    **_HEADERS,
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "connect-src 'self'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'"
    ),
}


#: The names a browser on this machine reaches a loopback server by.
LOOPBACK_HOSTS: Final = ("localhost", "127.0.0.1", "::1")


def host_key(name: str) -> str:
    """*name* (a host name or address, ``[::1]`` too) as the Host check compares it."""
    name = name.strip().lower().removesuffix(".")
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    try:
        return str(ipaddress.ip_address(name))  # one spelling per address: ::1, not 0::1
    except ValueError:
        return name


def _host_of_header(value: str | None) -> str | None:
    """The host part of a ``Host`` header (``name``, ``name:port``, ``[v6]:port``)."""
    if not value:
        return None
    if value.startswith("["):
        address, bracket, port = value[1:].partition("]")
        if not bracket or (port and not (port[:1] == ":" and port[1:].isdigit())):
            return None
        return host_key(address)
    name, colon, port = value.partition(":")
    if colon and not port.isdigit():
        return None  # a bare IPv6 address or garbage: not a valid Host
    return host_key(name) if name else None


class _HostCheck:
    """ASGI middleware answering ``400`` to requests whose ``Host`` is not allowed.

    Starlette's ``TrustedHostMiddleware`` does the same, but before Starlette 0.47 it
    cuts an IPv6 ``Host`` (``[::1]:8080``) at its first colon; this one compares
    addresses, so ``[::1]`` and ``[0::1]`` are one host.
    """

    def __init__(self, app: ASGIApp, hosts: set[str]) -> None:
        self.app = app
        self.hosts = hosts  # shared with the Dashboard, which may add to it

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            host = _host_of_header(Headers(scope=scope).get("host"))
            if host is None or host not in self.hosts:
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                    return
                response = PlainTextResponse("Invalid host header", 400, headers=_HEADERS)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def metrics_routes(
    metrics: WatcherMetrics, *, stopping: Callable[[], str | None] = lambda: None
) -> list[Route]:
    """``/metrics`` and ``/healthz`` of *metrics*.

    Args:
        metrics: What they answer.
        stopping: Why the server is stopping (``None`` while it is not): ``/healthz``
            then answers ``503`` with that reason.
    """

    async def scrape(request: Request) -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST, headers=_HEADERS)

    async def healthz(request: Request) -> Response:
        health = metrics.health()
        reason = stopping()
        if reason is not None and health.ok:
            health = Health(ok=False, reason=reason, stopped=True, agents=health.agents)
        return JSONResponse(health.to_dict(), status_code=health.status_code, headers=_HEADERS)

    return [Route("/metrics", scrape), Route("/healthz", healthz)]


def _sse(message: dict[str, Any]) -> str:
    return f"data: {json.dumps(message, ensure_ascii=False, separators=(',', ':'))}\n\n"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _passed(event: Event) -> dict[str, Any]:
    """An event the page reads as it is: its ``to_dict()``, less ``previous``."""
    message = event.to_dict(full=False)
    message.pop("previous", None)
    return message


class Dashboard:
    """The web dashboard of one watcher (or any :class:`EventFeed`).

    Run :meth:`run` (in a task group) to keep the shared board and the chart's samples,
    and serve :attr:`app`; :func:`serve_dashboard` does both.

    Args:
        watcher: Where the events come from: a watcher, or any :class:`EventFeed` (its
            ``subscribe`` is called once per browser, and once for the shared board).
        title: The page's title.
        queue_titles: Queue id to name.
        pause_titles: Pause id to name.
        sample_every: Seconds between samples of the chart.
        keep: Samples the chart keeps (``keep * sample_every`` seconds of history: an
            hour by default).
        heartbeat: Seconds of silence after which a stream sends a ``ping``.
        retry: Milliseconds the browser waits before reconnecting a dropped stream.
        allowed_hosts: Host names (or addresses) the page may be reached by, besides
            ``localhost``, ``127.0.0.1`` and ``::1``; a request with another ``Host``
            gets ``400``. :func:`serve_dashboard` adds the address it listens on.
    """

    def __init__(
        self,
        watcher: EventFeed,
        *,
        title: str = "Daktela",
        queue_titles: dict[str, str] | None = None,
        pause_titles: dict[str, str] | None = None,
        sample_every: float = 2.0,
        keep: int = 1800,
        heartbeat: float = 15.0,
        retry: int = 2000,
        allowed_hosts: Iterable[str] = (),
    ) -> None:
        self.watcher = watcher
        self.title = title
        self.queue_titles = dict(queue_titles or {})
        self.pause_titles = dict(pause_titles or {})
        self.clock = ClockOffset()
        self.board = Board(
            queue_titles=self.queue_titles, pause_titles=self.pause_titles, clock=self.clock
        )
        self.samples: deque[tuple[int, int, int]] = deque(maxlen=keep)
        self._keep = keep
        self._sample_every = sample_every
        self._heartbeat = heartbeat
        self._retry = retry
        self._tick = min(1.0, sample_every, heartbeat)
        self._streams: set[Subscription] = set()
        self._closed = False
        self._hosts = {host_key(h) for h in (*LOOPBACK_HOSTS, *allowed_hosts) if h.strip()}
        #: Prometheus metrics and the health check (``/metrics``, ``/healthz``).
        self.metrics = WatcherMetrics(watcher, queue_titles=self.queue_titles)
        self.app = Starlette(
            routes=[
                Route("/", self._page),
                Route("/events", self._events),
                Route("/snapshot", self._snapshot),
                *metrics_routes(self.metrics, stopping=self._stopping),
            ],
            middleware=[Middleware(_HostCheck, hosts=self._hosts)],
        )

    @property
    def allowed_hosts(self) -> frozenset[str]:
        """The host names and addresses requests may carry as their ``Host``."""
        return frozenset(self._hosts)

    def allow_host(self, name: str) -> None:
        """Answer requests whose ``Host`` is *name* too."""
        key = host_key(name)
        if key:
            self._hosts.add(key)

    def _new_board(self) -> Board:
        """A browser's board: it takes known start times from the shared one."""
        return Board(
            queue_titles=self.queue_titles,
            pause_titles=self.pause_titles,
            clock=self.clock,
            reference=self.board,
        )

    @property
    def streams(self) -> int:
        """Browsers connected now."""
        return len(self._streams)

    def _subscribe(self, name: str) -> Subscription:
        # Coalescing keeps one event per agent, queue and source: room for all of them.
        room = len(self.watcher.users) + len(self.queue_titles) + 512
        return self.watcher.subscribe(
            kinds=_BOARD_KINDS, overflow="latest", maxsize=room, name=name
        )

    # --- background work --------------------------------------------------------------------

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Keep the shared board current and sample the chart until cancelled."""
        async with self._subscribe("dashboard") as events, anyio.create_task_group() as tg:
            tg.start_soon(self._sample_forever)
            await tg.start(self.metrics.run)
            task_status.started()
            try:
                async for event in events:
                    self.board.apply(event)
            except DaktelaError:
                # The watcher stopped for good (a refused token): the board keeps its last
                # state, with the final SourceFailed applied, for the pages still open.
                pass
            tg.cancel_scope.cancel()

    def _sample(self) -> None:
        waiting, ready = self.board.totals()
        self.samples.append((to_millis(_now()), waiting, ready))

    async def _sample_forever(self) -> None:
        while True:
            await anyio.sleep(self._sample_every)
            self._sample()

    def _stopping(self) -> str | None:
        return "the dashboard is stopping" if self._closed else None

    def close(self) -> None:
        """End every browser's stream (they reconnect to whatever serves next)."""
        self._closed = True
        for subscription in list(self._streams):
            subscription.close()

    # --- routes -----------------------------------------------------------------------------

    async def _page(self, request: Request) -> Response:
        return HTMLResponse(render_page(self.title), headers=_PAGE_HEADERS)

    def snapshot(self) -> dict[str, Any]:
        """The whole board with the chart's samples, as ``/snapshot`` answers it."""
        return {
            **self.board.snapshot_json(),
            "title": self.title,
            "users": list(self.watcher.users),
            "samples": [list(s) for s in self.samples],
        }

    async def _snapshot(self, request: Request) -> Response:
        return JSONResponse(self.snapshot(), headers=_HEADERS)

    async def _events(self, request: Request) -> Response:
        if self._closed:
            return Response("the dashboard is stopping", status_code=503, headers=_HEADERS)
        if self.watcher.stopped:
            failure = self.watcher.failure
            text = f"the watch stopped: {failure}" if failure else "the watch stopped"
            return Response(text, status_code=503, headers=_HEADERS)
        subscription = self._subscribe(f"browser-{request.client.host if request.client else '?'}")
        self._streams.add(subscription)
        headers = {**_HEADERS, "X-Accel-Buffering": "no"}
        return StreamingResponse(
            self._stream(subscription), media_type="text/event-stream", headers=headers
        )

    def _hello(self) -> dict[str, Any]:
        return {
            "type": "hello",
            "now": to_millis(_now()),
            "title": self.title,
            "users": list(self.watcher.users),
            "samples": [list(s) for s in self.samples],
            "heartbeat": int(self._heartbeat * 1000),
        }

    def _new_samples(self, after: int) -> Iterator[dict[str, Any]]:
        for t, waiting, ready in self.samples:
            if t > after:
                yield {
                    "type": "sample",
                    "t": t,
                    "waiting": waiting,
                    "ready": ready,
                    "keep": self._keep,
                }

    async def _stream(self, subscription: Subscription) -> AsyncIterator[str]:
        board = self._new_board()
        try:
            yield f"retry: {self._retry}\n" + _sse(self._hello())
            last_sample = self.samples[-1][0] if self.samples else 0
            last_sent = anyio.current_time()
            while True:
                chunks: list[str] = []
                event = None
                with anyio.move_on_after(self._tick):
                    try:
                        event = await subscription.__anext__()
                    except (StopAsyncIteration, DaktelaError):
                        return
                while event is not None:
                    for key in board.apply(event):
                        message = board.message(key)
                        if message is not None:
                            chunks.append(_sse(message))
                    if isinstance(event, _PASSED_KINDS):
                        chunks.append(_sse(_passed(event)))
                    event = subscription.get_nowait()
                for sample in self._new_samples(last_sample):
                    last_sample = sample["t"]
                    chunks.append(_sse(sample))
                now = anyio.current_time()
                if not chunks and now - last_sent >= self._heartbeat:
                    chunks.append(_sse({"type": "ping", "now": to_millis(_now())}))
                if chunks:
                    last_sent = now
                    yield "".join(chunks)
        finally:
            subscription.close()
            self._streams.discard(subscription)


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: Ctrl-C belongs to the command."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _url(sock: socket.socket) -> str:
    """The page's address on the listening socket *sock*."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in str(host) else str(host)
    return f"http://{shown}:{port}/"


@contextlib.asynccontextmanager
async def _serve_app(
    app: ASGIApp, sock: socket.socket, *, what: str, before_stop: Callable[[], object]
) -> AsyncIterator[str]:
    """Serve *app* on the listening socket *sock* with uvicorn; yields its URL.

    Leaving the block calls *before_stop* (to end long responses), then stops the server
    gracefully. *what* names the server in the error raised when it does not start.
    """
    config = uvicorn.Config(
        app,
        lifespan="off",
        log_config=None,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,
        # Nothing here reads the client's address or scheme: believe no proxy header.
        proxy_headers=False,
    )
    server = _Server(config)
    done = anyio.Event()

    async def serve() -> None:
        try:
            await server.serve(sockets=[sock])
        finally:
            done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(serve)
        with anyio.fail_after(10):
            while not server.started and not done.is_set():  # noqa: ASYNC110 - no event to wait on
                await anyio.sleep(0.01)
        if done.is_set():
            raise CLIError(f"the {what} did not start")
        try:
            yield _url(sock)
        finally:
            before_stop()
            server.should_exit = True
            with anyio.move_on_after(5, shield=True):
                await done.wait()
            tg.cancel_scope.cancel()


@contextlib.asynccontextmanager
async def serve_dashboard(dashboard: Dashboard, sock: socket.socket) -> AsyncIterator[str]:
    """Serve *dashboard* on the listening socket *sock*; yields the page's URL.

    Leaving the block ends the browsers' streams and stops the server. The address
    *sock* listens on is added to the dashboard's allowed hosts.
    """
    dashboard.allow_host(str(sock.getsockname()[0]))
    async with anyio.create_task_group() as tg:
        await tg.start(dashboard.run)
        try:
            async with _serve_app(
                dashboard.app, sock, what="dashboard's web server", before_stop=dashboard.close
            ) as url:
                yield url
        finally:
            tg.cancel_scope.cancel()


@contextlib.asynccontextmanager
async def serve_metrics(
    metrics: WatcherMetrics, sock: socket.socket, *, allowed_hosts: Iterable[str] = ()
) -> AsyncIterator[str]:
    """Serve only ``/metrics`` and ``/healthz`` of *metrics* on *sock*; yields the base URL.

    Runs :meth:`WatcherMetrics.run <daktela_async.metrics.WatcherMetrics.run>` meanwhile.
    Requests must carry a ``Host`` that is a loopback name, the address *sock* listens
    on, or one of *allowed_hosts* (else ``400``), as the dashboard's do.
    """
    hosts = {
        host_key(h)
        for h in (*LOOPBACK_HOSTS, str(sock.getsockname()[0]), *allowed_hosts)
        if h.strip()
    }
    app = Starlette(
        routes=metrics_routes(metrics), middleware=[Middleware(_HostCheck, hosts=hosts)]
    )
    async with anyio.create_task_group() as tg:
        await tg.start(metrics.run)
        try:
            async with _serve_app(
                app, sock, what="metrics server", before_stop=lambda: None
            ) as url:
                yield url
        finally:
            tg.cancel_scope.cancel()
