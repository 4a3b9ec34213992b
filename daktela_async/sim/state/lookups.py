"""Read-only lookups every domain uses (users, queues, pauses, statuses, live calls)."""

from __future__ import annotations

from .._model import Agent, Call, Pause, Queue, Status, User
from .core import StateCore
from .errors import (
    ERR_NO_CALL,
    ERR_PAUSE_UNKNOWN,
    ERR_QUEUE_UNKNOWN,
    ERR_STATUS_UNKNOWN,
    ERR_USER_UNKNOWN,
    SimError,
)

__all__ = ["StateLookups"]


class StateLookups(StateCore):
    """Finding things by name or id; raises :class:`~.SimError` for unknown ones."""

    def user(self, login: str) -> User:
        """The live user called *login*."""
        user = self.users_by_login.get(login)
        if user is None or user.deleted != "0":
            raise SimError(ERR_USER_UNKNOWN)
        return user

    def user_by_id(self, user_id: str) -> User:
        """The live user with id *user_id*."""
        user = self.users.get(user_id)
        if user is None or user.deleted != "0":
            raise SimError(ERR_USER_UNKNOWN)
        return user

    def agent(self, login: str) -> Agent:
        """The realtime state of the user called *login*."""
        return self.agents[self.user(login).id]

    def agent_at(self, extension: str) -> Agent | None:
        """The agent logged in at *extension*, if any."""
        for agent in self.agents.values():
            if agent.logged and agent.exten == extension:
                return agent
        return None

    def queue(self, number: str) -> Queue:
        """The live queue with *number*."""
        queue = self.queues_by_number.get(number)
        if queue is None or queue.deleted != "0":
            raise SimError(ERR_QUEUE_UNKNOWN)
        return queue

    def queue_by_ref(self, ref: str) -> Queue:
        """A queue by id or, failing that, by number (the API uses both)."""
        queue = self.queues.get(ref)
        if queue is not None and queue.deleted == "0":
            return queue
        return self.queue(ref)

    def pause(self, ref: str) -> Pause:
        """A pause by id."""
        pause = self.pauses.get(ref)
        if pause is None or pause.deleted != "0":
            raise SimError(ERR_PAUSE_UNKNOWN)
        return pause

    def pause_by_name(self, name: str) -> Pause:
        """A pause by its unique name: its code, ``pause_<code>`` or its title."""
        wanted = name.casefold().removeprefix("pause_")
        for pause in self.pauses.values():
            if pause.deleted == "0" and wanted in (
                pause.name.casefold(),
                pause.title.casefold(),
                pause.id,
            ):
                return pause
        raise SimError(ERR_PAUSE_UNKNOWN)

    def wrap_pause(self) -> Pause | None:
        """The system Wrap pause."""
        return next(
            (p for p in self.pauses.values() if p.type == "wrap" and p.deleted == "0"), None
        )

    def status_by_code(self, code: str, queue: Queue | None = None) -> Status:
        """A status by its unique code (or id), allowed in *queue* when given."""
        for status in self.statuses.values():
            if status.deleted == "0" and code in (status.code, status.id):
                if queue is not None and queue.statuses and status.id not in queue.statuses:
                    break
                return status
        raise SimError(ERR_STATUS_UNKNOWN)

    def live_calls_of(self, agent: Agent) -> list[Call]:
        """The agent's live calls."""
        return [self.calls[c] for c in agent.call_ids]

    def calls_at(self, extension: str) -> list[Call]:
        """Live calls on *extension*."""
        return [c for c in self.calls.values() if c.exten == extension]

    def agent_call(self, agent: Agent) -> Call:
        """The agent's current call."""
        if not agent.call_ids:
            raise SimError(ERR_NO_CALL)
        return self.calls[agent.call_ids[-1]]
