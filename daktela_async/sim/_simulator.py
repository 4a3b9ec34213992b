"""The in-process simulator: a PBX on a real loopback port, usable from asyncio and trio."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, Self, TypeVar

import anyio.to_thread

from .._errors import DaktelaUsageError
from ._app import SimContext, create_app
from ._clock import SimClock, parse_dt
from ._dynamics import CallCentre, Traffic
from ._faults import Fault, FaultKind, FaultPlan, GarbageKind, _logins
from ._holds import HoldEnds
from ._server import SimServer
from .state import SimState, token_for

__all__ = ["Simulator"]

T = TypeVar("T")


class Simulator:
    """A simulated Daktela PBX serving the legacy API on a loopback port.

    ``async with Simulator(agents=50, queues=3, seed=1, speed=1.0) as sim:`` starts the
    server (in a daemon thread with its own asyncio loop, so asyncio and trio callers
    both work) and waits until it accepts connections; leaving the block stops it. The
    API is at ``sim.url + "/api/..."`` with token ``sim.token``. ``with Simulator(...)``
    works the same from synchronous code.

    Control methods (:meth:`pause_on`, :meth:`set_state`, :meth:`start_call`,
    :meth:`inject`, :meth:`revoke_token`, :meth:`advance`, ...) may be called from any
    thread: they run on the simulator's loop and wake the long polls that their change
    concerns.

    Args:
        agents: Operators to create (see :class:`SimState`).
        queues: Inbound queues to create.
        seed: Seeds the PBX, the call-centre model and the fault draws.
        speed: Simulated seconds per real second. ``0`` freezes the clock and turns
            the call-centre model off: the state then changes only through API calls
            and control methods (and :meth:`advance`), which is what tests want.
        hold: Seconds ``RTUserState`` with an unchanged ``hash`` is held (60 in the
            document; tests use fractions of a second).
        hold_ends: When an unchanged held poll ends: ``"arrival"``, a whole hold after
            it arrived (the document's behaviour); ``"spread"``, at the agent's next
            point of the hold cycle (the agents spread evenly over it; never more than
            a hold away), so answers come spread out as a real PBX's do even to a client
            that started every poll at once; ``"together"``, every agent's at the same
            point (one burst per hold).
        dynamics: Run the call-centre model; default: when ``speed > 0``.
        host: Interface to bind (loopback by default).
        port: Port to bind; 0 picks a free one.
        login: The API administrator's login.
        password: The API administrator's password; ``token = SHA1(login + password)``.
        start_time: Simulated start (``"YYYY-MM-DD HH:MM:SS"`` or seconds); default now.
        logged_in: Start operators logged in and Idle in every inbound queue.
        records: Contacts to create in the outbounder campaign.
        traffic: Parameters of the call-centre model.
    """

    def __init__(
        self,
        *,
        agents: int = 50,
        queues: int = 3,
        seed: int = 1,
        speed: float = 1.0,
        hold: float = 60.0,
        hold_ends: HoldEnds = "arrival",
        dynamics: bool | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        login: str = "admin",
        password: str = "daktela",  # noqa: S107 (the simulator's documented default)
        start_time: str | float | None = None,
        logged_in: bool = True,
        records: int = 100,
        traffic: Traffic | None = None,
    ) -> None:
        start = parse_dt(start_time) if isinstance(start_time, str) else start_time
        self.clock = SimClock(start, speed)
        self.state = SimState(
            agents=agents,
            queues=queues,
            seed=seed,
            clock=self.clock,
            logged_in=logged_in,
            records=records,
            login=login,
            password=password,
        )
        self.faults = FaultPlan(seed)
        run_model = speed > 0 if dynamics is None else dynamics
        model = CallCentre(self.state, seed=seed, traffic=traffic) if run_model else None
        self.app = create_app(
            self.state,
            faults=self.faults,
            hold=hold,
            hold_ends=hold_ends,
            dynamics=model if model is not None else False,
        )
        self.context: SimContext = self.app.state.sim
        self.token = token_for(login, password)
        self.host = host
        # Revoked token -> the user id it stood for; only touched on the loop (run()).
        self._revoked: dict[str, str] = {}
        self._server = SimServer(self.app, self.context, host, port)

    # --- lifecycle ---------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (0 before the first start)."""
        return self._server.port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash; the API is under ``/api/``)."""
        if self._server.port == 0:
            raise DaktelaUsageError("the simulator has not been started")
        return f"http://{self.host}:{self._server.port}"

    @property
    def running(self) -> bool:
        """Whether the server is serving."""
        return self._server.running

    def start(self) -> Self:
        """Start the server and wait until it accepts connections (blocking)."""
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop the server and join its thread (blocking, bounded)."""
        self._server.stop()

    def stop_server(self) -> None:
        """Simulate an outage: stop serving (connections are refused); state is kept."""
        self._server.stop()

    def start_server(self) -> None:
        """End an outage: serve again on the same port."""
        self._server.start()

    async def __aenter__(self) -> Self:
        await anyio.to_thread.run_sync(self.start)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await anyio.to_thread.run_sync(self.stop)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- control -----------------------------------------------------------------------

    def run(self, fn: Callable[[SimState], T]) -> T:
        """Run ``fn(state)`` on the simulator's loop (thread-safe) and return its result."""
        return self._server.call(lambda: fn(self.state))

    async def arun(self, fn: Callable[[SimState], T]) -> T:
        """:meth:`run` without blocking the caller's event loop."""
        return await anyio.to_thread.run_sync(self.run, fn)

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready summary of the state (agents, calls, counters)."""
        return self.run(lambda s: (s.sync(), s.snapshot())[1])

    def traffic(self, *, reset: bool = False) -> dict[str, Any]:
        """What the PBX was asked so far (see :class:`~daktela_async.sim._holds.Traffic`).

        Args:
            reset: Start counting afresh after taking the copy.
        """

        def take(state: SimState) -> dict[str, Any]:
            counts = self.context.traffic.snapshot()
            if reset:
                self.context.traffic.reset()
            return counts

        return self.run(take)

    def hash(self, user: str) -> str:
        """The ``hash`` ``RTUserState`` (4.0+) currently answers for *user*."""

        def digest(state: SimState) -> str:
            state.sync()
            found = state.user(user)
            return self.context.views.user_state(found, state.agents[found.id])[1]

        return self.run(digest)

    def advance(self, seconds: float) -> None:
        """Move simulated time forward, running what became due (wrap-ups, SMS, ...)."""

        def step(state: SimState) -> None:
            state.advance(seconds)
            self.context.driver.poke()

        self.run(step)

    def set_time(self, when: str | float) -> None:
        """Jump the simulated clock to *when* (``"YYYY-MM-DD HH:MM:SS"`` or seconds)."""
        moment = parse_dt(when) if isinstance(when, str) else when
        self.run(lambda s: s.set_time(moment))

    def manual(self, *users: str) -> None:
        """Let only the API and control methods move these operators (no model)."""

        def mark(state: SimState) -> None:
            for login in users:
                state.agent(login).bot = False

        self.run(mark)

    def login(self, user: str, extension: str | None = None) -> None:
        """Sign *user* into the call centre."""
        self.run(lambda s: s.login(user, extension))

    def logout(self, user: str) -> None:
        """Sign *user* out of the call centre (hangs up its calls first)."""

        def out(state: SimState) -> None:
            agent = state.agent(user)
            for call in state.live_calls_of(agent):
                state.finish(call, "agent")
            state.logout(user)

        self.run(out)

    def login_queue(self, user: str, queue: str, priority: int | None = None) -> None:
        """Sign *user* into queue number *queue*."""
        self.run(lambda s: s.login_queue(user, queue, priority=priority))

    def logout_queue(self, user: str, queue: str) -> None:
        """Sign *user* out of queue number *queue*."""
        self.run(lambda s: s.logout_queue(user, queue))

    def pause_on(self, user: str, pause_id: str = "7", *, force: bool = True) -> None:
        """Put *user* on pause *pause_id* (``force`` by default: control skips checks)."""
        self.run(lambda s: s.pause_on(s.agent(user), pause_id, force=force))

    def pause_off(self, user: str) -> None:
        """End *user*'s pause."""
        self.run(lambda s: s.pause_off(s.agent(user)))

    def start_call(
        self,
        *,
        queue: str | None = None,
        user: str | None = None,
        clid: str = "226211245",
        call_id: str | None = None,
        direction: str = "in",
    ) -> str:
        """A customer call: into queue *queue* (rings an idle agent), or ringing *user*.

        Returns:
            The call id.
        """

        def begin(state: SimState) -> str:
            if user is not None:
                return state.ring_agent(
                    user, clid, queue_number=queue, call_id=call_id, direction=direction
                ).id
            number = queue or state.inbound_queues()[0].number
            return state.incoming_call(number, clid, call_id=call_id).id

        return self.run(begin)

    def answer(self, user: str) -> str:
        """*user* answers the call ringing at it; returns the call id."""
        return self.run(lambda s: s.answer(s.agent(user)).id)

    def hangup(self, user: str | None = None, *, call_id: str | None = None) -> None:
        """End *user*'s call (or the call *call_id*)."""

        def end(state: SimState) -> None:
            if call_id is not None:
                state.finish(state.calls[call_id], "caller")
            elif user is not None:
                state.hangup_agent(state.agent(user))

        self.run(end)

    def set_state(
        self, user: str, agent_state: str, *, pause: str = "7", clid: str = "226211245"
    ) -> str | None:
        """Force *user* into an ``RTUserState`` state.

        ``Offline`` (logged out), ``Logged``, ``Idle``, ``Paused`` (pause *pause*),
        ``Ringing``, ``Speaking`` or ``On Hold`` (a call from *clid* in the agent's
        first queue). Returns the call id for the call states.
        """

        def apply(state: SimState) -> str | None:
            agent = state.agent(user)
            for call in state.live_calls_of(agent):
                state.finish(call, "agent")
            if agent_state == "Offline":
                state.logout(user)
                return None
            if not agent.logged:
                state.login(user)
            if agent_state == "Logged":
                state.pause_off(agent)
                for queue_id in list(agent.queues):
                    state.logout_queue(user, state.queues[queue_id].number)
                return None
            if not agent.queues:
                for queue in state.inbound_queues():
                    state.login_queue(user, queue.number)
            state.pause_off(agent)
            # pause_off may have handed the agent a waiting call; this state wins.
            for call in state.live_calls_of(agent):
                state.finish(call, "agent")
            if agent.pause_id is not None:
                state.pause_off(agent)
            if agent_state == "Idle":
                return None
            if agent_state == "Paused":
                state.pause_on(agent, pause, force=True)
                return None
            if agent_state not in ("Ringing", "Speaking", "On Hold"):
                raise DaktelaUsageError(f"unknown agent state {agent_state!r}")
            call = state.ring_agent(user, clid)
            if agent_state != "Ringing":
                state.answer_call(call)
            if agent_state == "On Hold":
                state.hold(call)
            return call.id

        return self.run(apply)

    def inject(
        self,
        kind: FaultKind,
        *,
        seconds: float = 0.0,
        status: int = 503,
        retry_after: float | None = None,
        garbage: GarbageKind = "html",
        probability: float = 1.0,
        duration: float | None = None,
        count: int | None = None,
        actions: set[str] | frozenset[str] | None = None,
        users: Iterable[str] | None = None,
    ) -> Fault:
        """Inject a fault (see :class:`Fault`); returns it (``fault.id`` to remove it).

        Args:
            kind: What happens (:data:`FaultKind`).
            seconds: Added delay, for ``latency``.
            status: HTTP status code, for ``status``.
            retry_after: ``Retry-After`` seconds sent with a ``status`` fault.
            garbage: Which broken body, for ``garbage`` (:data:`GarbageKind`).
            probability: Share of matching requests hit (0..1).
            duration: Real seconds the fault stays active (``None``: until removed or
                its count is used up).
            count: How many requests it hits before it retires (``None``: no limit).
            actions: Only requests for these actions (``None``: every action).
            users: Only requests whose ``user`` parameter is one of these agent logins,
                such as ``RTUserState?user=hajek`` (``None``: every request). One
                string is one login.

        Returns:
            The active fault.

        Raises:
            DaktelaUsageError: An invalid fault (unknown kind, probability outside 0..1, an
                empty *users*, ...).
        """
        return self.faults.add(
            Fault(
                kind,
                seconds=seconds,
                status=status,
                retry_after=retry_after,
                garbage=garbage,
                probability=probability,
                duration=duration,
                count=count,
                actions=frozenset(actions) if actions is not None else None,
                users=_logins(users),
            )
        )

    def revoke_token(self, token: str | None = None) -> None:
        """Stop accepting *token* (default: :attr:`token`), as if its user's password changed.

        Every later API request with it answers the document's
        ``{"error":"Uživatel neexistuje","status":0}``, which is how the PBX answers a wrong
        token. Requests already being answered (held ``RTUserState`` long polls) finish
        as usual. The control endpoints (``/_sim/...``) check the same tokens, so they
        answer 401 to it too; the control methods keep working. Revoking a revoked token
        does nothing.

        Args:
            token: The token to revoke; the simulator's own :attr:`token` by default.

        Raises:
            DaktelaUsageError: The simulator knows no such token (a ValueError).
        """
        revoked = self.token if token is None else token

        def revoke(state: SimState) -> None:
            # The state first: an UpdateUser keeping the password re-issues a revoked token.
            user_id = state.tokens.pop(revoked, None)
            if user_id is not None:
                self._revoked[revoked] = user_id
            elif revoked not in self._revoked:
                raise DaktelaUsageError("the simulator knows no such token")

        self.run(revoke)

    def restore_token(self, token: str | None = None) -> None:
        """Accept a token revoked by :meth:`revoke_token` again, for the same user.

        Restoring a token that is accepted does nothing.

        Args:
            token: The token to restore; the simulator's own :attr:`token` by default.

        Raises:
            DaktelaUsageError: The simulator knows no such token (a ValueError).
        """
        restored = self.token if token is None else token

        def restore(state: SimState) -> None:
            user_id = self._revoked.pop(restored, None)
            if user_id is not None:
                # Should the state have re-issued the token meanwhile, its mapping wins.
                state.tokens.setdefault(restored, user_id)
            elif restored not in state.tokens:
                raise DaktelaUsageError("the simulator knows no such token")

        self.run(restore)

    def clear_faults(self, fault_id: int | None = None) -> int:
        """Remove one fault, or all; returns how many were removed."""
        return self.faults.remove(fault_id)
