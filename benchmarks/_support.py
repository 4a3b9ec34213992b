"""What the benchmark rows share: child-process servers, measuring, and the table.

Servers run in child processes so that their CPU is never counted as the client's: the
client's CPU is ``time.process_time()`` of this process. Child processes:

- ``python -m benchmarks._support canned --agents N``: a minimal HTTP/1.1 server
  answering canned envelopes (rendered once by the simulator) for row 1;
- ``python -m benchmarks._support sim --agents N --hold H [--hold-ends E]``: the
  simulator (frozen clock; ``E`` as ``Simulator(hold_ends=...)``), controlled over stdin
  with one JSON object per line (``toggle`` an agent's pause, ``toggle_all``, ``stop`` /
  ``start`` the server, ``held``, ``hold``, ``inject`` a fault, ``clear_faults``,
  ``traffic``: what the PBX was asked, optionally ``reset``).

Both print one JSON line (URL, token, logins) when ready, and answer each command with
one JSON line. ``time.monotonic()`` is ``CLOCK_MONOTONIC`` on Linux, shared by every
process, so the simulator's timestamp of a change can be compared with the client's
timestamp of the event.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import importlib.metadata
import io
import json
import os
import platform
import pstats
import re
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Self

import attrs

if TYPE_CHECKING:
    from daktela_async.sim import HoldEnds

ROOT: Final = Path(__file__).resolve().parent.parent
_READY_TIMEOUT: Final = 60.0
_COMMAND_TIMEOUT: Final = 60.0

# --- results ------------------------------------------------------------------------------


@attrs.frozen(slots=True)
class Line:
    """One line of the table: a subject measured against its baseline in the same run.

    Attributes:
        row: The issue's row number (1-9).
        case: What was measured.
        measured: The subject's figure, with its unit.
        baseline: The baseline's figure(s), or ``-``.
        ratio: Subject over baseline (``-`` when the row has no baseline).
        target: The target, or ``-``.
        met: Whether the target is met (``None``: no target, or not measured).
        limit: When missed, what limits it (explanation, evidence).
    """

    row: int
    case: str
    measured: str
    baseline: str = "-"
    ratio: str = "-"
    target: str = "-"
    met: bool | None = None
    limit: str = ""


ROW_TITLES: Final = {
    1: "Call overhead",
    2: "Decoding",
    3: "Watch scale",
    4: "Detection latency",
    5: "Fan-out",
    6: "Webhooks",
    7: "Outage",
    8: "Redis",
    9: "Fleet",
}


def ratio_text(value: float, digits: int = 2) -> str:
    """``0.62x``."""
    return f"{value:.{digits}f}x"


def us(seconds: float) -> str:
    """Seconds as microseconds, ``41.2 µs``."""
    return f"{seconds * 1e6:.1f} µs" if seconds < 1e-4 else f"{seconds * 1e6:.0f} µs"


def ms(seconds: float) -> str:
    """Seconds as milliseconds, ``3.21 ms``."""
    value = seconds * 1e3
    if value < 10:
        return f"{value:.2f} ms"
    return f"{value:.1f} ms" if value < 100 else f"{value:.0f} ms"


def kib(n_bytes: float) -> str:
    """Bytes as KiB, ``38.5 KB``."""
    return f"{n_bytes / 1024:.1f} KB"


def percentile(values: Sequence[float], q: float) -> float:
    """The *q*-th percentile (0-100) of *values*, linearly interpolated."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Sequence[float]) -> float:
    """The median of *values*."""
    return percentile(values, 50)


# --- measuring ----------------------------------------------------------------------------


def cpu() -> float:
    """CPU seconds used by this process (every thread), user plus system."""
    return time.process_time()


