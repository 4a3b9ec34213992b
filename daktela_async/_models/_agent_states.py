"""The realtime hot path: hand-written structuring of ``AgentState`` and its parts.

A realtime poller decodes ``RTUsersState`` every second: 1000 operators make about
3.5 MB of JSON, most of it unchanged from the previous answer. The generic cattrs
hooks are correct but spend their time in generic dispatch, so ``AgentState``,
``AgentCall``, ``Queue`` and ``LoginQueueState`` are structured here by plain code
that calls the same scalar conversions as the converter (``to_int``...), so both
paths agree by construction (and a property test checks that they do).

Anything unusual (a failure, a wrong shape) falls back to the generic hook, which
either produces the same model or raises the detailed, path-naming error.

:func:`structure_agent_states` adds reuse: it keeps each operator's decoded dict next
to its model, and when the next answer carries an equal dict, it returns the previous
model object itself (comparing two decoded dicts is several times cheaper than
structuring one).

The bulk paths (:func:`structure_agent_states`, and ``structure(result, AgentStates)``
or ``Mapping[str, AgentState]``, which ``rt_users_state()`` takes) leave each operator's
``calls`` and ``login_oqueues`` to be structured at their first read (see "lazy parts"
below); one operator's state (``structure(value, AgentState)``, the long poll) and
``structure_agent_states(..., lazy=False)`` (the realtime watcher) are eager.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

import attrs
from cattrs.errors import BaseValidationError

from .._envelope import SecretLike
from .._errors import DaktelaDecodeError
from ._converter import (
    converter,
    decode_error,
    make_model_structure_hook,
    model_keys,
    register_entry_point,
    structure_by_converter,
)
from ._keyed import ByAgentID, register_keyed
from ._queues import LoginQueueState, Queue
from ._realtime import (
    AgentCall,
    AgentState,
    AgentStateName,
    CallStateName,
)
from ._scalars import (
    EMPTY,
    ZERO_DATETIME,
    json_type,
    to_int,
    to_opt_bool,
    to_opt_datetime,
    to_opt_int,
    to_opt_str,
    to_options,
    to_str,
)

__all__ = [
    "AgentStates",
    "structure_agent_state_fast",
    "structure_agent_state_generic",
    "structure_agent_states",
]

_AGENT_KEYS = frozenset(model_keys(AgentState).values())
_CALL_KEYS = frozenset(model_keys(AgentCall).values())
_QUEUE_KEYS = frozenset(model_keys(Queue).values())
_LOGIN_QUEUE_KEYS = frozenset(model_keys(LoginQueueState).values())

_AGENT_MAP: Any = Mapping[str, AgentState]
_QUEUE_FIELDS = (
    "queue",
    "name",
    "title",
    "description",
    "type",
    "direction",
    "outboundcid",
    "wrapuptime",
    "outbounder",
    "form",
    "missed",
    "options",
    "deleted",
    "user",
    "penalty",
    "login",
    "extra",
)

# Enum lookups by value, built once: a dict lookup is cheaper than Enum.__call__.
_AGENT_STATES: dict[str, AgentStateName] = {m.value: m for m in AgentStateName}
_CALL_STATES: dict[str, CallStateName] = {m.value: m for m in CallStateName}


class _Fallback(Exception):
    """The fast path met something it does not handle; use the generic hook."""


def _unknown(value: dict[str, Any], known: frozenset[str]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if k not in known}


def _agent_state_name(value: Any) -> AgentStateName | str:
    if type(value) is not str:
        raise _Fallback
    return _AGENT_STATES.get(value, value)


def _call_state_name(value: Any) -> CallStateName | str | None:
    if value is None:
        return None
    if type(value) is not str:
        raise _Fallback
    return _CALL_STATES.get(value, value)


def _items(value: Any) -> list[Any]:
    """Return the items of a JSON list (also ``{}``/objects, which PHP sends)."""
    if type(value) is list:
        return value
    if type(value) is dict:
        return list(value.values())
    raise _Fallback


def _setters(cls: type, *names: str) -> tuple[Callable[[Any, Any], None], ...]:
    """Return the slot setters of *names*, which must be every field of *cls*, in order.

    Filling the slots of a fresh instance directly costs half of what the frozen attrs
    ``__init__`` costs (it goes through ``object.__setattr__`` once per field), and
    these classes have no validators or converters to skip. The check keeps the fast
    path from silently missing a field added later.
    """
    fields = tuple(f.name for f in attrs.fields(cls))
    if names != fields:
        raise TypeError(f"fast path of {cls.__name__} sets {names}, fields are {fields}")
    return tuple(getattr(cls, name).__set__ for name in names)


_new = object.__new__
(
    _q_queue,
    _q_name,
    _q_title,
    _q_description,
    _q_type,
    _q_direction,
    _q_outboundcid,
    _q_wrapuptime,
    _q_outbounder,
    _q_form,
    _q_missed,
    _q_options,
    _q_deleted,
    _q_user,
    _q_penalty,
    _q_login,
    _q_extra,
) = _setters(Queue, *_QUEUE_FIELDS)
_q_rt_logged = _setters(LoginQueueState, *_QUEUE_FIELDS, "rt_logged")[-1]


def _fill_queue(obj: Queue, value: dict[str, Any], known: frozenset[str]) -> None:
    get = value.get
    _q_queue(obj, to_int(value["queue"]))
    _q_name(obj, to_opt_str(get("name")))
    _q_title(obj, to_opt_str(get("title")))
    _q_description(obj, to_opt_str(get("description")))
    _q_type(obj, to_opt_str(get("type")))
    _q_direction(obj, to_opt_str(get("direction")))
    _q_outboundcid(obj, to_opt_str(get("outboundcid")))
    _q_wrapuptime(obj, to_opt_int(get("wrapuptime")))
    _q_outbounder(obj, to_opt_bool(get("outbounder")))
    _q_form(obj, to_opt_bool(get("form")))
    _q_missed(obj, to_opt_int(get("missed")))
    _q_options(obj, to_options(get("options")))
    _q_deleted(obj, to_opt_bool(get("deleted")))
    _q_user(obj, to_opt_int(get("user")))
    _q_penalty(obj, to_opt_int(get("penalty")))
    _q_login(obj, to_opt_str(get("login")))
    _q_extra(obj, EMPTY if value.keys() <= known else _unknown(value, known))


def _queue(value: Any) -> Queue:
    if type(value) is not dict:
        raise _Fallback
    obj: Queue = _new(Queue)
    _fill_queue(obj, value, _QUEUE_KEYS)
    return obj


def _login_queue(value: Any) -> LoginQueueState:
    if type(value) is not dict:
        raise _Fallback
    obj: LoginQueueState = _new(LoginQueueState)
    _fill_queue(obj, value, _LOGIN_QUEUE_KEYS)
    _q_rt_logged(obj, to_opt_bool(value.get("rt_logged")))
    return obj


def _call(value: Any) -> AgentCall:
    if type(value) is not dict:
        raise _Fallback
    get = value.get
    oqueue = get("oqueue")
    obj = AgentCall(
        id_call=to_str(value["id_call"]),
        direction=to_opt_str(get("direction")),
        clid=to_opt_str(get("clid")),
        clid_name=to_opt_str(get("clid_name")),
        id_queue=to_opt_int(get("id_queue")),
        oqueue=None if oqueue is None or oqueue == "" or oqueue == [] else _queue(oqueue),
        entered=to_opt_datetime(get("entered")),
        ringed=to_opt_datetime(get("ringed")),
        answered=to_opt_datetime(get("answered")),
        call_state=_call_state_name(get("call_state")),
        onhold=to_opt_datetime(get("onhold")),
    )
    if not value.keys() <= _CALL_KEYS:
        object.__setattr__(obj, "extra", _unknown(value, _CALL_KEYS))
    return obj


(
    _a_agent_name,
    _a_id_agent,
    _a_agent_state,
    _a_agent_title,
    _a_exten,
    _a_logintime,
    _a_state_time,
    _a_id_pause,
    _a_onpause,
    _a_calls,
    _a_callscript_opened,
    _a_login_oqueues,
    _a_hash,
    _a_extra,
) = _setters(
    AgentState,
    "agent_name",
    "id_agent",
    "agent_state",
    "agent_title",
    "exten",
    "logintime",
    "state_time",
    "id_pause",
    "onpause",
    "calls",
    "callscript_opened",
    "login_oqueues",
    "hash",
    "extra",
)


_fromisoformat = dt.datetime.fromisoformat


def _datetime(value: Any) -> dt.datetime | None:
    """:func:`to_opt_datetime`, inlined for the usual ``"YYYY-MM-DD HH:MM:SS"``."""
    if type(value) is str and len(value) == 19 and value != ZERO_DATETIME:
        parsed = _fromisoformat(value)
        if parsed.tzinfo is not None:
            raise _Fallback
        return parsed
    return to_opt_datetime(value)


def _agent_state(value: Any, key: str = "", decode: _Decode | None = None) -> AgentState:
    """Structure one operator's state; with *decode*, leave its ``calls`` and queues pending.

    The common, already right types are kept without a call (``str`` for text, a
    digit string for an ``int``); anything else goes through the converter's scalar
    conversions, and anything they refuse makes the caller fall back to the generic
    hook, which then raises the detailed error.
    """
    if type(value) is not dict:
        raise _Fallback
    get = value.get
    obj: AgentState = _new(AgentState)
    v = value["agent_name"]
    _a_agent_name(obj, v if type(v) is str else to_str(v))
    v = value["id_agent"]
    _a_id_agent(obj, int(v) if type(v) is str else to_int(v))
    v = value["agent_state"]
    if type(v) is not str:
        raise _Fallback
    _a_agent_state(obj, _AGENT_STATES.get(v, v))
    v = get("agent_title")
    _a_agent_title(obj, v if v is None or type(v) is str else to_str(v))
    v = get("exten")
    _a_exten(obj, v if v is None or type(v) is str else to_str(v))
    _a_logintime(obj, _datetime(get("logintime")))
    _a_state_time(obj, _datetime(get("state_time")))
    v = get("id_pause")
    _a_id_pause(obj, None if v is None else to_opt_int(v))
    v = get("onpause")
    _a_onpause(obj, None if v is None else _datetime(v))
    v = get("callscript_opened")
    _a_callscript_opened(obj, None if v is None else to_opt_int(v))
    v = get("hash")
    _a_hash(obj, v if v is None or type(v) is str else to_str(v))
    _a_extra(obj, EMPTY if value.keys() <= _AGENT_KEYS else _unknown(value, _AGENT_KEYS))
    calls = get("calls")
    queues = get("login_oqueues")
    if decode is None:
        _a_calls(obj, () if calls is None else tuple([_call(c) for c in _items(calls)]))
        _a_login_oqueues(
            obj, () if queues is None else tuple([_login_queue(q) for q in _items(queues)])
        )
    else:
        _a_calls(obj, () if calls is None else _pending(calls, key, decode))
        _a_login_oqueues(obj, () if queues is None else _pending(queues, key, decode))
    return obj


# --- lazy parts ----------------------------------------------------------------------
#
# In the bulk paths (``structure_agent_states``, ``structure(result, AgentStates)``), an
# operator's ``calls`` and ``login_oqueues`` (three quarters of the structuring work, and
# rarely all read) are only checked for their shape: the slot keeps the decoded list in
# a ``_Pending`` until the attribute is first read. ``_LazyPart`` replaces the slot's
# descriptor on ``AgentState``: it structures a pending list on first read (by the same
# code as the eager path), stores the tuple in the slot and returns it; so every reader
# (attrs' ``__eq__``, ``__hash__``, ``__repr__``, ``__getstate__``, ``evolve``; cattrs'
# unstructure) sees the tuple. A list that does not fit raises the eager path's
# ``DaktelaDecodeError`` at that read, each time it is read. Two threads reading a
# pending part at once may both structure it: they store equal tuples.


class _Decode:
    """What the lazy parts of one answer need to raise the error the eager path would."""

    __slots__ = ("action", "secret", "target")

    def __init__(self, action: str | None, secret: SecretLike, target: Any) -> None:
        self.action = action
        self.secret = secret
        self.target = target

    def __repr__(self) -> str:  # never the secret
        return f"_Decode(action={self.action!r})"


class _Pending:
    """A decoded ``calls`` or ``login_oqueues`` list not structured yet (slots only)."""

    __slots__ = ("decode", "items", "key")

    def __init__(self, items: list[Any], key: str, decode: _Decode) -> None:
        self.items = items
        self.key = key
        self.decode = decode

    def __repr__(self) -> str:
        return f"<pending {len(self.items)} items of {self.key!r}>"


def _pending(value: Any, key: str, decode: _Decode) -> tuple[()] | _Pending:
    """Check the shape of a ``calls``/``login_oqueues`` value; keep it to structure later.

    Raises:
        _Fallback: *value* is neither a list nor an object of objects.
    """
    items = _items(value)
    if not items:
        return ()
    for item in items:
        if type(item) is not dict:
            raise _Fallback
    return _Pending(items, key, decode)


class _LazyPart:
    """The data descriptor of a lazy ``AgentState`` field, wrapping the slot's own."""

    __slots__ = ("_get", "_name", "_set", "_slot", "_structure", "_type")

    def __init__(self, slot: Any, name: str, item: Callable[[Any], Any], item_type: type) -> None:
        self._slot = slot
        self._get = slot.__get__
        self._set = slot.__set__
        self._name = name
        self._structure = item
        self._type: Any = tuple[item_type, ...]  # type: ignore[valid-type]

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self
        value = self._get(obj, owner)
        if type(value) is _Pending:
            value = self._materialize(value)
            self._set(obj, value)
        return value

    def __set__(self, obj: Any, value: Any) -> None:
        self._set(obj, value)

    def __delete__(self, obj: Any) -> None:
        self._slot.__delete__(obj)

    def _materialize(self, pending: _Pending) -> tuple[Any, ...]:
        item = self._structure
        try:
            return tuple([item(value) for value in pending.items])
        except Exception:
            return self._generic(pending)

    def _generic(self, pending: _Pending) -> tuple[Any, ...]:
        """Structure *pending* by the generic hook: its result, or the detailed error."""
        decode = pending.decode
        path = f"$[{pending.key!r}].{self._name}"
        try:
            result: tuple[Any, ...] = converter.structure(pending.items, self._type)
        except (BaseValidationError, ValueError, TypeError, KeyError, AttributeError) as exc:
            raise decode_error(
                exc, decode.target, decode.action, secret=decode.secret, path=path
            ) from exc
        except RecursionError as exc:
            raise DaktelaDecodeError(
                "cannot decode the result: nested too deeply", action=decode.action
            ) from exc
        # The generic hook accepted what the fast one did not: trust it.
        return result


