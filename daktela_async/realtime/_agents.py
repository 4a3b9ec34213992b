"""Agent long polls, the outage prober, the bulk resync and the re-arm after an outage.

Per watched agent one task long-polls ``RTUserState``: the first request has no ``hash``
(it answers at once with the current state), later ones send the last ``hash`` and the
server holds them until the agent changes or its hold passes. The ``hash`` advances only
after the change has been published. Below API 4.0, or when the PBX answers without a
``hash``, the agent's state is polled at ``poll_interval``.

Failures are judged by :func:`~daktela_async.realtime._health.classify`:

- an ``OUTAGE`` closes the shared gate: every poll in flight is cancelled (a hung PBX
  keeps them until their read timeout), and a single prober asks with the token check
  (``GetUser``, short timeout) once per backoff step (capped at ~2 s) however many
  agents wait. Any answer ends the outage. With API 4.1 one ``RTUsersState`` then
  publishes every agent's current state at once; then the agents re-arm their long
  polls, at most ``resync_concurrency`` un-held requests at a time.
- an ``AGENT`` verdict is that agent's own source (``agent:<login>``) with its own
  backoff; the other agents carry on. A first status 0 after a good answer also asks
  the canary for a token check.
- ``AUTH`` and ``USAGE`` stop the whole watcher.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

import anyio
import anyio.abc
import anyio.lowlevel
import attrs
import sniffio

from .._config import NOT_GIVEN
from .._errors import DaktelaAPIError, DaktelaError, DaktelaPoolTimeoutError
from .._models import AgentState, structure
from .._models._agent_states import structure_agent_states
from .._transport._request import version_key
from ._core import Core
from ._diff import agent_events, same_on_board
from ._health import OutageGate, TokenCheck, Verdict, classify, retry_after
from ._interrupt import Interrupt, interrupt_factory

if TYPE_CHECKING:
    from .._prepare import Prepared

__all__ = ["Agents"]

_log = logging.getLogger("daktela_async.realtime")

#: An outage that starts this soon after the last one ended continues its probe backoff.
_FLAP_WINDOW: Final = 10.0
#: Connections a watcher needs beside one held poll per agent: the canary and a probe.
_RESERVED: Final = 2
#: Held answers in a row faster than ``min_unchanged_gap`` after which a poll waits out the
#: gap even when they changed: no agent really changes this often for long.
_FAST_CHANGES: Final = 3


class Agents:
    """The agent half of a watcher: one long poll per agent, one gate, one prober."""

    def __init__(self, core: Core) -> None:
        self._core = core
        self._client = core.client
        self._settings = core.settings
        version = version_key(core.client.api_version)
        self._has_hash = version >= (4, 0)
        # RTUsersState (4.1) answers for every logged-in agent at once: the whole resync
        # after an outage in one request.
        self._bulk = version >= (4, 1)
        self._check_action = "GetUser" if version >= (4, 0) else "RTStatsQueuesSummary"
        self.states: dict[str, AgentState] = {}
        # Agents whose stored state came from RTUsersState's shorter form.
        self._partial: set[str] = set()
        self._scopes: dict[str, anyio.CancelScope] = {}
        self._inflight: dict[str, Interrupt] = {}
        # Each agent's held poll as last prepared, and the hash it was prepared for: an
        # idle watch sends the same request every hold.
        self._held: dict[str, tuple[str, Prepared]] = {}
        self._warned_capacity = False
        self.gate = OutageGate()
        self.source = core.source("agents")
        self._unheld = anyio.CapacityLimiter(self._settings.resync_concurrency)
        self._tg: anyio.abc.TaskGroup | None = None
        # Agents whose outage the prober's answer disproved: until they answer again,
        # their transport failures and 5xx are theirs alone (no gate, no stampede).
        self._suspects: set[str] = set()
        self._trigger: str | None = None
        self._attempts = 0
        self._recovered_at: float | None = None
        self._check_epoch = 0
        self.canary = TokenCheck(
            self._check,
            interval=self._settings.canary_interval,
            gap=self._settings.token_check_gap,
            periodic=lambda: bool(self._scopes) and not self.gate.closed,
            ready=lambda: not self.gate.closed,
            on_outage=self._canary_failed,
            on_refused=lambda error, verdict: core.stop(error, verdict),
            on_answer=self._canary_answered,
        )

    # --- the set of agents ----------------------------------------------------------------

    @property
    def users(self) -> tuple[str, ...]:
        """The agents being polled."""
        return tuple(self._scopes)

    def start(self, tg: anyio.abc.TaskGroup, users: list[str]) -> None:
        """Start polling *users* (and the canary) in *tg*."""
        self._tg = tg
        # Always running: a periodic canary is optional, a token check on suspicion is not.
        tg.start_soon(self.canary.run)
        for user in users:
            self.add(user)

    def add(self, user: str) -> None:
        """Start polling one more agent."""
        if user in self._scopes or self._tg is None:
            return
        scope = anyio.CancelScope()
        self._scopes[user] = scope
        self._tg.start_soon(self._run, user, scope)
        capacity = self._client.pool.capacity
        if not self._warned_capacity and len(self._scopes) + _RESERVED > capacity:
            self._warned_capacity = True
            _log.warning(
                "%d agents' held polls need as many connections, and the pool has %d: "
                "requests beyond it wait for a free one (give the client "
                "PoolLimits(max_shards=...) for more)",
                len(self._scopes),
                capacity,
            )

    def remove(self, user: str) -> None:
        """Stop polling an agent and forget everything about it (its source included)."""
        scope = self._scopes.pop(user, None)
        if scope is not None:
            scope.cancel()
        self.states.pop(user, None)
        self._partial.discard(user)
        self._suspects.discard(user)
        self._held.pop(user, None)
        # Its entry in _inflight goes as the cancelled request unwinds (_request's finally).
        self._core.sources.pop(f"agent:{user}", None)

    async def _run(self, user: str, scope: anyio.CancelScope) -> None:
        with scope:
            await self._poll(user)

    # --- one agent ------------------------------------------------------------------------

    async def _poll(self, user: str) -> None:
        settings = self._settings
        name = f"agent:{user}"
        hash: str | None = None
        interval = not self._has_hash
        fast = 0  # answers in a row that came back faster than min_unchanged_gap
        clock = _clock()
        interrupt = interrupt_factory()
        rested = False
        while True:
            if not rested:
                # A transport that answers without suspending must not starve the loop.
                # A poll that slept, or was held, has let the others run already.
                await anyio.lowlevel.checkpoint()
            rested = False
            if self.gate.closed:
                await self.gate.wait()
            epoch = self.gate.epoch
            started = clock()
            sent = None if interval else hash
            try:
                state = await self._request(user, sent, interrupt())
            except DaktelaError as exc:
                hash = None
                verdict = classify(exc)
                if verdict is Verdict.OUTAGE and user not in self._suspects:
                    if epoch == self.gate.epoch:
                        self.outage(exc, user)
                    continue
                source = self._core.source(name)
                if verdict in (Verdict.AUTH, Verdict.USAGE):
                    self._core.stop(exc, verdict)
                    return
                # About this agent (or an outage the prober has disproved for it): its
                # own source and backoff; the others carry on.
                if isinstance(exc, DaktelaAPIError) and not source.failures:
                    # Only an agent that answered before and now says status 0 is
                    # suspicious: 600 agents off shift must not cost a check each.
                    self._core.suspect_token()
                delay = settings.backoff.delay(source.failures + 1, retry_after(exc))
                source.failed(exc, delay)
                await anyio.sleep(delay)
                rested = True
                continue
            if state is None or epoch != self.gate.epoch:
                # Cancelled by an outage, or an answer from before it: the resync after
                # the outage supersedes it, and the next request starts afresh.
                hash = None
                continue
            self._answered(user, name, clock())
            if not interval and state.hash is None:
                interval = True
                _log.warning(
                    "RTUserState for %r answered without a hash at API %s: polling this "
                    "agent every %g s instead of long polling",
                    user,
                    self._client.api_version,
                    settings.poll_interval,
                )
            published = self._publish(user, state)
            hash = state.hash
            elapsed = clock() - started
            fast = fast + 1 if sent is not None and elapsed < settings.min_unchanged_gap else 0
            if interval:
                gap = settings.poll_interval
            elif sent is not None and (not published or fast >= _FAST_CHANGES):
                # A held poll that came back quickly with nothing new, or "changed" again
                # and again: the server is not holding requests (or lies about the
                # hash). Never spin; a real change still arrives with the next answer.
                gap = settings.min_unchanged_gap
            else:
                gap = 0.0
            if elapsed < gap:
                await anyio.sleep(gap - elapsed)
                rested = True
            else:
                # After a change, the subscribers it woke run before the next request is
                # sent (that costs them its sending time in latency otherwise).
                rested = not published and elapsed >= settings.min_unchanged_gap

    async def _request(self, user: str, hash: str | None, scope: Interrupt) -> AgentState | None:
        """One ``RTUserState`` within *scope* (fresh); ``None`` when an outage cancelled it."""
        client = self._client
        self._inflight[user] = scope
        result: Any = None
        try:
            with scope:
                # The client's own steps, not call(): each agent keeps its prepared poll,
                # and the pool's coroutine is awaited from this frame (no layer between
                # them to resume each time the held request wakes up).
                if hash is None:
                    async with self._unheld:
                        self.source.requests += 1
                        prepared = self._prepare_poll(user, None)
                        result = client._result(prepared, await client._attempts(prepared))
                else:
                    self.source.requests += 1
                    held = self._held.get(user)
                    if held is None or held[0] != hash:
                        held = self._held[user] = (hash, self._prepare_poll(user, hash))
                    prepared = held[1]
                    result = client._result(prepared, await client._attempts(prepared))
        finally:
            if self._inflight.get(user) is scope:
                del self._inflight[user]
        if scope.cancelled_caught:
            return None
        if hash is not None and type(result) is dict and result.get("hash") == hash:
            # The hash we sent came back: the agent has not changed since the answer we
            # stored (most answers of an idle watch). Reuse that state instead of
            # structuring this one, unless it is RTUsersState's shorter form.
            stored = self.states.get(user)
            if stored is not None and stored.hash == hash and user not in self._partial:
                return stored
        state: AgentState = structure(
            result, AgentState, action="RTUserState", secret=self._client._token
        )
        return state

    def _prepare_poll(self, user: str, hash: str | None) -> Prepared:
        """One agent's ``RTUserState``, held (with *hash*) or not, prepared afresh.

        Not through the client's cache of prepared calls: each agent keeps its own held
        one in ``_held``, and a cached copy of each would cost memory per agent.
        """
        return self._client._prepare_anew(
            "RTUserState",
            None,
            version=NOT_GIVEN,
            format="json",
            timeout=NOT_GIVEN if hash is None else self._settings.long_poll,
            retries=0,
            params={"user": user} if hash is None else {"user": user, "hash": hash},
        )

    def _answered(self, user: str, name: str, now: float) -> None:
        self.source.last_success = now
        self._suspects.discard(user)
        source = self._core.sources.get(name)
        if source is not None and source.failures:
            source.succeeded()

    def _publish(self, user: str, state: AgentState, *, partial: bool = False) -> bool:
        """Store *state* and publish what changed; whether anything was published."""
        if user not in self._scopes:
            return False  # removed while its answer was on the way
        previous = self.states.get(user)
        if (
            previous is not None
            and (partial or user in self._partial)
            and same_on_board(previous, state)
        ):
            # RTUsersState's rows carry fewer queue details than RTUserState: the same
            # state in the other form is no change.
            if not partial:
                self.states[user] = state
                self._partial.discard(user)
            return False
        self.states[user] = state
        if partial:
            self._partial.add(user)
        else:
            self._partial.discard(user)
        published = False
        for event in agent_events(user, previous, state):
            self._core.hub.publish(event)
            published = True
        return published

    # --- outages --------------------------------------------------------------------------

    def outage(self, error: DaktelaError, user: str | None = None) -> None:
        """Start an outage (once): cancel the polls in flight and start the prober.

        Args:
            error: The failure that started it.
            user: The agent whose request failed (``None``: the canary's).
        """
        if self._tg is None or not self._scopes or not self.gate.close():
            return  # no agents: the stats pollers meet an outage on their own
        self._trigger = user
        if self._recovered_at is None or anyio.current_time() - self._recovered_at > _FLAP_WINDOW:
            self._attempts = 0
        # Else a flapping PBX: the backoff goes on growing from where the last outage left it.
        self._attempts += 1
        delay = self._settings.probe_backoff.delay(self._attempts, retry_after(error))
        self.source.failed(error, delay)
        # A hung PBX would keep them until their 75 s read timeout; the re-arm after the
        # outage sends fresh ones.
        for scope in list(self._inflight.values()):
            scope.cancel()
        self._tg.start_soon(self._probe, delay)

    async def _probe(self, delay: float) -> None:
        while True:
            await anyio.sleep(delay)
            if not self._scopes:
                # Everyone was removed: nothing to probe for. An agent added later meets
                # the outage again, if it is still going on.
                self.source.reset()
                self.gate.reopen()
                return
            try:
                await self._check()
                bulk = await self._bulk_states()
            except DaktelaError as exc:
                verdict = classify(exc)
                if verdict is Verdict.OUTAGE:
                    self._attempts += 1
                    delay = self._settings.probe_backoff.delay(self._attempts, retry_after(exc))
                    self.source.failed(exc, delay)
                    continue
                if isinstance(exc, DaktelaPoolTimeoutError):
                    # Not sent (our pool is full): no answer yet, ask again.
                    continue
                if verdict is not Verdict.AGENT or isinstance(exc, DaktelaAPIError):
                    # The probe asks with nothing but the token: a status 0 refuses it.
                    self._core.stop(exc, _final(verdict))
                    return
                # A 500 or a garbled body: the PBX answers, so it is reachable again.
                bulk = None
            break
        self.source.succeeded()
        self._recovered_at = anyio.current_time()
        if self._trigger in self._scopes:
            # The PBX answers: if this agent fails the same way again, it is its problem.
            self._suspects.add(self._trigger)
        if bulk is not None:
            by_login = {state.agent_name: state for state in bulk.values()}
            for user in list(self._scopes):
                row = by_login.get(user)
                if row is not None:
                    self._publish(user, row, partial=True)
        self.gate.reopen()

    async def _bulk_states(self) -> Mapping[str, AgentState] | None:
        """Every logged-in agent's state in one ``RTUsersState`` (API 4.1), or ``None``.

        Raises:
            DaktelaError: Only an ``OUTAGE``: the PBX went away again.
        """
        if not self._bulk:
            return None
        self.source.requests += 1
        try:
            # The probe's read timeout catches a silent PBX; the client's deadline leaves
            # time for a long answer (every logged-in agent).
            timeouts = attrs.evolve(self._settings.probe, deadline=self._client.timeouts.deadline)
            result = await self._client.call("RTUsersState", retries=0, timeout=timeouts)
            # An empty result ([] from PHP, or null) is no one logged in: it reads as {}.
            return structure_agent_states(result, secret=self._client._token, lazy=False)
        except DaktelaError as exc:
            if classify(exc) is Verdict.OUTAGE:
                raise
            # Refused for this token, or unreadable: re-arm agent by agent instead, and
            # from now on (a status 0 here would repeat at every outage).
            self._bulk = not isinstance(exc, DaktelaAPIError)
            _log.warning("RTUsersState failed during a resync (%s); resyncing agent by agent", exc)
            return None

    # --- the canary -----------------------------------------------------------------------

    async def _check(self) -> None:
        self._check_epoch = self.gate.epoch
        self.source.requests += 1
        await self._client.call(self._check_action, retries=0, timeout=self._settings.probe)

    def _canary_failed(self, error: DaktelaError) -> None:
        # A check sent before an outage that has since ended says nothing about now.
        if self._check_epoch == self.gate.epoch:
            self.outage(error)

    def _canary_answered(self) -> None:
        if not self.gate.closed:
            self.source.last_success = anyio.current_time()


def _final(verdict: Verdict) -> Verdict:
    return Verdict.USAGE if verdict is Verdict.USAGE else Verdict.AUTH


def _clock() -> Callable[[], float]:
    """``anyio.current_time`` resolved once for the running loop (it asks on every call).

    On asyncio it is the loop's own clock, as anyio's is; elsewhere (trio, a mock
    clock) anyio's.
    """
    if sniffio.current_async_library() == "asyncio":
        return asyncio.get_running_loop().time
    return anyio.current_time
