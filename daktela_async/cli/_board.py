"""The terminal board: a :class:`~daktela_async.cli._view.Board` drawn with rich.

Under the queues' live figures comes, when the watcher polls ``today``, a table of the
day's figures per queue: service level, offered, answered, abandoned, ASA, AHT and the
longest wait.

On a terminal the board redraws in place (rich ``Live``), at most four times a second
and at least once a second so that times in state tick. Elsewhere (a pipe, a CI log)
it prints a plain-text snapshot every few seconds and once at the end, so bounded
runs leave readable output.
"""

from __future__ import annotations

import datetime as dt
import io
import math
from collections.abc import Sequence
from typing import Final

import anyio
from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ..realtime import QueueDay, Subscription
from ._view import OFFLINE, AgentView, Board, format_duration

__all__ = ["STATE_STYLES", "board_text", "render_board", "run_board"]

#: rich styles of the agent states (the web dashboard uses the same colours).
STATE_STYLES: Final = {
    "Idle": "bold green",
    "Ringing": "bold yellow",
    "Calling": "yellow",
    "Speaking": "bold red",
    "On Hold": "magenta",
    "Paused": "blue",
    "Logged": "dim",
    OFFLINE: "dim",
}

#: Redraws per second at most, and the longest gap between redraws (time ticks).
_FRAME: Final = 0.25
_TICK: Final = 1.0
#: Lines the title, the queue table's frame and the status line take.
_CHROME_LINES: Final = 10
#: Lines the day's table takes besides its rows (its title, header and frame).
_TODAY_CHROME_LINES: Final = 4
#: Width of one agent column when the agents are spread over several.
_AGENT_COLUMN_WIDTH: Final = 62


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _agent_table(
    agents: Sequence[AgentView], board: Board, now: dt.datetime, *, names: bool, boxed: box.Box
) -> Table:
    table = Table(box=boxed, expand=False, pad_edge=False, show_edge=False)
    table.add_column("Agent", style="bold", no_wrap=True)
    if names:
        table.add_column("Name", style="dim", no_wrap=True, max_width=22)
    table.add_column("State", no_wrap=True)
    table.add_column("Time", justify="right", no_wrap=True)
    table.add_column("Call", no_wrap=True, max_width=34)
    for agent in agents:
        state = Text(agent.state, style=STATE_STYLES.get(agent.state, ""))
        if agent.state == "Paused" and agent.pause is not None:
            state.append(f" {board.pause_title(agent.pause)}", style="dim")
        call = ""
        if agent.call is not None:
            arrow = "←" if agent.call.direction == "in" else "→"
            call = f"{arrow} {agent.call.caller}"
            if agent.calls > 1:
                call += f" (+{agent.calls - 1})"
        elif agent.error:
            call = agent.error
        elapsed = format_duration((now - agent.since).total_seconds())
        row: list[RenderableType] = [agent.login]
        if names:
            row.append(agent.title or "")
        row += [state, elapsed, call]
        table.add_row(*row)
    return table


def _queue_table(board: Board, *, boxed: box.Box) -> Table:
    table = Table(box=boxed, expand=False, pad_edge=False, show_edge=False)
    table.add_column("Queue", style="bold", no_wrap=True)
    for name in ("Agents", "Ready", "Busy", "Paused", "Calls", "Waiting", "Longest"):
        table.add_column(name, justify="right", no_wrap=True)
    for queue in board.sorted_queues():
        waiting_style = "bold red" if queue.waiting else ""
        table.add_row(
            queue.title,
            str(queue.total),
            Text(str(queue.ready), style="green" if queue.ready else ""),
            str(queue.busy),
            str(queue.paused),
            str(queue.calls),
            Text(str(queue.waiting), style=waiting_style),
            format_duration(queue.longest) if queue.waiting else "",
        )
    return table


def _mean(seconds: float | None) -> str:
    return "–" if seconds is None else format_duration(round(seconds))


def _today_title(days: Sequence[QueueDay]) -> Text:
    first = days[0]
    threshold = f"{first.threshold:g}"
    return Text(
        f"Today {first.day:%Y-%m-%d}: service level = answered within {threshold} s / offered",
        style="bold",
    )


