"""Property tests: server-shaped agent states never break the decoder.

The strategies produce what the PHP server sends: numbers as strings or numbers,
flags as ``"0"``/``"1"``/booleans, datetimes in its format or empty, lists as ``[]``
or ``{}``, options as objects or JSON-encoded strings, unknown keys, and sometimes
plain garbage where a value should be.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from daktela_async._errors import DaktelaDecodeError
from daktela_async._models import (
    RESULT_MODELS,
    AgentState,
    AgentStates,
    structure,
    structure_agent_states,
    unstructure,
)
from daktela_async._models._agent_states import (
    _agent_state,
    _Decode,
    structure_agent_state_generic,
)
from daktela_async._models._converter import converter, structure_by_converter
from daktela_async._models._scalars import ConversionError, to_opt_int, to_opt_str

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

junk: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
numbers: st.SearchStrategy[Any] = st.one_of(
    st.integers(0, 10**9).map(str), st.integers(0, 10**9), st.just(""), st.none()
)
texts: st.SearchStrategy[Any] = st.one_of(st.text(max_size=20), st.none(), st.integers(0, 999))
flags: st.SearchStrategy[Any] = st.sampled_from(
    ["0", "1", 0, 1, True, False, "true", "false", None, ""]
)
datetimes: st.SearchStrategy[Any] = st.one_of(
    st.datetimes(dt.datetime(1990, 1, 1), dt.datetime(2090, 1, 1)).map(
        lambda d: d.strftime("%Y-%m-%d %H:%M:%S")
    ),
    st.sampled_from(["0000-00-00 00:00:00", "", None]),
)
states: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from(["Idle", "Paused", "Speaking", "Ringing", "On Hold", "Logged"]),
    st.text(max_size=10),
)


def _maybe(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly valid values; one time in 40, anything at all."""
    return st.integers(0, 39).flatmap(lambda i: junk if i == 0 else valid)


options: st.SearchStrategy[Any] = st.dictionaries(
    st.sampled_from(["ringtime", "music", "wrapuptime", "record"]), st.text(max_size=5)
).flatmap(lambda d: st.sampled_from([d, json.dumps(d), [], "", None]))

queues: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
    {"queue": _maybe(st.integers(1, 99).map(str))},
    optional={
        "name": _maybe(texts),
        "title": _maybe(texts),
        "description": _maybe(texts),
        "type": _maybe(st.sampled_from(["in", "out", "ctc", "dialer"])),
        "direction": _maybe(st.sampled_from(["in", "out"])),
        "outboundcid": _maybe(texts),
        "wrapuptime": _maybe(numbers),
        "outbounder": _maybe(flags),
        "form": _maybe(flags),
        "missed": _maybe(numbers),
        "options": _maybe(options),
        "deleted": _maybe(flags),
        "penalty": _maybe(numbers),
        "login": _maybe(texts),
        "rt_logged": _maybe(flags),
        "unknown_q": junk,
    },
)
calls: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
    {"id_call": _maybe(texts.filter(lambda t: t is not None))},
    optional={
        "direction": _maybe(texts),
        "clid": _maybe(texts),
        "clid_name": _maybe(texts),
        "id_queue": _maybe(numbers),
        "oqueue": _maybe(st.one_of(queues, st.none(), st.just([]))),
        "entered": _maybe(datetimes),
        "ringed": _maybe(datetimes),
        "answered": _maybe(datetimes),
        "call_state": _maybe(st.one_of(st.sampled_from(["Ringing", "On Hold"]), texts)),
        "onhold": _maybe(datetimes),
        "unknown_c": junk,
    },
)