_PAGE: Final = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    """Resident set size of this process, in bytes."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * _PAGE


def settle() -> None:
    """Collect garbage so that one measurement does not pay for the previous one."""
    gc.collect()


#: Set (to a folder) by ``nox -s profile``: the row's process profiles the whole row with
#: cProfile and writes its stats there (``benchmarks/__main__.py``).
PROFILE_ENV: Final = "DAKTELA_BENCH_PROFILE"


class Profile:
    """``with Profile() as p: ...``, then ``p.top()``: where this thread's CPU went.

    Under ``nox -s profile`` (``PROFILE_ENV`` set) the whole row is already profiled, and
    a second cProfile would replace that one for good: this one then records nothing.
    """

    def __init__(self) -> None:
        self._profile = cProfile.Profile()
        self._active = not os.environ.get(PROFILE_ENV)

    def __enter__(self) -> Self:
        if self._active:
            self._profile.enable()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._active:
            self._profile.disable()

    def top(self, count: int = 8, sort: str = "tottime") -> str:
        """The *count* functions with the most time (*sort*: own or cumulative), one a line.

        Waiting in the event loop's ``epoll`` is idle time, not work: it is left out.
        """
        if not self._active:
            return "(not profiled here: the whole row runs under `nox -s profile`)"
        out = io.StringIO()
        stats = pstats.Stats(self._profile, stream=out)
        stats.sort_stats(sort).print_stats(count + len(_IDLE))
        lines = [
            line
            for line in out.getvalue().splitlines()
            if re.match(r"\s+\d", line)
            and "function calls" not in line
            and not any(idle in line for idle in _IDLE)
        ]
        header = "   ncalls  tottime  percall  cumtime  percall filename:lineno(function)"
        return "\n".join([header, *(_shorten(line) for line in lines[:count])])


#: Profile lines that are the event loop waiting or dispatching, or the benchmark itself.
_IDLE: Final = (
    "benchmarks/",
    "select.epoll",
    "selectors.py",
    "base_events.py:1845(_run_once)",
    "events.py:78(_run)",
    "'run' of '_contextvars.Context'",
)


def _shorten(line: str) -> str:
    return re.sub(r"\S*/(site-packages|lib/python3\.\d+|main)/", "", line.rstrip())


# --- machine ------------------------------------------------------------------------------

_PACKAGES: Final = (
    "daktela-async",
    "httpx",
    "httpcore",
    "h11",
    "aiohttp",
    "anyio",
    "attrs",
    "cattrs",
    "orjson",
    "starlette",
    "uvicorn",
)


def machine() -> dict[str, str]:
    """What the figures were measured on: CPU, cores, load, Python, package versions."""
    model = platform.processor() or "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as info:
        for text in info:
            if text.startswith("model name"):
                model = text.split(":", 1)[1].strip()
                break
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    versions = []
    for name in _PACKAGES:
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return {
        "CPU": model,
        "Cores": f"{os.cpu_count()} ({usable} usable by this process)",
        "Load average at start (1, 5, 15 min)": load,
        "OS": f"{platform.system()} {platform.release()}",
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "Packages": ", ".join(versions),
    }


# --- the table ----------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _status(met: bool | None) -> str:
    return {True: "met", False: "**missed**", None: "-"}[met]


def render_table(lines: Sequence[Line]) -> str:
    """The Markdown table of every line."""
    out = [
        "| # | Row | Case | Measured | Baseline | Ratio | Target | Status |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for line in lines:
        cells = (
            str(line.row),
            ROW_TITLES.get(line.row, "?"),
            line.case,
            line.measured,
            line.baseline,
            line.ratio,
            line.target,
            _status(line.met),
        )
        out.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(out)


def render_text(lines: Sequence[Line]) -> str:
    """The table as aligned plain text, for the terminal."""
    header = ("#", "Case", "Measured", "Baseline", "Ratio", "Target", "Status")
    rows = [
        (
            str(x.row),
            x.case,
            x.measured,
            x.baseline,
            x.ratio,
            x.target,
            {True: "met", False: "MISSED", None: "-"}[x.met],
        )
        for x in lines
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    text = [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *rows]
    ]
    text.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(text)


def render_document(
    lines: Sequence[Line],
    *,
    quick: bool,
    elapsed: float,
    host: dict[str, str],
    notes: Sequence[str],
) -> str:
    """``docs/benchmarks.md``: how to read it, the machine, the table, the misses."""
    mode = "quick (`python -m benchmarks --quick`)" if quick else "full (`nox -s bench`)"
    out = [
        "# Benchmarks",
        "",
        "Generated by `python -m benchmarks` (`nox -s bench`); do not edit by hand. Every",
        "figure below comes from one run on the machine described here, and every ratio",
        "compares a subject with its baseline measured in that same run, interleaved. Tests",
        "never assert speed: this is where it is measured.",
        "",
        f"Run: {mode}, {elapsed:.0f} s in total.",
        "",
        "## How the figures are taken",
        "",
        *notes,
        "",
        "## Machine",
        "",
        *(f"- **{key}**: {value}" for key, value in host.items()),
        "",
        "## Results",
        "",
        render_table(lines),
        "",
        "## Targets missed",
        "",
    ]
    missed = [line for line in lines if line.met is False]
    if not missed:
        out.append("None: every target was met in this run.")
    for line in missed:
        out.append(
            f"### Row {line.row} ({ROW_TITLES.get(line.row, '?')}): {line.case}\n\n"
            f"Measured {line.measured} against the target {line.target}"
            + (f" (baseline {line.baseline}, ratio {line.ratio})." if line.ratio != "-" else ".")
        )
        if line.limit:
            out.append("")
            out.append(line.limit)
        out.append("")
    return "\n".join(out).rstrip() + "\n"


# --- child processes ----------------------------------------------------------------------


class Child:
    """A server in a child process, driven by JSON lines over its stdin and stdout.

    ``async with Child("sim", "--agents", "1000") as sim:`` waits for the child's first
    line (``sim.hello``); ``await sim.command("toggle", user="agent001")`` sends one
    command and returns its answer. Leaving the block asks the child to quit, then
    kills it if it does not.
    """

    def __init__(self, kind: str, *args: str) -> None:
        self._argv = [sys.executable, "-m", "benchmarks._support", kind, *args]
        self._process: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()
        self.hello: dict[str, Any] = {}

    @property
    def pid(self) -> int:
        """The child's process id."""
        if self._process is None:
            raise RuntimeError("not started")
        return self._process.pid

    async def __aenter__(self) -> Self:
        self._process = await asyncio.create_subprocess_exec(
            *self._argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=ROOT,
            limit=2**24,
        )
        self.hello = await self._read(_READY_TIMEOUT)
        return self

    async def _read(self, timeout: float) -> dict[str, Any]:
        assert self._process is not None
        assert self._process.stdout is not None
        line = await asyncio.wait_for(self._process.stdout.readline(), timeout)
        if not line:
            raise RuntimeError(f"child {self._argv[3:]} exited")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"child {self._argv[3]}: {answer['error']}")
        return answer

    async def command(self, op: str, **arguments: Any) -> dict[str, Any]:
        """Send one command; return the child's answer."""
        assert self._process is not None
        assert self._process.stdin is not None
        async with self._lock:
            self._process.stdin.write(json.dumps({"op": op, **arguments}).encode() + b"\n")
            await self._process.stdin.drain()
            return await self._read(_COMMAND_TIMEOUT)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(Exception):
            assert process.stdin is not None
            process.stdin.write(b'{"op": "quit"}\n')
            await process.stdin.drain()
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


