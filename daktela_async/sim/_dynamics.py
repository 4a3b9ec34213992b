"""The call-centre process: customers call, operators answer, talk, wrap up and rest.

:class:`CallCentre` is a seeded model on top of :class:`~daktela_async.sim.state.SimState`:
it only schedules timers and calls the state's transitions, so with a frozen clock and
:meth:`SimState.advance` it runs (deterministically) without any event loop, and the
server's :class:`Driver` runs the same timers against real time times ``speed``.

The model, per inbound queue:

- calls arrive as a Poisson process (rate chosen so the operators are about
  ``utilisation`` busy), wait in the queue and ring the idle operator who has waited
  longest (the PBX's ``leastrecent``);
- a caller who waits longer than their patience (exponential) hangs up, whether the
  call is waiting in the queue or ringing an operator at that moment (``StatsCalls``
  then lists it unanswered, ``waiting_time`` being the time until the hang-up);
- an operator answers after a few seconds of ringing, talks for an exponential time,
  then the PBX's Wrap pause runs for the queue's wrap-up time;
- an operator who becomes Idle sometimes takes a break (a random ordinary pause);
- an outgoing call (``CreateCall``) is answered by the customer a few seconds after the
  operator picks up, and ends like any other call.

Operators whose ``Agent.bot`` is false (see ``Simulator.manual``) are left alone: only
API calls and control methods move them.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

import anyio

from ._model import Agent, Call
from .state import SimError, SimState

__all__ = ["CallCentre", "Driver", "Traffic"]


@dataclass(slots=True)
class Traffic:
    """Parameters of the call-centre model (simulated seconds).

    Attributes:
        utilisation: Target share of operator time spent on calls.
        talk_mean: Mean talk time.
        ring_min: Shortest time an operator lets a call ring.
        ring_max: Longest time an operator lets a call ring.
        patience_mean: Mean time a caller waits in the queue before hanging up.
        break_chance: Chance that an operator who becomes Idle starts a break.
        break_mean: Mean length of a break.
    """

    utilisation: float = 0.7
    talk_mean: float = 180.0
    ring_min: float = 2.0
    ring_max: float = 8.0
    patience_mean: float = 120.0
    break_chance: float = 0.03
    break_mean: float = 300.0


class CallCentre:
    """The seeded call-centre process driving a :class:`SimState`.

    Args:
        state: The PBX to drive.
        seed: Seeds the model's own random stream.
        traffic: Model parameters.
    """

    def __init__(self, state: SimState, *, seed: int = 1, traffic: Traffic | None = None) -> None:
        self.state = state
        self.traffic = traffic or Traffic()
        self.rng = random.Random(seed * 7919 + 17)
        self.running = False
        self._generation = 0
        self._unsubscribe: Any = None

    def arrival_rate(self) -> float:
        """Calls per simulated second over all inbound queues."""
        operators = sum(1 for _, a in self.state.iter_agents() if a.bot and a.logged)
        wrap = max((q.wrapup_seconds for q in self.state.inbound_queues()), default=0.0)
        handle = self.traffic.talk_mean + wrap + (self.traffic.ring_min + self.traffic.ring_max) / 2
        return max(operators, 1) * self.traffic.utilisation / handle

    def start(self) -> None:
        """Start the arrivals and react to the PBX's events."""
        if self.running:
            return
        self.running = True
        self._generation += 1
        self._unsubscribe = self.state.subscribe(self._on_event)
        queues = self.state.inbound_queues()
        per_queue = self.arrival_rate() / max(len(queues), 1)
        for queue in queues:
            self._next_arrival(queue.number, per_queue)
        for call in list(self.state.calls.values()):
            if call.state == "Ringing":
                self._on_ringing(call)
            elif call.state == "Speaking":
                self._on_speaking(call)

    def stop(self) -> None:
        """Stop acting (pending model timers become no-ops)."""
        self.running = False
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _next_arrival(self, number: str, rate: float) -> None:
        if rate <= 0:
            return
        generation = self._generation

        def arrive() -> None:
            # After a stop/start the old chain of arrivals must not run beside the new one.
            if not self.running or generation != self._generation:
                return
            clid = f"{self.rng.choice('2345679')}{self.rng.randrange(10**7, 10**8)}"
            try:
                call = self.state.incoming_call(number, clid)
            except SimError:
                return
            self._patience(call)
            self._next_arrival(number, rate)

        self.state.schedule(self.rng.expovariate(rate), arrive)

    def _patience(self, call: Call) -> None:
        def give_up() -> None:
            # Not only while it waits: the caller cannot tell that an operator's phone
            # rings, and hangs up all the same (before, such a call was answered later
            # than its patience allowed).
            if (
                self.running
                and call.is_live
                and call.answered is None
                and call.state in ("Waiting", "Ringing")
            ):
                self.state.finish(call, "caller", "abandon")

        self.state.schedule(self.rng.expovariate(1 / self.traffic.patience_mean), give_up)

    def _on_event(self, kind: str, subject: Any) -> None:
        if not self.running:
            return
        if kind == "ringing":
            self._on_ringing(subject)
        elif kind == "speaking":
            self._on_speaking(subject)
        elif kind == "free":
            self._on_free(subject)

    def _is_bot(self, call: Call) -> bool:
        agent = self.state.agents.get(call.agent_id or "")
        return agent is None or agent.bot

    def _on_ringing(self, call: Call) -> None:
        if not self._is_bot(call) and not call.autoanswer:
            return
        phase = call.phase
        delay = self.rng.uniform(self.traffic.ring_min, self.traffic.ring_max)

        def pick_up() -> None:
            if self.running and call.is_live and call.phase == phase and call.state == "Ringing":
                self.state.answer_call(call)

        self.state.schedule(delay, pick_up)

    def _on_speaking(self, call: Call) -> None:
        phase_answered = call.answered
        talk = self.rng.expovariate(1 / self.traffic.talk_mean)

        def hang_up() -> None:
            # The customer ends the call unless it ended or was transferred meanwhile.
            if (
                self.running
                and call.is_live
                and call.answered == phase_answered
                and call.state in ("Speaking", "On Hold")
                and call.transfer is None
            ):
                self.state.finish(call, "caller")

        self.state.schedule(talk, hang_up)

    def _on_free(self, agent: Agent) -> None:
        if not agent.bot or self.rng.random() >= self.traffic.break_chance:
            return
        pauses = [
            p.id
            for p in self.state.pauses.values()
            if p.deleted == "0" and p.type not in ("wrap", "lajdak")
        ]
        if not pauses:
            return
        pause_id = self.rng.choice(pauses)
        length = self.rng.expovariate(1 / self.traffic.break_mean)

        def start_break() -> None:
            if not (
                self.running
                and agent.logged
                and agent.queues
                and not agent.call_ids
                and agent.pause_id is None
            ):
                return
            self.state.pause_on(agent, pause_id)
            token = agent.pause_token

            def end_break() -> None:
                if agent.pause_token == token:
                    self.state.pause_off(agent)

            self.state.schedule(length, end_break)

        self.state.schedule(self.rng.uniform(0.5, 5.0), start_break)


class Driver:
    """Runs the state's timers in real time (``speed`` simulated seconds per second).

    One task: it sleeps until the earliest timer is due (or until :meth:`poke` says the
    schedule or the clock changed), runs what is due, and sleeps again. With a frozen
    clock it only waits for pokes.
    """

    def __init__(self, state: SimState) -> None:
        self.state = state
        self._wake: anyio.Event | None = None
        self._stopped = False

    def poke(self) -> None:
        """Re-read the schedule now (call from the event loop's thread)."""
        if self._wake is not None:
            self._wake.set()

    def stop(self) -> None:
        """End :meth:`run` (from the event loop's thread)."""
        self._stopped = True
        self.poke()

    async def run(self) -> None:
        """Run timers as they come due until :meth:`stop`."""
        while not self._stopped:
            self.state.sync()
            due = self.state.timers.next_at()
            delay = None if due is None else self.state.clock.real_delay(due)
            self._wake = anyio.Event()
            with anyio.move_on_after(math.inf if delay is None else delay):
                await self._wake.wait()
