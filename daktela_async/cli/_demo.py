"""``daktela-async demo``: a simulated call centre, watched live, in the first minute.

Starts the embedded simulator (its call-centre model makes agents ring, speak and
pause by themselves), watches every agent, the queue statistics and the day's figures
per queue (service level, abandoned calls, ASA, AHT) through the real client and
realtime engine, and draws the board; ``--web`` serves the web dashboard
on the same watcher. Ctrl-C, or ``--duration``, closes everything and exits 0.
"""

from __future__ import annotations

import argparse
import math
import sys
from contextlib import AsyncExitStack
from typing import Any, TextIO

import anyio
import anyio.to_thread

from .._cmdline._signals import run as run_until_stopped
from .._cmdline._signals import until_stopped
from ._serve import add_allow_host_argument, allowed_hosts, announce, open_socket
from ._settings import CLIError

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``demo`` command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="watch a simulated call centre live (start here)",
        description="Start a simulated PBX whose agents take calls and pause by "
        "themselves, watch them all and show a live board (and with --web, the web "
        "dashboard). Ctrl-C stops.",
    )
    parser.add_argument("--agents", type=int, default=20, help="agents (20)")
    parser.add_argument("--queues", type=int, default=3, help="inbound queues (3)")
    parser.add_argument(
        "--speed", type=float, default=5.0, help="simulated seconds per real second (5)"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed (1)")
    parser.add_argument(
        "--duration", type=float, metavar="S", help="stop after S seconds (default: Ctrl-C)"
    )
    parser.add_argument("--web", action="store_true", help="also serve the web dashboard")
    parser.add_argument("--host", default="127.0.0.1", help="dashboard interface (127.0.0.1)")
    add_allow_host_argument(parser)
    parser.add_argument("--port", type=int, help="dashboard port (8080, or a free one)")
    parser.add_argument(
        "--plain", action="store_true", help="print snapshots instead of a live board"
    )
    parser.add_argument(
        "--every",
        type=float,
        default=10.0,
        metavar="S",
        help="with --plain or off a terminal: seconds between snapshots (10)",
    )
    parser.set_defaults(handler=run)
    return parser


def _check(args: argparse.Namespace) -> None:
    if not 1 <= args.agents <= 2000:
        raise CLIError("--agents must be between 1 and 2000", exit_code=2)
    if not 1 <= args.queues <= 50:
        raise CLIError("--queues must be between 1 and 50", exit_code=2)
    if not (args.speed > 0 and math.isfinite(args.speed)):
        raise CLIError("--speed must be a positive number", exit_code=2)
    if args.duration is not None and not args.duration > 0:
        raise CLIError("--duration must be a positive number of seconds", exit_code=2)
    if not args.every > 0:
        raise CLIError("--every must be a positive number of seconds", exit_code=2)


async def _demo(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    _check(args)
    from rich.console import Console

    from .._client import DaktelaClient
    from ..realtime import (
        AgentStateChanged,
        QueueDayChanged,
        QueuesSummaryChanged,
        QueueStatsChanged,
        SourceFailed,
        SourceRecovered,
    )
    from ..sim import Simulator, Traffic

    # Livelier than the simulator's default (3-minute calls): at 5x speed, a call
    # every second or so, and every agent's first call within half a minute.
    traffic = Traffic(
        utilisation=0.75, talk_mean=60.0, patience_mean=60.0, break_chance=0.05, break_mean=90.0
    )
    from ._board import run_board
    from ._dashboard import Dashboard, serve_dashboard
    from ._view import Board, fetch_titles

    sock, note = open_socket(args.host, args.port) if args.web else (None, None)
    console = Console(file=out)
    interactive = console.is_terminal and not args.plain
    print(
        f"Starting a simulated PBX: {args.agents} agents, {args.queues} queues, "
        f"{args.speed:g}x speed, seed {args.seed}",
        file=err,
        flush=True,
    )
    async with AsyncExitStack() as stack:
        if sock is not None:
            stack.enter_context(sock)
        sim = await stack.enter_async_context(
            Simulator(
                agents=args.agents,
                queues=args.queues,
                seed=args.seed,
                speed=args.speed,
                traffic=traffic,
            )
        )
        snapshot = await anyio.to_thread.run_sync(sim.snapshot)
        logins = sorted(login for login, agent in snapshot["agents"].items() if agent["logged"])
        print(
            f"Simulated PBX at {sim.url} (API user admin, password daktela)", file=err, flush=True
        )
        client = await stack.enter_async_context(DaktelaClient(sim.url, sim.token))
        queue_titles, pause_titles = await fetch_titles(client)
        # The day's figures every 5 s rather than 30: calls end every second or so here.
        watcher = await stack.enter_async_context(
            client.watch(
                logins,
                stats=("queues", "summary", "today"),
                stats_interval={"queues": 1.0, "summary": 1.0, "today": 5.0},
            )
        )
        footer = "Ctrl-C to quit"
        title = (
            f"Daktela demo: {len(logins)} agents, {args.queues} inbound queues "
            f"(simulated PBX, {args.speed:g}x speed)"
        )
        if sock is not None:
            dashboard = Dashboard(
                watcher,
                title="Daktela demo (simulated PBX)",
                queue_titles=queue_titles,
                pause_titles=pause_titles,
                allowed_hosts=allowed_hosts(args),
            )
            url = await stack.enter_async_context(serve_dashboard(dashboard, sock))
            announce(url, note, args.host, out, err)
            footer = f"Dashboard: {url} · Ctrl-C to quit"
        board = Board(queue_titles=queue_titles, pause_titles=pause_titles)
        kinds = (
            AgentStateChanged,
            QueueDayChanged,
            QueueStatsChanged,
            QueuesSummaryChanged,
            SourceFailed,
            SourceRecovered,
        )
        subscription = watcher.subscribe(
            kinds=kinds, overflow="latest", maxsize=len(logins) + 512, name="board"
        )
        # SIGTERM and Ctrl-C end the board only: the dashboard, the watcher and the
        # simulator then close in order (browsers see their streams end cleanly).
        async with subscription:
            with until_stopped():
                await run_board(
                    subscription,
                    board,
                    console=console,
                    title=title,
                    footer=footer if interactive else None,
                    interactive=interactive,
                    duration=args.duration,
                    every=args.every,
                )
    return 0


def run(args: argparse.Namespace) -> int:
    """Run ``demo`` with parsed arguments; returns the exit status."""
    return run_until_stopped(_demo, args, sys.stdout, sys.stderr) or 0
