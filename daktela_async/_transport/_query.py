"""PHP-style query strings: how the Daktela server (PHP) reads its parameters.

Encoding rules (what :func:`encode_params` does, in order):

- ``None`` is omitted, so optional keyword arguments can default to ``None``.
- A ``str`` is sent exactly as given: values from forms and configuration pass
  through untouched.
- ``bool`` becomes ``"true"``/``"false"`` (callers that need ``yes``/``no`` convert
  first, see :func:`format_bool`).
- ``int`` and ``float`` become their decimal text; an :class:`enum.Enum` its value.
- :class:`datetime.datetime` becomes ``YYYY-MM-DD HH:MM:SS`` (naive, or as given in
  its own zone: the PBX has no time-zone parameter; microseconds dropped);
  :class:`datetime.date` ``YYYY-MM-DD``. The year always has four digits.
- A list or tuple of scalars becomes ``x[]=a&x[]=b``; a list that holds lists or
  mappings is indexed (``x[0][k]=v``) because PHP's ``x[][k]`` would open a new
  element for every key.
- A mapping becomes ``x[k]=v``; nesting nests (``x[a][b]=v``).
- Empty lists and mappings send nothing: PHP has no way to read an empty array
  from a query string.

What cannot be sent raises :class:`EncodeError` (a ``ValueError`` naming the parameter):
a type the API cannot carry, a name that is not a string, text that is not valid
Unicode (a lone surrogate has no UTF-8 form), or nesting deeper than
:data:`MAX_NESTING` levels, which is also what a container holding itself amounts to.

:func:`parse_php_query` is the inverse, with PHP's ``parse_str`` semantics; the
simulator and the tests read requests with it.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final
from urllib.parse import quote, unquote_plus

__all__ = [
    "MAX_NESTING",
    "EncodeError",
    "encode_params",
    "encode_query",
    "format_bool",
    "format_date",
    "format_datetime",
    "format_scalar",
    "parse_php_query",
]

#: Deepest nesting sent: PHP's ``max_input_nesting_level`` default, beyond which PHP
#: drops the parameter anyway. A dict or list that contains itself hits it too, instead
#: of Python's RecursionError.
MAX_NESTING: Final = 64


class EncodeError(ValueError):
    """A parameter that cannot be sent.

    Attributes:
        key: The query key at fault (``fields[a][0]``).
        parameter: The top-level parameter it belongs to (``fields``).
    """

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"parameter {key!r}: {problem}")
        self.key = key
        self.parameter = key.partition("[")[0]


def format_bool(value: bool, style: str = "truefalse") -> str:
    """Write a boolean the way a parameter expects: ``true``, ``yes`` or ``1``."""
    if style == "yesno":
        return "yes" if value else "no"
    if style == "10":
        return "1" if value else "0"
    return "true" if value else "false"


def format_datetime(value: dt.datetime) -> str:
    """Write a datetime the document's way, ``YYYY-MM-DD HH:MM:SS``.

    Not ``strftime("%Y")``: that writes the year 999 as ``999`` on glibc, which is not
    the document's form.
    """
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d} "
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}"
    )


def format_date(value: dt.date) -> str:
    """Write a date the document's way, ``YYYY-MM-DD``."""
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"


