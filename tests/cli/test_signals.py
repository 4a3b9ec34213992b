"""SIGTERM stops every long-running command cleanly, the same as Ctrl-C: status 0, at once.

A service manager (systemd, Docker, Kubernetes) stops a process with SIGTERM. Each test
starts the real command in a child process, waits for its ready line, sends SIGTERM to
that process only, and checks that it exits with status 0 within 2 seconds, and that
what it was serving ended cleanly: a browser's event stream ends without a reset, a held
request is answered.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from daktela_async.sim import Simulator
from tests.cli.support import connection

ROOT = Path(__file__).resolve().parents[2]

#: How long a command may take to exit after SIGTERM (the issue's bound).
EXIT_WITHIN = 2.0
#: How long a command may take to come up (imports, a first request).
READY_WITHIN = 20.0


class Command:
    """``daktela-async ARGS`` in a child process, its output lines read by two threads."""

    def __init__(self, *argv: str, cwd: Path = ROOT) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(  # noqa: S603 - our interpreter, our arguments
            [sys.executable, "-m", "daktela_async", *argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=cwd,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._readers = [
            threading.Thread(target=self._read, args=(stream, lines), daemon=True)
            for stream, lines in ((self.process.stdout, self.out), (self.process.stderr, self.err))
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: Any, lines: list[str]) -> None:
        for line in stream:
            lines.append(line)
            self._lines.put(line)
        self._lines.put(None)

    @property
    def output(self) -> str:
        return "".join(self.out) + "".join(self.err)

    def wait_for(self, pattern: str, timeout: float = READY_WITHIN) -> re.Match[str]:
        """The first line (stdout or stderr) matching *pattern*; fails after *timeout*."""
        deadline = time.monotonic() + timeout
        ended = 0
        while ended < 2:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no line matching {pattern!r} in time:\n{self.output}"
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                ended += 1
                continue
            found = re.search(pattern, line)
            if found is not None:
                return found
        raise AssertionError(f"exited before {pattern!r}:\n{self.output}")

    def stop(self, signum: int = signal.SIGTERM) -> float:
        """Send *signum* to this process; returns the seconds it took to exit."""
        assert self.process.poll() is None, self.output
        started = time.monotonic()
        self.process.send_signal(signum)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running 10 s after signal {signum}:\n{self.output}")
        elapsed = time.monotonic() - started
        for reader in self._readers:
            reader.join(5)
        return elapsed

    def close(self) -> None:
        """Kill the process if a test left it running (only this one, by its pid)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def command() -> Iterator[Callable[..., Command]]:
    started: list[Command] = []

    def start(*argv: str, cwd: Path = ROOT) -> Command:
        started.append(Command(*argv, cwd=cwd))
        return started[-1]

    try:
        yield start
    finally:
        for each in started:
            each.close()


def assert_clean_exit(cmd: Command, elapsed: float) -> None:
    assert cmd.process.returncode == 0, cmd.output
    assert elapsed < EXIT_WITHIN, f"took {elapsed:.2f} s to exit"
    assert "Traceback" not in cmd.output, cmd.output


class Background:
    """Run *fn* in a thread; :meth:`result` re-raises what it raised."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self._fn = fn
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._fn()
        except BaseException as exc:  # handed to the test in result()
            self._error = exc

    def result(self, timeout: float = 10.0) -> Any:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "still running"
        if self._error is not None:
            raise self._error
        return self._value


class EventStream:
    """A browser's ``/events`` stream, read in a thread until the server ends it."""

    def __init__(self, url: str) -> None:
        self.first = threading.Event()
        self.chunks: list[str] = []
        self._url = url
        self._reader = Background(self._read)

    def _read(self) -> None:
        with (
            httpx.Client(timeout=httpx.Timeout(10.0)) as http,
            http.stream("GET", self._url + "events") as answer,
        ):
            assert answer.status_code == 200, answer.read()
            # An abrupt end (a reset, or a chunked body cut short) raises here.
            for chunk in answer.iter_text():
                self.chunks.append(chunk)
                self.first.set()

    def wait_started(self) -> None:
        assert self.first.wait(10), "no first message on the event stream"
        assert self.chunks[0].startswith("retry:")

    def wait_ended_cleanly(self) -> None:
        self._reader.result()


