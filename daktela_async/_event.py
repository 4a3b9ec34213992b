"""Events and their JSON: the base every event of the hub derives from.

The realtime engine's events (``realtime/_events.py``), the webhooks' hook events
(``webhooks/_events.py``) and the hub's own :class:`EventsDropped` all derive from
:class:`Event`; this module sits below all of them so each imports it without reaching
into another's internals (see ``docs/architecture.md``).

``seq`` counts every event the hub publishes, without gaps: a subscriber without filters
that sees a jump has lost events (with ``overflow="drop_oldest"`` it is told how many by
an :class:`EventsDropped`). The state events a subscriber receives when it joins carry
the ``seq`` of the last published event and ``previous=None``.

Every event turns into JSON the same way, with :meth:`Event.to_dict` (and
:meth:`Event.to_json`), and back with :meth:`Event.from_dict`: ``kind``, ``seq``, ``time``
(ISO 8601 in UTC, with its offset), then the event's own fields, records (agent states,
calls, stats rows) with the API's own field names and datetimes (what
:func:`~daktela_async._models.unstructure` gives). The Redis stream's ``data`` is the same
conversion of the same fields (:func:`event_data`), so there is one serializer.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Final, Self, TypeVar

import attrs
import orjson

from ._errors import DaktelaDecodeError
from ._models import AgentCall, AgentState, Queue, structure, unstructure

__all__ = [
    "Event",
    "EventsDropped",
    "event_data",
    "event_fields",
    "event_from_data",
    "event_kinds",
]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@attrs.frozen(slots=True, kw_only=True)
class Event:
    """Base class of every event.

    Attributes:
        seq: Position in the hub's stream of published events (1, 2, 3, ... without gaps).
        time: When the hub published it (UTC).
    """

    kind: ClassVar[str] = "event"
    #: Properties :meth:`to_dict` writes after the fields (``from_dict`` ignores them).
    computed: ClassVar[tuple[str, ...]] = ()

    seq: int = 0
    time: dt.datetime = _EPOCH

    @property
    def key(self) -> tuple[Any, ...]:
        """What ``overflow="latest"`` coalesces on: a newer event with the same key wins."""
        return (self.kind,)

    def to_dict(self, *, full: bool = True) -> dict[str, Any]:
        """The event as a JSON-ready dict.

        The keys are ``kind`` (``"agent_state"``...), ``seq``, ``time`` (ISO 8601 in UTC
        with its offset: ``"2026-11-30T14:13:10.123456+00:00"``), then every field of the
        event in order, then the properties named by :attr:`computed`
        (:attr:`SourceFailed.stopped`). Records (agent states, calls, stats rows) take the
        API's shape: its field names, datetimes as ``"YYYY-MM-DD HH:MM:SS"``, the keys
        the models keep in ``extra``.

        Args:
            full: ``False`` leaves out the bulky detail few consumers need: the
                ``options`` (every setting) of each queue in an agent state's
                ``login_oqueues``, of a call's ``oqueue`` and of a ``queue_state``.
                :meth:`from_dict` reads such a dict back with empty ``options``.
        """
        data: dict[str, Any] = {
            "kind": self.kind,
            "seq": self.seq,
            "time": _format_time(self.time),
        }
        data.update(event_data(self, unstructure if full else _compact))
        for name in self.computed:
            data[name] = getattr(self, name)
        return data

    def to_json(self, *, full: bool = True) -> str:
        """:meth:`to_dict` as compact JSON text (one line, UTF-8 characters unescaped)."""
        return orjson.dumps(self.to_dict(full=full)).decode()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """The event a :meth:`to_dict` (or the JSON of :meth:`to_json`) describes.

        The class is chosen by ``kind`` among :func:`event_kinds`; called on a subclass
        (``AgentStateChanged.from_dict``), the kind must be of that class. Keys that are
        not fields of the kind (:attr:`computed` properties, fields of a newer version)
        are ignored; fields left out take their defaults.

        Raises:
            DaktelaDecodeError: ``kind`` is unknown here (written by a newer version or
                by an extension not imported), not of this class, or the dict lacks
                ``seq``, ``time`` or a field, or does not fit the kind's types.
        """
        if not isinstance(data, Mapping):
            raise DaktelaDecodeError(f"an event must be a JSON object, not {type(data).__name__}")
        kind = data.get("kind")
        found = _kind_class(kind) if isinstance(kind, str) else None
        if found is None:
            raise DaktelaDecodeError(f"unknown event kind {kind!r} (from a newer version?)")
        if not issubclass(found, cls):
            raise DaktelaDecodeError(
                f"{cls.__name__}.from_dict: kind {kind!r} is a {found.__name__}"
            )
        missing = [name for name in ("seq", "time") if name not in data]
        if missing:
            raise DaktelaDecodeError(f"{found.kind} event without {', '.join(missing)}")
        try:
            time = dt.datetime.fromisoformat(data["time"])
            if time.tzinfo is None:
                time = time.replace(tzinfo=dt.UTC)
            seq = data["seq"]
            if isinstance(seq, bool) or not isinstance(seq, int | str):
                raise TypeError(f"seq must be an integer, not {seq!r}")
            return event_from_data(found, seq=int(seq), time=time, data=data)
        except (DaktelaDecodeError, ValueError, TypeError) as exc:
            # A missing field is a TypeError of the class's __init__.
            raise DaktelaDecodeError(f"cannot decode the {found.kind} event: {exc}") from exc


@attrs.frozen(slots=True, kw_only=True)
class EventsDropped(Event):
    """Told to a ``drop_oldest`` or ``latest`` subscriber that fell behind.

    Also yielded by :class:`daktela_async.redis.RedisSource` when the stream was trimmed
    past its cursor (the current state follows it).

    Attributes:
        missed: How many events were dropped (or coalesced away) since the last one read;
            ``0`` when that is not known (a Redis stream trimmed past the cursor).
    """

    kind: ClassVar[str] = "events_dropped"

    missed: int


def event_kinds() -> dict[str, type[Event]]:
    """Every event kind a subscription can filter on, and its class.

    Looked up when asked, so event classes defined elsewhere (the webhooks' hook
    events) are included.
    """
    found: dict[str, type[Event]] = {}
    pending: list[type[Event]] = [Event]
    while pending:
        cls = pending.pop()
        if cls is not Event:
            found.setdefault(cls.kind, cls)
        pending.extend(cls.__subclasses__())
    return found


# --- JSON: shared by Event.to_dict/from_dict and the Redis stream's entries ---------------

_E = TypeVar("_E", bound=Event)

#: The fields every event has, written on their own (``seq``, ``time``), not as data.
_BASE_FIELDS: Final = frozenset({"seq", "time"})

_FIELDS: dict[type[Event], tuple[tuple[str, Any], ...]] = {}


def event_fields(cls: type[Event]) -> tuple[tuple[str, Any], ...]:
    """The name and resolved type of every field of *cls* but ``seq`` and ``time``."""
    found = _FIELDS.get(cls)
    if found is None:
        attrs.resolve_types(cls)
        found = tuple((f.name, f.type) for f in attrs.fields(cls) if f.name not in _BASE_FIELDS)
        _FIELDS[cls] = found
    return found


def event_data(event: Event, convert: Callable[[Any], Any] = unstructure) -> dict[str, Any]:
    """The fields of *event* but ``seq`` and ``time``, by name, each through *convert*.

    *convert* is :func:`~daktela_async._models.unstructure` (or anything giving the
    same JSON, as the Redis sink's cache of encoded records does).
    """
    return {name: convert(getattr(event, name)) for name, _ in event_fields(type(event))}


def event_from_data(cls: type[_E], *, seq: int, time: dt.datetime, data: Mapping[str, Any]) -> _E:
    """The *cls* event of *data* (what :func:`event_data` gave); other keys are ignored.

    Raises:
        DaktelaDecodeError: A value does not fit its field's type.
        TypeError: A field without a default is missing.
    """
    values = {name: structure(data[name], tp) for name, tp in event_fields(cls) if name in data}
    return cls(seq=seq, time=time, **values)


def _format_time(value: dt.datetime) -> str:
    """ISO 8601 in UTC with its offset; a naive time is taken as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC).isoformat()
    return value.astimezone(dt.UTC).isoformat()


def _drop_options(queue: Any) -> None:
    if isinstance(queue, dict):
        queue.pop("options", None)


def _compact(value: Any) -> Any:
    """:func:`unstructure`, without the ``options`` of the queues in *value*."""
    data = unstructure(value)
    if isinstance(value, AgentState):
        for queue in data.get("login_oqueues") or ():
            _drop_options(queue)
        for call in data.get("calls") or ():
            if isinstance(call, dict):
                _drop_options(call.get("oqueue"))
    elif isinstance(value, AgentCall):
        _drop_options(data.get("oqueue"))
    elif isinstance(value, Queue):  # and LoginQueueState
        _drop_options(data)
    return data


def _kind_class(kind: str) -> type[Event] | None:
    """The class of *kind*; the webhooks' kinds are looked for too (imported on demand)."""
    found = event_kinds().get(kind)
    if found is None:
        with contextlib.suppress(ImportError):  # the webhooks' extra is not installed
            from .webhooks import _events as _webhook_events  # noqa: F401

            found = event_kinds().get(kind)
    return found
