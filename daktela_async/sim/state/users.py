"""Users and their call-centre sessions: creating, signing in and out."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from .._model import Agent, Extension, Interval, User
from .errors import (
    ERR_EXTENSION_TAKEN,
    ERR_EXTENSION_UNKNOWN,
    ERR_LOGOUT_CALLING,
    ERR_NO_EXTENSION,
    ERR_USER_EXISTS,
    SimError,
)
from .lookups import StateLookups

__all__ = ["UsersMixin", "token_for"]


def token_for(login: str, password: str) -> str:
    """The API token of a user: ``SHA1(login + password)``, as the document defines it."""
    return hashlib.sha1((login + password).encode()).hexdigest()  # noqa: S324 (the API's scheme)


class UsersMixin(StateLookups):
    """The users transitions of :class:`~.SimState`."""

    def add_user(
        self,
        name: str,
        title: str,
        password: str,
        *,
        extension: str | None = None,
        role: str = "role_43h424k432",
        profile: str = "profile_hj34242342",
        description: str | None = "",
        email: str | None = "",
    ) -> User:
        """Create a user (and its extension, when it has one)."""
        user = User(
            self._next_id(),
            name,
            title,
            password,
            role,
            profile,
            description,
            email,
            extension=extension,
        )
        self.users[user.id] = user
        self.users_by_login[name] = user
        self.tokens[token_for(name, password)] = user.id
        self.agents[user.id] = Agent(user.id)
        if extension is not None and extension not in self.extensions:
            self.extensions[extension] = Extension(
                extension,
                f"10.0.{len(self.extensions) // 250}.{len(self.extensions) % 250 + 1}",
                str(5060 + len(self.extensions) % 100),
            )
        return user

    def login(self, login: str, extension: str | None = None) -> Agent:
        """Sign *login* into the call centre at *extension* (default: the user's own)."""
        user = self.user(login)
        agent = self.agents[user.id]
        exten = extension or agent.exten or user.extension
        if exten is None:
            raise SimError(ERR_NO_EXTENSION)
        if exten not in self.extensions:
            raise SimError(ERR_EXTENSION_UNKNOWN)
        holder = self.agent_at(exten)
        if holder is not None and holder is not agent:
            raise SimError(ERR_EXTENSION_TAKEN)
        if agent.logged:
            if agent.exten != exten:
                if agent.call_ids:
                    raise SimError(ERR_LOGOUT_CALLING.format(self.agent_call(agent).number))
                agent.exten = exten
                self.touch(agent)
            return agent
        now = self.now()
        agent.logged = True
        agent.exten = exten
        agent.logintime = now
        agent.session = Interval(len(self.sessions) + 1, user.id, now)
        self.sessions.append(agent.session)
        self._trace(user.id, "login", True, "Přihlášení na ústřednu")
        self.touch(agent)
        for queue in self.queues.values():
            if queue.login == "auto" and queue.allows(user.id):
                self.login_queue(login, queue.number)
        return agent

    def logout(self, login: str) -> None:
        """Sign *login* out of every queue and the call centre (frees its extension)."""
        agent = self.agent(login)
        if agent.call_ids:
            raise SimError(ERR_LOGOUT_CALLING.format(self.agent_call(agent).number))
        if not agent.logged:
            return
        for queue_id in list(agent.queues):
            self._leave_queue(agent, queue_id)
        self._end_pause(agent)
        now = self.now()
        if agent.session is not None:
            agent.session.end = now
            agent.session = None
        agent.logged = False
        agent.exten = None
        agent.logintime = None
        agent.callscript_opened = None
        self._trace(agent.user_id, "login", False, "Odhlášení z ústředny")
        self.touch(agent)

    def create_user(
        self,
        name: str,
        title: str,
        password: str,
        role: str,
        profile: str,
        description: str | None,
        email: str | None,
    ) -> User:
        """``CreateUser``."""
        if name in self.users_by_login and self.users_by_login[name].deleted == "0":
            raise SimError(ERR_USER_EXISTS)
        user = self.add_user(
            name, title, password, role=role, profile=profile, description=description, email=email
        )
        self.agents[user.id].bot = False
        return user

    def update_user(self, name: str, changes: dict[str, str]) -> User:
        """``UpdateUser``: change the given attributes of the user called *name*."""
        user = self.user(name)
        old_token = token_for(user.name, user.password)
        for key in ("role", "profile", "title", "description", "password", "email"):
            if key in changes:
                setattr(user, key, changes[key])
        self.tokens.pop(old_token, None)
        self.tokens[token_for(user.name, user.password)] = user.id
        if "title" in changes:
            self.touch(self.agents[user.id])
        return user

    def delete_user(self, user_id: str) -> None:
        """``DeleteUser``: sign the user out and mark it deleted."""
        user = self.user_by_id(user_id)
        agent = self.agents[user.id]
        if agent.logged:
            self.logout(user.name)
        user.deleted = "1"
        self.tokens.pop(token_for(user.name, user.password), None)

    def iter_agents(self) -> Iterator[tuple[User, Agent]]:
        """Live users with their realtime state, by id."""
        for user_id, agent in self.agents.items():
            user = self.users[user_id]
            if user.deleted == "0":
                yield user, agent