for _name, _item, _item_type in (
    ("calls", _call, AgentCall),
    ("login_oqueues", _login_queue, LoginQueueState),
):
    setattr(AgentState, _name, _LazyPart(AgentState.__dict__[_name], _name, _item, _item_type))
del _name, _item, _item_type


#: The generic (cattrs-generated) hook for ``AgentState``: the reference the fast path
#: is tested against, and the fallback that produces detailed errors.
structure_agent_state_generic = make_model_structure_hook(AgentState)


def structure_agent_state_fast(value: Any, _: Any = None) -> AgentState:
    """Structure one operator's decoded state; the converter's hook for ``AgentState``.

    Raises:
        cattrs.errors.ClassValidationError: From the generic hook, when *value* does
            not fit (the converter's callers turn it into ``DaktelaDecodeError``).
    """
    try:
        return _agent_state(value)
    except Exception:
        result: AgentState = structure_agent_state_generic(value, AgentState)
        return result


converter.register_structure_hook(AgentState, structure_agent_state_fast)


class AgentStates(ByAgentID[AgentState]):
    """The operators of one ``RTUsersState`` answer, keyed by agent ID (read-only).

    The keys are agent (user) IDs as text (``"17"``, the ``id_agent`` of each state),
    not logins: ``states["hajek"]`` is a ``KeyError``. :meth:`by_login` gives the same
    states keyed by login (``agent_name``), the key every other action and
    ``client.watch(users=...)`` take.

    Made by :func:`structure_agent_states` (and by the converter for
    ``rt_users_state()``); it also remembers each operator's decoded dict, so that the
    next call can reuse unchanged models.
    """

    __slots__ = ("_raw",)

    def __init__(self, models: dict[str, AgentState], raw: dict[str, Any]) -> None:
        super().__init__(models)
        self._raw = raw

    @classmethod
    def _decoded(cls, models: Mapping[str, AgentState], raw: Any) -> AgentStates:
        return cls(dict(models), raw if type(raw) is dict else {})

    def by_login(self) -> dict[str, AgentState]:
        """The same states keyed by login (``agent_name``), in the server's order."""
        return {state.agent_name: state for state in self._models.values()}

    def logins(self) -> dict[str, str]:
        """Login (``agent_name``) by agent ID, for :meth:`RTStatsSessions.by_login`."""
        return {key: state.agent_name for key, state in self._models.items()}


