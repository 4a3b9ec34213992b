"""The one cattrs converter that turns the server's JSON into result models and back.

The legacy API is written in PHP and types almost nothing: numbers arrive as strings,
flags as ``"0"``/``"1"``, empty lists as ``{}`` and empty objects as ``[]``. Every
conversion the converter makes is listed here; nothing else is converted.

Structuring (decoded JSON to models), by the annotated type of the target:

- ``int``: an ``int`` is kept; a numeric string (``"42"``, ``"-6"``) is parsed.
  ``bool``, floats and other strings are errors.
- ``float`` (prices such as ``"4.94999987"``, ``"0.000"``): an ``int`` or ``float``
  is kept as ``float``; a numeric string is parsed. ``bool`` is an error.
- ``bool`` (flags): ``true``/``false``, ``1``/``0``, ``"1"``/``"0"`` and
  ``"true"``/``"false"``. Anything else is an error.
- ``str``: a string is kept; an ``int`` or ``float`` becomes its decimal text (the
  server sends the same key as ``"62"`` in one answer and ``62`` in another).
- :class:`datetime.datetime`: ``"YYYY-MM-DD HH:MM:SS"`` becomes a naive datetime;
  other lengths and zoned times are errors.
- ``X | None`` (fields the server may leave empty): ``null`` is ``None``; so is
  ``""`` unless ``X`` is ``str`` (an empty text stays ``""``); for datetimes also
  ``"0000-00-00 00:00:00"``; for models also ``[]`` (PHP's empty array).
- String enumerations (``AgentStateName | str`` and the like): a documented value
  becomes the enum member; any other string is kept as a plain ``str``.
- :data:`QueueOptions`: a JSON object is kept as decoded (a ``dict``, not copied);
  a string (``GetQueues`` sends the options JSON-encoded) is parsed and must hold an
  object; ``null``, ``""`` and ``[]`` become ``{}``.
- ``Mapping[str, X]`` (dicts keyed by id): an object becomes a ``dict`` with every
  value structured as ``X``; ``[]`` (PHP's empty array) and ``null`` become ``{}``.
  Results keyed by agent ID (``X`` is ``AgentState``, ``User`` or ``RTStatsSession``)
  become the read-only ``AgentStates``, ``Users`` or ``RTStatsSessions`` instead,
  which add a view by login (``_keyed``); so do those classes as targets.
- ``tuple[X, ...]``: a list becomes a tuple; an object (PHP's array with holes, or
  ``{}`` when empty) becomes the tuple of its values in order; ``null`` becomes ``()``.
- ``Any``: kept exactly as decoded.
- Models (the frozen attrs classes of :mod:`daktela_async._models`): every key that
  names a field is structured into it (a field may name its key in
  ``metadata={"key": ...}`` when the key is not a usable identifier); keys the
  server omits take the field's default; every other key is kept, unconverted, in
  the model's ``extra`` mapping. Unknown keys are never an error.
- Unions of shapes (``Queue | Mapping[str, Queue]`` for ``GetQueues`` with or
  without an id; ``Pause | LegacyPause``; a mapping or a list of statuses): the
  member is chosen by the JSON shape. For an object: a ``Mapping`` of models when
  every value is an object, else the model; between two models, the one whose
  fields match the most keys. For a list: the ``tuple`` member. For a scalar: the
  first member, in declared order, that accepts it.

Unstructuring (models to plain JSON-ready values, in the server's shape): fields
become keys under their server names, followed by every ``extra`` key; datetimes
become ``"YYYY-MM-DD HH:MM:SS"``; enum members become their value; tuples become
lists; ``int``, ``float``, ``bool`` and ``None`` stay typed.

Any failure while structuring becomes :class:`~daktela_async._errors.DaktelaDecodeError`
whose message names the first five failing paths (``$.calls[0].id_queue``) and what was
found there, rendered with :func:`cattrs.transform_error`, then how many more failed;
the access token is blanked out of it.

:func:`structure` hands ``AgentStates`` and ``Mapping[str, AgentState]`` (``RTUsersState``)
to :mod:`._agent_states`, registered with :func:`register_entry_point`: the same models,
but each operator's ``calls`` and ``login_oqueues`` are structured at their first read,
and a failure inside them is raised there (the same error, path and redaction).
``converter.structure`` itself stays eager.
"""

from __future__ import annotations

