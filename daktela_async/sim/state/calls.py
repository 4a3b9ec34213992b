"""Calls coming in and going out: creating, distributing, ringing, answering."""

from __future__ import annotations

import hashlib
from typing import Any

from .._model import Agent, Call, CallKind, Queue, Record
from .errors import (
    ERR_BUSY,
    ERR_CALL_UNKNOWN,
    ERR_EXTENSION_UNKNOWN,
    ERR_NO_RINGING,
    ERR_NOT_CTC_QUEUE,
    ERR_NOT_IN_ANY_QUEUE,
    ERR_NOT_IN_OUT_QUEUE,
    ERR_NOT_LOGGED,
    SimError,
)
from .lookups import StateLookups

__all__ = ["CallsMixin"]


class CallsMixin(StateLookups):
    """The calls transitions of :class:`~.SimState`."""

    def _new_call(
        self,
        kind: CallKind,
        direction: str,
        number: str,
        *,
        queue: Queue | None = None,
        call_id: str | None = None,
        suffix: str = "",
        did: str = "",
    ) -> Call:
        now = self.now()
        cid = call_id or self._new_call_id(suffix)
        call = Call(
            cid,
            kind,
            direction,
            number,
            now,
            queue_id=queue.id if queue else None,
            did=did,
            leg_start=now,
            number=number,
        )
        call.trunk = "gsm" if number.startswith(("6", "7", "+4206", "+4207")) else "proxy"
        call.recording_hash = (
            hashlib.sha1(  # noqa: S324 (an identifier, not security)
                f"{self.seed}:{cid}".encode()
            ).hexdigest()
            + cid
        )
        call.seq = next(self._queue_call_seq)
        self.calls[cid] = call
        return call

    def incoming_call(
        self,
        number: str,
        clid: str,
        *,
        did: str = "",
        call_id: str | None = None,
        clid_name: str | None = None,
    ) -> Call:
        """A customer calls queue *number*: the call waits there and rings an idle agent."""
        queue = self.queue(number)
        call = self._new_call(
            "queue", "in", clid, queue=queue, call_id=call_id, did=did or queue.number
        )
        call.clid_name = clid_name
        call.position = 1 + sum(
            1
            for c in self.calls.values()
            if c.queue_id == queue.id and c.state == "Waiting" and c is not call
        )
        call.waiting_limit = float(queue.options.get("maxwait") or 0) or 0.0
        self.distribute()
        return call

    def ring_agent(
        self,
        login: str,
        clid: str,
        *,
        queue_number: str | None = None,
        call_id: str | None = None,
        direction: str = "in",
    ) -> Call:
        """A call of one of the agent's queues rings that agent directly (tests, demos).

        The agent must be logged into a queue and free; *queue_number* picks the queue
        (default: the first the agent is logged into).
        """
        agent = self.agent(login)
        if not agent.logged or not agent.queues:
            raise SimError(ERR_NOT_IN_ANY_QUEUE)
        if agent.call_ids:
            raise SimError(ERR_BUSY)
        queue = self.queue(queue_number) if queue_number else self.queues[next(iter(agent.queues))]
        call = self._new_call(
            "queue",
            direction,
            clid,
            queue=queue,
            call_id=call_id,
            did=queue.number if direction == "in" else "",
        )
        self._ring(call, agent, timeout=queue.ringtime)
        return call

    def click_to_call(
        self,
        number: str,
        customer: str,
        *,
        agenttext: str | None = None,
        waitingtime: float = 7200.0,
        call_id: str | None = None,
    ) -> Call:
        """``ClickToCall``: the call waits in a Click-to-Call queue for an operator."""
        queue = self.queue(number)
        if queue.type != "ctc":
            raise SimError(ERR_NOT_CTC_QUEUE)
        call = self._new_call("queue", "out", customer, queue=queue, call_id=call_id, suffix="WS")
        call.agenttext = agenttext
        call.waiting_limit = waitingtime
        phase = call.phase

        def give_up() -> None:
            if call.is_live and call.phase == phase and call.state == "Waiting":
                self.finish(call, "caller", "timeout")

        self.schedule(waitingtime, give_up)
        self.distribute()
        return call

    def create_agent_call(
        self,
        login: str,
        number: str,
        *,
        queue_number: str | None = None,
        autoanswer: bool = False,
        accountcode: str = "",
        agenttext: str | None = None,
        waitingtime: float = 30.0,
        dialingtime: float = 120.0,
        call_id: str | None = None,
    ) -> Call:
        """``CreateCall`` with ``user``: an outgoing call-centre call; the agent's phone rings.

        The agent must be logged into an outgoing queue (out, outbounder or dialer).
        With ``queue`` the call is recorded on that queue.
        """
        agent = self.agent(login)
        out_queues = [self.queues[q] for q in agent.queues if self.queues[q].is_outgoing]
        if not agent.logged or not out_queues:
            raise SimError(ERR_NOT_IN_OUT_QUEUE)
        queue = self.queue(queue_number) if queue_number else out_queues[0]
        if agent.call_ids:
            raise SimError(ERR_BUSY)
        call = self._new_call("queue", "out", number, queue=queue, call_id=call_id, suffix="WS")
        call.accountcode = accountcode
        call.agenttext = agenttext
        call.autoanswer = autoanswer
        call.attempt_start = self.now()
        self._ring(call, agent, timeout=waitingtime)
        if autoanswer:
            self._schedule_pickup(call, dialingtime)
        return call

    def create_extension_call(
        self,
        extension: str,
        number: str,
        *,
        autoanswer: bool = False,
        accountcode: str = "",
        agenttext: str | None = None,
        waitingtime: float = 30.0,
        call_id: str | None = None,
    ) -> Call:
        """``CreateCall`` with ``extension``: a plain (non call-centre) call; the line rings."""
        if extension not in self.extensions:
            raise SimError(ERR_EXTENSION_UNKNOWN)
        call = self._new_call("extension", "out", number, call_id=call_id, suffix="WS")
        call.exten = extension
        call.accountcode = accountcode
        call.agenttext = agenttext
        call.autoanswer = autoanswer
        call.state = "Ringing"
        call.ringed = self.now()
        agent = self.agent_at(extension)
        if agent is not None:
            call.agent_id = agent.user_id
            call.first_agent_id = agent.user_id
            agent.call_ids.append(call.id)
            self.touch(agent)
        self._schedule_ring_timeout(call, waitingtime)
        if autoanswer:
            self._schedule_pickup(call, 120.0)
        self.emit("ringing", call)
        return call

    def create_remote_call(
        self,
        primary: str,
        secondary: str,
        *,
        accountcode: str = "",
        dialingtime: float = 120.0,
        variables: dict[str, Any] | None = None,
        call_id: str | None = None,
        directdid: bool = False,
    ) -> Call:
        """``CreateRemoteCall``: call *primary*; once answered, dial *secondary*."""
        call = self._new_call("remote", "out", primary, call_id=call_id, suffix="WS")
        call.accountcode = accountcode
        call.variables = dict(variables or {})
        call.did = secondary if directdid else ""
        call.clid_name = secondary
        call.state = "Ringing"
        call.ringed = self.now()
        self._schedule_ring_timeout(call, dialingtime)
        self.emit("ringing", call)
        return call

    def _schedule_pickup(self, call: Call, dialingtime: float) -> None:
        """The far end answers a moment later (an auto-answered or dialled call)."""
        phase = call.phase
        delay = min(dialingtime, 2.0 + self.rng.random() * 6.0)

        def pick_up() -> None:
            if call.is_live and call.phase == phase and call.state == "Ringing":
                self.answer_call(call)

        self.schedule(delay, pick_up)

    def _schedule_ring_timeout(self, call: Call, timeout: float) -> None:
        phase = call.phase

        def unanswered() -> None:
            if call.is_live and call.phase == phase and call.state == "Ringing":
                self.finish(call, "agent" if call.kind != "remote" else "callee", "noanswer")

        self.schedule(timeout, unanswered)

    def distribute(self) -> None:
        """Ring idle agents with the calls waiting in their queues (oldest call first)."""
        waiting = [c for c in self.calls.values() if c.state == "Waiting" and c.queue_id]
        if not waiting:
            return
        idle = [
            a
            for a in self.agents.values()
            if a.logged and a.queues and a.pause_id is None and not a.call_ids
        ]
        if not idle:
            return
        waiting.sort(key=lambda c: (c.entered, c.id))
        for call in waiting:
            queue_id = call.queue_id or ""
            candidates = [a for a in idle if queue_id in a.queues and not a.call_ids]
            if not candidates:
                continue
            # leastrecent: the agent whose last call ended longest ago rings first.
            agent = min(
                candidates, key=lambda a: (a.queues[queue_id], a.last_call_end, int(a.user_id))
            )
            queue = self.queues[queue_id]
            self._ring(call, agent, timeout=queue.ringtime)

    def _ring(self, call: Call, agent: Agent, *, timeout: float) -> None:
        now = self.now()
        call.state = "Ringing"
        call.phase += 1
        call.agent_id = agent.user_id
        call.exten = agent.exten
        call.ringed = now
        if call.first_agent_id is None:
            call.first_agent_id = agent.user_id
        agent.call_ids.append(call.id)
        ring_kind = "ring_out" if call.direction == "out" else "ring_in"
        title = (
            "Začátek vyzvánění - Odchod"
            if call.direction == "out"
            else "Začátek vyzvánění - Příchod"
        )
        self._trace(agent.user_id, ring_kind, True, title, agent.exten or "", call.number)
        self.touch(agent)
        phase = call.phase

        def ring_timeout() -> None:
            if not (call.is_live and call.phase == phase and call.state == "Ringing"):
                return
            if call.direction == "out" and call.kind == "queue" and call.attempt_start is not None:
                self.finish(call, "agent", "noanswer")
                return
            # The call goes back to the queue; the agent who let it ring gets Lajdak.
            self._unring(call, agent)
            lajdak = next(
                (p for p in self.pauses.values() if p.type == "lajdak" and p.deleted == "0"), None
            )
            if lajdak is not None and agent.logged and agent.queues:
                self._end_pause(agent)
                self._start_pause(agent, lajdak)
                self.touch(agent)
            self.distribute()

        self.schedule(timeout, ring_timeout)
        self.emit("ringing", call)

    def _unring(self, call: Call, agent: Agent) -> None:
        now = self.now()
        if call.ringed is not None:
            call.ring_total += now - call.ringed
        call.state = "Waiting"
        call.phase += 1
        call.agent_id = None
        call.exten = None
        if call.id in agent.call_ids:
            agent.call_ids.remove(call.id)
        ring_kind = "ring_out" if call.direction == "out" else "ring_in"
        self._trace(
            agent.user_id,
            ring_kind,
            False,
            "Konec vyzvánění",
            agent.exten or "",
            call.number,
            now - (call.ringed or now),
        )
        self.touch(agent)

    def answer(self, agent: Agent) -> Call:
        """``Answer``: the agent picks up the call ringing on its line."""
        for call in self.live_calls_of(agent):
            if call.state == "Ringing":
                self.answer_call(call)
                return call
        raise SimError(ERR_NO_RINGING)

    def answer_call(self, call: Call) -> None:
        """The ringing *call* is answered: it is now Speaking."""
        if call.state != "Ringing":
            raise SimError(ERR_NO_RINGING)
        now = self.now()
        if call.ringed is not None:
            call.ring_total += now - call.ringed
        call.state = "Speaking"
        call.phase += 1
        if call.answered is None:
            call.answered = now
        call.leg_answered = now
        self.recordings[call.recording_hash] = call
        agent = self.agents.get(call.agent_id or "")
        if agent is not None:
            ring_kind = "ring_out" if call.direction == "out" else "ring_in"
            title = (
                "Konec vyzvánění - Odchod"
                if call.direction == "out"
                else "Konec vyzvánění - Příchod"
            )
            self._trace(
                agent.user_id,
                ring_kind,
                False,
                title,
                agent.exten or "",
                call.number,
                now - (call.ringed or now),
            )
            self._trace(
                agent.user_id, "call", True, "Začátek hovoru", agent.exten or "", call.number
            )
            queue = self.queues.get(call.queue_id or "")
            if queue is not None and (queue.form == "1" or queue.type == "outbounder"):
                record = self._record_for_call(queue, call, agent)
                agent.callscript_opened = str(record.id)
            self.touch(agent)
        self.emit("speaking", call)

    def _record_for_call(self, queue: Queue, call: Call, agent: Agent) -> Record:
        record: Record | None
        if call.record_id is not None and call.record_id in self.records:
            record = self.records[call.record_id]
        else:
            record = next(
                (
                    r
                    for r in self.records.values()
                    if r.queue_id == queue.id and r.number == call.number and r.deleted == "0"
                ),
                None,
            )
            if record is None:
                record = self._new_record(queue, call.number, {})
        record.action = "1"
        record.call_id = call.id
        record.user = agent.user_id
        call.record_id = record.id
        return record

    def pickup(self, call_id: str, login: str) -> Call:
        """``PickupFromQueue``: the agent takes a call waiting (or ringing) in a queue."""
        agent = self.agent(login)
        if not agent.logged:
            raise SimError(ERR_NOT_LOGGED)
        call = self.calls.get(call_id)
        if call is None or call.kind != "queue" or call.state not in ("Waiting", "Ringing"):
            raise SimError(ERR_CALL_UNKNOWN)
        if call.state == "Ringing" and call.agent_id == agent.user_id:
            self.answer_call(call)
            return call
        if agent.call_ids:
            raise SimError(ERR_BUSY)
        if call.state == "Ringing" and call.agent_id:
            self._unring(call, self.agents[call.agent_id])
        self._ring(call, agent, timeout=3600.0)
        self.answer_call(call)
        return call