def _php_list(items: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A list, or the object PHP writes for it (``{}`` when empty), or null."""
    return st.one_of(
        st.lists(items, max_size=3),
        st.lists(items, max_size=3).map(lambda xs: {str(i): x for i, x in enumerate(xs)}),
        st.none(),
    )


agent_states: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
    {
        "agent_name": _maybe(st.text(max_size=10)),
        "id_agent": _maybe(st.integers(1, 10**6).map(str)),
        "agent_state": _maybe(states),
    },
    optional={
        "agent_title": _maybe(texts),
        "exten": _maybe(texts),
        "logintime": _maybe(datetimes),
        "state_time": _maybe(datetimes),
        "id_pause": _maybe(numbers),
        "onpause": _maybe(datetimes),
        "calls": _maybe(_php_list(calls)),
        "callscript_opened": _maybe(numbers),
        "login_oqueues": _maybe(_php_list(queues)),
        "hash": _maybe(texts),
        "unknown_a": junk,
    },
)


@SETTINGS
@given(agent_states)
def test_structuring_raises_only_decode_errors(raw: dict[str, Any]) -> None:
    error: DaktelaDecodeError | None = None
    try:
        state = structure(raw, AgentState, action="RTUserState")
    except DaktelaDecodeError as exc:
        error = exc
    if error is None:
        assert type(state) is AgentState
    else:
        assert " @ $" in str(error)
        assert error.action == "RTUserState"


@SETTINGS
@given(agent_states)
def test_fast_path_agrees_with_the_generic_cattrs_path(raw: dict[str, Any]) -> None:
    try:
        generic = structure_agent_state_generic(raw, AgentState)
    except Exception:  # the generic path rejects it: so must the fast one
        generic = None
    try:
        fast = _agent_state(raw)
    except Exception:
        fast = None
    if generic is None:
        assert fast is None, "the fast path accepts what the generic path rejects"
    else:
        assert fast is not None, "the fast path rejects what the generic path accepts"
        assert fast == generic
        assert unstructure(fast) == unstructure(generic)
    try:  # the bulk paths' lazy parts: converted when read
        lazy = _agent_state(raw, "7", _Decode("RTUsersState", None, AgentStates))
        _ = lazy.calls, lazy.login_oqueues
    except Exception:  # the fast path's own failures, or the parts' DaktelaDecodeError
        lazy = None
    if generic is None:
        assert lazy is None, "the lazy parts accept what the generic path rejects"
    else:
        assert lazy == generic


def _read_parts(states: Mapping[str, AgentState]) -> None:
    """Read every lazy part (raises the decode error a pending part holds)."""
    for state in states.values():
        _ = state.calls, state.login_oqueues


@SETTINGS
@given(st.dictionaries(st.integers(1, 50).map(str), agent_states, max_size=4))
def test_the_bulk_paths_agree_with_the_mapping_hook(result: dict[str, Any]) -> None:
    """Lazy or eager, ``structure_agent_states`` and ``structure`` give what the eager
    converter gives, once the lazy parts are read, or fail where it fails."""
    target: Any = Mapping[str, AgentState]
    try:
        expected = structure_by_converter(result, target)
    except DaktelaDecodeError:
        expected = None
    bulk: list[Callable[[], Mapping[str, AgentState]]] = [
        lambda: structure_agent_states(result),
        lambda: structure_agent_states(result, lazy=False),
        lambda: structure(result, target),
        lambda: structure(result, AgentStates),
    ]
    for decode in bulk:
        try:
            states = decode()
            _read_parts(states)
        except DaktelaDecodeError:
            assert expected is None, "a bulk path rejects what the converter accepts"
            continue
        assert expected is not None, "a bulk path accepts what the converter rejects"
        assert dict(states) == expected
        assert unstructure(states) == unstructure(expected)
        assert all(
            type(s.login_oqueues) is tuple and type(s.calls) is tuple for s in states.values()
        )
    try:
        eager = structure_agent_states(result, lazy=False)
    except DaktelaDecodeError:
        return
    again = structure_agent_states(json.loads(json.dumps(result)), eager)
    assert all(again[k] is eager[k] for k in eager)
    lazy = structure_agent_states(result)
    again = structure_agent_states(json.loads(json.dumps(result)), lazy)
    assert all(again[k] is lazy[k] for k in lazy)


@SETTINGS
@given(agent_states)
def test_unstructure_round_trips(raw: dict[str, Any]) -> None:
    try:
        state = structure(raw, AgentState)
    except DaktelaDecodeError:
        return
    assert structure(json.loads(json.dumps(unstructure(state))), AgentState) == state


json_values: st.SearchStrategy[Any] = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(10**12), 10**12),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=8),
        st.sampled_from(["1", "0", "2014-08-11 16:12:42", "0000-00-00 00:00:00", "{}", "[]"]),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(
            st.one_of(
                st.sampled_from(["id", "queue", "user", "data", "total", "record", "options"]),
                st.text(max_size=4),
            ),
            children,
            max_size=4,
        ),
    ),
    max_leaves=12,
)


@SETTINGS
@given(st.sampled_from(sorted(RESULT_MODELS)), json_values)
def test_any_json_for_any_action_raises_only_decode_errors(action: str, value: Any) -> None:
    target: Any = RESULT_MODELS[action]
    error: DaktelaDecodeError | None = None
    try:
        structure(value, target, action=action)
    except DaktelaDecodeError as exc:
        error = exc
    assert error is None or error.action == action


def _outcome(convert: Callable[[], Any]) -> tuple[str, Any]:
    try:
        value = convert()
    except ConversionError as exc:
        return "error", str(exc)
    return type(value).__name__, value


_numeric_text = st.integers(-(10**6), 10**6).map(str) | st.sampled_from([" 7", "1_0", "+3"])


@SETTINGS
@given(json_values | _numeric_text)
@example("")
@example(None)
@example(True)
@example(0.0)
@example(12)
@example("12")
@example("x")
@example([])
def test_the_optional_scalar_hooks_agree_with_their_functions(value: Any) -> None:
    # The converter's hooks for `int | None` and `str | None` are inlined copies of
    # to_opt_int and to_opt_str: same values, same refusals.
    hook_int = converter.get_structure_hook(int | None)
    hook_str = converter.get_structure_hook(str | None)
    assert _outcome(lambda: hook_int(value, int | None)) == _outcome(lambda: to_opt_int(value))
    assert _outcome(lambda: hook_str(value, str | None)) == _outcome(lambda: to_opt_str(value))
