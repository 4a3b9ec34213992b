"""Row 1: client CPU per call, typed vs raw httpx (+ ``json.loads``) and raw aiohttp.

One canned-answer server runs in a child process (its CPU is not counted). Four clients
call it: the typed method on the default transport pool (httpcore shards), the typed
method on the aiohttp transport (one shard), one ``httpx.AsyncClient`` + ``json.loads``,
and one ``aiohttp.ClientSession`` + ``json.loads``. For each action and concurrency,
every client runs the same batch of calls in each round, in a rotating order; the
figure is the median over rounds of the client process's CPU per call.

Run alone: ``python -m benchmarks --only 1``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

import aiohttp
import attrs
import httpx
import orjson

from daktela_async import DaktelaClient, PoolLimits, httpcore_transport_factory
from daktela_async._transport._aiohttp import AiohttpTransport

from ._support import Child, Line, Profile, cpu, median, ratio_text, settle, us

Call = Callable[[], Awaitable[Any]]

CONCURRENCY: Final = (1, 16, 64)
TYPED: Final = ("typed, httpcore pool (trio)", "typed, default pool: aiohttp")
#: The most CPU per call each typed subject may cost, in raw aiohttp calls. httpcore's
#: pool is the trio path, where aiohttp cannot run: it answers to raw httpx alone.
_AIOHTTP_TARGET: Final[dict[str, float | None]] = {TYPED[0]: None, TYPED[1]: 1.5}
RAW_HTTPX: Final = "raw httpx"
RAW_AIOHTTP: Final = "raw aiohttp"
_CONNECTIONS: Final = 100


@attrs.frozen
class _Action:
    label: str
    name: str
    typed: Callable[[DaktelaClient], Awaitable[Any]]
    calls: int
    quick_calls: int
    rounds: int
    quick_rounds: int


ACTIONS: Final = (
    _Action(
        "small action (RTStatsQueuesSummary, 176 B)",
        "RTStatsQueuesSummary",
        lambda c: c.statistics.rt_stats_queues_summary(),
        calls=2048,
        quick_calls=64,
        # A round of 2048 small calls is a fraction of a second: nine of them keep a
        # moment of the shared machine's noise from moving the median.
        rounds=9,
        quick_rounds=2,
    ),
    _Action(
        "RTUsersState, 100 agents (587 KB)",
        "RTUsersState",
        lambda c: c.statistics.rt_users_state(),
        calls=128,
        quick_calls=32,
        rounds=3,
        quick_rounds=1,
    ),
)


class _Clients:
    """The four clients, open for the duration of one action's measurements."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.typed = {
            # httpcore's transport in shards of 10 (the pool's default sizing for it).
            TYPED[0]: DaktelaClient(url, token, transport_factory=httpcore_transport_factory),
            # The default factory: aiohttp's transport, here on asyncio with aiohttp.
            TYPED[1]: DaktelaClient(
                url, token, limits=PoolLimits(shard_connections=_CONNECTIONS, max_shards=1)
            ),
        }
        self.httpx = httpx.AsyncClient(
            limits=httpx.Limits(
                max_connections=_CONNECTIONS, max_keepalive_connections=_CONNECTIONS
            ),
            timeout=30,
        )
        self.aiohttp = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=_CONNECTIONS),
            timeout=aiohttp.ClientTimeout(total=30),
        )

    def calls(self, action: _Action) -> dict[str, Call]:
        raw_url = f"{self.url}/api/4.1/{action.name}/json?access_token={self.token}"

        async def raw_httpx() -> Any:
            response = await self.httpx.get(raw_url)
            return json.loads(response.content)["result"]

        async def raw_aiohttp() -> Any:
            async with self.aiohttp.get(raw_url) as response:
                body = await response.read()
            return json.loads(body)["result"]

        calls: dict[str, Call] = {
            name: (lambda client=client: action.typed(client))  # type: ignore[misc]
            for name, client in self.typed.items()
        }
        calls[RAW_HTTPX] = raw_httpx
        calls[RAW_AIOHTTP] = raw_aiohttp
        return calls

    async def aclose(self) -> None:
        for client in self.typed.values():
            await client.aclose()
        await self.httpx.aclose()
        await self.aiohttp.close()