import datetime as dt
import enum
import types
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, Union, get_args, get_origin, overload

import attrs
import cattrs
from cattrs.cols import mapping_structure_factory
from cattrs.errors import BaseValidationError, IterableValidationError, IterableValidationNote
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from cattrs.preconf.orjson import make_converter
from cattrs.v import format_exception

from .._envelope import SecretLike, scrub
from .._errors import DaktelaDecodeError
from ._scalars import (
    DATETIME_FORMAT,
    NONE_TYPE,
    ConversionError,
    QueueOptions,
    fail,
    to_bool,
    to_datetime,
    to_enum_or_str,
    to_float,
    to_int,
    to_opt_bool,
    to_opt_datetime,
    to_options,
    to_str,
)

__all__ = [
    "converter",
    "decode_error",
    "describe_error",
    "make_model_structure_hook",
    "model_keys",
    "register_entry_point",
    "structure",
    "structure_by_converter",
    "type_name",
    "unstructure",
]

T = TypeVar("T")

_MODELS_PACKAGE = "daktela_async._models"
#: A decode error names this many failing paths, then counts the rest.
_MAX_PATHS = 5
#: Each failing path's line is cut to this many characters.
_LINE_CHARS = 200


# --- the converter -----------------------------------------------------------------

#: The converter. Built on cattrs' orjson preset; detailed validation is on so that
#: errors carry their paths (it costs nothing until something fails: measured within
#: noise of the plain mode on these models). The realtime hot path (``AgentState``)
#: has a hand-written hook registered by :mod:`daktela_async._models._agent_states`.
converter: cattrs.Converter = make_converter(detailed_validation=True)


def _is_model(tp: Any) -> bool:
    origin = get_origin(tp) or tp
    return (
        isinstance(origin, type)
        and attrs.has(origin)
        and origin.__module__.startswith(_MODELS_PACKAGE)
    )


def _model_class(tp: Any) -> type:
    origin = get_origin(tp) or tp
    if not isinstance(origin, type):
        raise TypeError(f"{tp!r} is not a model")
    return origin


def model_keys(tp: Any) -> dict[str, str]:
    """Map each field of the model *tp* (but ``extra``) to the server's key for it."""
    return {
        f.name: f.metadata.get("key", f.name)
        for f in attrs.fields(_model_class(tp))
        if f.name != "extra"
    }


def _overrides(tp: Any) -> dict[str, Any]:
    result: dict[str, Any] = {"extra": override(omit=True)}
    for name, key in model_keys(tp).items():
        if key != name:
            result[name] = override(rename=key)
    return result


def make_model_structure_hook(tp: Any) -> Callable[[Any, Any], Any]:
    """Build the generic structure hook of the model *tp*: fields, defaults, ``extra``.

    The converter uses it for every model; the fast ``AgentState`` path is checked
    against it.
    """
    base = make_dict_structure_fn(tp, converter, **_overrides(tp))
    known = frozenset(model_keys(tp).values())

    def structure_model(value: Any, _: Any = None) -> Any:
        if type(value) is not dict:
            raise fail("an object", value)
        obj = base(value, tp)
        if value.keys() <= known:
            return obj
        extra = {k: v for k, v in value.items() if k not in known}
        # The instance is new and not shared yet: setting the field here is the cheap
        # way to fill it (attrs.evolve would run __init__ again).
        object.__setattr__(obj, "extra", extra)
        return obj

    return structure_model


def _make_model_unstructure_hook(tp: Any) -> Callable[[Any], dict[str, Any]]:
    base = make_dict_unstructure_fn(tp, converter, **_overrides(tp))

    def unstructure_model(obj: Any) -> dict[str, Any]:
        result = base(obj)
        if obj.extra:
            for key, value in obj.extra.items():
                result.setdefault(key, converter.unstructure(value))
        return result

    return unstructure_model


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType)


def _is_mapping(tp: Any) -> bool:
    # Also a mapping class such as ``Users`` (results keyed by ID), in unions of shapes.
    return get_origin(tp) in (Mapping, dict) or (isinstance(tp, type) and issubclass(tp, Mapping))


def _is_tuple(tp: Any) -> bool:
    return get_origin(tp) is tuple


def _is_str_enum(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, enum.Enum) and issubclass(tp, str)


def _accepts_object(tp: Any) -> bool:
    return _is_model(tp) or _is_mapping(tp) or tp is QueueOptions or tp is Any


