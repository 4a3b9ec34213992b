"""The hand-written AgentState path and the reusing ``structure_agent_states``."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import pytest

from daktela_async._errors import DaktelaDecodeError
from daktela_async._models import (
    AgentState,
    AgentStates,
    structure,
    structure_agent_states,
    unstructure,
)
from daktela_async._models._agent_states import (
    _agent_state,
    _Pending,
    structure_agent_state_fast,
    structure_agent_state_generic,
)
from daktela_async._models._converter import converter, structure_by_converter

from .support import decode_output, load_examples


def _doc_agents() -> list[dict[str, Any]]:
    agents: list[dict[str, Any]] = []
    for example in load_examples():
        envelope = decode_output(example)
        if envelope is None or envelope.get("status") != 1:
            continue
        if example["action"] == "RTUserState":
            agents.append(envelope["result"])
        elif example["action"] == "RTUsersState":
            agents.extend(envelope["result"].values())
    return agents


DOC_AGENTS = _doc_agents()


def _users_state(count: int) -> dict[str, Any]:
    template = DOC_AGENTS[-1]
    result: dict[str, Any] = {}
    for i in range(1, count + 1):
        agent = copy.deepcopy(template)
        agent["id_agent"] = str(i)
        agent["agent_name"] = f"agent{i}"
        result[str(i)] = agent
    return result


def _fresh(result: dict[str, Any]) -> dict[str, Any]:
    """The same answer decoded again: equal, but no object shared."""
    decoded: dict[str, Any] = json.loads(json.dumps(result))
    return decoded


def test_the_document_has_three_agent_examples() -> None:
    assert len(DOC_AGENTS) == 3


@pytest.mark.parametrize("raw", DOC_AGENTS)
def test_fast_path_equals_generic_path_on_the_document(raw: dict[str, Any]) -> None:
    fast = _agent_state(raw)
    generic = structure_agent_state_generic(raw, AgentState)
    assert fast == generic
    assert type(fast.login_oqueues) is tuple
    assert [type(q) for q in fast.login_oqueues] == [type(q) for q in generic.login_oqueues]


def test_the_converter_uses_the_fast_hook() -> None:
    assert converter.get_structure_hook(AgentState) is structure_agent_state_fast


def test_fast_path_keeps_unknown_keys() -> None:
    raw = copy.deepcopy(DOC_AGENTS[1]) | {"new": 1}
    raw["login_oqueues"][0]["new_q"] = "x"
    raw["calls"] = [{"id_call": "1", "extra_c": 2, "oqueue": {"queue": "1", "o": 3}}]
    state = _agent_state(raw)
    assert state.extra == {"new": 1}
    assert state.login_oqueues[0].extra == {"new_q": "x"}
    assert state.calls[0].extra == {"extra_c": 2}
    assert state.calls[0].oqueue is not None
    assert state.calls[0].oqueue.extra == {"o": 3}
    assert state == structure_agent_state_generic(raw, AgentState)


def test_fast_hook_falls_back_to_the_detailed_error() -> None:
    raw = DOC_AGENTS[0] | {"calls": [{"id_call": "1", "entered": "soon"}]}
    with pytest.raises(DaktelaDecodeError, match=r"got string 'soon' @ \$\.calls\[0\]\.entered"):
        structure(raw, AgentState)


def test_structure_agent_states_equals_the_generic_mapping() -> None:
    result = _users_state(5)
    target: Any = Mapping[str, AgentState]
    states = structure_agent_states(result)
    assert isinstance(states, AgentStates)
    assert dict(states) == structure(result, target)
    assert list(states) == list(result)
    assert len(states) == 5
    assert "3" in states
    assert "9" not in states


def test_unchanged_agents_reuse_the_previous_objects() -> None:
    result = _users_state(4)
    first = structure_agent_states(result)
    following = _fresh(result)
    following["2"]["agent_state"] = "Speaking"
    second = structure_agent_states(following, first)
    assert second["1"] is first["1"]
    assert second["3"] is first["3"]
    assert second["2"] is not first["2"]
    assert second["2"].agent_state == "Speaking"
    third = structure_agent_states(_fresh(following), second)
    assert all(third[k] is second[k] for k in third)


def test_a_change_deep_in_the_options_is_seen() -> None:
    result = _users_state(2)
    first = structure_agent_states(result)
    following = _fresh(result)
    following["1"]["login_oqueues"][0]["options"]["ringtime"] = "99"
    second = structure_agent_states(following, first)
    assert second["1"] is not first["1"]
    assert second["1"].login_oqueues[0].options["ringtime"] == "99"
    assert second["2"] is first["2"]


def test_new_and_gone_agents() -> None:
    first = structure_agent_states(_users_state(2))
    following = _fresh(_users_state(3))
    del following["1"]
    second = structure_agent_states(following, first)
    assert list(second) == ["2", "3"]
    assert second["2"] is first["2"]


def test_a_plain_mapping_as_previous_reuses_equal_models() -> None:
    result = _users_state(2)
    previous = dict(structure_agent_states(result))
    following = _fresh(result)
    following["2"]["exten"] = "999"
    second = structure_agent_states(following, previous)
    assert second["1"] is previous["1"]
    assert second["2"] is not previous["2"]
    assert second["2"].exten == "999"


@pytest.mark.parametrize("empty", [[], {}, None])
def test_nobody_logged_in(empty: Any) -> None:
    assert len(structure_agent_states(empty)) == 0


def test_wrong_shapes_raise_decode_errors() -> None:
    with pytest.raises(DaktelaDecodeError, match="expected an object, got string") as info:
        structure_agent_states("nope")  # type: ignore[arg-type]
    assert info.value.action == "RTUsersState"
    result = _users_state(2)
    result["2"]["id_agent"] = "two"
    with pytest.raises(DaktelaDecodeError, match=r"got string 'two' @ \$\['2'\]\.id_agent"):
        structure_agent_states(result)


def test_the_realtime_poller_can_compare_with_eq() -> None:
    result = _users_state(3)
    assert structure_agent_states(result) == structure_agent_states(_fresh(result))


# --- lazy calls and queues ---------------------------------------------------------------

TOKEN = "tok-9f2c41d7e8a64b0c"
_CALL = {
    "id_call": "1474900000.8",
    "direction": "in",
    "clid": "777111222",
    "id_queue": "3",
    "oqueue": {"queue": "3", "name": "2001", "title": "PRICHOZI", "options": {"a": "1"}},
    "entered": "2016-09-26 15:36:00",
    "call_state": "Speaking",
    "odd": 1,
}


def _with_calls(count: int) -> dict[str, Any]:
    """An answer whose every second agent speaks (one call, with its queue)."""
    result = _users_state(count)
    for i, agent in enumerate(result.values()):
        agent["calls"] = [copy.deepcopy(_CALL)] if i % 2 else []
    return result


def _slot(state: AgentState, name: str) -> Any:
    """What the slot holds, without structuring it (``getattr`` would)."""
    return AgentState.__dict__[name]._slot.__get__(state, AgentState)


def _is_pending(state: AgentState, name: str) -> bool:
    return type(_slot(state, name)) is _Pending


_MAPPING: Any = Mapping[str, AgentState]
BULK_PATHS: dict[str, Any] = {
    "structure_agent_states": lambda r, **kw: structure_agent_states(r, **kw),
    "structure(AgentStates)": lambda r, **kw: structure(
        r, AgentStates, action="RTUsersState", **kw
    ),
    "structure(Mapping)": lambda r, **kw: structure(r, _MAPPING, action="RTUsersState", **kw),
}


@pytest.mark.parametrize("path", BULK_PATHS)
def test_the_bulk_paths_leave_calls_and_queues_pending(path: str) -> None:
    result = _with_calls(4)
    states = BULK_PATHS[path](result)
    assert isinstance(states, AgentStates)
    assert all(_is_pending(s, "login_oqueues") for s in states.values())
    assert [_is_pending(s, "calls") for s in states.values()] == [False, True, False, True]
    assert _slot(states["1"], "calls") == ()  # an empty list is simply ()
    # Plain attributes are structured at once.
    assert states["2"].id_agent == 2
    assert _is_pending(states["2"], "calls")


@pytest.mark.parametrize("path", BULK_PATHS)
def test_a_lazy_part_read_is_the_eager_tuple(path: str) -> None:
    result = _with_calls(4)
    eager = structure_agent_states(result, lazy=False)
    states = BULK_PATHS[path](result)
    for key, state in states.items():
        queues = state.login_oqueues
        assert type(queues) is tuple
        assert queues == eager[key].login_oqueues
        assert [type(q) for q in queues] == [type(q) for q in eager[key].login_oqueues]
        assert type(state.calls) is tuple
        assert state.calls == eager[key].calls
        # Stored back: the slot holds the tuple, and the next read is the same object.
        assert _slot(state, "login_oqueues") is queues
        assert state.login_oqueues is queues
        assert not _is_pending(state, "calls")
    assert states["2"].calls[0].oqueue is not None
    assert states["2"].calls[0].extra == {"odd": 1}
    assert dict(states) == dict(eager)


def _copy(state: AgentState) -> Any:
    return copy.copy(state)


def _state(state: AgentState) -> Any:
    """What pickling and copying read (the models do not pickle: ``extra`` is a proxy)."""
    return state.__getstate__()


def _restored(state: AgentState) -> Any:
    """A new instance from that state, as unpickling and copying make it."""
    new = object.__new__(AgentState)
    new.__setstate__(state.__getstate__())  # type: ignore[attr-defined]
    return new


def _evolve(state: AgentState) -> Any:
    return attrs.evolve(state, exten="999")


def _hash(state: AgentState) -> Any:
    try:
        return hash(state)
    except TypeError as exc:  # ``extra`` and ``options`` are mappings: unhashable
        return type(exc), str(exc)


READERS: dict[str, Callable[[AgentState], Any]] = {
    "repr": repr,
    "eq": lambda s: s,
    "hash": _hash,
    "copy": _copy,
    "getstate": _state,
    "setstate": _restored,
    "evolve": _evolve,
    "unstructure": unstructure,
    "astuple": lambda s: attrs.astuple(s, recurse=False),
}


@pytest.mark.parametrize("reader", READERS)
def test_every_reader_sees_the_structured_parts(reader: str) -> None:
    result = _with_calls(2)
    eager = structure_agent_states(result, lazy=False)["2"]
    lazy = structure_agent_states(result)["2"]
    assert _is_pending(lazy, "calls")
    assert _is_pending(lazy, "login_oqueues")
    read = READERS[reader]
    got = read(lazy)
    assert got == read(eager)
    if isinstance(got, AgentState):
        assert type(_slot(got, "calls")) is tuple
        assert type(_slot(got, "login_oqueues")) is tuple
        assert got.login_oqueues == eager.login_oqueues


def test_a_lazy_model_equals_the_eager_one_both_ways() -> None:
    result = _with_calls(2)
    assert structure_agent_states(result, lazy=False)["2"] == structure_agent_states(result)["2"]
    assert structure_agent_states(result)["2"] == structure_agent_states(result, lazy=False)["2"]
    changed = _fresh(result)
    changed["2"]["login_oqueues"][1]["rt_logged"] = not changed["2"]["login_oqueues"][1][
        "rt_logged"
    ]
    assert structure_agent_states(changed)["2"] != structure_agent_states(result)["2"]


def test_the_class_is_unchanged_for_its_readers() -> None:
    assert [f.name for f in attrs.fields(AgentState)][9:12] == [
        "calls",
        "callscript_opened",
        "login_oqueues",
    ]
    assert attrs.fields(AgentState).login_oqueues.default == ()
    made = AgentState(agent_name="a", id_agent=1, agent_state="Idle", login_oqueues=())
    assert made.login_oqueues == ()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        made.login_oqueues = ()  # type: ignore[misc]


def _queue_error_answer() -> dict[str, Any]:
    """Agent "2"'s first queue ID quotes the token (a hostile or broken PBX)."""
    result = _with_calls(2)
    result["2"]["login_oqueues"][0]["queue"] = f"x{TOKEN}"
    return result


