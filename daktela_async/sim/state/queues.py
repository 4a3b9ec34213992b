"""Queues: the catalogue, queue membership (signing agents in and out)."""

from __future__ import annotations

from .._model import Agent, Interval, Queue
from .._options import OPTION_TEMPLATES
from .errors import ERR_LOGOUT_CALLING, ERR_NOT_MEMBER, SimError
from .lookups import StateLookups

__all__ = ["QueuesMixin"]


class QueuesMixin(StateLookups):
    """The queues transitions of :class:`~.SimState`."""

    def add_queue(
        self,
        number: str,
        title: str,
        type: str,
        *,
        wrapuptime: str = "0",
        form: str = "0",
        queue_id: str | None = None,
    ) -> Queue:
        """Create a queue of *type* (``in``, ``out``, ``outbounder``, ``ctc``, ...)."""
        options = dict(OPTION_TEMPLATES.get(type, OPTION_TEMPLATES["in"]))
        if "wrapuptime" in options:
            options["wrapuptime"] = wrapuptime if wrapuptime != "0" else ""
        direction = "out" if type in ("out", "outbounder", "dialer", "interviewer") else "in"
        qid = queue_id or str(max((int(q) for q in self.queues), default=0) + 1)
        queue = Queue(
            qid, number, title, type, direction, options, wrapuptime=wrapuptime, form=form
        )
        self.queues[qid] = queue
        self.queues_by_number[number] = queue
        self._catalog_changed()
        return queue

    def _catalog_changed(self) -> None:
        self.catalog_version += 1
        self.rt_version += 1
        self.emit("catalog")

    def inbound_queues(self) -> list[Queue]:
        """The inbound call queues (type ``in``), in id order."""
        return [q for q in self.queues.values() if q.type == "in" and q.deleted == "0"]

    def create_queue(
        self,
        number: str,
        title: str,
        direction: str,
        *,
        queue_id: str | None,
        outboundcid: str | None,
        description: str | None,
        wrapuptime: str | None,
        outbounder: bool,
    ) -> Queue:
        """``CreateQueue``: create, or update when the number exists."""
        if direction not in ("in", "out"):
            raise SimError(f"Neplatný směr fronty {direction}")
        kind = "outbounder" if direction == "out" and outbounder else direction
        queue = self.queues_by_number.get(number)
        if queue is None and queue_id is not None:
            queue = self.queues.get(queue_id)
        if queue is None:
            queue = self.add_queue(
                number,
                title,
                kind,
                wrapuptime=wrapuptime or "0",
                queue_id=queue_id if queue_id not in self.queues else None,
            )
        else:
            if queue.number != number:
                del self.queues_by_number[queue.number]
                queue.number = number
                self.queues_by_number[number] = queue
            queue.title = title
            if kind != queue.type and (queue.type in ("in", "out", "outbounder")):
                queue.type = kind
            queue.direction = direction
        if outboundcid is not None:
            queue.outboundcid = outboundcid
            if "outboundcid" in queue.options:
                queue.options["outboundcid"] = outboundcid
        if description is not None:
            queue.description = description
        if wrapuptime is not None:
            queue.wrapuptime = wrapuptime
        queue.deleted = "0"
        self._catalog_changed()
        return queue

    def login_queue(
        self, login: str, number: str, extension: str | None = None, priority: int | None = None
    ) -> None:
        """Sign *login* into queue *number* (and the call centre first when needed)."""
        queue = self.queue(number)
        user = self.user(login)
        if not queue.allows(user.id):
            raise SimError(ERR_NOT_MEMBER)
        agent = self.agents[user.id]
        if not agent.logged or (extension and extension != agent.exten):
            self.login(login, extension)
        if queue.is_outgoing:
            # Only one of out/outbounder/dialer at a time: the new one replaces the old.
            for other in list(agent.queues):
                if other != queue.id and self.queues[other].is_outgoing:
                    self.logout_queue(login, self.queues[other].number)
        prio = 0 if priority is None else priority
        if agent.queues.get(queue.id) == prio:
            return
        if queue.id not in agent.queues:
            interval = Interval(len(self.queue_log) + 1, user.id, self.now(), ref=queue.id)
            self.queue_log.append(interval)
            agent.queue_intervals[queue.id] = interval
            self._trace(user.id, "queue", True, "Přihlášení do fronty", queue.id, queue.title)
        agent.queues[queue.id] = prio
        self.touch(agent)
        self.distribute()

    def logout_queue(self, login: str, number: str) -> None:
        """Sign *login* out of queue *number*; refused while a call of it is going on."""
        queue = self.queue(number)
        agent = self.agent(login)
        for call in self.live_calls_of(agent):
            if call.queue_id == queue.id:
                raise SimError(ERR_LOGOUT_CALLING.format(call.number))
        if queue.id in agent.queues:
            self._leave_queue(agent, queue.id)
            if not agent.queues:
                self._end_pause(agent)
            self.touch(agent)

    def _leave_queue(self, agent: Agent, queue_id: str) -> None:
        del agent.queues[queue_id]
        interval = agent.queue_intervals.pop(queue_id, None)
        if interval is not None:
            interval.end = self.now()
        queue = self.queues[queue_id]
        self._trace(agent.user_id, "queue", False, "Odhlášení z fronty", queue.id, queue.title)
