"""The conversions of the converter, one rule at a time, and its errors."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import pytest

from daktela_async._errors import DaktelaDecodeError, DaktelaError
from daktela_async._models import (
    RESULT_MODELS,
    AgentCall,
    AgentState,
    AgentStateName,
    Attempt,
    CallScriptOpened,
    CallStateName,
    DeviceState,
    DeviceStatus,
    LastCall,
    LegacyPause,
    LoginQueueState,
    Page,
    Pause,
    Queue,
    Record,
    RTStatsSession,
    SMSConnectMessage,
    SMSConnectResult,
    User,
    structure,
    unstructure,
)

AGENT: dict[str, Any] = {
    "agent_name": "hajek",
    "agent_title": "Hajek 1",
    "id_agent": "4",
    "exten": "1001",
    "logintime": "2013-12-03 13:43:13",
    "agent_state": "Paused",
    "state_time": "2013-12-10 16:12:55",
    "id_pause": "2",
    "onpause": "2013-12-10 16:12:55",
    "calls": [],
    "callscript_opened": None,
    "login_oqueues": [
        {
            "queue": "1",
            "name": "2000",
            "title": "test",
            "description": "",
            "type": "in",
            "direction": "in",
            "options": {"ringtime": "10", "music": "default"},
            "deleted": "0",
            "penalty": "0",
            "login": "manual",
            "rt_logged": False,
        }
    ],
    "hash": "ea8c9c6e",
}


def _attempt(**changes: Any) -> Attempt:
    raw: dict[str, Any] = {"id": "1", "start_time": "2015-09-23 13:30:25"} | changes
    return structure(raw, Attempt)


# --- datetimes ---------------------------------------------------------------------


def test_datetime_is_naive() -> None:
    value = _attempt().start_time
    assert value == dt.datetime(2015, 9, 23, 13, 30, 25)
    assert value is not None
    assert value.tzinfo is None


@pytest.mark.parametrize("empty", [None, "", "0000-00-00 00:00:00"])
def test_empty_datetimes_are_none(empty: Any) -> None:
    assert _attempt(start_time=empty).start_time is None


@pytest.mark.parametrize(
    "bad", ["2015-09-23", "2015-09-23T13:30:25+01:00", "2013-01-22 11:22+01", "yesterday", 5]
)
def test_other_datetimes_are_errors(bad: Any) -> None:
    with pytest.raises(DaktelaDecodeError, match=r"datetime .* @ \$\.start_time"):
        _attempt(start_time=bad)


def test_datetime_unstructures_in_the_server_format() -> None:
    assert unstructure(_attempt())["start_time"] == "2015-09-23 13:30:25"


# --- numbers and flags -------------------------------------------------------------


@pytest.mark.parametrize(("raw", "value"), [("42", 42), (42, 42), ("-6", -6), ("", None)])
def test_numeric_strings_become_int(raw: Any, value: int | None) -> None:
    assert _attempt(duration=raw).duration == value


@pytest.mark.parametrize("bad", ["abc", "4.5", 4.5, True, [], {}])
def test_non_integers_are_errors(bad: Any) -> None:
    with pytest.raises(DaktelaDecodeError, match=r"integer.* @ \$\.duration"):
        _attempt(duration=bad)


def test_prices_become_float() -> None:
    target: Any = RESULT_MODELS["CDR"]
    (row,) = structure([{"price": "4.94999987", "destination_price": 2}], target)
    assert row.price == pytest.approx(4.94999987)
    assert type(row.destination_price) is float


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("1", True),
        ("0", False),
        (1, True),
        (0, False),
        (True, True),
        (False, False),
        ("true", True),
        ("false", False),
        (None, None),
        ("", None),
    ],
)
def test_flags_become_bool(raw: Any, value: bool | None) -> None:
    assert structure({"user": "1", "deleted": raw}, User).deleted is value


@pytest.mark.parametrize("bad", ["2", "yes", 2, "x", [], 0.0])
def test_other_flags_are_errors(bad: Any) -> None:
    with pytest.raises(DaktelaDecodeError, match=r"flag.* @ \$\.deleted"):
        structure({"user": "1", "deleted": bad}, User)


def test_numbers_become_text_for_text_fields_and_empty_text_stays() -> None:
    user = structure({"user": 4, "name": 123, "description": "", "email": None}, User)
    assert user.name == "123"
    assert user.description == ""
    assert user.email is None
    with pytest.raises(DaktelaDecodeError, match=r"string.* @ \$\.name"):
        structure({"user": 4, "name": ["x"]}, User)


# --- enumerations ------------------------------------------------------------------


def test_known_states_become_members_and_unknown_ones_stay_text() -> None:
    known = structure(AGENT, AgentState)
    unknown = structure(AGENT | {"agent_state": "Dialing"}, AgentState)
    assert known.agent_state is AgentStateName.PAUSED
    assert unknown.agent_state == "Dialing"
    assert type(unknown.agent_state) is str
    assert structure({"id": "3", "state": "On Hold"}, RTStatsSession).state is (
        AgentStateName.ON_HOLD
    )
    call = structure({"id_call": "1", "call_state": "On Hold"}, AgentCall)
    assert call.call_state is CallStateName.ON_HOLD
    sms = structure({"id": "1", "result": "DELIVERED"}, SMSConnectMessage)
    assert sms.result is SMSConnectResult.DELIVERED
    device = structure({"exten": "100", "status": "UNKNOWN"}, DeviceState)
    assert device.status == "UNKNOWN"
    assert structure({"exten": "100", "status": "INUSE"}, DeviceState).status is (
        DeviceStatus.INUSE
    )


def test_enum_members_unstructure_to_their_value() -> None:
    assert unstructure(structure(AGENT, AgentState))["agent_state"] == "Paused"


# --- queue options -----------------------------------------------------------------


def test_options_as_json_string_and_as_object_are_the_same_mapping() -> None:
    as_string = structure({"queue": "3", "options": '{"type":"outbounder","maxwait":""}'}, Queue)
    as_object = structure({"queue": "3", "options": {"type": "outbounder", "maxwait": ""}}, Queue)
    assert as_string.options == {"type": "outbounder", "maxwait": ""}
    assert as_string == as_object
    assert unstructure(as_string)["options"] == {"type": "outbounder", "maxwait": ""}


@pytest.mark.parametrize("empty", [None, "", [], "[]"])
def test_empty_options_are_an_empty_mapping(empty: Any) -> None:
    assert structure({"queue": "3", "options": empty}, Queue).options == {}


@pytest.mark.parametrize("bad", ["{not json", '"text"', "[1]", 5])
def test_options_that_are_not_an_object_are_errors(bad: Any) -> None:
    with pytest.raises(DaktelaDecodeError, match=r"JSON-encoded object.* @ \$\.options"):
        structure({"queue": "3", "options": bad}, Queue)


def test_options_in_login_queues_as_string() -> None:
    raw = AGENT | {"login_oqueues": [AGENT["login_oqueues"][0] | {"options": '{"a":"1"}'}]}
    assert structure(raw, AgentState).login_oqueues[0].options == {"a": "1"}


# --- lists and mappings sent in PHP's shapes ----------------------------------------


@pytest.mark.parametrize("empty", [[], {}, None])
def test_empty_lists_may_come_as_object_or_null(empty: Any) -> None:
    assert structure(AGENT | {"calls": empty}, AgentState).calls == ()


def test_a_list_sent_as_an_object_keeps_its_order() -> None:
    raw = AGENT | {"calls": {"0": {"id_call": "a"}, "1": {"id_call": "b"}}}
    assert [c.id_call for c in structure(raw, AgentState).calls] == ["a", "b"]


def test_an_empty_mapping_may_come_as_an_array() -> None:
    target: Any = Mapping[str, AgentState]
    assert structure([], target) == {}
    record = structure({"record": "1", "fields": []}, Record)
    assert record.fields == {}


def test_mapping_rules_survive_other_registrations() -> None:
    # cattrs' gen_structure_mapping used to register its own hook for the type, so after
    # the next dispatch-cache reset `[]` was no longer read as an empty mapping.
    target: Any = Mapping[str, AgentState]
    structure({}, target)
    pauses: Any = Mapping[str, Pause | LegacyPause]
    anything: Any = Mapping[str, Any]
    structure(None, pauses)
    structure({"x": {"id": "1"}}, anything)
    assert structure([], target) == {}


def test_record_fields_are_lists_of_text() -> None:
    record = structure({"record": 5, "fields": {"1": ["42", 7], "17": []}}, Record)
    assert record.fields == {"1": ("42", "7"), "17": ()}


# --- unknown keys --------------------------------------------------------------------


def test_unknown_keys_land_in_extra_at_every_level() -> None:
    queue = AGENT["login_oqueues"][0] | {"new_flag": "1"}
    raw = AGENT | {
        "new_key": {"nested": [1, 2]},
        "login_oqueues": [queue],
        "calls": [{"id_call": "1", "oqueue": {"queue": "2", "surprise": None}, "x": 1}],
    }
    state = structure(raw, AgentState)
    assert state.extra == {"new_key": {"nested": [1, 2]}}
    assert state.login_oqueues[0].extra == {"new_flag": "1"}
    assert state.calls[0].extra == {"x": 1}
    assert state.calls[0].oqueue is not None
    assert state.calls[0].oqueue.extra == {"surprise": None}
    out = unstructure(state)
    assert out["new_key"] == {"nested": [1, 2]}
    assert out["login_oqueues"][0]["new_flag"] == "1"
    assert out["calls"][0]["oqueue"]["surprise"] is None
    assert "extra" not in out


def test_a_server_key_named_extra_is_kept_too() -> None:
    user = structure({"user": "1", "extra": "x"}, User)
    assert user.extra == {"extra": "x"}
    assert unstructure(user)["extra"] == "x"


def test_known_keys_only_leave_extra_empty() -> None:
    assert structure({"user": "1"}, User).extra == {}


def test_omitted_keys_take_defaults() -> None:
    user = structure({"user": "1"}, User)
    assert user == User(user=1)
    assert user.deleted is None


def test_keys_that_are_not_identifiers_are_renamed() -> None:
    call = structure({"exten": "500", "_is_realtime": True}, LastCall)
    assert call.is_realtime is True
    assert call.extra == {}
    assert unstructure(call)["_is_realtime"] is True


def test_login_queue_state_is_a_queue() -> None:
    state = structure(AGENT, AgentState)
    assert isinstance(state.login_oqueues[0], LoginQueueState)
    assert isinstance(state.login_oqueues[0], Queue)


def test_models_are_frozen() -> None:
    user = structure({"user": "1"}, User)
    with pytest.raises(AttributeError):
        user.name = "x"  # type: ignore[misc]


# --- unions of shapes -----------------------------------------------------------------


def test_single_model_or_mapping_by_id() -> None:
    target: Any = RESULT_MODELS["GetQueues"]
    one = structure({"queue": "3", "name": "1002"}, target)
    many = structure({"3": {"queue": "3"}, "4": {"queue": "4"}}, target)
    assert isinstance(one, Queue)
    assert isinstance(many, dict)
    assert sorted(many) == ["3", "4"]


def test_optional_results_accept_php_empties() -> None:
    target: Any = RESULT_MODELS["GetUser"]
    assert structure("", target) is None
    assert structure(None, target) is None
    assert structure([], target) is None
    assert isinstance(structure({"user": "2"}, target), User)
    assert structure({"record": None}, CallScriptOpened).record is None


def test_void_actions_ignore_their_result() -> None:
    assert structure([], None) is None
    assert structure("", None) is None


def test_generic_page() -> None:
    page = structure({"data": {"0": {"id": 1}}, "total": "1", "skip": 0}, Page[Attempt])
    assert page.data == (Attempt(id=1),)
    assert page.total == 1
    assert page.extra == {"skip": 0}


# --- errors --------------------------------------------------------------------------


def test_errors_name_the_path_and_what_was_found() -> None:
    target: Any = Mapping[str, AgentState]
    raw = {"7": AGENT | {"login_oqueues": [AGENT["login_oqueues"][0] | {"queue": "abc"}]}}
    states = structure(raw, target, action="RTUsersState")
    # The queues of RTUsersState are structured at their first read (_agent_states).
    with pytest.raises(DaktelaDecodeError) as info:
        _ = states["7"].login_oqueues
    message = str(info.value)
    assert "RTUsersState" in message
    assert "Mapping[str, AgentState]" in message
    assert "got string 'abc' @ $['7'].login_oqueues[0].queue" in message
    assert info.value.action == "RTUsersState"
    assert isinstance(info.value, DaktelaError)
    assert info.value.__cause__ is not None


def test_a_list_where_an_object_is_needed() -> None:
    with pytest.raises(DaktelaDecodeError, match=r"expected an object, got array \[1\] @ \$"):
        structure([1], AgentState)
    with pytest.raises(DaktelaDecodeError, match=r"expected an object, got array .* @ \$\.oqueue"):
        structure({"id_call": "1", "oqueue": [1]}, AgentCall)


def test_an_object_where_a_list_is_needed() -> None:
    with pytest.raises(DaktelaDecodeError, match=r"expected an array, got string .* @ \$\.calls"):
        structure(AGENT | {"calls": "none"}, AgentState)


def test_missing_required_fields_are_named() -> None:
    with pytest.raises(DaktelaDecodeError) as info:
        structure({"agent_name": "x"}, AgentState)
    assert "required field missing @ $.id_agent" in str(info.value)
    assert "required field missing @ $.agent_state" in str(info.value)


def test_every_failure_is_reported() -> None:
    with pytest.raises(DaktelaDecodeError) as info:
        structure({"id": "x", "duration": "y"}, Attempt)
    assert "$.id" in str(info.value)
    assert "$.duration" in str(info.value)


def test_wrong_union_shape() -> None:
    target: Any = RESULT_MODELS["GetQueues"]
    with pytest.raises(DaktelaDecodeError, match=r"expected Queue or Mapping\[str, Queue\]"):
        structure(5, target)
