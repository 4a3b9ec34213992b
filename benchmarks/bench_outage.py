"""Row 7: the PBX fails for a while with every agent watched, then serves again.

The simulator runs in a child process with every agent's long poll held. Three kinds of
outage, each lasting the same time:

- ``refused``: the server stops (connections are refused), then serves again on the same
  port. Every agent is toggled (paused or unpaused) while it is down.
- ``503``: every API request answers HTTP 503. The fault is injected, then the server is
  restarted at once so that the polls it was holding end too (as a proxy in front of a
  dead PBX ends them); every agent is toggled while the fault is on; removing the fault
  ends the outage.
- ``hang``: every API request that arrives hangs without an answer; the polls already
  held stay held. The simulator wakes a held poll as soon as its agent changes, which a
  frozen PBX would not do, so the agents are toggled as the hang ends, in the same step
  on the simulator's loop as the fault's removal: the held polls, and the requests the
  fault was holding, then get their normal answer.

Two subjects, each in its own client, one after the other against the same child:

- the watcher, ``client.watch(users)`` (public API only: events from a subscription,
  ``watcher.stats()``);
- the old policy, reimplemented here with ``DaktelaClient.call``: one long-poll loop per
  agent with ``hash``; one shared gate; the first agent whose request fails (transport
  error, HTTP error status, broken answer) becomes the only prober, with full-jitter
  backoff from 1 s doubling to 30 s; every other agent waits on the gate; the prober's
  first answer reopens it and every agent resyncs at once with an un-held request (no
  ``hash``, no limit on how many are in flight).

Measured, for each kind and subject:

- requests the client sent from the outage's start until the server serves again (counted
  by a wrapper around each shard's httpx transport, so both subjects are counted the same
  way), and when the client noticed the outage (``SourceFailed`` / the gate closing);
- seconds from the server serving again until every agent's new state has been delivered
  (the watcher: an ``AgentStateChanged`` whose ``agent_state`` is the new one reached a
  subscriber; the old policy: an ``RTUserState`` answer with it);
- the peak number of un-held ``RTUserState`` requests (no ``hash``) in flight at once
  after the server serves again, and how many ``RTUsersState`` requests were sent then.

The full run (1000 agents, 10 s outages) repeats every kind three times per subject,
alternating which subject goes first, and shows the median with the range; ``--quick``
(200 agents, 3 s outages) runs each once.

Run alone: ``python -m benchmarks --only 7 [--quick]``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Final, Literal

import attrs
import httpx

from daktela_async import (
    DaktelaAPIError,
    DaktelaClient,
    DaktelaError,
    PoolLimits,
    Timeouts,
    TransportOptions,
    httpcore_transport_factory,
)
from daktela_async.realtime import (
    AgentStateChanged,
    Backoff,
    SourceFailed,
    Watcher,
)

from ._support import Child, Line, median, poll_until, ratio_text, settle

Kind = Literal["refused", "503", "hang"]
KINDS: Final[tuple[Kind, ...]] = ("refused", "503", "hang")
_KIND_TEXT: Final[dict[Kind, str]] = {
    "refused": "server stopped (connection refused)",
    "503": "every request answers HTTP 503",
    "hang": "every request hangs",
}
WATCHER: Final = "client.watch()"
OLD: Final = "old policy"
#: The old policy's backoff: full jitter, 1 s doubling to 30 s.
OLD_BACKOFF: Final = Backoff(1.0, 30.0)
#: Named operators of the simulator's directory; the rest are ``agentNNN``.
_NAMED: Final = 8
#: The simulator's hold of an unchanged poll: longer than any outage here.
_HOLD: Final = 30.0
_WARM_TIMEOUT: Final = 60.0
#: Every poll is held at least this long before the outage begins, as on a real PBX: an
#: unchanged answer after less than a second looks like a server that does not hold.
_HELD_BEFORE: Final = 2.0
_PAUSED: Final = "Paused"


@attrs.frozen
class Sizes:
    """How big one run is."""

    agents: int
    outage: float
    resync_timeout: float
    #: Outages of each kind per subject (the old policy's recovery is jittered).
    repeats: int


FULL: Final = Sizes(agents=1000, outage=10.0, resync_timeout=90.0, repeats=3)
QUICK: Final = Sizes(agents=200, outage=3.0, resync_timeout=30.0, repeats=1)


# --- counting what the client sends -----------------------------------------------------------


class _Counter:
    """Requests sent, and un-held ``RTUserState`` requests in flight (now and at peak)."""

    def __init__(self) -> None:
        self.sent: list[float] = []  # when each request was handed to the transport
        self.unheld = 0
        self.peak_unheld = 0
        self.bulk = 0  # RTUsersState requests sent

    def reset_peak(self) -> None:
        self.peak_unheld = self.unheld

    def factory(self, options: TransportOptions) -> httpx.AsyncBaseTransport:
        return _CountingTransport(httpcore_transport_factory(options), self)


class _Tracked(httpx.AsyncByteStream):
    """A response body that tells the counter when it is closed (the request is over)."""

    def __init__(self, inner: httpx.AsyncByteStream, done: Callable[[], None]) -> None:
        self._inner = inner
        self._done: Callable[[], None] | None = done

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            yield chunk

    async def aclose(self) -> None:
        done, self._done = self._done, None
        if done is not None:
            done()
        await self._inner.aclose()


class _CountingTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, counter: _Counter) -> None:
        self._inner = inner
        self._counter = counter

    def _finished(self) -> None:
        self._counter.unheld -= 1

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        counter = self._counter
        counter.sent.append(time.monotonic())
        segments = request.url.path.split("/")
        if "RTUsersState" in segments:
            counter.bulk += 1
        unheld = "RTUserState" in segments and "hash" not in request.url.params
        if not unheld:
            return await self._inner.handle_async_request(request)
        counter.unheld += 1
        counter.peak_unheld = max(counter.peak_unheld, counter.unheld)
        try:
            response = await self._inner.handle_async_request(request)
        except BaseException:
            self._finished()
            raise
        stream = response.stream
        if isinstance(stream, httpx.AsyncByteStream):
            response.stream = _Tracked(stream, self._finished)
        else:  # pragma: no cover - an async transport answers with an async stream
            self._finished()
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


# --- the subjects -----------------------------------------------------------------------------


class _Subject:
    """One client watching every agent; records what it delivered after the outage began."""

    name: str

    def __init__(self, url: str, token: str, users: Sequence[str]) -> None:
        self.users = list(users)
        self.counter = _Counter()
        # One connection per held poll, and room for the canary and a probe.
        self.client = DaktelaClient(
            url,
            token,
            transport_factory=self.counter.factory,
            limits=PoolLimits(max_shards=(len(users) + 16) // 10 + 1),
        )
        self.down_at: float | None = None
        self.noticed: float | None = None
        self.deliveries: dict[str, list[tuple[float, bool]]] = {}

    def deliver(self, user: str, paused: bool) -> None:
        if self.down_at is not None:
            self.deliveries.setdefault(user, []).append((time.monotonic(), paused))

    def notice(self) -> None:
        if self.down_at is not None and self.noticed is None:
            self.noticed = time.monotonic()

    def delivered(self, expected: dict[str, bool]) -> dict[str, float]:
        """Per agent, when its new state (paused as *expected*) was first delivered."""
        found: dict[str, float] = {}
        for user in self.users:
            for at, paused in self.deliveries.get(user, ()):
                if paused == expected[user]:
                    found[user] = at
                    break
        return found

    def own_requests(self) -> int | None:
        """The subject's own request count, when it keeps one."""
        return None

    async def start(self) -> None:
        raise NotImplementedError

    def ready(self) -> int:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError


