"""The Redis schema: key names, and events to stream entries and back.

Every key of one PBX starts with ``daktela:{name}`` (the braces are kept: on a Redis
Cluster they are a hash tag, so every key of one PBX lives in one slot and the writer's
script can touch them all at once):

==============================  ===========================================================
Key                             Holds
==============================  ===========================================================
``{prefix}:events``             Stream, one entry per event: ``kind``, ``seq``, ``time``,
                                ``data``
``{prefix}:agents``             Hash, login to the JSON of the agent's current state
``{prefix}:agents:id``          The stream id of the last entry the hashes reflect
``{prefix}:stats:{table}``      Hash, row id to the JSON of the row (``queues``,
                                ``sessions``, ``calls``, ``pauses``)
``{prefix}:stats:summary``      String, the JSON of the ``RTStatsQueuesSummary`` totals
``{prefix}:stats:today``        Hash, queue id to the JSON of the queue's figures of the
                                day (``QueueDay``, the watcher's ``today`` stats)
``{prefix}:fleet:members``      Sorted set of a fleet's live members, scored by the time
                                (Redis ``TIME``, ms) their membership expires
``{prefix}:fleet:leases``       Hash, shard (``"0"``... or ``"stats"``) to
                                ``"<member> <token> <expiry ms>"``
``{prefix}:fleet:fence``        Counter: every lease taken gets the next fencing token
``{prefix}:fleet:config``       String, the fleet's number of shards (expires with the
                                fleet)
==============================  ===========================================================

``data`` is a JSON object with the event's fields (every attribute but ``seq`` and
``time``); records (agent states, calls, stats rows) are written the way the API writes
them: its own field names, datetimes as ``"YYYY-MM-DD HH:MM:SS"`` (the PBX's local time,
as it sends them). ``time`` is when the hub published the event, ISO 8601 in UTC.
``data`` holds the same fields, converted the same way, as
:meth:`Event.to_dict() <daktela_async.realtime.Event.to_dict>` (both use
:func:`~daktela_async._event.event_data`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlsplit

import attrs
import orjson

from .._errors import DaktelaDecodeError, DaktelaUsageError
from .._event import Event, event_data, event_from_data, event_kinds
from .._models import unstructure

with contextlib.suppress(ImportError):  # pragma: no branch
    # The webhook events are published on the same hub: importing their module makes
    # their kinds known to `event_kinds()`, so a reader decodes them too.
    from ..webhooks import _events as _webhook_events  # noqa: F401

__all__ = [
    "STATS_TABLES",
    "TODAY_TABLE",
    "RedisKeys",
    "decode_event",
    "default_name",
    "encode_event",
    "encode_record",
]

#: The ``RTStats*`` tables kept as hashes, by the watcher's stats name.
STATS_TABLES: Final = ("queues", "sessions", "calls", "pauses")

#: The hash of the day's figures per queue (the watcher's ``today``): computed by the
#: watcher, not an ``RTStats*`` table, so not one of :data:`STATS_TABLES`.
TODAY_TABLE: Final = "today"

#: The fields of every stream entry, in the order they are written.
ENTRY_FIELDS: Final = ("kind", "seq", "time", "data")


@attrs.frozen(slots=True)
class RedisKeys:
    """The key names of one PBX (see the module docstring for what each holds).

    Attributes:
        name: The PBX's name in the keys (by default the host of its address).
    """

    name: str

    @property
    def prefix(self) -> str:
        """``daktela:{name}``."""
        return f"daktela:{{{self.name}}}"

    @property
    def events(self) -> str:
        """The stream of events."""
        return f"{self.prefix}:events"

    @property
    def agents(self) -> str:
        """The hash of current agent states, by login."""
        return f"{self.prefix}:agents"

    @property
    def agents_id(self) -> str:
        """The stream id of the last entry the hashes reflect."""
        return f"{self.prefix}:agents:id"

    def stats(self, table: str) -> str:
        """The hash of stats *table* (``queues``...), or ``summary``'s string key."""
        return f"{self.prefix}:stats:{table}"

    @property
    def summary(self) -> str:
        """The string key holding the queues summary."""
        return self.stats("summary")

    @property
    def fleet_members(self) -> str:
        """A fleet's live members, scored by when their membership expires."""
        return f"{self.prefix}:fleet:members"

    @property
    def fleet_leases(self) -> str:
        """A fleet's leases: shard to ``"<member> <token> <expiry ms>"``."""
        return f"{self.prefix}:fleet:leases"

    @property
    def fleet_fence(self) -> str:
        """The counter that hands out fencing tokens."""
        return f"{self.prefix}:fleet:fence"

    @property
    def fleet_config(self) -> str:
        """The fleet's number of shards, which every member must share."""
        return f"{self.prefix}:fleet:config"

    @property
    def today(self) -> str:
        """The hash of the day's figures per queue, by queue id."""
        return self.stats(TODAY_TABLE)

    def state_keys(self) -> tuple[str, ...]:
        """The keys of the current state: agents, the four tables, the summary.

        :attr:`today` is not among them (see :data:`TODAY_TABLE`).
        """
        return (self.agents, *(self.stats(t) for t in STATS_TABLES), self.summary)