@pytest.mark.parametrize("path", BULK_PATHS)
def test_a_bad_queue_raises_at_its_first_read(path: str) -> None:
    result = _queue_error_answer()
    states = BULK_PATHS[path](result, secret=TOKEN)
    assert states["2"].agent_name == "agent2"
    assert len(states["1"].login_oqueues) == 3  # the other agents read fine
    for _ in range(2):  # a failure is not stored: every read raises
        with pytest.raises(DaktelaDecodeError) as info:
            _ = states["2"].login_oqueues
        assert info.value.action == "RTUsersState"
        message = str(info.value)
        assert "@ $['2'].login_oqueues[0].queue" in message
        assert "expected an integer or a numeric string, got string 'x***'" in message
        assert TOKEN not in message
        assert _is_pending(states["2"], "login_oqueues")
    assert states["2"].calls[0].id_call == "1474900000.8"
    assert TOKEN not in repr(_slot(states["2"], "login_oqueues"))
    # The same message as the eager path's.
    target = _MAPPING if path != "structure(AgentStates)" else AgentStates
    with pytest.raises(DaktelaDecodeError) as eager:
        structure_by_converter(result, target, action="RTUsersState", secret=TOKEN)
    assert str(eager.value) == message


def test_a_bad_call_raises_at_its_first_read() -> None:
    result = _with_calls(2)
    result["2"]["calls"][0]["oqueue"]["queue"] = "abc"
    states = structure_agent_states(result, action="RTUsersState")
    assert len(states["2"].login_oqueues) == 3
    with pytest.raises(
        DaktelaDecodeError, match=r"got string 'abc' @ \$\['2'\]\.calls\[0\]\.oqueue\.queue"
    ):
        _ = states["2"].calls
    with pytest.raises(DaktelaDecodeError):
        _ = states["2"] == states["2"]  # attrs' __eq__ reads it too
    with pytest.raises(DaktelaDecodeError):
        repr(states["2"])