class _Watch(_Subject):
    name = WATCHER

    def __init__(self, url: str, token: str, users: Sequence[str]) -> None:
        super().__init__(url, token, users)
        self._watcher: Watcher = self.client.watch(users)
        self._consumer: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._watcher.__aenter__()
        subscription = self._watcher.subscribe(replay=False, maxsize=100_000)

        async def consume() -> None:
            async with subscription:
                async for event in subscription:
                    if isinstance(event, AgentStateChanged):
                        self.deliver(event.user, event.current.agent_state == _PAUSED)
                    elif isinstance(event, SourceFailed):
                        self.notice()

        self._consumer = asyncio.create_task(consume())

    def ready(self) -> int:
        return len(self._watcher.snapshot())

    def own_requests(self) -> int | None:
        source = self._watcher.stats().sources.get("agents")
        return None if source is None else source.requests

    async def stop(self) -> None:
        await self._watcher.aclose()
        if self._consumer is not None:
            await asyncio.gather(self._consumer, return_exceptions=True)
        await self.client.aclose()


class _Gate:
    """The old policy's shared health: during an outage only the prober sends."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.open.set()
        self.prober: str | None = None

    async def wait(self, user: str) -> None:
        # Each pass waits for one reopening; the loop ends when the gate is open.
        while self.prober is not None and self.prober != user:
            await self.open.wait()

    def close(self, prober: str) -> None:
        self.prober = prober
        self.open = asyncio.Event()

    def reopen(self) -> None:
        self.prober = None
        self.open.set()


class _OldPolicy(_Subject):
    name = OLD

    def __init__(self, url: str, token: str, users: Sequence[str]) -> None:
        super().__init__(url, token, users)
        self._gate = _Gate()
        self._tasks: list[asyncio.Task[None]] = []
        self._states: set[str] = set()

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._loop(user)) for user in self.users]

    async def _fetch(self, user: str, digest: str | None) -> Any:
        if digest is None:
            return await self.client.call("RTUserState", user=user, retries=0)
        return await self.client.call(
            "RTUserState", user=user, hash=digest, retries=0, timeout=Timeouts.long_poll()
        )

    async def _loop(self, user: str) -> None:
        # Runs until stop() cancels it (every subject is stopped within its case).
        gate = self._gate
        digest: str | None = None
        attempts = 0
        while True:
            await gate.wait(user)
            try:
                result = await self._fetch(user, digest)
                new_digest = str(result["hash"])
                paused = result["agent_state"] == _PAUSED
            except DaktelaAPIError:
                # About this agent only (unknown login...): its own wait, no gate.
                await asyncio.sleep(OLD_BACKOFF.delay(1))
                digest = None
                continue
            except (DaktelaError, KeyError, TypeError):
                # Transport error, HTTP error status, broken answer: the PBX is unwell.
                digest = None
                if gate.prober is None:
                    gate.close(user)
                    self.notice()
                if gate.prober == user:
                    attempts += 1
                    await asyncio.sleep(OLD_BACKOFF.delay(attempts))
                continue
            if gate.prober == user:
                # Every waiting agent resyncs at once, without hash.
                gate.reopen()
                attempts = 0
            self._states.add(user)
            if new_digest != digest:
                self.deliver(user, paused)
            digest = new_digest

    def ready(self) -> int:
        return len(self._states)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.client.aclose()


# --- one outage ---------------------------------------------------------------------------------


@attrs.frozen
class _Outcome:
    requests: int
    first_second: int  # of which sent in the outage's first second (the polls in flight)
    own_requests: int | None  # the watcher's stats().sources["agents"].requests
    noticed: float | None  # seconds after the outage began
    resynced: float  # seconds after the server served again (a lower bound if incomplete)
    complete: int  # agents whose new state was delivered
    peak_unheld: int
    bulk: int  # RTUsersState requests after the server served again


async def _held(sim: Child) -> int:
    return int((await sim.command("held"))["held"])


async def _break(sim: Child, kind: Kind, users: Sequence[str]) -> dict[str, bool] | None:
    """Start the outage; returns the agents' new pause states when they changed already."""
    if kind == "refused":
        await sim.command("stop")
        return dict((await sim.command("toggle_all", users=list(users)))["paused"])
    if kind == "503":
        await sim.command("inject", kind="status", status=503)
        # End the held polls too: the server answers them (unchanged) as it stops.
        await sim.command("stop")
        await sim.command("start")
        return dict((await sim.command("toggle_all", users=list(users)))["paused"])
    await sim.command("inject", kind="hang")
    return None


