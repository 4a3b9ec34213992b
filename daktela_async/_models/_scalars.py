"""The scalar conversions: the server's loosely typed JSON values into Python's.

The legacy API is written in PHP and types almost nothing: numbers arrive as strings,
flags as ``"0"``/``"1"``, empty lists as ``{}`` and empty objects as ``[]``. These
functions are the conversions themselves (listed in :mod:`._converter`'s docstring); the
converter's hooks and the hand-written fast path for ``AgentState`` both call them, so
both agree by construction.
"""

from __future__ import annotations

import datetime as dt
import enum
import types
from collections.abc import Mapping
from typing import Any, Final, NewType

import orjson

__all__ = [
    "DATETIME_FORMAT",
    "EMPTY",
    "NONE_TYPE",
    "ZERO_DATETIME",
    "ConversionError",
    "QueueOptions",
    "fail",
    "json_type",
    "to_bool",
    "to_datetime",
    "to_enum_or_str",
    "to_float",
    "to_int",
    "to_opt_bool",
    "to_opt_datetime",
    "to_opt_int",
    "to_opt_str",
    "to_options",
    "to_str",
]

#: The decoded options object of a queue (``{"ringtime": "20", ...}``). The keys
#: depend on the queue type and PBX version, so the values are left as sent.
QueueOptions = NewType("QueueOptions", Mapping[str, Any])

#: The shared, read-only empty mapping: the default of every ``extra``.
EMPTY: Mapping[str, Any] = types.MappingProxyType({})

_NO_OPTIONS = QueueOptions(EMPTY)
#: How the server writes "no date" (a ``None`` in optional datetime fields).
ZERO_DATETIME: Final = "0000-00-00 00:00:00"
#: How the server writes a date and time.
DATETIME_FORMAT: Final = "%Y-%m-%d %H:%M:%S"
NONE_TYPE: Final = type(None)

_JSON_TYPE_NAMES: dict[type, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    dict: "object",
    list: "array",
    NONE_TYPE: "null",
}


class ConversionError(ValueError):
    """A value did not fit its field; the message says what was expected and found."""


def json_type(value: object) -> str:
    """Name the JSON type of a decoded *value* (``"string"``, ``"object"``...)."""
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def _describe(value: object) -> str:
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{json_type(value)} {text}"


def fail(expected: str, value: object) -> ConversionError:
    """The error for *value* where *expected* was wanted (the value shown, clipped)."""
    return ConversionError(f"expected {expected}, got {_describe(value)}")


def to_int(value: Any) -> int:
    """Return an ``int`` from an ``int`` or a numeric string.

    Raises:
        ConversionError: *value* is anything else (``bool`` included).
    """
    if type(value) is int:
        return value
    if type(value) is str:
        try:
            return int(value)
        except ValueError:
            pass
    raise fail("an integer or a numeric string", value)


def to_opt_int(value: Any) -> int | None:
    """Like :func:`to_int`, with ``null`` and ``""`` as ``None``."""
    if value is None or value == "":
        return None
    return to_int(value)


def to_float(value: Any) -> float:
    """Return a ``float`` from a number or a numeric string (``"4.94999987"``).

    Raises:
        ConversionError: *value* is anything else (``bool`` included).
    """
    tp = type(value)
    if tp is float or tp is int:
        return float(value)
    if tp is str:
        try:
            return float(value)
        except ValueError:
            pass
    raise fail("a number or a numeric string", value)


_FLAGS: dict[object, bool] = {
    "1": True,
    "0": False,
    "true": True,
    "false": False,
}


def to_bool(value: Any) -> bool:
    """Return a ``bool`` from a flag: ``true``/``false``, ``1``/``0``, ``"1"``/``"0"``.

    Raises:
        ConversionError: *value* is not one of the accepted flags.
    """
    tp = type(value)
    if tp is bool:
        return value is True
    if tp is int and (value == 0 or value == 1):
        return bool(value == 1)
    if tp is str:
        flag = _FLAGS.get(value)
        if flag is not None:
            return flag
    raise fail('a flag ("0", "1", 0, 1, true or false)', value)


def to_opt_bool(value: Any) -> bool | None:
    """Like :func:`to_bool`, with ``null`` and ``""`` as ``None``."""
    if value is None or value == "":
        return None
    return to_bool(value)


def to_str(value: Any) -> str:
    """Return a ``str``; an ``int`` or ``float`` becomes its decimal text.

    Raises:
        ConversionError: *value* is not a string or a number.
    """
    tp = type(value)
    if tp is str:
        return str(value)
    if tp is int or tp is float:
        return str(value)
    raise fail("a string", value)


def to_opt_str(value: Any) -> str | None:
    """Like :func:`to_str`, with ``null`` as ``None`` (``""`` stays ``""``)."""
    if value is None:
        return None
    return to_str(value)


def to_datetime(value: Any) -> dt.datetime:
    """Return a naive datetime from ``"YYYY-MM-DD HH:MM:SS"``.

    Raises:
        ConversionError: *value* is not a datetime in that form.
    """
    if type(value) is str and len(value) == 19:
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is None:
                return parsed
    raise fail('a datetime "YYYY-MM-DD HH:MM:SS"', value)


def to_opt_datetime(value: Any) -> dt.datetime | None:
    """Like :func:`to_datetime`; ``null``, ``""`` and ``"0000-00-00 00:00:00"`` are ``None``."""
    if value is None or value == "" or value == ZERO_DATETIME:
        return None
    return to_datetime(value)


def to_options(value: Any) -> QueueOptions:
    """Return a queue's options as a mapping, decoding them when sent JSON-encoded.

    Raises:
        ConversionError: *value* is neither an object nor a string holding one.
    """
    if type(value) is dict:
        return QueueOptions(value)
    if value is None or value == "" or value == []:
        return _NO_OPTIONS
    if type(value) is str:
        try:
            decoded = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise fail("an object or a JSON-encoded object", value) from None
        if type(decoded) is dict:
            return QueueOptions(decoded)
        if decoded == []:
            return _NO_OPTIONS
    raise fail("an object or a JSON-encoded object", value)


def to_enum_or_str(enum_cls: type[enum.Enum], value: Any) -> Any:
    """The member of *enum_cls* named by the string *value*, or *value* itself."""
    if type(value) is not str:
        raise fail("a string", value)
    try:
        return enum_cls(value)
    except ValueError:
        return value
