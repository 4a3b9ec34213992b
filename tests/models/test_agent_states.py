"""The hand-written AgentState path and the reusing ``structure_agent_states``."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

import pytest

from daktela_async._errors import DaktelaDecodeError
from daktela_async._models import AgentState, AgentStates, structure, structure_agent_states
from daktela_async._models._agent_states import (
    _agent_state,
    structure_agent_state_fast,
    structure_agent_state_generic,
)
from daktela_async._models._converter import converter

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