def _today_table(board: Board, days: Sequence[QueueDay], *, boxed: box.Box) -> Table:
    table = Table(box=boxed, expand=False, pad_edge=False, show_edge=False)
    table.add_column("Queue", style="bold", no_wrap=True)
    threshold = f"{days[0].threshold:g}"
    for name in (f"SL {threshold}s", "Offered", "Answered", "Abandoned", "ASA", "AHT"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("Longest wait", justify="right", no_wrap=True)
    for day in days:
        level = "–" if day.service_level is None else f"{day.service_level:.0%}"
        table.add_row(
            board.queue_title(day.queue),
            level,
            str(day.offered),
            str(day.answered),
            Text(str(day.abandoned), style="red" if day.abandoned else ""),
            _mean(day.asa),
            _mean(day.aht),
            "–" if day.longest_wait is None else format_duration(day.longest_wait),
        )
    return table


def _status(board: Board, now: dt.datetime, footer: str | None) -> Text:
    text = Text()
    counts = board.state_counts()
    for i, (state, count) in enumerate(sorted(counts.items())):
        if i:
            text.append(" · ")
        text.append(f"{state} {count}", style=STATE_STYLES.get(state, ""))
    waiting, ready = board.totals()
    text.append(f"   waiting {waiting} · ready {ready}")
    text.append(f"   {now.astimezone():%H:%M:%S}", style="dim")
    for source, error in sorted(board.outages.items()):
        text.append(f"\n{source} failing: {error}", style="bold red")
    if footer:
        text.append(f"\n{footer}", style="dim")
    return text


def render_board(
    board: Board,
    *,
    title: str,
    now: dt.datetime | None = None,
    footer: str | None = None,
    height: int | None = None,
    width: int | None = None,
    plain: bool = False,
) -> RenderableType:
    """The board as one rich renderable: title, queues, agents and a status line.

    Args:
        board: What to show.
        title: The first line.
        now: The time the durations are measured to (default: now).
        footer: A last line (the dashboard's address, "Ctrl-C to quit").
        height: Lines available; agents beyond them are spread over columns that fit
            *width* (the rest is cut off). ``None``: one column, however long.
        width: Columns available (with *height*).
        plain: Draw for a log rather than a terminal (ASCII frames).
    """
    moment = now or _now()
    boxed = box.ASCII2 if plain else box.SIMPLE_HEAD
    agents = board.sorted_agents()
    parts: list[RenderableType] = [Text(title, style="bold")]
    if board.queues:
        parts.append(_queue_table(board, boxed=boxed))
    days = board.sorted_days()
    if days:
        parts += [_today_title(days), _today_table(board, days, boxed=boxed)]
    rows = len(agents)
    if height is not None and agents:
        today_lines = len(days) + _TODAY_CHROME_LINES if days else 0
        rows = max(3, height - _CHROME_LINES - len(board.queues) - today_lines)
    columns = max(1, math.ceil(len(agents) / rows)) if agents else 1
    if columns == 1:
        parts.append(_agent_table(agents, board, moment, names=True, boxed=boxed))
    else:
        fit = max(1, (width or 80) // _AGENT_COLUMN_WIDTH)
        grid = Table.grid(padding=(0, 3))
        chunks = [agents[i : i + rows] for i in range(0, len(agents), rows)][:fit]
        for _ in chunks:
            grid.add_column()
        grid.add_row(
            *(_agent_table(chunk, board, moment, names=False, boxed=boxed) for chunk in chunks)
        )
        parts.append(grid)
        hidden = len(agents) - sum(len(chunk) for chunk in chunks)
        if hidden:
            parts.append(
                Text(f"… {hidden} more agents (a larger terminal shows them)", style="dim")
            )
    parts.append(_status(board, moment, footer))
    return Group(*parts)


def board_text(
    board: Board,
    *,
    title: str,
    now: dt.datetime | None = None,
    footer: str | None = None,
    width: int = 110,
) -> str:
    """The board as plain text (no colours, ASCII frames), for logs and tests."""
    console = Console(
        file=io.StringIO(),
        width=width,
        color_system=None,
        force_terminal=False,
        highlight=False,
        emoji=False,
    )
    console.print(render_board(board, title=title, now=now, footer=footer, plain=True))
    file = console.file
    assert isinstance(file, io.StringIO)  # noqa: S101 - we made it one line above
    return file.getvalue()


async def _consume(subscription: Subscription, board: Board, dirty: list[bool]) -> None:
    async for event in subscription:
        if board.apply(event):
            dirty[0] = True


async def run_board(
    subscription: Subscription,
    board: Board,
    *,
    console: Console,
    title: str,
    footer: str | None = None,
    interactive: bool,
    duration: float | None = None,
    every: float = 10.0,
) -> None:
    """Apply the subscription's events to *board* and show it until told to stop.

    Returns after *duration* seconds, when the subscription ends, or when cancelled
    (Ctrl-C): the last frame stays on screen (or, off a terminal, is printed).

    Args:
        subscription: Where the events come from.
        board: The state to keep and draw.
        console: Where to draw.
        title: The board's first line.
        footer: The board's last line.
        interactive: Redraw in place (a terminal), or print snapshots (a log).
        duration: Stop after this many seconds.
        every: Off a terminal, seconds between printed snapshots.
    """
    dirty = [True]

    def frame() -> RenderableType:
        return render_board(
            board,
            title=title,
            footer=footer,
            height=console.size.height,
            width=console.size.width,
        )

    def snapshot() -> str:
        return board_text(board, title=title, footer=footer, width=max(console.width, 100))

    try:
        with anyio.move_on_after(math.inf if duration is None else duration):
            async with anyio.create_task_group() as tg:

                async def consume_then_stop() -> None:
                    await _consume(subscription, board, dirty)
                    tg.cancel_scope.cancel()

                tg.start_soon(consume_then_stop)
                if interactive:
                    with Live(
                        frame(), console=console, auto_refresh=False, vertical_overflow="crop"
                    ) as live:
                        try:
                            last = anyio.current_time()
                            while True:
                                await anyio.sleep(_FRAME)
                                if dirty[0] or anyio.current_time() - last >= _TICK:
                                    dirty[0] = False
                                    last = anyio.current_time()
                                    live.update(frame(), refresh=True)
                        finally:
                            live.update(frame(), refresh=True)
                else:
                    while True:
                        await anyio.sleep(every)
                        console.out(snapshot(), highlight=False)
                        console.file.flush()
    finally:
        if not interactive:
            console.out(snapshot(), highlight=False)
            console.file.flush()
