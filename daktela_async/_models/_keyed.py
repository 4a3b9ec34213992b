"""Results keyed by agent (user) ID, and their views by login.

Every action that names one agent takes its login (``user=hajek``), but three answers
are keyed by the agent's numeric user ID, as text:

- ``RTUsersState``: :class:`~daktela_async._models.AgentStates`, keyed by ``id_agent``;
  each state names its login in ``agent_name``;
- ``GetUsers`` without an id: :class:`Users`, keyed by ``user``; the login is ``name``;
- ``RTStatsSessions``: :class:`RTStatsSessions`, keyed by ``id``. Its rows carry no
  login at all, so :meth:`RTStatsSessions.by_login` takes the logins from one of the
  other two answers.

Each is a read-only mapping (by ID, in the server's order) with a ``by_login()`` method
that returns a plain ``dict`` keyed by login. The converter builds them for the result
types ``Mapping[str, AgentState]``, ``Mapping[str, User]`` and
``Mapping[str, RTStatsSession]`` as well as for the classes themselves, so every path
that decodes these answers hands out the same objects.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, Self, TypeVar

from ._converter import converter
from ._operators import User
from ._realtime import AgentState, RTStatsSession

__all__ = ["ByAgentID", "RTStatsSessions", "Users", "register_keyed"]

V = TypeVar("V")


class ByAgentID(Mapping[str, V], Generic[V]):
    """A read-only mapping keyed by agent (user) ID as text (``"17"``), not by login.

    The base of :class:`~daktela_async._models.AgentStates`, :class:`Users` and
    :class:`RTStatsSessions`. It compares equal to a ``dict`` with the same items, and
    ``unstructure`` turns it into a ``dict``.
    """

    __slots__ = ("_models",)

    def __init__(self, models: dict[str, V]) -> None:
        self._models = models

    @classmethod
    def _decoded(cls, models: Mapping[str, V], raw: Any) -> Self:
        """Wrap what the converter's mapping hook made of *raw*."""
        return cls(dict(models))

    def __getitem__(self, key: str) -> V:
        return self._models[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._models)

    def __len__(self) -> int:
        return len(self._models)

    def __contains__(self, key: object) -> bool:
        return key in self._models

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._models!r})"


class Users(ByAgentID[User]):
    """The users of a ``GetUsers`` answer without an id, keyed by user ID (read-only).

    The keys are user IDs as text (``"3"``), not logins; :meth:`by_login` gives the
    same users keyed by login (``name``).
    """

    __slots__ = ()

    def by_login(self) -> dict[str, User]:
        """The users keyed by login (``name``); users without a login are left out.

        A login belongs to one live user; should a deleted user share it with a live
        one, the live user wins.
        """
        found: dict[str, User] = {}
        for user in self._models.values():
            if not user.name:
                continue
            other = found.get(user.name)
            if other is None or other.deleted or not user.deleted:
                found[user.name] = user
        return found

    def logins(self) -> dict[str, str]:
        """Login (``name``) by user ID, for :meth:`RTStatsSessions.by_login`."""
        return {key: user.name for key, user in self._models.items() if user.name}


class RTStatsSessions(ByAgentID[RTStatsSession]):
    """The logged-in agents of an ``RTStatsSessions`` answer, keyed by agent ID (read-only).

    The keys are agent (user) IDs as text (``"3"``), not logins, and the rows do not
    name the login: :meth:`by_login` takes it from an answer that does.
    """

    __slots__ = ()

    def by_login(self, users: Mapping[str, AgentState | User | str]) -> dict[str, RTStatsSession]:
        """The sessions keyed by login, with the logins taken from *users*.

        Args:
            users: Where the logins come from: the result of ``rt_users_state()``
                (``AgentState`` values), of ``get_users()`` (``User`` values),
                ``watcher.snapshot()``, or any mapping of agent ID to login. The IDs are
                read from the values when they are models, so the keys do not matter.

        Returns:
            The sessions of the agents *users* names, keyed by login. A session whose
            agent *users* does not name (one who logged in after *users* was read) is
            left out.
        """
        logins = _logins(users)
        return {logins[key]: session for key, session in self._models.items() if key in logins}


def _logins(users: Mapping[str, AgentState | User | str]) -> dict[str, str]:
    """Login by agent ID, from states, users, or an ID-to-login mapping."""
    logins: dict[str, str] = {}
    for key, value in users.items():
        if isinstance(value, AgentState):
            logins[str(value.id_agent)] = value.agent_name
        elif isinstance(value, User):
            if value.name:
                logins[str(value.user)] = value.name
        else:
            logins[key] = value
    return logins


def _unstructure_keyed(value: ByAgentID[Any]) -> dict[str, Any]:
    return {key: converter.unstructure(row) for key, row in value.items()}


def register_keyed(cls: type[ByAgentID[Any]], row: type) -> None:
    """Make the converter build *cls* for ``Mapping[str, row]`` and for *cls* itself.

    The rows are structured by the converter's own mapping hook (``[]`` and ``null``
    are an empty mapping, as everywhere), then wrapped.
    """
    alias: Any = types.GenericAlias(Mapping, (str, row))
    rows: Callable[[Any, Any], Mapping[str, Any]] = converter.get_structure_hook(alias)

    def structure_keyed(value: Any, _: Any) -> ByAgentID[Any]:
        return cls._decoded(rows(value, alias), value)

    converter.register_structure_hook_func(lambda tp: tp == alias or tp is cls, structure_keyed)


converter.register_unstructure_hook(ByAgentID, _unstructure_keyed)
register_keyed(Users, User)
register_keyed(RTStatsSessions, RTStatsSession)
