"""``daktela-async watch`` stops, saying why, when none of the watched agents exists.

Run as the user runs it: a child process against the module's simulator.
"""

from __future__ import annotations

import json
import subprocess
import sys

import attrs
import pytest

from daktela_async.sim import Simulator
from tests.cli.support import connection

#: Each run ends by itself; this only bounds a regression that would watch forever.
LIMIT = 30.0


@attrs.frozen
class Finished:
    """What one child ``daktela-async`` printed and returned."""

    code: int
    out: str
    err: str


def watch(sim: Simulator, *argv: str) -> Finished:
    """Run ``daktela-async watch *argv`` against *sim* in a child process."""
    try:
        done = subprocess.run(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, "-m", "daktela_async", "watch", *argv, *connection(sim)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=LIMIT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"watch {' '.join(argv)} was still running after {LIMIT} s: {exc.stderr!r}")
    return Finished(done.returncode, done.stdout, done.stderr)


def error_line(result: Finished) -> str:
    [line] = [ln for ln in result.err.splitlines() if ln.startswith("daktela-async: error:")]
    return line


def test_no_watched_agent_exists(sim: Simulator) -> None:
    result = watch(sim, "--user", "nosuch", "--user", "ghost,nobody")
    assert result.code == 1, result.err
    line = error_line(result)
    assert "none of the 3 watched agents exists on the PBX" in line
    assert "nosuch, ghost, nobody" in line
    assert "Uživatel neexistuje" in line
    assert sim.token not in result.err + result.out
    # Each agent's failure was printed as it came, before the verdict.
    assert result.out.count("source_failed") == 3


def test_one_unknown_agent_says_which(sim: Simulator) -> None:
    result = watch(sim, "--user", "nosuch", "--kind", "agent_state", "--jsonl")
    assert result.code == 1, result.err
    assert "the watched agent 'nosuch' does not exist on the PBX" in error_line(result)
    # --kind hides the failures from the output, not from the check.
    assert result.out == ""


def test_some_unknown_agents_are_a_warning(sim: Simulator) -> None:
    sim.set_state("hajek", "Idle")
    result = watch(
        sim, "--user", "nosuch,hajek", "--kind", "agent_state", "--count", "1", "--jsonl"
    )
    assert result.code == 0, result.err
    assert "warning: 1 of the 2 watched agents do not exist on the PBX" in result.err
    assert ": nosuch (" in result.err
    [line] = result.out.splitlines()
    assert json.loads(line)["user"] == "hajek"


def test_unknown_agents_beside_statistics_are_a_warning(sim: Simulator) -> None:
    result = watch(sim, "--user", "nosuch", "--stats", "summary", "--duration", "1.5")
    assert result.code == 0, result.err
    assert "warning: the watched agent 'nosuch' does not exist" in result.err
    assert "queues_summary" in result.out


def test_a_logged_out_agent_exists(sim: Simulator) -> None:
    # `admin` is a user of the PBX, logged out: RTUserState says so, and the watch goes on.
    result = watch(sim, "--user", "admin", "--duration", "1.5")
    assert result.code == 0, result.err
    assert "Agent není přihlášen" in result.out
    assert "does not exist" not in result.err