async def _mend(sim: Child, kind: Kind, users: Sequence[str]) -> tuple[float, dict[str, bool]]:
    """End the outage; returns when the server served again and the new pause states."""
    if kind == "refused":
        return float((await sim.command("start"))["t"]), {}
    if kind == "503":
        return float((await sim.command("clear_faults"))["t"]), {}
    answer = await sim.command("toggle_all", users=list(users), clear_faults=True)
    return float(answer["t"]), dict(answer["paused"])


async def _reset(sim: Child) -> None:
    """Between cases: no fault, and no poll of the previous client left held."""
    await sim.command("clear_faults")
    await sim.command("stop")
    await sim.command("start")


async def _outage(
    sim: Child, kind: Kind, subject: _Subject, users: Sequence[str], sizes: Sizes
) -> _Outcome:
    await subject.start()
    try:

        async def warmed() -> bool:
            return subject.ready() >= len(users) and await _held(sim) >= len(users)

        if not await poll_until(warmed, _WARM_TIMEOUT):
            raise RuntimeError(f"{subject.name}: the agents' polls were not all held in time")
        await asyncio.sleep(_HELD_BEFORE)
        settle()
        counter = subject.counter
        own = subject.own_requests()
        subject.down_at = down = time.monotonic()
        expected = await _break(sim, kind, users)
        await asyncio.sleep(max(0.0, down + sizes.outage - time.monotonic()))
        # Counted up to the command that ends the outage: the server cannot serve before it.
        sent = [at - down for at in counter.sent if at >= down]
        own_after = subject.own_requests()
        own = None if own is None or own_after is None else own_after - own
        bulk = counter.bulk
        counter.reset_peak()
        up, changed = await _mend(sim, kind, users)
        expected = expected if expected is not None else changed

        async def resynced() -> bool:
            return len(subject.delivered(expected)) >= len(users)

        await poll_until(resynced, sizes.resync_timeout)
        found = subject.delivered(expected)
        last = (
            max(found.values())
            if len(found) >= len(users)
            else time.monotonic()  # not every agent came back in time: a lower bound
        )
        return _Outcome(
            requests=len(sent),
            first_second=sum(1 for at in sent if at < 1.0),
            own_requests=own,
            noticed=None if subject.noticed is None else subject.noticed - down,
            resynced=last - up,
            complete=len(found),
            peak_unheld=counter.peak_unheld,
            bulk=counter.bulk - bulk,
        )
    finally:
        await subject.stop()
        await _reset(sim)


