"""``daktela-async demo``: a bounded run prints the board; Ctrl-C exits cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli.support import Run

ROOT = Path(__file__).resolve().parents[2]


def test_demo_with_a_duration_prints_the_board_and_exits_0(run: Run) -> None:
    result = run("demo", "--agents", "6", "--queues", "2", "--duration", "2")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].startswith("Daktela demo: 6 agents, 2 inbound queues")
    for login in ("hajek", "hajekhu", "demouser", "novak"):
        assert any(line.startswith(login + " ") for line in lines), login
    assert any(line.startswith("Support ") for line in lines)
    assert "Simulated PBX at http://127.0.0.1:" in result.err
    assert "Traceback" not in result.text


def test_demo_prints_periodic_snapshots_off_a_terminal(run: Run) -> None:
    result = run("demo", "--agents", "3", "--duration", "1.6", "--every", "0.5", "--plain")
    assert result.code == 0, result.err
    assert result.out.count("Daktela demo: 3 agents") >= 3


def test_demo_with_web_prints_the_dashboards_address(run: Run) -> None:
    result = run("demo", "--agents", "3", "--duration", "1", "--web", "--port", "0")
    assert result.code == 0, result.err
    assert "Dashboard: http://127.0.0.1:" in result.out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (("--agents", "0"), "--agents"),
        (("--speed", "-1"), "--speed"),
        (("--duration", "-2"), "--duration"),
        (("--queues", "99"), "--queues"),
        (("--every", "0"), "--every"),
    ],
)
def test_demo_usage_errors(run: Run, argv: tuple[str, ...], needle: str) -> None:
    result = run("demo", *argv)
    assert result.code == 2
    assert needle in result.err
    assert result.err.count("\n") == 1


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child is POSIX")
def test_ctrl_c_closes_everything_and_exits_0() -> None:
    # A child started from a non-interactive shell may inherit SIGINT as ignored; the
    # command is a foreground program, so the child restores Python's default handler.
    code = (
        "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "from daktela_async.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120"}
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-c", code, "demo", "--agents", "4", "--every", "0.3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # the first snapshot: the demo is running
        assert first.startswith("Daktela demo"), first
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert "hajek" in out  # the last board was printed on the way out