async def poll_until(predicate: Callable[[], Awaitable[bool]], timeout: float) -> bool:
    """Check *predicate* every 0.1 s until it holds (``True``) or *timeout* passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(0.1)
    return False


def child_cpu(pid: int) -> float:
    """CPU seconds used so far by process *pid* (for the record: never the client's)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


# --- the canned server (row 1) --------------------------------------------------------------

_NOT_FOUND: Final = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"


class _CannedProtocol(asyncio.Protocol):
    """HTTP/1.1 keep-alive: answer each GET with the canned reply for its action."""

    def __init__(self, replies: dict[bytes, bytes]) -> None:
        self._replies = replies
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data if self._buffer else data
        replies = []
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            request_line = buffer[: buffer.find(b"\r\n")]
            buffer = buffer[end + 4 :]
            # GET /api/4.1/RTUsersState/json?... HTTP/1.1
            parts = request_line.split(b" ", 2)[1].split(b"?", 1)[0].split(b"/")
            replies.append(self._replies.get(parts[3] if len(parts) > 3 else b"", _NOT_FOUND))
        self._buffer = buffer
        if replies and self._transport is not None:
            self._transport.write(b"".join(replies))


def _canned_replies(agents: int) -> tuple[dict[bytes, bytes], str]:
    import httpx

    from daktela_async.sim import SimState, create_app

    state = SimState(agents=agents, queues=3, seed=1)
    app = create_app(state)
    token = next(iter(state.tokens))

    async def fetch() -> dict[bytes, bytes]:
        replies: dict[bytes, bytes] = {}
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://sim"
        ) as client:
            for action in ("RTStatsQueuesSummary", "RTUsersState"):
                response = await client.get(
                    f"/api/4.1/{action}/json", params={"access_token": token}
                )
                body = response.content
                replies[action.encode()] = (
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                )
        return replies

    return asyncio.run(fetch()), token


def _serve_canned(agents: int) -> None:
    replies, token = _canned_replies(agents)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: _CannedProtocol(replies), "127.0.0.1", 0, backlog=1024
        )
        port = server.sockets[0].getsockname()[1]
        _say({"url": f"http://127.0.0.1:{port}", "token": token})
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line or json.loads(line).get("op") == "quit":
                break
            _say({"cpu": time.process_time()})
        server.close()

    asyncio.run(main())


# --- the simulator child (rows 3, 4, 7, 8, 9) ---------------------------------------------