def test_lazy_false_structures_everything_and_raises_at_once() -> None:
    result = _with_calls(4)
    states = structure_agent_states(result, lazy=False)
    assert not any(_is_pending(s, n) for s in states.values() for n in ("calls", "login_oqueues"))
    with pytest.raises(DaktelaDecodeError, match=r"\$\['2'\]\.login_oqueues\[0\]\.queue") as info:
        structure_agent_states(_queue_error_answer(), secret=TOKEN, lazy=False)
    assert TOKEN not in str(info.value)


def test_one_agent_state_is_eager() -> None:
    raw = _with_calls(2)["2"]
    for state in (structure(raw, AgentState), structure_agent_state_fast(raw)):
        assert type(_slot(state, "calls")) is tuple
        assert type(_slot(state, "login_oqueues")) is tuple
    bad = _queue_error_answer()["2"]
    with pytest.raises(DaktelaDecodeError, match=r"\$\.login_oqueues\[0\]\.queue") as info:
        structure(bad, AgentState, action="RTUserState", secret=TOKEN)
    assert TOKEN not in str(info.value)


@pytest.mark.parametrize(
    ("field", "value", "found"),
    [
        (
            "login_oqueues",
            "none",
            r"expected an array, got string 'none' @ \$\['2'\]\.login_oqueues",
        ),
        (
            "login_oqueues",
            [1],
            r"expected an object, got integer 1 @ \$\['2'\]\.login_oqueues\[0\]",
        ),
        ("calls", {"0": "x"}, r"expected an object, got string 'x' @ \$\['2'\]\.calls\[0\]"),
        ("calls", 5, r"expected an array, got integer 5 @ \$\['2'\]\.calls"),
    ],
)
def test_a_wrong_shape_of_a_part_fails_at_decode(field: str, value: Any, found: str) -> None:
    result = _with_calls(2)
    result["2"][field] = value
    for decode in BULK_PATHS.values():
        with pytest.raises(DaktelaDecodeError, match=found):
            decode(result)


