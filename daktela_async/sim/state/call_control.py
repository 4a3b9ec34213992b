"""A live call's control and its end; monitoring and playback.

Hang-up, hold, transfer, and the CDR leg and ``StatsCalls`` row an ending call writes.
"""

from __future__ import annotations

from .._clock import fmt
from .._model import Agent, Attempt, Call, Leg, QueueCall
from .errors import ERR_NO_CALL, ERR_NO_PLAYBACK, ERR_USER_UNKNOWN, SimError
from .lookups import StateLookups

__all__ = ["CallControlMixin"]


class CallControlMixin(StateLookups):
    """The call control transitions of :class:`~.SimState`."""

    def hangup_agent(self, agent: Agent) -> Call:
        """``Hangup`` with ``user``: end (or, with a pending transfer, hand over) its call."""
        call = self.agent_call(agent)
        self.hangup(call, "agent")
        return call

    def hangup_extension(self, extension: str) -> Call:
        """``Hangup`` with ``extension``."""
        calls = self.calls_at(extension)
        if not calls:
            raise SimError(ERR_NO_CALL)
        self.hangup(calls[-1], "agent")
        return calls[-1]

    def hangup(self, call: Call, cause: str = "agent") -> None:
        """End *call* from the PBX side (completing a pending attended transfer)."""
        if call.transfer is not None and call.state == "On Hold":
            kind, target = call.transfer
            call.transfer = None
            self._complete_transfer(call, kind, target)
            return
        self.finish(call, cause)

    def hold(self, call: Call) -> None:
        """Put the Speaking *call* on hold."""
        if call.state != "Speaking":
            raise SimError(ERR_NO_CALL)
        call.state = "On Hold"
        call.onhold = self.now()
        call.phase += 1
        self._touch_call_agent(call)

    def unhold(self, call: Call) -> None:
        """Take *call* off hold."""
        if call.state != "On Hold":
            raise SimError(ERR_NO_CALL)
        now = self.now()
        call.hold_total += now - (call.onhold or now)
        call.onhold = None
        call.state = "Speaking"
        call.transfer = None
        call.phase += 1
        self._touch_call_agent(call)

    def _touch_call_agent(self, call: Call) -> None:
        agent = self.agents.get(call.agent_id or "")
        if agent is not None:
            self.touch(agent)

    def transfer(
        self,
        agent: Agent,
        *,
        number: str | None = None,
        dst_queue: str | None = None,
        dst_user: str | None = None,
        blind: bool = False,
    ) -> Call:
        """``Transfer`` the agent's call to a number, a queue (id) or a user (id).

        Attended (the default) puts the customer on hold; the transfer completes when
        the agent hangs up, as on a real phone. Blind hands the call over at once.
        """
        call = self.agent_call(agent)
        if call.state not in ("Speaking", "On Hold"):
            raise SimError(ERR_NO_CALL)
        if dst_queue is not None:
            target: tuple[str, str] = ("queue", self.queue_by_ref(dst_queue).id)
        elif dst_user is not None:
            user = self.users.get(dst_user) or self.users_by_login.get(dst_user)
            if user is None or user.deleted != "0":
                raise SimError(ERR_USER_UNKNOWN)
            target = ("user", user.id)
        elif number is not None:
            target = ("number", number)
        else:
            raise SimError("Chybí cíl přepojení (number, dst_queue nebo dst_user)")
        if blind:
            self._complete_transfer(call, *target)
        else:
            if call.state == "Speaking":
                call.state = "On Hold"
                call.onhold = self.now()
            call.transfer = target
            call.phase += 1
            self.touch(agent)
        return call

    def _complete_transfer(self, call: Call, kind: str, target: str) -> None:
        now = self.now()
        if call.onhold is not None:
            call.hold_total += now - call.onhold
            call.onhold = None
        if kind == "number":
            # The customer leaves the call centre: the call ends here for the PBX.
            self.finish(call, "agent", "transfer")
            return
        self._end_leg(call, "agent", "transfer")
        old = self.agents.get(call.agent_id or "")
        if old is not None:
            self._release_agent(old, call)
        call.agent_id = None
        call.exten = None
        call.leg_start = now
        call.leg_answered = None
        call.state = "Waiting"
        call.phase += 1
        if kind == "queue":
            call.queue_id = target
            self.distribute()
            return
        agent = self.agents[target]
        if agent.logged and not agent.call_ids:
            self._ring(call, agent, timeout=30.0)
        else:
            self.finish(call, "agent", "busy")

    def finish(self, call: Call, cause: str = "caller", disconnection: str = "") -> None:
        """End *call*: write its CDR leg, its ``StatsCalls`` row, free the agent."""
        if not call.is_live:
            return
        now = self.now()
        if call.state == "Ringing" and call.ringed is not None:
            call.ring_total += now - call.ringed
        if call.onhold is not None:
            call.hold_total += now - call.onhold
            call.onhold = None
        call.disposition_cause = cause
        call.disconnection_cause = disconnection
        self._end_leg(call, cause, disconnection)
        call.ended = now
        call.state = "Ended"
        call.phase += 1
        del self.calls[call.id]
        self.ended_calls[call.id] = call
        if call.kind == "queue":
            self._write_queue_call(call)
        agent = self.agents.get(call.agent_id or "")
        if agent is not None:
            self._release_agent(agent, call)
        self.emit("ended", call)
        self.distribute()

    def _release_agent(self, agent: Agent, call: Call) -> None:
        now = self.now()
        if call.id in agent.call_ids:
            agent.call_ids.remove(call.id)
        if call.leg_answered is not None:
            self._trace(
                agent.user_id,
                "call",
                False,
                "Konec hovoru",
                agent.exten or "",
                call.number,
                now - call.leg_answered,
            )
        elif call.ringed is not None:
            ring_kind = "ring_out" if call.direction == "out" else "ring_in"
            self._trace(
                agent.user_id,
                ring_kind,
                False,
                "Konec vyzvánění",
                agent.exten or "",
                call.number,
                now - call.ringed,
            )
        agent.last_call_end = now
        queue = self.queues.get(call.queue_id or "")
        wrap = self.wrap_pause()
        if (
            queue is not None
            and call.leg_answered is not None
            and queue.wrapup_seconds > 0
            and wrap is not None
            and agent.logged
            and agent.queues
            and agent.pause_id is None
            and not agent.call_ids
        ):
            self._start_pause(agent, wrap)
            token = agent.pause_token

            def end_wrapup() -> None:
                if agent.pause_token == token and agent.pause_id == wrap.id:
                    self.pause_off(agent)

            self.schedule(queue.wrapup_seconds, end_wrapup)
        self.touch(agent)

    def _end_leg(self, call: Call, cause: str, disconnection: str) -> None:
        now = self.now()
        agent = self.agents.get(call.agent_id or "")
        exten = call.exten or (agent.exten if agent else None) or ""
        answered = call.leg_answered
        disposition = "ANSWERED" if answered is not None else "NO ANSWER"
        leg_no = len(self.legs_by_call.get(call.id, ()))
        uniqueid = call.id.rstrip("WS") if leg_no == 0 else f"{call.id.rstrip('WS')}-{leg_no}"
        if call.direction == "in":
            src, dst, channel = call.number, exten, f"SIP/{call.trunk}-{call.seq:08x}"
            dstchannel = f"SIP/{exten}-{call.seq + 1:08x}"
        else:
            src, dst = exten or call.number, call.number
            channel = f"SIP/{exten or call.trunk}-{call.seq:08x}"
            dstchannel = f"SIP/{call.trunk}-{call.seq + 1:08x}"
        ringed = call.ringed
        leg = Leg(
            call_id=call.id,
            uniqueid=uniqueid,
            start=call.leg_start,
            end=now,
            answered=answered,
            src=src,
            dst=dst,
            clid=src,
            channel=channel,
            dstchannel=dstchannel,
            real_exten=exten,
            direction=call.direction if call.kind != "remote" else "out",
            from_did=call.did or None,
            id_queue=call.queue_id,
            id_agent=call.agent_id,
            waiting_time=int((ringed if ringed is not None else now) - call.leg_start),
            ringing_time=int(call.ring_total),
            hold_time=int(call.hold_total),
            disposition=disposition,
            disposition_cause=cause,
            disconnection_cause=disconnection,
            accountcode=call.accountcode,
            recording_hash=call.recording_hash if answered is not None else "",
            dcontext="from-internal" if call.direction == "out" else "from-pstn",
            trunk=call.trunk,
            position=call.position,
        )
        self.legs.append(leg)
        self.legs_by_call.setdefault(call.id, []).append(leg)
        if call.attempt_start is not None:
            self.attempts.append(
                Attempt(
                    len(self.attempts) + 100,
                    call.id,
                    call.attempt_start,
                    now,
                    call.agent_id,
                    call.queue_id,
                )
            )
            call.attempt_start = None

    def _write_queue_call(self, call: Call) -> None:
        end = call.ended or self.now()
        answered_at = call.answered
        waited = (answered_at if answered_at is not None else end) - call.entered
        self.queue_calls.append(
            QueueCall(
                seq=call.seq,
                call_id=call.id,
                call_time=call.entered,
                direction=call.direction,
                answered=answered_at is not None,
                queue_id=call.queue_id,
                user_id=call.agent_id or call.first_agent_id,
                clid=call.number,
                did=call.did,
                waiting_time=int(waited),
                ringing_time=int(call.ring_total),
                hold_time=int(call.hold_total),
                duration=int(end - answered_at) if answered_at is not None else 0,
                position=call.position,
                disposition_cause=call.disposition_cause,
                disconnection_cause=call.disconnection_cause,
                record_id=call.record_id,
                callstatus=call.callstatus,
            )
        )

    def monitor(self, call: Call, listener: str, mode: str) -> None:
        """Start listening to *call* from *listener* in *mode* (spy, whisper, ...)."""
        if mode not in ("spy", "whisper", "whisperprivate", "barge", "interactive"):
            raise SimError(f"Neplatný režim odposlechu {mode}")
        if call.state not in ("Speaking", "On Hold"):
            raise SimError(ERR_NO_CALL)
        call.monitors.append({"listener": listener, "mode": mode, "since": fmt(self.now())})

    def playback(
        self,
        call: Call,
        command: str,
        *,
        recording: str | None = None,
        begintime: int = 0,
        skiptime: int | None = None,
    ) -> dict[str, bool] | None:
        """``ControlPlayback``: play/pause/rewind/forward/stop a message into *call*."""
        if call.state not in ("Speaking", "On Hold"):
            raise SimError(ERR_NO_CALL)
        now = self.now()
        state = call.playback
        if command == "play":
            if not recording:
                raise SimError("Chybí povinný parametr recording")
            call.playback = {
                "recording": recording,
                "position": begintime,
                "since": now,
                "paused": False,
                "playing": True,
                "skiptime": skiptime or 0,
            }
            return None
        if command == "status":
            return {"playing": bool(state and state["playing"] and not state["paused"])}
        if state is None or not state["playing"]:
            raise SimError(ERR_NO_PLAYBACK)
        elapsed = 0 if state["paused"] else int((now - state["since"]) * 1000)
        state["position"] += elapsed
        state["since"] = now
        if command == "pause":
            state["paused"] = not state["paused"]
        elif command == "rewind":
            state["position"] = max(0, state["position"] - state["skiptime"])
        elif command == "forward":
            state["position"] += state["skiptime"]
        elif command == "stop":
            state["playing"] = False
        else:
            raise SimError(f"Neplatný příkaz {command}")
        return None