register_keyed(AgentStates, AgentState)


def structure_agent_states(
    result: Mapping[str, Any],
    previous: Mapping[str, AgentState] | None = None,
    *,
    action: str | None = "RTUsersState",
    secret: SecretLike = None,
    lazy: bool = True,
) -> AgentStates:
    """Structure an ``RTUsersState`` result, reusing unchanged models from *previous*.

    By default each operator's ``calls`` and ``login_oqueues`` (most of the work, and
    often never read) are structured when first read, not here: their shape is
    checked now (``null``, a list, or an object, of objects), and what is inside them
    is converted at the first read of the attribute, which then holds a plain tuple
    (reads, ``==``, ``hash``, ``repr``, pickling, :func:`attrs.evolve` and
    ``unstructure`` all see the same models as with ``lazy=False``). A value in them
    that does not convert (``"queue": "abc"``) raises the :class:`DaktelaDecodeError`
    the eager path would, at that read, and again at every read. The models keep
    referring to the lists in *result* until then: do not change *result*.

    Args:
        result: The decoded ``result``: operator ID to state dict (``[]`` when no one
            is logged in, as PHP writes an empty array).
        previous: The mapping this function returned for the previous answer. An
            operator whose decoded dict equals the one behind the previous model gets
            that same model object back (``new[k] is previous[k]``). Any other mapping
            also works, but then each operator is structured and only compared.
        action: The action name kept on errors.
        secret: The access token (the client's holder), blanked out of error messages.
        lazy: ``False`` structures every ``calls`` and ``login_oqueues`` here, so that
            any decode error is raised here (for a caller that reads them all).

    Returns:
        The operators keyed by agent ID (not login; see :meth:`AgentStates.by_login`),
        in the server's order.

    Raises:
        DaktelaDecodeError: *result* is not an object of operator states; the
            message names the failing path (``$['17'].id_agent``). With *lazy*, a bad
            value inside ``calls`` or ``login_oqueues`` is raised at the first read of
            that attribute instead (``$['17'].login_oqueues[0].queue``).
    """
    return _structure_states(result, previous, action, secret, _AGENT_MAP, lazy=lazy)