def format_scalar(value: object) -> str:
    """Return the text the server should receive for one scalar value.

    Raises:
        TypeError: *value* is not a scalar this API can carry.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return format_bool(value)
    if isinstance(value, enum.Enum):
        return format_scalar(value.value)
    if isinstance(value, int | float):
        # float's and int's own text: a subclass's __repr__/__str__ (numpy's
        # np.float64(0.1), say) is not what PHP should read.
        return float.__repr__(value) if isinstance(value, float) else int.__repr__(value)
    if isinstance(value, dt.datetime):
        return format_datetime(value)
    if isinstance(value, dt.date):
        return format_date(value)
    raise TypeError(f"cannot send a value of type {type(value).__name__} as a parameter")


def _is_container(value: object) -> bool:
    return isinstance(value, Mapping | list | tuple)


def _scalar(key: str, value: object) -> str:
    try:
        return format_scalar(value)
    except TypeError as exc:
        raise EncodeError(key, str(exc)) from None


def _flatten(key: str, value: object, depth: int = 0) -> Iterator[tuple[str, str]]:
    if value is None:
        return
    if depth >= MAX_NESTING and _is_container(value):
        raise EncodeError(
            key,
            f"nested more than {MAX_NESTING} levels deep (PHP's limit), or it contains itself",
        )
    if isinstance(value, Mapping):
        for sub_key, sub_value in value.items():
            yield from _flatten(f"{key}[{_scalar(key, sub_key)}]", sub_value, depth + 1)
    elif isinstance(value, list | tuple):
        if any(_is_container(item) for item in value):
            for index, item in enumerate(value):
                yield from _flatten(f"{key}[{index}]", item, depth + 1)
        else:
            for item in value:
                if item is not None:
                    yield f"{key}[]", _scalar(key, item)
    else:
        yield key, _scalar(key, value)


def encode_params(params: Mapping[str, object]) -> list[tuple[str, str]]:
    """Flatten *params* into ``(key, value)`` pairs the way PHP reads them back.

    >>> encode_params({"users": ["3", 1], "variables": {"myid": 7}, "x": None})
    [('users[]', '3'), ('users[]', '1'), ('variables[myid]', '7')]

    Raises:
        EncodeError: A parameter cannot be sent (see the module docstring).
    """
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        if not isinstance(key, str):
            raise EncodeError(
                repr(key), f"a parameter name must be a string, not {type(key).__name__}"
            )
        pairs.extend(_flatten(key, value))
    return pairs


def encode_query(pairs: Iterable[tuple[str, str]]) -> str:
    """Percent-encode pairs into a query string (brackets kept readable, spaces as %20).

    Raises:
        EncodeError: A key or value is not valid Unicode (a lone surrogate).
    """
    parts: list[str] = []
    for key, value in pairs:
        try:
            parts.append(f"{quote(key, safe='[]')}={quote(value, safe=':/')}")
        except UnicodeEncodeError:
            # quote() encodes UTF-8 strictly: a lone surrogate (from a bad decode with
            # errors="surrogateescape", say) has no UTF-8 form, and no server could read it.
            raise EncodeError(key, "not valid Unicode (a lone surrogate)") from None
    return "&".join(parts)


# --- parsing, with PHP's parse_str semantics -------------------------------------------------


def _split_key(raw: str) -> tuple[str, list[str]] | None:
    """Split ``a[b][]`` into ``("a", ["b", ""])``, by PHP 8's rules for odd names.

    As ``php_register_variable_ex`` does: leading spaces are dropped; ``.`` and space in
    the name become ``_``; an empty name drops the pair; ``[ ]`` (one white-space
    character) is ``[]``; what follows the last ``]`` is ignored. A first ``[`` that is
    never closed makes no array: it and every later ``[``, ``.`` or space become ``_``.
    An unclosed ``[`` after a complete index is dropped with the rest of the key.
    """
    raw = raw.lstrip(" ")
    bracket = raw.find("[")
    if bracket < 0:
        return (_php_name(raw), []) if raw else None
    if bracket == 0:
        return None
    parts: list[str] = []
    rest = raw[bracket:]
    while rest.startswith("["):
        close = rest.find("]")
        if close < 0:
            if not parts:
                return _php_name(raw).replace("[", "_"), []
            break
        index = rest[1:close]
        parts.append("" if index in _ONE_SPACE else index)
        rest = rest[close + 1 :]
    return _php_name(raw[:bracket]), parts


#: What C's ``isspace`` accepts: PHP reads ``[`` + one of these + ``]`` as ``[]``.
_ONE_SPACE: Final = frozenset(" \t\n\v\f\r")
#: PHP's integer array keys (``ZEND_HANDLE_NUMERIC_STR``): ``"05"`` and ``"-0"`` stay text.
_PHP_INT_KEY: Final = re.compile(r"0|-?[1-9][0-9]*")


def _php_name(name: str) -> str:
    # PHP replaces these in top-level variable names (a legacy of register_globals).
    return name.replace(".", "_").replace(" ", "_")


def _next_index(container: dict[str, Any]) -> str:
    # PHP 8.3+: after a negative key the next one is that key + 1, not 0.
    ints = [int(k) for k in container if _PHP_INT_KEY.fullmatch(k)]
    return str(max(ints) + 1 if ints else 0)


def _assign(container: dict[str, Any], path: list[str], value: str) -> None:
    key = path[0]
    if key == "":
        key = _next_index(container)
    if len(path) == 1:
        container[key] = value
        return
    child = container.get(key)
    if not isinstance(child, dict):
        child = {}
        container[key] = child
    _assign(child, path[1:], value)


def _listify(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    converted = {k: _listify(v) for k, v in value.items()}
    if list(converted) == [str(i) for i in range(len(converted))]:
        return list(converted.values())
    return converted


def parse_php_query(query: str) -> dict[str, Any]:
    """Read a query string as PHP's ``parse_str`` does.

    Arrays whose keys are ``0..n-1`` in order (``x[]=a&x[]=b``, ``x[0]=a``) come back
    as lists; other keyed arrays as dicts with string keys; scalars as strings. A
    plain key given twice keeps the last value, as PHP does.

    >>> parse_php_query("a[]=1&a[]=2&v[k]=x&s=%C5%A1")
    {'a': ['1', '2'], 'v': {'k': 'x'}, 's': 'š'}
    """
    root: dict[str, Any] = {}
    for chunk in query.split("&"):
        if not chunk:
            continue
        raw_key, _, raw_value = chunk.partition("=")
        split = _split_key(unquote_plus(raw_key))
        if split is None:
            continue
        base, path = split
        _assign(root, [base, *path], unquote_plus(raw_value))
    return {k: _listify(v) for k, v in root.items()}