async def _main(quick: bool) -> list[Line]:
    sizes = QUICK if quick else FULL
    agents = str(sizes.agents + _NAMED)
    results: dict[tuple[Kind, str], list[_Outcome]] = {}
    async with Child("sim", "--agents", agents, "--hold", str(_HOLD)) as sim:
        users: list[str] = sim.hello["generated"][: sizes.agents]
        url, token = sim.hello["url"], sim.hello["token"]
        for repeat in range(sizes.repeats):
            for index, kind in enumerate(KINDS):
                # Alternate which subject goes first, so neither always meets a fresh server.
                first = (index + repeat) % 2 == 0
                order = (_Watch, _OldPolicy) if first else (_OldPolicy, _Watch)
                for make in order:
                    subject = make(url, token, users)
                    outcome = await _outage(sim, kind, subject, users, sizes)
                    results.setdefault((kind, subject.name), []).append(outcome)
    lines: list[Line] = []
    for kind in KINDS:
        lines.extend(_lines(kind, results[kind, WATCHER], results[kind, OLD], len(users), sizes))
    return lines


# --- the table ----------------------------------------------------------------------------------


def _spread(values: Sequence[float], digits: int = 0, unit: str = "") -> str:
    """``median unit``, then ``(min-max unit)`` when several repeats differ."""
    middle = f"{median(values):.{digits}f}{unit}"
    low, high = f"{min(values):.{digits}f}", f"{max(values):.{digits}f}"
    return middle if low == high else f"{middle} ({low}-{high}{unit})"


def _lines(
    kind: Kind, new: Sequence[_Outcome], old: Sequence[_Outcome], agents: int, sizes: Sizes
) -> list[Line]:
    case = f"{agents} agents, {_KIND_TEXT[kind]} for {sizes.outage:g} s"
    if sizes.repeats > 1:
        case += f" (median of {sizes.repeats}, min-max)"
    old_later = median([o.requests - o.first_second for o in old])
    old_resync = median([o.resynced for o in old])
    old_peak = median([o.peak_unheld for o in old])
    return [
        Line(
            row=7,
            case=(
                f"{case}: requests sent during the outage, all / after its first second "
                "(the ratio: after it)"
            ),
            measured=_requests(new),
            baseline=f"{OLD}: {_requests(old)}",
            ratio=(
                ratio_text(median([o.requests - o.first_second for o in new]) / old_later)
                if old_later
                else "-"
            ),
        ),
        Line(
            row=7,
            case=f"{case}: after it serves again, every agent's new state delivered",
            measured=_resync(new, agents),
            baseline=_resync(old, agents),
            ratio=(
                ratio_text(median([o.resynced for o in new]) / old_resync)
                if old_resync > 0
                else "-"
            ),
        ),
        Line(
            row=7,
            case=(
                f"{case}: after it serves again, most un-held RTUserState requests "
                "in flight at once"
            ),
            measured=_peak(new),
            baseline=_peak(old),
            ratio=(
                ratio_text(median([o.peak_unheld for o in new]) / old_peak) if old_peak else "-"
            ),
        ),
    ]


