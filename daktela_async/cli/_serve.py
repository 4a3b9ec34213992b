"""``daktela-async dashboard``, and the listening socket the demo's ``--web`` shares.

This module imports no web framework: the app (:mod:`daktela_async.cli._dashboard`,
Starlette and uvicorn) is imported when the command runs, so that the other commands
work without the ``cli`` extra.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import ipaddress
import math
import socket
import sys
from typing import TYPE_CHECKING, Any, Final, TextIO

import anyio

from .._cmdline._signals import run as run_until_stopped
from .._cmdline._signals import until_stopped
from ._settings import (
    CLIError,
    add_connection_arguments,
    check_connection,
    open_client,
    resolve_connection,
    split_csv,
)
from ._view import fetch_titles, logged_in_agents

if TYPE_CHECKING:
    from .._client import DaktelaClient
    from ..realtime import Watcher

__all__ = [
    "DEFAULT_PORT",
    "add_allow_host_argument",
    "add_parser",
    "allowed_hosts",
    "bind",
    "exposure_warning",
    "open_socket",
    "run",
]

#: The port the dashboard listens on unless told otherwise.
DEFAULT_PORT: Final = 8080

#: Seconds between looks for agents who logged in since the dashboard started.
_REDISCOVER: Final = 60.0


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on *host*:*port* (0 picks a free port).

    Raises:
        OSError: The address is taken or cannot be bound.
    """
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        family = socket.AF_INET  # a name such as "localhost"
    sock = socket.create_server((host, port), family=family, backlog=128)
    sock.setblocking(False)
    return sock


def open_socket(host: str, port: int | None) -> tuple[socket.socket, str | None]:
    """Bind *port*, or :data:`DEFAULT_PORT` with a free port as the fallback.

    Returns:
        The socket, and a note for the user when the default port was taken.

    Raises:
        CLIError: The address cannot be bound.
    """
    wanted = DEFAULT_PORT if port is None else port
    try:
        return bind(host, wanted), None
    except OSError as exc:
        error = exc
        if port is None and exc.errno == errno.EADDRINUSE:
            try:
                return bind(host, 0), f"port {DEFAULT_PORT} is taken; using a free one"
            except OSError as again:
                error = again
    raise CLIError(f"cannot listen on {host}:{wanted}: {error.strerror or error}")


def exposure_warning(host: str) -> str | None:
    """A warning when *host* is not a loopback address (the dashboard has no login)."""
    if host == "localhost":
        return None
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(host).is_loopback:
            return None
    return (
        f"warning: listening on {host}: whoever can reach it sees agents' names and "
        "callers' numbers (the dashboard has no login); browsers must use this address "
        "or a name given with --allow-host"
    )


def announce(url: str, note: str | None, host: str, out: TextIO, err: TextIO) -> None:
    """Print where the dashboard is served, after any note about the port or exposure."""
    for line in (note, exposure_warning(host)):
        if line:
            print(line, file=err, flush=True)
    print(f"Dashboard: {url}", file=out, flush=True)


async def serve_until_stopped(duration: float | None) -> None:
    """Wait for *duration* (forever: ``None``), or until SIGTERM or Ctrl-C.

    A signal ends this wait only: leaving the serving blocks then ends the browsers'
    streams and stops the server gracefully.
    """
    with until_stopped():
        await anyio.sleep(math.inf if duration is None else duration)


def add_allow_host_argument(
    parser: argparse._ActionsContainer,
    *,
    what: str = "the dashboard",
    host_flag: str = "--host",
) -> None:
    """Add ``--allow-host NAME``: a name *what* may be reached by (DNS rebinding).

    Args:
        parser: The parser (or argument group) to add it to.
        what: What is served, for the help text.
        host_flag: The option naming the interface listened on, for the help text.
    """
    parser.add_argument(
        "--allow-host",
        action="append",
        metavar="NAME",
        dest="allow_hosts",
        help=f"host name {what} may be reached by, besides localhost, 127.0.0.1, "
        f"::1 and {host_flag} (repeat, or separate with commas); other Host headers get 400",
    )