def _values_are_objects(value: dict[Any, Any]) -> bool:
    return all(type(v) is dict for v in value.values())


def _pick_for_object(members: list[Any], value: dict[str, Any]) -> Any:
    candidates = [m for m in members if _accepts_object(m)]
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    mappings = [m for m in candidates if _is_mapping(m)]
    models = [m for m in candidates if _is_model(m)]
    if mappings and models:
        return mappings[0] if _values_are_objects(value) else _best_model(models, value)
    if models:
        return _best_model(models, value)
    return candidates[0]


def _best_model(models: list[Any], value: dict[str, Any]) -> Any:
    keys = value.keys()
    return max(models, key=lambda m: len(keys & set(model_keys(m).values())))


def _make_union_hook(tp: Any) -> Callable[[Any, Any], Any]:
    members = list(get_args(tp))
    nullable = NONE_TYPE in members
    rest = [m for m in members if m is not NONE_TYPE]
    if len(rest) == 1:
        return _make_optional_hook(rest[0])
    enum_members = [m for m in rest if _is_str_enum(m)]
    if enum_members and all(m is str or _is_str_enum(m) for m in rest):
        enum_cls = enum_members[0]

        def structure_enum_or_str(value: Any, _: Any) -> Any:
            if value is None and nullable:
                return None
            return to_enum_or_str(enum_cls, value)

        return structure_enum_or_str
    names = " or ".join(type_name(m) for m in members)

    def structure_union(value: Any, _: Any) -> Any:
        if value is None and nullable:
            return None
        if type(value) is dict:
            member = _pick_for_object(rest, value)
            if member is not None:
                return converter.structure(value, member)
        elif type(value) is list:
            for member in rest:
                if _is_tuple(member) or (value == [] and _is_mapping(member)):
                    return converter.structure(value, member)
        else:
            if value == "" and nullable:
                return None
            for member in rest:
                if _is_model(member) or _is_mapping(member) or _is_tuple(member):
                    continue
                try:
                    return converter.structure(value, member)
                except (ValueError, TypeError):
                    continue
        raise fail(names, value)

    return structure_union


def _structure_opt_int(value: Any, _: Any) -> int | None:
    # to_opt_int, inlined: the hook of every optional int of every model (nine in a
    # queue summary), where two calls fewer per field show in a small call's CPU.
    tp = type(value)
    if tp is int:
        return value  # type: ignore[no-any-return]
    if tp is str:
        if not value:
            return None
        try:
            return int(value)
        except ValueError:
            pass
    elif value is None:
        return None
    raise fail("an integer or a numeric string", value)


def _structure_opt_str(value: Any, _: Any) -> str | None:
    # to_opt_str, inlined (as _structure_opt_int).
    tp = type(value)
    if tp is str:
        return value  # type: ignore[no-any-return]
    if value is None:
        return None
    if tp is int or tp is float:
        return str(value)
    raise fail("a string", value)


def _make_optional_hook(inner: Any) -> Callable[[Any, Any], Any]:
    if inner is str:
        return _structure_opt_str
    if inner is int:
        return _structure_opt_int
    if inner is bool:
        return lambda value, _: to_opt_bool(value)
    if inner is dt.datetime:
        return lambda value, _: to_opt_datetime(value)
    if _is_str_enum(inner):
        return lambda value, _: None if value is None else to_enum_or_str(inner, value)
    inner_hook = converter.get_structure_hook(inner)
    is_model = _is_model(inner)

    def structure_optional(value: Any, _: Any) -> Any:
        if value is None or value == "" or (is_model and value == []):
            return None
        return inner_hook(value, inner)

    return structure_optional


def _make_mapping_hook(tp: Any) -> Callable[[Any, Any], Any]:
    # Not `converter.gen_structure_mapping`: it registers its hook for *tp* directly, which
    # would replace this wrapper (and its `[]`-as-empty rule) at the next cache reset.
    base = mapping_structure_factory(
        tp, converter, dict, detailed_validation=converter.detailed_validation
    )

    def structure_mapping(value: Any, _: Any) -> Any:
        if type(value) is dict:
            return base(value, tp)
        if value is None or value == []:
            return {}
        raise fail("an object", value)

    return structure_mapping