def _requests(outcomes: Sequence[_Outcome]) -> str:
    total = _spread([o.requests for o in outcomes])
    later = _spread([o.requests - o.first_second for o in outcomes])
    noticed = [o.noticed for o in outcomes if o.noticed is not None]
    if not noticed:
        when = "outage not noticed"
    else:
        when = f"noticed after {_spread(noticed, 1, ' s')}"
        if len(noticed) < len(outcomes):
            when += f" in {len(noticed)} of {len(outcomes)} runs"
    own = [o.own_requests for o in outcomes if o.own_requests is not None]
    counted = (
        f"; all: {_spread(own)} by watcher.stats()"
        if own and own != [o.requests for o in outcomes]
        else ""
    )
    return f"{total} / {later} ({when}{counted})"


def _resync(outcomes: Sequence[_Outcome], agents: int) -> str:
    text = _spread([o.resynced for o in outcomes], 2, " s")
    short = [o for o in outcomes if o.complete < agents]
    if not short:
        return text
    worst = min(o.complete for o in short)
    return (
        f"{text}, a lower bound: gave up waiting in {len(short)} of {len(outcomes)} runs "
        f"(as few as {worst}/{agents} agents back)"
    )


def _peak(outcomes: Sequence[_Outcome]) -> str:
    peak = _spread([o.peak_unheld for o in outcomes])
    bulk = max(o.bulk for o in outcomes)
    return f"{peak} (+ up to {bulk} RTUsersState)" if bulk else peak


def run(quick: bool) -> list[Line]:
    """Measure row 7 and return its table lines."""
    return asyncio.run(_main(quick))


NOTES: Final = (
    "- **Row 7** watches every agent with its poll held by the simulator (a child process), "
    "then breaks the PBX for a while in one of three ways: **refused** (the server stops: "
    "connections are refused; every agent is toggled while it is down; it serves again on "
    "the same port), **503** (every API request answers HTTP 503; the server is restarted "
    "as the fault begins so the polls it held end too; every agent is toggled while the "
    "fault is on; removing the fault ends the outage) and **hang** (every API request that "
    "arrives hangs unanswered while the polls already held stay held; the agents are "
    "toggled as the hang ends, in one step with the fault's removal, since the simulator "
    "would otherwise answer the held polls at once; the requests the fault held are then "
    "answered, within its 0.25 s re-check). The watcher (`client.watch()`) is compared with "
    "the **old policy**, reimplemented with `DaktelaClient.call`: one long poll per agent "
    "with `hash`, one shared gate, the first agent to fail becomes the only prober "
    "(full-jitter backoff from 1 s doubling to 30 s), and on the prober's first answer "
    "every agent resyncs at once without `hash` and without a concurrency limit. Requests "
    "are counted by a wrapper around each shard's httpx transport, the same way for both, "
    "from the outage's start to the command that ends it. Every poll has been held for 2 s "
    "when it begins; the simulator answers the polls it holds (unchanged) as it stops or "
    "restarts, and each agent's next poll meets the outage, so the first second costs "
    "about one request per agent whatever the policy: the ratio compares the requests sent "
    'after it. "Noticed" is the first `SourceFailed` (the old policy: its gate closing). '
    '"New state delivered" runs from the moment the simulator serves again to the last '
    "agent whose new `agent_state` reached the subscriber (the old policy: its answer). The "
    "last line counts un-held `RTUserState` requests (no `hash`) in flight at once after "
    "the return. The full run repeats each outage 3 times per subject (median, min-max): "
    "the old policy's recovery is mostly its prober's jittered wait for the next probe.",
)
