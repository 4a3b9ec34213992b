"""``webhooks serve`` on real loopback servers: proxy headers, slow and many connections.

What these tests check lives in uvicorn's handling of connections and headers, so they
run the server the command configures (in a thread, or as a child process when the
open-file limit matters) and talk to it over real sockets on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import resource
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from daktela_async import DaktelaUsageError
from daktela_async.webhooks import _cli as cli
from daktela_async.webhooks._server import RateLimitFilter, connection_limits, limit_logs
from tests.webhooks.support import INCOMING

ROOT = Path(__file__).resolve().parents[2]
#: What the PBX must get its answer within: the default lookup budget.
BUDGET = 1.5
#: Half a request line: what a slowloris client sends, and then nothing more.
PARTIAL = b"GET /hook?callid=1&dnd=2 HTTP/1.1\r\nHost: crm"


@contextlib.contextmanager
def serving(config: Any) -> Iterator[int]:
    """Run *config*'s server in a thread; yields its port."""
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while not server.started:
            assert thread.is_alive()
            assert time.monotonic() < deadline
            time.sleep(0.01)
        yield int(server.servers[0].sockets[0].getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(5)
    assert not thread.is_alive()


def serve(served: list[Any], *argv: str) -> Any:
    assert cli.main(["serve", "--port", "0", *argv]) == 0
    return served.pop()


def closed_by_server(sock: socket.socket, within: float) -> bool:
    """Whether the server closes *sock* within *within* seconds (it sends nothing else)."""
    sock.settimeout(within)
    try:
        return sock.recv(1024) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def partial_requests(port: int, count: int, deadline: float) -> list[socket.socket]:
    """Open up to *count* connections that send half a request line, until *deadline*."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            if time.monotonic() > deadline:
                break
            sock = socket.socket()
            sock.settimeout(0.5)
            try:
                sock.connect(("127.0.0.1", port))
                sock.sendall(PARTIAL)
            except OSError:
                # The server's accept queue is full: what a starved server looks like.
                sock.close()
                continue
            sockets.append(sock)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def hook(
    port: int, headers: dict[str, str] | None = None, timeout: float = 5.0
) -> tuple[httpx.Response, float]:
    start = time.monotonic()
    response = httpx.get(
        f"http://127.0.0.1:{port}/hook", params=INCOMING, headers=headers, timeout=timeout
    )
    return response, time.monotonic() - start


# --- proxy headers ------------------------------------------------------------------------


def test_x_forwarded_for_from_loopback_does_not_pass_the_allow_list(served: list[Any]) -> None:
    # uvicorn believes X-Forwarded-For from 127.0.0.1 unless told otherwise: anybody on
    # the host (or a local proxy passing the header through) could claim the PBX's address.
    config = serve(served, "--allow", "192.0.2.10")
    assert config.proxy_headers is False
    with serving(config) as port:
        forged, _ = hook(port, {"X-Forwarded-For": "192.0.2.10"})
        plain, _ = hook(port)
    assert (forged.status_code, forged.json()) == (403, {"error": "forbidden"})
    assert plain.status_code == 403


@pytest.mark.parametrize("proxy", ["127.0.0.1", "127.0.0.0/8", "10.0.0.1,127.0.0.1"])
def test_a_trusted_proxy_s_x_forwarded_for_is_believed(served: list[Any], proxy: str) -> None:
    config = serve(served, "--allow", "192.0.2.10", "--trust-proxy", proxy)
    with serving(config) as port:
        relayed, _ = hook(port, {"X-Forwarded-For": "192.0.2.10"})
        other, _ = hook(port, {"X-Forwarded-For": "192.0.2.99"})
        # The proxy appends the address it saw: a client's own header in front counts not.
        spoofed, _ = hook(port, {"X-Forwarded-For": "192.0.2.10, 192.0.2.99"})
    assert (relayed.status_code, relayed.json()) == (200, {})
    assert other.status_code == 403
    assert spoofed.status_code == 403


@pytest.mark.parametrize("value", ["10.0.0.300", "proxy.example", "10.0.0.0/33"])
def test_bad_trust_proxy_values_are_refused(
    served: list[Any], capsys: pytest.CaptureFixture[str], value: str
) -> None:
    assert cli.main(["serve", "--trust-proxy", value]) == 2
    assert "--trust-proxy" in capsys.readouterr().err
    assert served == []


# --- slow clients ------------------------------------------------------------------------


def test_a_connection_that_does_not_finish_its_request_is_closed(
    served: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The default, shortened (raising=False: the test must fail, not error, without it).
    monkeypatch.setattr(cli, "_REQUEST_TIMEOUT", 0.3, raising=False)
    config = serve(served)
    with serving(config) as port:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as head:
            head.sendall(PARTIAL)
            start = time.monotonic()
            assert closed_by_server(head, 3)
            assert 0.2 < time.monotonic() - start < 2
        with socket.create_connection(("127.0.0.1", port), timeout=2) as body:
            body.sendall(
                b"POST /hook HTTP/1.1\r\nHost: crm\r\nContent-Length: 100\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\n\r\ncallid=1"
            )
            assert closed_by_server(body, 3)
        with socket.create_connection(("127.0.0.1", port), timeout=2) as kept:
            kept.sendall(b"GET /hook?callid=1&dnd=2 HTTP/1.1\r\nHost: crm\r\n\r\n")
            kept.settimeout(2)
            answer = b""
            while not answer.endswith(b"\r\n\r\n{}"):
                chunk = kept.recv(4096)
                assert chunk
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200 ")
            kept.sendall(PARTIAL)  # the next request, on the kept-alive connection
            assert closed_by_server(kept, 3)
        answered, elapsed = hook(port)
    assert answered.status_code == 200
    assert elapsed < BUDGET


def test_an_unfinished_request_head_over_8_kib_is_refused_at_once(served: list[Any]) -> None:
    # A hook's head is well under 1 KiB; h11 would otherwise buffer 16 KiB per connection.
    config = serve(served)
    with serving(config) as port, socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(PARTIAL + b"\r\nX-Padding: " + b"x" * 10_000)
        sock.settimeout(2)
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 400 ")


def test_beyond_the_cap_the_connection_waiting_longest_is_closed(
    served: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "_MAX_CONNECTIONS", 20, raising=False)
    config = serve(served)
    with serving(config) as port:
        sockets = partial_requests(port, 60, time.monotonic() + 10)
        try:
            assert len(sockets) == 60
            answered, elapsed = hook(port)
            assert closed_by_server(sockets[0], 2)  # among the oldest: closed
            assert not closed_by_server(sockets[-1], 0.2)  # among the newest: still open
        finally:
            for sock in sockets:
                sock.close()
    assert (answered.status_code, answered.json()) == (200, {})
    assert elapsed < BUDGET


def test_serve_passes_the_limits_to_uvicorn(served: list[Any]) -> None:
    config = serve(served, "--request-timeout", "2.5", "--max-connections", "30")
    assert (config.http.request_timeout, config.http.max_connections) == (2.5, 30)
    assert config.h11_max_incomplete_event_size == 8192
    assert config.proxy_headers is False


def test_the_connection_cap_fits_the_open_file_limit() -> None:
    assert connection_limits(512, 1024) == (512, 100)
    assert connection_limits(512, 256) == (144, 64)
    assert connection_limits(512, 64) == (1, 16)
    assert connection_limits(512, None) == (512, 100)
    assert connection_limits(10, 100_000) == (10, 100)


@pytest.mark.skipif(sys.platform == "win32", reason="no RLIMIT_NOFILE")
def test_unfinished_requests_past_the_open_file_limit_do_not_starve_hooks() -> None:
    """The reported slowloris: more unfinished heads than the process may open files.

    Without a cap, uvicorn accepts until ``accept()`` fails with EMFILE; the hook then
    waits in the listen queue, unanswered, while asyncio logs the failure again and again.
    """
    limit = 256
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]

    def lower_limit() -> None:  # runs in the child, before exec
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))

    argv = [sys.executable, "-m", "daktela_async", "webhooks", "serve", "--port", "0"]
    argv += ["--allow", "127.0.0.1", "--log-level", "info"]
    child = subprocess.Popen(  # noqa: S603 - our own command, fixed arguments
        argv,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=lower_limit,  # the child has no threads yet: safe
        text=True,
    )
    sockets: list[socket.socket] = []
    try:
        assert child.stderr is not None
        port = None
        deadline = time.monotonic() + 20
        while port is None and time.monotonic() < deadline:
            line = child.stderr.readline()
            assert line, "the server exited before it started"
            found = re.search(r"Uvicorn running on http://127\.0\.0\.1:(\d+)", line)
            port = int(found.group(1)) if found else None
        assert port is not None
        sockets = partial_requests(port, limit + 100, time.monotonic() + 15)
        time.sleep(0.5)  # let the server accept what it will
        answered, elapsed = hook(port, timeout=BUDGET * 2)
        assert (answered.status_code, answered.json()) == (200, {})
        assert elapsed < BUDGET
    finally:
        for sock in sockets:
            sock.close()
        child.terminate()
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(5)
        if child.stderr is not None:
            child.stderr.close()


# --- the repeated log ------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(message: str, *args: object, name: str = "asyncio") -> logging.LogRecord:
    return logging.LogRecord(name, logging.ERROR, __file__, 1, message, args, None)


def test_rate_limit_filter_lets_a_burst_through_then_counts_what_it_drops() -> None:
    clock = Clock()
    limit = RateLimitFilter(burst=3, period=60, clock=clock)
    accept = "socket.accept() out of system resource\nsocket: <socket fd=6>"
    passed = []
    for _ in range(1000):
        rec = record(accept)
        if limit.filter(rec):
            passed.append(rec.getMessage())
        clock.now += 0.01
    assert len(passed) == 3
    assert passed[0] == accept
    assert passed[2].endswith("(repeats are dropped for up to 60 s)")
    other = record("Task was destroyed but it is pending!")
    assert limit.filter(other)  # another message has its own allowance
    clock.now += 60
    rec = record(accept)
    assert limit.filter(rec)
    assert rec.getMessage().endswith("(997 more like it were dropped before this one)")


def test_rate_limit_filter_tells_kinds_by_format_string_and_keeps_arguments() -> None:
    clock = Clock()
    limit = RateLimitFilter(burst=1, period=10, clock=clock)
    first = record("closed the connection from %s: %s", "1.2.3.4:5", "100% slow", name="x")
    assert limit.filter(first)
    assert first.getMessage() == (
        "closed the connection from 1.2.3.4:5: 100% slow (repeats are dropped for up to 10 s)"
    )
    assert not limit.filter(record("closed the connection from %s: %s", "5.6.7.8:9", "x", name="x"))
    assert limit.filter(record("closed the connection from %s: %s", "1", "x", name="y"))


def test_rate_limit_filter_forgets_old_kinds() -> None:
    clock = Clock()
    limit = RateLimitFilter(burst=1, period=10, clock=clock, max_kinds=4)
    for i in range(100):
        assert limit.filter(record(f"message {i}"))
        clock.now += 1
    assert len(limit._windows) <= 4


def test_limit_logs_puts_one_filter_on_each_logger(monkeypatch: pytest.MonkeyPatch) -> None:
    logger = logging.getLogger("tests.webhooks.limited")
    monkeypatch.setattr(logger, "filters", [])
    limit_logs(("tests.webhooks.limited",))
    limit_logs(("tests.webhooks.limited",))
    assert [type(f) for f in logger.filters] == [RateLimitFilter]


def test_serve_limits_the_asyncio_log(served: list[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("asyncio", "uvicorn.error"):
        monkeypatch.setattr(logging.getLogger(name), "filters", [])
    assert cli.main(["serve"]) == 0
    for name in ("asyncio", "uvicorn.error"):
        assert any(isinstance(f, RateLimitFilter) for f in logging.getLogger(name).filters)


@pytest.mark.parametrize("options", [{"burst": 0}, {"period": 0.0}, {"period": -1.0}])
def test_a_rate_limit_that_lets_nothing_through_is_a_usage_error(options: dict[str, float]) -> None:
    with pytest.raises(DaktelaUsageError, match="burst must be at least 1 and period positive"):
        RateLimitFilter(**options)  # type: ignore[arg-type]