async def _batch(call: Call, calls: int, concurrency: int) -> tuple[float, float]:
    """Run *calls* calls on *concurrency* tasks; return (CPU s, wall s) per call."""
    each = max(1, calls // concurrency)

    async def worker() -> None:
        for _ in range(each):
            await call()

    settle()
    cpu_start, wall_start = cpu(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    done = each * concurrency
    return (cpu() - cpu_start) / done, (time.perf_counter() - wall_start) / done


async def _measure(url: str, token: str, quick: bool) -> list[Line]:
    lines: list[Line] = []
    for action in ACTIONS:
        count = action.quick_calls if quick else action.calls
        rounds = action.quick_rounds if quick else action.rounds
        for concurrency in CONCURRENCY:
            # Fresh clients per concurrency: each pool holds the connections that this
            # concurrency needs, as it would in a service running at that load.
            clients = _Clients(url, token)
            try:
                calls = clients.calls(action)
                names = list(calls)
                for call in calls.values():  # open this concurrency's connections
                    await _batch(call, concurrency, concurrency)
                cpu_per: dict[str, list[float]] = {name: [] for name in names}
                wall_per: dict[str, list[float]] = {name: [] for name in names}
                for index in range(rounds):
                    shift = index % len(names)
                    for name in names[shift:] + names[:shift]:
                        used, wall = await _batch(calls[name], count, concurrency)
                        cpu_per[name].append(used)
                        wall_per[name].append(wall)
                lines.extend(await _lines(action, concurrency, calls, cpu_per, wall_per, count))
            finally:
                await clients.aclose()
    return lines


async def _lines(
    action: _Action,
    concurrency: int,
    calls: dict[str, Call],
    cpu_per: dict[str, list[float]],
    wall_per: dict[str, list[float]],
    count: int,
) -> list[Line]:
    base_httpx = median(cpu_per[RAW_HTTPX])
    base_aiohttp = median(cpu_per[RAW_AIOHTTP])
    lines = []
    for name in TYPED:
        used = median(cpu_per[name])
        versus_httpx = used / base_httpx
        versus_aiohttp = used / base_aiohttp
        limit = _AIOHTTP_TARGET[name]
        lines.append(
            Line(
                row=1,
                case=f"{action.label}, concurrency {concurrency}: {name}",
                measured=(f"{us(used)} CPU/call ({1 / median(wall_per[name]):,.0f} calls/s)"),
                baseline=f"httpx {us(base_httpx)}; aiohttp {us(base_aiohttp)}",
                ratio=f"{ratio_text(versus_httpx)} httpx; {ratio_text(versus_aiohttp)} aiohttp",
                target="≤ 1x httpx" + ("" if limit is None else f"; ≤ {limit:g}x aiohttp"),
                met=versus_httpx <= 1.0 and (limit is None or versus_aiohttp <= limit),
            )
        )
    return lines


# --- where the time goes, when a target is missed --------------------------------------------


async def _stages(url: str, token: str, action: _Action) -> dict[str, Call]:
    """One call of *action* at each layer of the stack, from raw aiohttp to the typed call."""
    raw_url = f"{url}/api/4.1/{action.name}/json?access_token={token}"
    headers = {"User-Agent": "daktela-async"}
    timeout = {"connect": 5.0, "read": 30.0, "write": 10.0, "pool": 30.0}
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=_CONNECTIONS))
    aio_transport = AiohttpTransport(max_connections=_CONNECTIONS)
    core_transport = httpx.AsyncHTTPTransport(retries=0)
    prebuilt = httpx.Request("GET", raw_url, headers=headers, extensions={"timeout": timeout})
    clients = _Clients(url, token)
    typed_aio, typed_core = clients.typed[TYPED[1]], clients.typed[TYPED[0]]

    # orjson at every layer, as the client decodes: the differences are the layers' own.
    async def raw_aiohttp() -> Any:
        async with session.get(raw_url) as response:
            return orjson.loads(await response.read())

    async def through(transport: httpx.AsyncBaseTransport, request: httpx.Request) -> Any:
        response = await transport.handle_async_request(request)
        try:
            await response.aread()
        finally:
            await response.aclose()
        return orjson.loads(response.content)

    async def built_each_time() -> Any:
        request = httpx.Request("GET", raw_url, headers=headers, extensions={"timeout": timeout})
        return await through(aio_transport, request)

    stages: dict[str, Call] = {
        "raw aiohttp + orjson.loads": raw_aiohttp,
        "aiohttp transport, one prebuilt httpx.Request, + orjson.loads": lambda: through(
            aio_transport, prebuilt
        ),
        "httpcore transport (httpx.AsyncHTTPTransport), prebuilt request, + orjson.loads": (
            lambda: through(core_transport, prebuilt)
        ),
        "aiohttp transport, httpx.Request built per call, + orjson.loads": built_each_time,
        "client.call() on the aiohttp transport (URL, pool, envelope; no models)": lambda: (
            typed_aio.call(action.name)
        ),
        "typed method on the aiohttp transport": lambda: action.typed(typed_aio),
        "client.call() on the httpcore pool (no models)": lambda: typed_core.call(action.name),
        "typed method on the httpcore pool": lambda: action.typed(typed_core),
    }

    async def close() -> None:
        await session.close()
        await aio_transport.aclose()
        await core_transport.aclose()
        await clients.aclose()

    stages[""] = close  # not a stage: the caller closes everything with it
    return stages