def allowed_hosts(args: argparse.Namespace) -> list[str]:
    """The names the dashboard answers to beyond loopback: ``--host`` and ``--allow-host``."""
    return [args.host, *split_csv(args.allow_hosts)]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``dashboard`` command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "dashboard",
        help="serve the live web dashboard for a PBX",
        description="Serve a live web dashboard (agent board, queue statistics, chart) "
        "for a PBX, until Ctrl-C (or --duration).",
    )
    parser.add_argument(
        "--user",
        action="append",
        metavar="LOGIN",
        dest="users",
        help="agent to show (repeat, or separate with commas); default: every agent "
        "logged in, looked up again every minute",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (127.0.0.1)")
    add_allow_host_argument(parser)
    parser.add_argument(
        "--port", type=int, help=f"port ({DEFAULT_PORT}, or a free one when it is taken)"
    )
    parser.add_argument(
        "--stats-interval",
        type=float,
        default=2.0,
        metavar="S",
        help="seconds between queue statistics polls (2)",
    )
    parser.add_argument("--title", help="the page's title (default: Daktela and the host)")
    parser.add_argument(
        "--duration", type=float, metavar="S", help="stop after S seconds (default: Ctrl-C)"
    )
    redis = parser.add_argument_group(
        "redis", "Serve what a RedisSink (watch --redis) writes, without polling the PBX."
    )
    redis.add_argument(
        "--redis",
        metavar="URL",
        help="read the events from this Redis (redis://HOST:PORT/DB; needs --name; "
        "no PBX settings)",
    )
    redis.add_argument("--name", help="the PBX's name in the Redis keys")
    add_connection_arguments(parser)
    parser.set_defaults(handler=run)
    return parser


async def _rediscover(watcher: Watcher, client: DaktelaClient, interval: float) -> None:
    """Every *interval* seconds, start watching agents who logged in since."""
    from .._errors import DaktelaError

    while True:
        await anyio.sleep(interval)
        # An outage here is the watcher's to report; the next round tries again.
        with contextlib.suppress(DaktelaError):
            known = set(watcher.users)
            await watcher.add_users(u for u in await logged_in_agents(client) if u not in known)


def _host_of(url: str) -> str:
    return url.split("://", 1)[-1].split("/", 1)[0]


async def _dashboard(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .._transport._request import version_key
    from ._dashboard import Dashboard, serve_dashboard

    if args.duration is not None and not args.duration > 0:
        raise CLIError("--duration must be a positive number of seconds", exit_code=2)
    if args.redis is not None:
        return await _dashboard_redis(args, out, err)
    if args.name is not None:
        raise CLIError("--name goes with --redis", exit_code=2)
    if not args.stats_interval > 0:
        raise CLIError("--stats-interval must be a positive number of seconds", exit_code=2)
    users = split_csv(args.users)
    connection = resolve_connection(args)
    sock, note = open_socket(args.host, args.port)
    with sock:
        async with open_client(connection) as client:
            await check_connection(client)
            discover = not users
            if discover:
                users = await logged_in_agents(client)
            queues, pauses = await fetch_titles(client)
            title = args.title or f"Daktela · {_host_of(client.base_url)}"
            # The day's figures per queue (StatsCalls, API 4.1) at their own pace (30 s).
            today = ("today",) if version_key(client.api_version) >= (4, 1) else ()
            watcher = client.watch(
                users,
                stats=("queues", "summary", *today),
                stats_interval={"queues": args.stats_interval, "summary": args.stats_interval},
            )
            async with watcher:
                dashboard = Dashboard(
                    watcher,
                    title=title,
                    queue_titles=queues,
                    pause_titles=pauses,
                    allowed_hosts=allowed_hosts(args),
                )
                async with serve_dashboard(dashboard, sock) as url, anyio.create_task_group() as tg:
                    announce(url, note, args.host, out, err)
                    print(
                        f"watching {len(users)} agents at {client.base_url}; Ctrl-C to stop",
                        file=err,
                        flush=True,
                    )
                    if discover:
                        tg.start_soon(_rediscover, watcher, client, _REDISCOVER)
                    await serve_until_stopped(args.duration)
                    tg.cancel_scope.cancel()
    return 0


async def _dashboard_redis(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``dashboard --redis``: the board of what a sink writes; the PBX is not contacted."""
    from ._dashboard import Dashboard, serve_dashboard
    from ._redis import RedisFeed, check_redis_name, check_redis_url, connect, redact_url

    check_redis_url(args.redis, "--redis")
    if not args.name:
        raise CLIError("--redis needs --name (the PBX's name in the keys)", exit_code=2)
    if args.users:
        raise CLIError("--user does not apply with --redis: the sink chose them", exit_code=2)
    name = check_redis_name(args.name)
    sock, note = open_socket(args.host, args.port)
    with sock:
        async with connect(args.redis) as redis, anyio.create_task_group() as tg:
            feed = RedisFeed(redis, name=name)
            await tg.start(feed.run)
            dashboard = Dashboard(
                feed, title=args.title or f"Daktela · {name}", allowed_hosts=allowed_hosts(args)
            )
            async with serve_dashboard(dashboard, sock) as url:
                announce(url, note, args.host, out, err)
                print(
                    f"serving {name} from Redis at {redact_url(args.redis)}; Ctrl-C to stop",
                    file=err,
                    flush=True,
                )
                await serve_until_stopped(args.duration)
            tg.cancel_scope.cancel()
    return 0


def run(args: argparse.Namespace) -> int:
    """Run ``dashboard`` with parsed arguments; returns the exit status."""
    return run_until_stopped(_dashboard, args, sys.stdout, sys.stderr) or 0
