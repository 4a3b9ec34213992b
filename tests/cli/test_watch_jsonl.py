"""``daktela-async watch --jsonl`` in a child process: every line is an event's ``to_dict``.

Compact by default (no queue ``options``), everything with ``--full``; each line reads back
with ``Event.from_dict`` and writes out again the same.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from daktela_async.realtime import AgentStateChanged, Event
from daktela_async.sim import Simulator
from tests.cli.support import Run, connection

ROOT = Path(__file__).resolve().parents[2]


def watch(sim: Simulator, *argv: str) -> list[dict[str, Any]]:
    """The JSON lines of ``daktela-async watch ARGV`` run as a child process on *sim*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAKTELA_")}
    env |= {"PYTHONPATH": str(ROOT)}
    done = subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-m", "daktela_async", "watch", *argv, *connection(sim)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def queues_of(line: dict[str, Any]) -> list[dict[str, Any]]:
    """The queue records of an ``agent_state`` line (login queues and calls' queues)."""
    found: list[dict[str, Any]] = []
    for state in (line["previous"], line["current"]):
        if state is not None:
            found += state["login_oqueues"]
            found += [call["oqueue"] for call in state["calls"] if call.get("oqueue")]
    return found


def test_every_line_round_trips_and_has_no_queue_options(sim: Simulator) -> None:
    sim.set_state("hajek", "Speaking")
    sim.pause_on("demouser", "7")
    stats = "queues,sessions,calls,pauses,summary"
    argv = ("--user", "hajek,demouser", "--stats", stats, "--stats-interval", "0.2")
    lines = watch(sim, *argv, "--jsonl", "--duration", "2")
    kinds = {line["kind"] for line in lines}
    assert {"agent_state", "queue_stats", "session", "call", "pause_stats"} <= kinds
    for line in lines:
        assert list(line)[:3] == ["kind", "seq", "time"]
        assert line["time"].endswith("+00:00")
        event = Event.from_dict(line)
        assert event.kind == line["kind"]
        assert event.to_dict(full=False) == line
    agents = [line for line in lines if line["kind"] == "agent_state"]
    assert {line["user"] for line in agents} == {"hajek", "demouser"}
    queues = [q for line in agents for q in queues_of(line)]
    assert queues
    assert all("options" not in q and q["title"] for q in queues)
    hajek = next(line for line in agents if line["user"] == "hajek")
    assert hajek["current"]["calls"][0]["call_state"] == "Speaking"
    assert hajek["current"]["hash"]


def test_full_keeps_every_queues_options(sim: Simulator) -> None:
    sim.set_state("hajek", "Idle")
    [line] = watch(sim, "--user", "hajek", "--jsonl", "--full", "--count", "1", "--duration", "15")
    event = Event.from_dict(line)
    assert isinstance(event, AgentStateChanged)
    assert event.to_dict() == line
    queues = queues_of(line)
    assert queues
    assert all(q["options"] for q in queues)
    assert event.current.login_oqueues[0].options == queues[0]["options"]


def test_full_needs_jsonl(sim: Simulator, run: Run) -> None:
    result = run("watch", "--user", "hajek", "--full", *connection(sim))
    assert result.code == 2
    assert "--full goes with --jsonl" in result.err