def _structure_states(
    result: Mapping[str, Any],
    previous: Mapping[str, AgentState] | None,
    action: str | None,
    secret: SecretLike,
    target: Any,
    *,
    lazy: bool,
) -> AgentStates:
    decoded: Any = result
    if type(decoded) is not dict:
        if decoded == [] or decoded is None:
            decoded = {}
        elif isinstance(decoded, Mapping):
            decoded = dict(decoded)
        else:
            raise DaktelaDecodeError(
                f"cannot decode the {action} result: expected an object, got {json_type(decoded)}",
                action=action,
            )
    decode = _Decode(action, secret, target) if lazy else None
    prev_models: Mapping[str, AgentState] = previous if previous is not None else {}
    prev_raw: dict[str, Any] | None = previous._raw if isinstance(previous, AgentStates) else None
    models: dict[str, AgentState] = {}
    raws: dict[str, Any] = {}
    try:
        for key, raw in decoded.items():
            if prev_raw is not None:
                old_raw = prev_raw.get(key)
                if old_raw is not None and old_raw == raw:
                    models[key] = prev_models[key]
                    raws[key] = old_raw
                    continue
            model = _agent_state(raw, key, decode)
            if prev_raw is None and previous is not None:
                old = prev_models.get(key)
                if old is not None and old == model:
                    model = old
            models[key] = model
            raws[key] = raw
    except Exception:
        generic: Mapping[str, AgentState] = structure_by_converter(
            decoded, target, action=action, secret=secret
        )
        # The generic path accepted what the fast path did not: trust it.
        return AgentStates(dict(generic), dict(decoded))
    return AgentStates(models, raws)


def _structure_result(value: Any, cl: Any, action: str | None, secret: SecretLike) -> Any:
    """``structure(result, AgentStates)`` (the client's ``rt_users_state()``): lazy parts."""
    if type(value) is not dict:
        # [], null, and wrong shapes: the converter's rules and errors.
        return structure_by_converter(value, cl, action=action, secret=secret)
    return _structure_states(value, None, action, secret, cl, lazy=True)


register_entry_point(AgentStates, _structure_result)
register_entry_point(_AGENT_MAP, _structure_result)
