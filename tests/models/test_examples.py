"""Every output example of the API document structures, keeping every value."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

import pytest

from daktela_async._models import (
    RESULT_MODELS,
    AgentState,
    AgentStateName,
    CDRBillingRecord,
    DialerStatus,
    FormStatus,
    LegacyPause,
    Page,
    Pause,
    Queue,
    StatsUserQueueRow,
    User,
    Users,
    structure,
    unstructure,
)

from .support import (
    assert_conforms,
    assert_kept,
    decode_output,
    load_examples,
    successful_results,
)

CASES = successful_results()


@pytest.mark.parametrize(("action", "result"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_example_structures_and_keeps_every_value(action: str, result: Any) -> None:
    target = RESULT_MODELS[action]
    model = structure(result, target, action=action)  # type: ignore[call-overload]
    if target is None:
        assert model is None
        assert result in (None, "", [], {})
        return
    assert_conforms(model, target)
    assert_kept(result, unstructure(model))


def test_every_documented_action_has_a_result_type() -> None:
    actions = {example["action"] for example in load_examples()}
    assert actions - RESULT_MODELS.keys() == {"GetRecording"}
    assert RESULT_MODELS.keys() - actions == set()


def test_actions_typed_none_only_have_empty_results_in_the_document() -> None:
    for _, action, result in CASES:
        if RESULT_MODELS[action] is None:
            assert result in (None, "", []), action


def test_only_non_json_outputs_are_binary_or_the_stray_brace() -> None:
    for example in load_examples():
        if example["output_json_ok"]:
            continue
        if example["action"] == "GetRecording":
            assert example["output"] == "Binary data"
        else:
            assert example["action"] == "CreateCall"
            assert decode_output(example) == {
                "error": None,
                "status": 1,
                "result": {"id_call": "123456789.1234SJ"},
            }


def _result(action: str, marker: str = "") -> Any:
    for example in load_examples():
        if example["action"] == action and marker in example["output"]:
            envelope = decode_output(example)
            assert envelope is not None
            return envelope["result"]
    raise LookupError(action)


def test_get_queues_decodes_the_json_encoded_options() -> None:
    queue = structure(_result("GetQueues"), Queue)
    assert queue.queue == 3
    assert queue.wrapuptime == 0
    assert queue.outbounder is True
    assert queue.form is False
    assert queue.missed is None
    assert queue.user == 1
    assert queue.options["allowed_time"] == "10:00-18:00|mon-fri|*|*"
    assert queue.options["callback_callstart"] == "http://"


def test_rt_user_state_with_a_call() -> None:
    state = structure(_result("RTUserState", '"calls":[{'), AgentState)
    assert state.agent_state is AgentStateName.SPEAKING
    assert state.id_agent == 4
    assert state.callscript_opened == 66
    assert state.logintime == dt.datetime(2013, 1, 22, 11, 22, 49)
    (call,) = state.calls
    assert call.id_queue == 1
    assert call.answered == dt.datetime(2013, 2, 1, 14, 21, 2)
    assert call.onhold is None
    assert call.oqueue is not None
    assert call.oqueue.options["ring_strategy"] == "leastrecent"
    assert call.oqueue.penalty is None
    assert state.login_oqueues == ()
    assert state.hash is None


def test_rt_user_state_4_0_has_login_queues_and_hash() -> None:
    state = structure(_result("RTUserState", '"hash"'), AgentState)
    assert state.hash == "ea8c9c6ec59a0c6d5ba4711d63105cb049dbd279"
    assert state.id_pause == 2
    assert [q.queue for q in state.login_oqueues] == [1, 2, 5, 6, 7, 8, 9, 10, 15, 16, 17, 18]
    assert [q.rt_logged for q in state.login_oqueues].count(True) == 1
    assert state.login_oqueues[3].options["allow_numbers"].startswith("(00420)")


def test_rt_users_state_is_keyed_by_agent_id() -> None:
    target: Any = Mapping[str, AgentState]
    states = structure(_result("RTUsersState"), target)
    assert list(states) == ["1"]
    assert list(states.by_login()) == ["admin"]
    assert states["1"].agent_state == "Idle"
    assert states["1"].login_oqueues[2].rt_logged is True


def test_get_pauses_both_documented_shapes() -> None:
    target: Any = Mapping[str, Pause | LegacyPause]
    modern = structure(_result("GetPauses", '"paid"'), target)
    legacy = structure(_result("GetPauses", '"pcode_id"'), target)
    assert all(type(p) is Pause for p in modern.values())
    assert all(type(p) is LegacyPause for p in legacy.values())
    assert modern["2"] == Pause(
        pause=2, name="20", title="Wrap", type="wrap", paid=True, deleted=False
    )
    assert legacy["3"].isBillable is False
    assert legacy["3"].sys_dt_creazione is None


def test_get_users_one_user_or_all_users() -> None:
    target: Any = RESULT_MODELS["GetUsers"]
    all_users = structure(_result("GetUsers", '"1":{'), target)
    one_user = structure(_result("GetUsers", '"result":{"user"'), target)
    assert isinstance(all_users, Users)
    assert set(all_users) == {"1", "3"}
    assert set(all_users.by_login()) == {"admin", "hajekhu"}
    assert isinstance(one_user, User)
    assert one_user.user == 3


def test_cdr_prices_are_floats() -> None:
    target: Any = tuple[CDRBillingRecord, ...]
    rows = structure(_result("CDR"), target)
    assert rows[0].price == pytest.approx(4.94999987)
    assert rows[0].destination_price == pytest.approx(0.9)
    assert rows[0].billsec == 321


def test_pages_take_string_or_number_totals() -> None:
    queues = structure(_result("StatsUsersQueues"), Page[StatsUserQueueRow])
    assert queues.total == 10
    assert queues.data[0].duration == 2251213
    target: Any = RESULT_MODELS["GetExtensionUsers"]
    users = structure(_result("GetExtensionUsers"), target)
    assert users.total is None
    assert users.data[0].title == "Zvonimír Klátil"


def test_get_statuses_of_both_sections() -> None:
    target: Any = RESULT_MODELS["GetStatuses"]
    forms = structure(_result("GetStatuses", '"nechce_nabidku"'), target)
    dialer = structure(_result("GetStatuses", '"Schranka"'), target)
    assert isinstance(forms, dict)
    assert isinstance(forms["4"], FormStatus)
    assert isinstance(dialer, tuple)
    assert dialer[1] == DialerStatus(status=2, name="Schranka", code="2")


def test_unstructured_models_serialise_to_json() -> None:
    for _, action, result in CASES:
        target: Any = RESULT_MODELS[action]
        model = structure(result, target, action=action)
        json.dumps(unstructure(model))
