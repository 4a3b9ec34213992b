"""Response time of the CRM webhook app under concurrent load, served by uvicorn on loopback.

A :class:`~daktela_async.webhooks.WebhookApp` whose lookup sleeps 5 ms (a fast CRM
query) is served by uvicorn on ``127.0.0.1`` (a free port) in a child process, as the
CRM runs apart from the PBX. httpx clients keep *concurrency* hooks in flight (one
kept-alive connection each, like the PBX's channels; a mix of the four hook kinds, each
with its own call id) until a fixed number of requests has been answered, after a short
warm-up. Every answer is checked (status 200, the lookup's answer for that call; ``{}``
is counted as over budget). Printed: p50 and p99 of the response time seen by the
client, in ms, and requests per second.

The client's own work (httpx costs more CPU per request than the server) is included:
on a small machine the client, not the app, is the limit at high concurrency.

Run: ``python -m benchmarks.bench_webhooks [--quick] [--concurrency N] [--requests N]``
(or ``python benchmarks/bench_webhooks.py ...``) from the repository root.
Everything is bounded: the request count, a timeout per request and one for the run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import select
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import anyio
import httpx
import uvicorn

from daktela_async.webhooks import IncomingCall, WebhookApp, WebhookEvent

#: The lookup's pretend CRM query.
LOOKUP_DELAY = 0.005
#: (concurrency, requests) of a full and a quick run.
FULL = (50, 5000)
QUICK = (20, 600)
_WARMUP = 100
_REQUEST_TIMEOUT = 5.0
_RUN_TIMEOUT = 120.0
_STARTUP_TIMEOUT = 10.0
_ACTIONS = ("ringing", "answer", "hangup")


async def lookup(event: WebhookEvent) -> Mapping[str, object]:
    """Pretend to query the CRM for 5 ms; answer a contact, with the call's identity."""
    await anyio.sleep(LOOKUP_DELAY)
    identity = event.caller if isinstance(event, IncomingCall) else event.call_id
    return {"NAME": "Daktela s.r.o.", "ADDRESS": "Pod Krejcarkem 975", "ID": identity}


async def _serve_forever() -> None:
    """The server process: serve the app on a free loopback port, print it, run until SIGTERM."""
    config = uvicorn.Config(
        WebhookApp(lookup),
        host="127.0.0.1",
        port=0,
        lifespan="on",
        log_config=None,
        log_level="warning",
        access_log=False,
        backlog=1024,
    )
    server = uvicorn.Server(config)
    task = asyncio.ensure_future(server.serve())
    # uvicorn has no "started" event to wait on.
    while not server.started and not task.done():  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    if server.started:
        print(f"PORT {server.servers[0].sockets[0].getsockname()[1]}", flush=True)
    await task


class _Server:
    """The app under uvicorn in a child process (its own CPU, as the PBX's CRM would be)."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self.port = 0

    def __enter__(self) -> _Server:
        self._process = process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.bench_webhooks", "--serve"],
            stdout=subprocess.PIPE,
            cwd=Path(__file__).resolve().parent.parent,
        )
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], _STARTUP_TIMEOUT)
        line = process.stdout.readline() if ready else b""
        if not line.startswith(b"PORT "):
            self.__exit__()
            raise RuntimeError("the webhook server did not start")
        self.port = int(line.split()[1])
        return self

    def __exit__(self, *exc_info: object) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(_STARTUP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(_STARTUP_TIMEOUT)
        if process.stdout is not None:
            process.stdout.close()


def _params(i: int) -> tuple[dict[str, str], str]:
    """The ``i``-th hook's parameters and the ``ID`` its answer must carry."""
    if i % 4 == 0:
        caller = f"+420777{i:06d}"
        return {"callid": caller, "dnd": "+420222333444"}, caller
    call_id = f"1474900000.{i}"
    params = {
        "callerId": "+420777123456",
        "calleeId": "+420222333444",
        "line": str(200 + i % 50),
        "idcall": call_id,
        "action": _ACTIONS[i % 4 - 1],
    }
    return params, call_id


async def _load(url: str, concurrency: int, requests: int) -> tuple[list[float], float, int]:
    """Keep *concurrency* hooks in flight until *requests* are answered.

    Each worker is one PBX channel: its own client with one kept-alive connection (one
    shared pool for all of them would measure httpx's pool, not the server).

    Returns:
        The latencies in seconds, the wall time, and how many answers were ``{}``
        (lookups cut by the budget).
    """
    latencies: list[float] = []
    empty = 0

    async def worker(client: httpx.AsyncClient, indices: Iterator[int], record: bool) -> None:
        nonlocal empty
        for i in indices:
            params, identity = _params(i)
            start = time.perf_counter()
            response = await client.get(url, params=params)
            elapsed = time.perf_counter() - start
            answer = response.json() if response.status_code == 200 else None
            if answer == {}:
                empty += record
            elif answer is None or answer.get("ID") != identity:
                raise RuntimeError(f"hook {i}: unexpected answer {response.text!r}")
            if record:
                latencies.append(elapsed)

    async def burst(clients: list[httpx.AsyncClient], count: int, record: bool) -> float:
        indices = iter(range(count))
        start = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for client in clients:
                tg.start_soon(worker, client, indices, record)
        return time.perf_counter() - start

    # Clients are made before the clock starts: each builds an SSL context, tens of ms.
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(limits=limits, timeout=_REQUEST_TIMEOUT)
            )
            for _ in range(concurrency)
        ]
        with anyio.fail_after(_RUN_TIMEOUT):
            await burst(clients, max(_WARMUP, concurrency), record=False)
            wall = await burst(clients, requests, record=True)
    return latencies, wall, empty


def _percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, round(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def measure(concurrency: int, requests: int) -> dict[str, float]:
    """Serve the app, load it, and return p50/p99 (ms), requests/s and the counters."""
    with _Server() as server:
        url = f"http://127.0.0.1:{server.port}/hook"
        latencies, wall, empty = anyio.run(_load, url, concurrency, requests)
    ordered = sorted(latencies)
    return {
        "p50_ms": _percentile(ordered, 0.50) * 1000,
        "p99_ms": _percentile(ordered, 0.99) * 1000,
        "requests_per_s": len(ordered) / wall,
        "concurrency": float(concurrency),
        "requests": float(len(ordered)),
        "lookup_ms": LOOKUP_DELAY * 1000,
        "timeouts": float(empty),
    }


def run(quick: bool = False) -> dict[str, float]:
    """The benchmark's numbers for the benchmarks table (a quick run when *quick*)."""
    concurrency, requests = QUICK if quick else FULL
    return measure(concurrency, requests)


def main() -> None:
    """Run the benchmark and print p50/p99 in ms and requests per second."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK[1]} requests, {QUICK[0]} in flight"
    )
    parser.add_argument("--concurrency", type=int, default=None)
    parser.add_argument("--requests", type=int, default=None)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve_forever())
        return
    concurrency, requests = QUICK if args.quick else FULL
    result = measure(args.concurrency or concurrency, args.requests or requests)
    print(
        f"webhooks: {result['requests']:.0f} hooks, {result['concurrency']:.0f} in flight, "
        f"lookup {result['lookup_ms']:.0f} ms"
    )
    print(
        f"  p50 {result['p50_ms']:.1f} ms  p99 {result['p99_ms']:.1f} ms  "
        f"{result['requests_per_s']:.0f} requests/s  ({result['timeouts']:.0f} over budget)"
    )


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
