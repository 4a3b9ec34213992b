"""The terminal board shows the day's figures per queue from ``queue_day`` events."""

from __future__ import annotations

import datetime as dt
import json

import attrs
from rich.console import Console

from daktela_async.cli._board import board_text, render_board
from daktela_async.cli._view import Board
from daktela_async.realtime import QueueDay, QueueDayChanged

T0 = dt.datetime(2030, 5, 6, 10, 0, 0, tzinfo=dt.UTC)
SUPPORT = QueueDay(
    queue="1",
    day=dt.date(2030, 5, 6),
    offered=40,
    answered=34,
    abandoned=6,
    answered_in_threshold=30,
    threshold=20.0,
    service_level=0.75,
    asa=12.4,
    aht=151.6,
    longest_wait=185,
)
QUIET = QueueDay(
    queue="9",
    day=dt.date(2030, 5, 6),
    offered=0,
    answered=0,
    abandoned=0,
    answered_in_threshold=0,
    threshold=20.0,
    service_level=None,
    asa=None,
    aht=None,
    longest_wait=None,
)


def day_board() -> Board:
    board = Board(queue_titles={"1": "Support"})
    assert board.apply(QueueDayChanged(queue="1", previous=None, current=SUPPORT)) == [
        "queue_day:1"
    ]
    board.apply(QueueDayChanged(queue="9", previous=None, current=QUIET))
    return board


def cells(text: str, start: str) -> list[str]:
    line = next(line for line in text.splitlines() if line.startswith(start))
    return [cell.strip() for cell in line.split("|")]


def test_the_board_shows_sl_answered_abandoned_asa_aht_and_the_longest_wait() -> None:
    text = board_text(day_board(), title="t", now=T0)
    assert "Today 2030-05-06: service level = answered within 20 s / offered" in text
    header = cells(text, "Queue ")
    assert header == [
        "Queue",
        "SL 20s",
        "Offered",
        "Answered",
        "Abandoned",
        "ASA",
        "AHT",
        "Longest wait",
    ]
    assert cells(text, "Support") == ["Support", "75%", "40", "34", "6", "0:12", "2:32", "3:05"]
    # A queue without calls yet (after midnight): dashes, not zeros that look measured.
    assert cells(text, "Queue 9") == ["Queue 9", "–", "0", "0", "0", "–", "–", "–"]


def test_without_today_there_is_no_days_table() -> None:
    assert "Today" not in board_text(Board(), title="t", now=T0)


def test_a_change_replaces_the_row_and_a_removal_drops_it() -> None:
    board = day_board()
    later = attrs.evolve(SUPPORT, offered=41, abandoned=7, service_level=30 / 41)
    board.apply(QueueDayChanged(queue="1", previous=SUPPORT, current=later))
    assert cells(board_text(board, title="t", now=T0), "Support")[1:3] == ["73%", "41"]
    board.apply(QueueDayChanged(queue="1", previous=later, current=None))
    assert [d.queue for d in board.sorted_days()] == ["9"]
    # The web dashboard passes these events on as they are: no board message of its own.
    assert board.message("queue_day:1") is None


def test_the_snapshot_lists_the_days_figures_as_json() -> None:
    snapshot = day_board().snapshot_json(T0)
    [quiet, support] = json.loads(json.dumps(snapshot["today"]))  # by title
    assert support["queue"] == "1"
    assert support["day"] == "2030-05-06"
    assert support["service_level"] == 0.75
    assert quiet["asa"] is None


def test_the_days_table_leaves_room_for_it_on_a_short_terminal() -> None:
    board = day_board()
    console = Console(width=200, height=20, color_system=None, record=True)
    console.print(render_board(board, title="t", now=T0, height=20, width=200))
    assert "Support" in console.export_text()
