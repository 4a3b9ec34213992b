"""The handlers' shared parts: the parsed request, the answer, the registry, helpers.

Section modules register their handlers in :data:`HANDLERS` with :func:`_action`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

from .._clock import parse_dt
from .._model import Agent, Call, SmsGroup
from .._render import Views
from ..state import (
    ERR_LIMIT,
    ERR_NO_CALL,
    ERR_NOT_LOGGED,
    ERR_TOO_MANY_SMS,
    MAX_TAKE,
    SimError,
    SimState,
)

#: How the success envelope is written; the document records all three forms:
#: ``ok`` ``{"status":1,"error":null,"result":...}``, ``ok_er``
#: ``{"error":null,"status":1,"result":...}``, ``bare`` ``{"error":null,"status":1}``.
Style = Literal["ok", "ok_er", "bare"]

_TRUE: Final = frozenset({"1", "true", "yes", "on", "y"})


def _missing(name: str) -> SimError:
    # Not recorded in the document; worded in the server's style.
    return SimError(f"Chybí povinný parametr {name}")


def _bad(name: str) -> SimError:
    return SimError(f"Neplatná hodnota parametru {name}")


@dataclass(slots=True)
class ApiRequest:
    """One parsed API request.

    Attributes:
        version: The URL version as ``(major, minor)`` (``(3, 9)``).
        action: The action name from the URL.
        id: The ``{ID}`` path segment, if present.
        format: ``json`` or ``xml``.
        params: The query (and form body) read with PHP's rules.
    """

    version: tuple[int, int]
    action: str
    id: str | None
    format: str
    params: dict[str, Any]

    def get(self, name: str) -> str | None:
        """A scalar parameter, or ``None`` when absent (arrays read as absent)."""
        value = self.params.get(name)
        return value if isinstance(value, str) else None

    def need(self, name: str) -> str:
        """A mandatory, non-empty scalar parameter.

        Raises:
            SimError: It is missing.
        """
        value = self.get(name)
        if value is None or value == "":
            raise _missing(name)
        return value

    def ident(self, name: str = "id") -> str | None:
        """The record id: the ``{ID}`` path segment, else the *name* parameter."""
        return self.id if self.id else self.get(name)

    def flag(self, name: str, default: bool = False) -> bool:
        """A boolean parameter (``true``/``yes``/``1``)."""
        value = self.get(name)
        return default if value is None or value == "" else value.lower() in _TRUE

    def tri(self, name: str) -> bool | None:
        """A boolean filter that may be absent."""
        value = self.get(name)
        return None if value is None or value == "" else value.lower() in _TRUE

    def list(self, name: str) -> list[str]:
        """An array parameter (``x[]=a&x[]=b``; a scalar counts as one item)."""
        value = self.params.get(name)
        if value is None or value == "":
            return []
        if isinstance(value, str):
            return [value]
        if isinstance(value, dict):
            return [str(v) for v in value.values() if isinstance(v, str)]
        return [str(v) for v in value if isinstance(v, str)]

    def mapping(self, name: str) -> dict[str, Any]:
        """A keyed-array parameter (``fields[3]=x``)."""
        value = self.params.get(name)
        if isinstance(value, dict):
            return value
        if isinstance(value, list):
            return {str(i): v for i, v in enumerate(value)}
        return {}

    def integer(self, name: str, default: int) -> int:
        """An integer parameter.

        Raises:
            SimError: It is not an integer.
        """
        value = self.get(name)
        if value is None or value == "":
            return default
        try:
            return int(float(value))
        except ValueError:
            raise _bad(name) from None

    def when(self, name: str) -> float | None:
        """A ``YYYY-MM-DD HH:MM:SS`` parameter as simulated seconds.

        Raises:
            SimError: It is not such a date.
        """
        value = self.get(name)
        if value is None or value == "":
            return None
        try:
            return parse_dt(value)
        except ValueError:
            raise _bad(name) from None

    def span(self) -> tuple[float, float]:
        """The mandatory ``datetime_from``/``datetime_to`` pair."""
        start, end = self.when("datetime_from"), self.when("datetime_to")
        if start is None:
            raise _missing("datetime_from")
        if end is None:
            raise _missing("datetime_to")
        return start, end

    def page(self) -> tuple[int, int]:
        """``skip``/``take`` (defaults 0/100; more than 1000 is refused)."""
        skip, take = self.integer("skip", 0), self.integer("take", 100)
        if take > MAX_TAKE:
            raise SimError(ERR_LIMIT)
        return max(0, skip), max(0, take)


@dataclass(slots=True)
class Answer:
    """A successful answer.

    Attributes:
        result: The ``result`` value (ignored when *raw* is set).
        style: Which success envelope to write (:data:`Style`).
        raw: ``result`` already encoded as JSON (cached realtime answers).
        body: A non-JSON answer (``GetRecording``) with its *content_type*.
        content_type: The ``Content-Type`` of *body*.
    """

    result: Any = None
    style: Style = "ok"
    raw: str | None = None
    body: bytes | None = None
    content_type: str | None = None


Handler = Callable[[SimState, Views, ApiRequest], Answer]

#: Action name (as in the URL) -> handler.
HANDLERS: dict[str, Handler] = {}


def _action(*names: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for name in names:
            HANDLERS[name] = handler
        return handler

    return register


def _agent(state: SimState, req: ApiRequest) -> Agent:
    """The agent named by ``user``, else the one logged in at ``extension``."""
    login = req.get("user")
    if login:
        return state.agent(login)
    extension = req.get("extension")
    if extension:
        agent = state.agent_at(extension)
        if agent is None:
            raise SimError(ERR_NOT_LOGGED)
        return agent
    raise _missing("user")


def _call_of(state: SimState, req: ApiRequest) -> Call:
    """The call of ``user`` or, for plain lines, the live call on ``extension``."""
    if req.get("user"):
        return state.agent_call(state.agent(req.need("user")))
    extension = req.get("extension") or req.get("exten")
    if not extension:
        raise _missing("user")
    calls = state.calls_at(extension)
    if not calls:
        raise SimError(ERR_NO_CALL)
    return calls[-1]


def _within(ts: float, span: tuple[float, float]) -> bool:
    return span[0] <= ts <= span[1]


def _paged(rows: list[dict[str, Any]], page: tuple[int, int]) -> list[dict[str, Any]]:
    return rows[page[0] : page[0] + page[1]]


def _group_messages(req: ApiRequest) -> list[tuple[str, str]]:
    numbers = req.list("number")
    messages = req.list("message")
    if not numbers:
        raise _missing("number")
    if not messages:
        raise _missing("message")
    if len(numbers) > 20000:
        raise SimError(ERR_TOO_MANY_SMS)
    if len(messages) == 1:
        messages = messages * len(numbers)
    if len(messages) != len(numbers):
        raise _bad("message")
    return list(zip(numbers, messages, strict=True))


def _group_answer(group: SmsGroup, counts: dict[int, int]) -> Answer:
    out: dict[str, Any] = {str(group.id): {"count_sms": 0, "id": group.id, "group_id": group.id}}
    for message_id in group.message_ids:
        out[str(message_id)] = {
            "count_sms": counts[message_id],
            "id": message_id,
            "group_id": group.id,
        }
    return Answer(out)