def _say(answer: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()


def _serve_sim(agents: int, hold: float, hold_ends: HoldEnds) -> None:
    from daktela_async.sim import SimState, Simulator

    sim = Simulator(agents=agents, queues=3, seed=1, speed=0, hold=hold, hold_ends=hold_ends)
    sim.start()
    # Watchable agents: logged in (the API administrator is an agent who is not).
    logins = sim.run(
        lambda s: [s.users[user_id].name for user_id, agent in s.agents.items() if agent.logged]
    )
    generated = [name for name in logins if name.startswith("agent")]
    _say({"url": sim.url, "token": sim.token, "users": logins, "generated": generated})

    def toggle(state: SimState, login: str) -> bool:
        agent = state.agent(login)
        if agent.pause_id is None:
            state.pause_on(agent, "7", force=True)
            return True
        state.pause_off(agent)
        return False

    def toggle_one(login: str) -> Callable[[SimState], tuple[bool, float]]:
        def run(state: SimState) -> tuple[bool, float]:
            paused = toggle(state, login)
            # The held request was woken inside toggle(): this is the moment of change.
            return paused, time.monotonic()

        return run

    def toggle_all(
        users: Sequence[str], clear: bool
    ) -> Callable[[SimState], tuple[dict[str, bool], int, float]]:
        def run(state: SimState) -> tuple[dict[str, bool], int, float]:
            paused = {login: toggle(state, login) for login in users}
            removed = sim.clear_faults() if clear else 0
            return paused, removed, time.monotonic()

        return run

    def set_hold(seconds: float) -> Callable[[SimState], None]:
        def run(_state: SimState) -> None:
            sim.context.hold = seconds

        return run

    def answer(command: dict[str, Any]) -> dict[str, Any]:
        op = command["op"]
        if op == "toggle":
            paused, at = sim.run(toggle_one(command["user"]))
            return {"paused": paused, "t": at}
        if op == "toggle_all":
            # With ``clear_faults``, the faults are removed in the same step on the
            # simulator's loop: no request sees the new state with the faults still on.
            users = command.get("users") or generated
            states, removed, at = sim.run(toggle_all(users, bool(command.get("clear_faults"))))
            return {"count": len(users), "paused": states, "removed": removed, "t": at}
        if op == "inject":
            # kind ("status", "hang", "reset", ...), status, actions: see Simulator.inject.
            actions = command.get("actions")
            fault = sim.inject(
                command["kind"],
                status=int(command.get("status", 503)),
                actions=None if actions is None else set(actions),
            )
            return {"id": fault.id, "t": time.monotonic()}
        if op == "clear_faults":
            fault_id = command.get("id")
            removed = sim.clear_faults(None if fault_id is None else int(fault_id))
            return {"removed": removed, "t": time.monotonic()}
        if op == "stop":
            sim.stop_server()
            return {"t": time.monotonic()}
        if op == "start":
            sim.start_server()
            return {"t": time.monotonic()}
        if op == "held":
            return {"held": sim.run(lambda _s: sim.context.held)}
        if op == "hold":
            sim.run(set_hold(float(command["seconds"])))
            return {"hold": command["seconds"]}
        if op == "cpu":
            return {"cpu": time.process_time()}
        if op == "traffic":
            # requests (by action), by_user (RTUserState), held (now), overlaps.
            return sim.traffic(reset=bool(command.get("reset")))
        raise ValueError(f"unknown command {op!r}")

    try:
        for text in sys.stdin:
            command = json.loads(text)
            if command.get("op") == "quit":
                break
            try:
                _say(answer(command))
            except Exception as exc:  # report, keep serving
                _say({"error": f"{type(exc).__name__}: {exc}"})
    finally:
        if sim.running:
            sim.stop()


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the child processes (``python -m benchmarks._support KIND``)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks._support")
    parser.add_argument("kind", choices=("sim", "canned"))
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--hold", type=float, default=5.0)
    parser.add_argument("--hold-ends", choices=("arrival", "spread", "together"), default="arrival")
    args = parser.parse_args(argv)
    if args.kind == "canned":
        _serve_canned(args.agents)
    else:
        _serve_sim(args.agents, args.hold, args.hold_ends)


@contextlib.contextmanager
def timer() -> Iterator[Callable[[], float]]:
    """``with timer() as elapsed: ...; elapsed()`` in seconds (wall clock)."""
    start = time.perf_counter()
    end: float | None = None

    def elapsed() -> float:
        return (end if end is not None else time.perf_counter()) - start

    try:
        yield elapsed
    finally:
        end = time.perf_counter()


if __name__ == "__main__":
    main()