@pytest.mark.parametrize("empty", [None, [], {}])
def test_empty_parts_are_not_pending(empty: Any) -> None:
    result = _with_calls(2)
    result["2"]["calls"] = empty
    result["2"]["login_oqueues"] = empty
    state = structure_agent_states(result)["2"]
    assert _slot(state, "calls") == ()
    assert _slot(state, "login_oqueues") == ()


def test_php_objects_as_parts_are_read_as_lists() -> None:
    result = _with_calls(2)
    queues = result["2"]["login_oqueues"]
    result["2"]["login_oqueues"] = {str(i): q for i, q in enumerate(queues)}
    states = structure_agent_states(result)
    assert _is_pending(states["2"], "login_oqueues")
    assert (
        states["2"].login_oqueues == structure_agent_states(result, lazy=False)["2"].login_oqueues
    )


def test_reuse_works_with_lazy_models() -> None:
    result = _with_calls(4)
    first = structure_agent_states(result)
    following = _fresh(result)
    following["2"]["login_oqueues"][0]["rt_logged"] = True
    second = structure_agent_states(following, first)
    assert second["1"] is first["1"]
    assert second["4"] is first["4"]
    assert _is_pending(second["4"], "calls")  # reused without being read
    assert second["2"] is not first["2"]
    assert second["2"].login_oqueues[0].rt_logged is True
    # A plain mapping as previous compares the models (reading the parts).
    third = structure_agent_states(_fresh(following), dict(second))
    assert all(third[k] is second[k] for k in third)