# --- commands serving HTTP ------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_dashboard(command: Callable[..., Command], sim: Simulator, signum: int) -> None:
    cmd = command("dashboard", "--port", "0", "--stats-interval", "0.5", *connection(sim))
    url = cmd.wait_for(r"^Dashboard: (\S+)").group(1)
    stream = EventStream(url)
    stream.wait_started()
    elapsed = cmd.stop(signum)
    stream.wait_ended_cleanly()
    assert_clean_exit(cmd, elapsed)


def test_demo_web(command: Callable[..., Command]) -> None:
    cmd = command(
        "demo", "--web", "--port", "0", "--agents", "3", "--queues", "1", "--plain", "--every", "5"
    )
    url = cmd.wait_for(r"^Dashboard: (\S+)").group(1)
    stream = EventStream(url)
    stream.wait_started()
    elapsed = cmd.stop()
    stream.wait_ended_cleanly()
    assert_clean_exit(cmd, elapsed)


def test_sim_answers_a_held_request_and_exits_0(command: Callable[..., Command]) -> None:
    cmd = command("sim", "--port", "0", "--agents", "3", "--speed", "0", "--hold", "30")
    url = cmd.wait_for(r"^URL:\s+(\S+)").group(1)
    token = cmd.wait_for(r"^Token:\s+(\S+)").group(1)
    params = {"access_token": token}
    state_url = "/api/4.0/RTUserState/json"
    with httpx.Client(base_url=url, params=params, timeout=10) as http:
        current = http.get(state_url, params={"user": "hajek"}).json()["result"]["hash"]

        def long_poll() -> httpx.Response:
            # Held: the hash is current and the hold is 30 s.
            with httpx.Client(base_url=url, params=params, timeout=10) as other:
                return other.get(state_url, params={"user": "hajek", "hash": current})

        held = Background(long_poll)
        deadline = time.monotonic() + 5
        while http.get("/_sim/state").json()["held_requests"] < 1:
            assert time.monotonic() < deadline, "the long poll was not held"
            time.sleep(0.02)
    elapsed = cmd.stop()
    answer = held.result()
    assert answer.status_code == 200
    assert answer.json()["status"] == 1
    assert_clean_exit(cmd, elapsed)


_SLOW_LOOKUP = """
import sys

import anyio


async def lookup(event):
    print("lookup started", file=sys.stderr, flush=True)
    await anyio.sleep(0.5)
    return {"name": "Slow Answer"}
"""


def test_webhooks_serve_answers_the_hook_in_flight(
    command: Callable[..., Command], tmp_path: Path
) -> None:
    (tmp_path / "slow_lookup.py").write_text(_SLOW_LOOKUP)
    cmd = command(
        "webhooks", "serve", "--port", "0", "--lookup", "slow_lookup:lookup", cwd=tmp_path
    )
    url = cmd.wait_for(r"Uvicorn running on (http://\S+)").group(1)

    def hook() -> httpx.Response:
        params = {"callid": "+420777123456", "dnd": "+420222333444"}
        return httpx.get(f"{url}/hook", params=params, timeout=10)

    in_flight = Background(hook)
    cmd.wait_for("lookup started", timeout=10)
    elapsed = cmd.stop()
    answer = in_flight.result()
    assert answer.status_code == 200
    assert "Slow Answer" in answer.text
    assert_clean_exit(cmd, elapsed)


# --- commands without a server --------------------------------------------------------


def test_watch(command: Callable[..., Command], sim: Simulator) -> None:
    cmd = command("watch", "--all-users", "--stats", "queues", *connection(sim))
    cmd.wait_for(r"^watching ")
    cmd.wait_for(r"agent_state")  # in the loop, long polls held by the simulator
    elapsed = cmd.stop()
    assert_clean_exit(cmd, elapsed)


# --- the helper itself, in process (no signal sent) -----------------------------------


def test_run_returns_the_result_and_raises_errors_unwrapped() -> None:
    from daktela_async._cmdline._signals import run, until_stopped
    from daktela_async.cli._settings import CLIError

    async def fine(value: int) -> int:
        with until_stopped():
            pass
        return value

    async def failing() -> int:
        raise CLIError("bad")

    assert run(fine, 7) == 7
    # Not an exception group: main() prints it as one line.
    with pytest.raises(CLIError, match="bad"):
        run(failing)


def test_run_works_outside_the_main_thread() -> None:
    from daktela_async._cmdline._signals import run

    async def value() -> str:
        return "ran"

    # Signal handlers can only be set in the main thread: there are none, and no error.
    assert Background(lambda: run(value)).result() == "ran"