def _make_tuple_hook(tp: Any) -> Callable[[Any, Any], Any]:
    args = get_args(tp)
    if len(args) == 2 and args[1] is Ellipsis:
        item_type = args[0]
        item_hook = converter.get_structure_hook(item_type)
    else:
        base = converter.gen_structure_hetero_tuple(tp)
        return lambda value, _: base(value, tp)

    def structure_tuple(value: Any, _: Any) -> Any:
        if type(value) is dict:
            value = list(value.values())
        elif value is None:
            return ()
        elif type(value) is not list:
            raise fail("an array", value)
        errors: list[Exception] = []
        result = []
        for index, item in enumerate(value):
            try:
                result.append(item_hook(item, item_type))
            except Exception as exc:
                exc.__notes__ = [
                    *getattr(exc, "__notes__", []),
                    IterableValidationNote(f"Structuring {tp} @ index {index}", index, item_type),
                ]
                errors.append(exc)
        if errors:
            raise IterableValidationError(f"While structuring {tp!r}", errors, tp)
        return tuple(result)

    return structure_tuple


def _structure_any(value: Any, _: Any) -> Any:
    return value


def _unstructure_datetime(value: dt.datetime) -> str:
    return value.strftime(DATETIME_FORMAT)


def _unstructure_enum(value: enum.Enum) -> Any:
    return value.value


def _configure(conv: cattrs.Converter) -> None:
    conv.register_structure_hook(int, lambda value, _: to_int(value))
    conv.register_structure_hook(float, lambda value, _: to_float(value))
    conv.register_structure_hook(bool, lambda value, _: to_bool(value))
    conv.register_structure_hook(str, lambda value, _: to_str(value))
    conv.register_structure_hook(dt.datetime, lambda value, _: to_datetime(value))
    conv.register_structure_hook(QueueOptions, lambda value, _: to_options(value))
    conv.register_structure_hook_func(lambda tp: tp is Any, _structure_any)
    conv.register_structure_hook_factory(_is_mapping, _make_mapping_hook)
    conv.register_structure_hook_factory(_is_tuple, _make_tuple_hook)
    conv.register_structure_hook_factory(_is_union, _make_union_hook)
    conv.register_structure_hook_factory(_is_model, make_model_structure_hook)

    conv.register_unstructure_hook(dt.datetime, _unstructure_datetime)
    conv.register_unstructure_hook(QueueOptions, lambda value: dict(value))
    # StrEnum first: its members are also ``str``, which cattrs passes through as is.
    conv.register_unstructure_hook(enum.StrEnum, _unstructure_enum)
    conv.register_unstructure_hook(enum.Enum, _unstructure_enum)
    conv.register_unstructure_hook_factory(_is_model, _make_model_unstructure_hook)


_configure(converter)


# --- errors and the public entry points ---------------------------------------------


def _format_exception(exc: BaseException, tp: type | None) -> str:
    if isinstance(exc, ConversionError):
        return str(exc)
    if isinstance(exc, KeyError):
        return "required field missing"
    return format_exception(exc, tp)


def _clip(line: str) -> str:
    # A path may hold a key of any length from the body (``$['...']``).
    return line if len(line) <= _LINE_CHARS else line[: _LINE_CHARS - 3] + "..."


def describe_error(exc: BaseException, *, limit: int | None = None, path: str = "$") -> str:
    """Render a structuring failure as ``"<what> @ <path>"`` lines joined by ``"; "``.

    Args:
        exc: The failure raised by the converter.
        limit: Show at most this many failing paths, each cut to 200 characters, then
            how many more failed; ``None`` shows every path in full.
        path: Where the structured value sits in the ``result`` (``$['17'].calls`` for a
            part structured on its own), the start of every path.
    """
    lines = cattrs.transform_error(exc, path=path, format_exception=_format_exception)
    if limit is None:
        return "; ".join(lines)
    shown = [_clip(line) for line in lines[:limit]]
    if len(lines) > limit:
        shown.append(f"and {len(lines) - limit} more")
    return "; ".join(shown)


def type_name(tp: Any) -> str:
    """Name a target type briefly: ``Mapping[str, AgentState]``, ``Queue | None``."""
    if tp is NONE_TYPE or tp is None:
        return "None"
    if tp is Ellipsis:
        return "..."
    if _is_union(tp):
        return " | ".join(type_name(arg) for arg in get_args(tp))
    origin = get_origin(tp)
    if origin is not None:
        args = ", ".join(type_name(arg) for arg in get_args(tp))
        return f"{getattr(origin, '__name__', repr(origin))}[{args}]"
    return str(getattr(tp, "__name__", repr(tp)))


