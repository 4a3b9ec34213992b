"""Pauses: the catalogue and agents going on and off pause."""

from __future__ import annotations

from .._model import Agent, Interval, Pause
from .errors import ERR_BUSY, ERR_NOT_IN_ANY_QUEUE, SimError
from .lookups import StateLookups

__all__ = ["PausesMixin"]


class PausesMixin(StateLookups):
    """The pauses transitions of :class:`~.SimState`."""

    def pause_on(self, agent: Agent, pause_id: str, *, force: bool = False) -> None:
        """Put *agent* on pause *pause_id*.

        Refused for an unknown pause, an agent in no queue, and (unless *force*) an
        agent whose phone rings or who speaks: the document's ``force`` "skips checking
        user state ringing, speaking or on hold".
        """
        pause = self.pause(pause_id)
        if not agent.logged or not agent.queues:
            raise SimError(ERR_NOT_IN_ANY_QUEUE)
        if agent.call_ids and not force:
            raise SimError(ERR_BUSY)
        if agent.pause_id == pause.id:
            return
        self._end_pause(agent)
        self._start_pause(agent, pause)
        self.touch(agent)

    def pause_off(self, agent: Agent) -> None:
        """End *agent*'s pause (nothing to do when it has none)."""
        if agent.pause_id is None:
            return
        self._end_pause(agent)
        self.touch(agent)
        self.distribute()

    def _start_pause(self, agent: Agent, pause: Pause) -> None:
        now = self.now()
        agent.pause_id = pause.id
        agent.onpause = now
        agent.pause_token += 1
        agent.pause_interval = Interval(len(self.pause_log) + 1, agent.user_id, now, ref=pause.id)
        self.pause_log.append(agent.pause_interval)
        self._trace(agent.user_id, "pause", True, "Začátek pauzy", pause.id, pause.title)

    def _end_pause(self, agent: Agent) -> None:
        if agent.pause_id is None:
            return
        now = self.now()
        pause = self.pauses[agent.pause_id]
        duration = now - (agent.onpause or now)
        if agent.pause_interval is not None:
            agent.pause_interval.end = now
            agent.pause_interval = None
        self._trace(agent.user_id, "pause", False, "Konec pauzy", pause.id, pause.title, duration)
        agent.pause_id = None
        agent.onpause = None
        agent.pause_token += 1

    def create_pause(
        self, title: str, kind: str, paid: bool, *, pause_id: str | None, code: str | None
    ) -> Pause:
        """``CreatePause``: create, or edit the pause *pause_id*."""
        if kind not in ("wrap", "lajdak", "normal"):
            raise SimError(f"Neplatný typ pauzy {kind}")
        pause = self.pauses.get(pause_id) if pause_id else None
        if pause is None:
            new_id = pause_id or str(max(int(p) for p in self.pauses) + 1)
            pause = Pause(new_id, code or str(100 + int(new_id)), title)
            self.pauses[new_id] = pause
        pause.title = title
        pause.type = "" if kind == "normal" else kind
        pause.paid = "1" if paid else "0"
        if code:
            pause.name = code
        return pause