async def _breakdown(url: str, token: str, action: _Action, quick: bool) -> str:
    """A table of CPU per call at each layer (concurrency 1), and a profile of the typed call."""
    stages = await _stages(url, token, action)
    close = stages.pop("")
    count = max(16, (action.quick_calls if quick else action.calls) // 2)
    try:
        per: dict[str, list[float]] = {name: [] for name in stages}
        for call in stages.values():
            await _batch(call, 4, 1)
        for index in range(3):
            names = list(stages)
            shift = index % len(names)
            for name in names[shift:] + names[:shift]:
                per[name].append((await _batch(stages[name], count, 1))[0])
        typed = stages["typed method on the aiohttp transport"]
        settle()
        with Profile() as profile:
            for _ in range(count):
                await typed()
    finally:
        await close()
    at = {name: median(values) for name, values in per.items()}
    names = list(at)
    base = at[names[0]]
    table = ["| Layer (concurrency 1) | CPU/call | vs raw aiohttp + orjson |", "|---|---|---|"]
    table += [
        f"| {name} | {us(value)} | {ratio_text(value / base)} |" for name, value in at.items()
    ]
    steps = {
        "the aiohttp transport's conversions and httpx's response reading": at[names[1]] - base,
        "building the httpx.Request (URL parsing)": at[names[3]] - at[names[1]],
        "the client (URL and parameters, retry loop, pool, deadline, envelope)": (
            at[names[4]] - at[names[3]]
        ),
        "structuring into models": at[names[5]] - at[names[4]],
        "httpcore instead of aiohttp under the client": at[names[6]] - at[names[4]],
        "the httpcore transport itself over the aiohttp one": at[names[2]] - at[names[1]],
    }
    summary = "; ".join(f"{what} {us(cost)}" for what, cost in steps.items())
    return (
        f"What limits it, layer by layer: {summary}. Measured in the same run, median of "
        "3 interleaved rounds:\n\n"
        + "\n".join(table)
        + "\n\nWhere the typed call on the aiohttp transport spends it (cProfile, cumulative):"
        f"\n\n```\n{profile.top(25, 'cumulative')}\n```"
    )


async def _explain(url: str, token: str, lines: list[Line], quick: bool) -> list[Line]:
    """Attach the breakdown of an action to its first missed line, a pointer to the rest."""
    explained: list[Line] = []
    first: dict[str, str] = {}
    for line in lines:
        if line.met is not False:
            explained.append(line)
            continue
        action = next(a for a in ACTIONS if line.case.startswith(a.label))
        if quick:
            limit = "The quick run does not break the cost down: see the full run's report."
        elif action.label not in first:
            first[action.label] = line.case
            limit = await _breakdown(url, token, action, quick)
        else:
            limit = f"See the breakdown under {first[action.label]!r}."
        explained.append(attrs.evolve(line, limit=limit))
    return explained


async def _main(quick: bool) -> list[Line]:
    async with Child("canned", "--agents", "100") as server:
        url, token = server.hello["url"], server.hello["token"]
        return await _explain(url, token, await _measure(url, token, quick), quick)


def run(quick: bool) -> list[Line]:
    """Measure row 1 and return its table lines."""
    return asyncio.run(_main(quick))


NOTES: Final = (
    "- **Row 1** counts the client process's CPU (`time.process_time()`) per call; the "
    "server is a minimal canned-answer HTTP/1.1 server in a child process (answers rendered "
    "by the simulator), so its CPU is not counted. The typed call includes building the URL, "
    "the envelope check and structuring the result into models; the raw clients do "
    "`json.loads` only. The median over interleaved rounds is reported; calls/s is wall "
    "clock with the server sharing the machine.",
)