def decode_error(
    exc: BaseException,
    cl: Any,
    action: str | None,
    *,
    secret: SecretLike = None,
    path: str = "$",
) -> DaktelaDecodeError:
    """Wrap a structuring failure of *cl* in a :class:`DaktelaDecodeError`.

    The message is bounded (the first five failing paths and how many more failed: a
    list of 100,000 bad rows does not make a megabyte message) and carries values from
    the body, so the token is blanked out of it (also a partial echo, see
    :func:`~daktela_async._envelope.scrub`).

    Args:
        exc: The failure raised by the converter.
        cl: The target type.
        action: The action, kept on the error.
        secret: The token to blank out of the message.
        path: Where the failing value sits in the ``result`` when it is a part of it
            (see :func:`describe_error`); *cl* still names the whole ``result``'s type.
    """
    target = type_name(cl)
    where = f"{action} result" if action else "result"
    detail = describe_error(exc, limit=_MAX_PATHS, path=path)
    return DaktelaDecodeError(
        scrub(f"cannot decode the {where} as {target}: {detail}", secret), action=action
    )


#: Target types that :func:`structure` hands to a function of their own (with the action
#: and secret, which the converter's hooks never see) instead of the converter.
_ENTRY_POINTS: dict[Any, Callable[[Any, Any, str | None, SecretLike], Any]] = {}


def register_entry_point(
    cl: Any, function: Callable[[Any, Any, str | None, SecretLike], Any]
) -> None:
    """Make :func:`structure` call ``function(value, cl, action, secret)`` for *cl*.

    For results with a faster path than the converter's that needs the action and the
    secret (the lazy parts of ``RTUsersState``, :mod:`._agent_states`). The converter
    itself (``converter.structure``) keeps its own hook for *cl*.
    """
    _ENTRY_POINTS[cl] = function


@overload
def structure(
    value: Any, cl: None, *, action: str | None = None, secret: SecretLike = None
) -> None: ...
@overload
def structure(
    value: Any, cl: type[T], *, action: str | None = None, secret: SecretLike = None
) -> T: ...
def structure(
    value: Any, cl: type[T] | None, *, action: str | None = None, secret: SecretLike = None
) -> T | None:
    """Structure the decoded ``result`` *value* of an answer into *cl*.

    Args:
        value: The decoded JSON (``orjson.loads(body)["result"]``).
        cl: The target type, as given by ``RESULT_MODELS`` (a model, ``Page[Attempt]``,
            ``Mapping[str, AgentState]``, a union...). ``None`` means the action's
            result carries nothing: *value* is ignored and ``None`` returned.
        action: The action the answer belongs to, kept on the error.
        secret: The access token (the client's redacting holder, or a string), blanked
            out of the error message: the message quotes values from the answer.

    Returns:
        The structured value.

    Raises:
        DaktelaDecodeError: *value* does not have the shape of *cl*; the message
            names the first failing paths, what was found there, and how many more.
    """
    if cl is None:
        return None
    try:
        entry_point = _ENTRY_POINTS.get(cl)
    except TypeError:  # an unhashable target type
        entry_point = None
    if entry_point is not None:
        return entry_point(value, cl, action, secret)  # type: ignore[no-any-return]
    return structure_by_converter(value, cl, action=action, secret=secret)


def structure_by_converter(
    value: Any, cl: type[T], *, action: str | None = None, secret: SecretLike = None
) -> T:
    """Like :func:`structure`, but always through the converter's hooks (never an entry point).

    The entry points fall back to it; so does anything that needs the eager result.
    """
    try:
        return converter.structure(value, cl)
    except DaktelaDecodeError:
        raise
    except (BaseValidationError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise decode_error(exc, cl, action, secret=secret) from exc
    except RecursionError as exc:
        raise DaktelaDecodeError(
            "cannot decode the result: nested too deeply", action=action
        ) from exc


def unstructure(obj: Any) -> Any:
    """Turn a model (or a mapping, tuple or union of them) into JSON-ready values.

    The result has the server's shape: fields under their server keys followed by
    every ``extra`` key; datetimes as ``"YYYY-MM-DD HH:MM:SS"``.
    """
    return converter.unstructure(obj)
