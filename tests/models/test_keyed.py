"""Results keyed by agent ID say so, and offer a view by login."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from daktela_async import DaktelaClient, DaktelaDecodeError
from daktela_async._models import (
    RESULT_MODELS,
    AgentState,
    AgentStates,
    RTStatsSession,
    RTStatsSessions,
    User,
    Users,
    structure,
    structure_agent_states,
    unstructure,
)
from daktela_async._models._keyed import ByAgentID
from daktela_async.sim import Simulator

from .support import decode_output, load_examples


def _result(action: str, marker: str = "") -> Any:
    for example in load_examples():
        if example["action"] == action and marker in example["output"]:
            envelope = decode_output(example)
            assert envelope is not None
            return envelope["result"]
    raise LookupError(action)


def _agent(agent_id: int, login: str, state: str = "Idle") -> dict[str, Any]:
    return {"agent_name": login, "id_agent": str(agent_id), "agent_state": state}


STATES = {"7": _agent(7, "hajek"), "12": _agent(12, "novak", "Paused")}
SESSIONS = {
    "7": {"id": "7", "extension": "201", "state": "Idle"},
    "12": {"id": "12", "extension": "202", "state": "Paused"},
    "99": {"id": "99", "extension": "299", "state": "Idle"},
}
USERS = {
    "7": {"user": "7", "name": "hajek", "deleted": "0"},
    "12": {"user": "12", "name": "novak", "deleted": "0"},
    "13": {"user": "13", "name": None, "deleted": "0"},
}


# --- AgentStates (RTUsersState) ------------------------------------------------------------


@pytest.mark.parametrize("target", [Mapping[str, AgentState], AgentStates])
def test_rt_users_state_is_keyed_by_id_with_a_view_by_login(target: Any) -> None:
    states: Any = structure(STATES, target)
    assert isinstance(states, AgentStates)
    assert list(states) == ["7", "12"]
    assert "hajek" not in states
    with pytest.raises(KeyError):
        states["hajek"]
    by_login = states.by_login()
    assert type(by_login) is dict
    assert list(by_login) == ["hajek", "novak"]
    assert by_login["novak"] is states["12"]
    assert states.logins() == {"7": "hajek", "12": "novak"}


def test_the_fast_path_gives_the_same_class() -> None:
    states = structure_agent_states(STATES)
    assert states.by_login()["hajek"].id_agent == 7
    assert states == structure(STATES, AgentStates)


def test_the_documents_rt_users_state_example() -> None:
    target: Any = RESULT_MODELS["RTUsersState"]
    states = structure(_result("RTUsersState"), target)
    assert isinstance(states, AgentStates)
    assert list(states) == ["1"]
    assert list(states.by_login()) == ["admin"]


def test_a_decoded_answer_is_reused_by_the_next_fast_decode() -> None:
    target: Any = Mapping[str, AgentState]
    first = structure(STATES, target)
    again = structure_agent_states({k: dict(v) for k, v in STATES.items()}, first)
    assert all(again[k] is first[k] for k in first)


# --- Users (GetUsers) ----------------------------------------------------------------------


@pytest.mark.parametrize("target", [User | Mapping[str, User], User | Users, Users])
def test_get_users_is_keyed_by_id_with_a_view_by_login(target: Any) -> None:
    users = structure(USERS, target)
    assert isinstance(users, Users)
    assert list(users) == ["7", "12", "13"]
    assert list(users.by_login()) == ["hajek", "novak"]  # 13 has no login
    assert users.logins() == {"7": "hajek", "12": "novak"}


@pytest.mark.parametrize("target", [User | Mapping[str, User], User | Users])
def test_get_users_with_an_id_is_still_one_user(target: Any) -> None:
    user = structure(USERS["7"], target)
    assert isinstance(user, User)
    assert user.name == "hajek"


@pytest.mark.parametrize("order", [("1", "2"), ("2", "1")])
def test_a_live_user_wins_over_a_deleted_one_with_the_same_login(order: tuple[str, str]) -> None:
    rows = {
        "1": {"user": "1", "name": "hajek", "deleted": "1"},
        "2": {"user": "2", "name": "hajek", "deleted": "0"},
    }
    users = structure({key: rows[key] for key in order}, Users)
    assert users.by_login()["hajek"].user == 2


# --- RTStatsSessions -------------------------------------------------------------------------


def test_sessions_are_keyed_by_agent_id() -> None:
    target: Any = RESULT_MODELS["RTStatsSessions"]
    sessions = structure(_result("RTStatsSessions"), target)
    assert isinstance(sessions, RTStatsSessions)
    assert list(sessions) == ["3"]


@pytest.mark.parametrize(
    "logins",
    [
        structure(STATES, AgentStates),  # rt_users_state()
        structure(USERS, Users),  # get_users()
        structure(STATES, AgentStates).by_login(),  # keyed by login: the IDs come from the rows
        {"7": "hajek", "12": "novak"},  # agent ID to login
    ],
    ids=["states", "users", "states-by-login", "id-to-login"],
)
def test_sessions_by_login_take_the_logins_from_another_answer(logins: Any) -> None:
    target: Any = Mapping[str, RTStatsSession]
    sessions = structure(SESSIONS, target)
    assert isinstance(sessions, RTStatsSessions)
    by_login = sessions.by_login(logins)
    # Agent 99 is in no answer that names logins: left out, not guessed.
    assert list(by_login) == ["hajek", "novak"]
    assert by_login["novak"] is sessions["12"]


# --- what every keyed result shares --------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "rows"), [(AgentStates, STATES), (Users, USERS), (RTStatsSessions, SESSIONS)]
)
def test_keyed_results_are_read_only_mappings_equal_to_dicts(
    cls: type[ByAgentID[Any]], rows: Any
) -> None:
    keyed = structure(rows, cls)
    plain = dict(keyed)
    assert keyed == plain
    assert plain == keyed
    assert len(keyed) == len(rows)
    assert cls.__name__ in repr(keyed)
    assert not hasattr(keyed, "__setitem__")
    with pytest.raises(AttributeError):
        keyed.anything = 1  # type: ignore[attr-defined]  # slotted
    assert unstructure(keyed) == {key: unstructure(row) for key, row in keyed.items()}
    assert type(unstructure(keyed)) is dict


@pytest.mark.parametrize("cls", [AgentStates, Users, RTStatsSessions])
@pytest.mark.parametrize("empty", [[], None, {}])
def test_an_empty_answer_is_an_empty_keyed_result(cls: type[ByAgentID[Any]], empty: Any) -> None:
    keyed = structure(empty, cls)
    assert type(keyed) is cls
    assert len(keyed) == 0


def test_a_wrong_shape_still_names_the_path() -> None:
    target: Any = Mapping[str, User]
    with pytest.raises(DaktelaDecodeError, match=r"GetUsers.*@ \$\['7'\]\.user"):
        structure({"7": {"user": "seven"}}, target, action="GetUsers")
    with pytest.raises(DaktelaDecodeError, match="expected an object"):
        structure("nobody", Users, action="GetUsers")


# --- through the client, against the simulator ----------------------------------------------


@pytest.mark.anyio
async def test_typed_methods_return_the_keyed_results() -> None:
    async with (
        Simulator(agents=6, queues=1, speed=0) as sim,
        DaktelaClient(sim.url, sim.token) as client,
    ):
        states: Any = await client.statistics.rt_users_state()
        users: Any = await client.operators.get_users()
        sessions: Any = await client.statistics.rt_stats_sessions()
        one = await client.statistics.rt_user_state(user="hajek")
    assert isinstance(states, AgentStates)
    assert isinstance(users, Users)
    assert isinstance(sessions, RTStatsSessions)
    assert "hajek" not in states
    assert states[str(one.id_agent)].agent_name == "hajek"
    assert states.by_login()["hajek"].id_agent == one.id_agent
    assert users.by_login()["hajek"].user == one.id_agent
    assert set(sessions.by_login(states)) == set(states.by_login())
    assert sessions.by_login(users) == sessions.by_login(states)