def check_name(name: str) -> str:
    """*name* if it can go into the keys, else a :class:`DaktelaUsageError`."""
    if not isinstance(name, str) or not name or any(c in name for c in "{}\r\n "):
        raise DaktelaUsageError(
            f"name must be a non-empty string without braces or spaces, not {name!r}",
            parameter="name",
        )
    return name


def default_name(base_url: str) -> str:
    """The default name of a PBX: the host of its address (``pbx.example.com``)."""
    host = urlsplit(base_url).hostname
    if not host:
        raise DaktelaUsageError(f"cannot take a name from {base_url!r}: pass name=")
    return host


#: The JSON of recently encoded records, by identity (each kept alive by its entry, so
#: an id is never reused while cached). Models are frozen and the watcher reuses an
#: unchanged record, so an event's ``previous`` is usually the last one's ``current``.
_RECORDS: dict[int, tuple[Any, bytes]] = {}
_RECORDS_SIZE: Final = 4096
#: ``orjson.Fragment`` (3.9.14+) embeds a record's cached JSON in an entry's ``data``.
_FRAGMENT: Any = getattr(orjson, "Fragment", None)


@attrs.frozen
class _Frozen:
    pass


#: The ``__setattr__`` of a frozen attrs class: only their instances are cached.
_FROZEN_SETATTR: Final = _Frozen.__setattr__


def encode_record(record: Any) -> bytes:
    """The JSON of a record (agent state, stats row) with the API's field names."""
    if getattr(type(record), "__setattr__", None) is not _FROZEN_SETATTR:
        return orjson.dumps(unstructure(record))
    key = id(record)
    hit = _RECORDS.get(key)
    if hit is not None and hit[0] is record:
        return hit[1]
    encoded = orjson.dumps(unstructure(record))
    if len(_RECORDS) >= _RECORDS_SIZE:
        with contextlib.suppress(KeyError, RuntimeError, StopIteration):
            del _RECORDS[next(iter(_RECORDS))]
    _RECORDS[key] = (record, encoded)
    return encoded


def _encode_value(value: Any) -> Any:
    """A ``data`` value: a record as a fragment of its (cached) JSON, else unstructured."""
    if _FRAGMENT is not None and attrs.has(type(value)):
        return _FRAGMENT(encode_record(value))
    return unstructure(value)


def _format_time(value: dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def encode_event(event: Event) -> dict[str, str | bytes]:
    """The stream entry of *event*: ``kind``, ``seq``, ``time`` and ``data``."""
    data = event_data(event, _encode_value)
    return {
        "kind": event.kind,
        "seq": str(event.seq),
        "time": _format_time(event.time),
        "data": orjson.dumps(data),
    }


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def decode_event(entry: Mapping[Any, Any]) -> Event | None:
    """The event of a stream entry (keys and values as ``bytes`` or ``str``).

    Returns:
        The event, or ``None`` when its ``kind`` is unknown here (written by a newer
        version); unknown keys of ``data`` are ignored.

    Raises:
        DaktelaDecodeError: The entry lacks a field or does not fit its kind.
    """
    fields = {_text(k): v for k, v in entry.items()}
    missing = [name for name in ENTRY_FIELDS if name not in fields]
    if missing:
        raise DaktelaDecodeError(f"stream entry without {', '.join(missing)}: {fields!r}")
    cls = event_kinds().get(_text(fields["kind"]))
    if cls is None:
        return None
    try:
        data = orjson.loads(fields["data"])
        return event_from_data(
            cls,
            seq=int(fields["seq"]),
            time=dt.datetime.fromisoformat(_text(fields["time"])),
            data=data,
        )
    except DaktelaDecodeError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        # orjson's JSONDecodeError is a ValueError; a missing field a TypeError.
        raise DaktelaDecodeError(f"cannot decode the {cls.kind} stream entry: {exc}") from exc
