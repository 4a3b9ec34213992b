"""Hook parameters to events, answers to flat strings, and the events' kinds and keys."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from daktela_async import DaktelaUsageError
from daktela_async.realtime import Event, Hub
from daktela_async.webhooks import (
    WEBHOOK_EVENTS,
    CallHungUp,
    IncomingCall,
    LineAnswered,
    LineRinging,
    flatten_answer,
    parse_hook,
)
from tests.webhooks.support import INCOMING, LINE


def line(action: str, **changes: str) -> list[tuple[str, str]]:
    return [*{**LINE, "action": action, **changes}.items()]


def test_incoming_hook_becomes_incoming_call() -> None:
    event = parse_hook(INCOMING.items())
    assert event == IncomingCall(caller="+420777123456", did="+420222333444")
    assert event.seq == 0


@pytest.mark.parametrize(
    ("action", "cls"),
    [("ringing", LineRinging), ("answer", LineAnswered), ("hangup", CallHungUp)],
)
def test_line_hooks_become_their_events(action: str, cls: type[Any]) -> None:
    event = parse_hook(line(action))
    assert type(event) is cls
    assert isinstance(event, LineRinging | LineAnswered | CallHungUp)
    assert event.action == action
    assert (event.call_id, event.line, event.caller, event.callee) == (
        "1474900000.12",
        "201",
        "+420777123456",
        "+420222333444",
    )


def test_empty_numbers_are_allowed_for_anonymous_and_internal_calls() -> None:
    assert parse_hook([("callid", ""), ("dnd", "")]) == IncomingCall(caller="", did="")
    event = parse_hook(line("hangup", callerId="", calleeId="", line=""))
    assert isinstance(event, CallHungUp)
    assert (event.caller, event.callee, event.line) == ("", "", "")


def test_extra_parameters_are_kept_and_the_secret_is_dropped() -> None:
    event = parse_hook([*INCOMING.items(), ("tenant", "a"), ("secret", "s3"), ("tenant", "b")])
    assert event.extra == {"tenant": "b"}
    event = parse_hook([*INCOMING.items(), ("token", "t")], secret_param="token")
    assert event.extra == {}


@pytest.mark.parametrize(
    ("params", "parameter", "message"),
    [
        ([], None, "not a Daktela hook"),
        ([("foo", "bar")], None, "not a Daktela hook"),
        ([("callid", "1")], "dnd", "missing parameter 'dnd'"),
        ([("dnd", "1")], "callid", "missing parameter 'callid'"),
        (line("ringing")[:-1], "action", "missing parameter 'action'"),
        (line("RINGING"), "action", "action must be ringing, answer or hangup, not 'RINGING'"),
        (line("transfer"), "action", "not 'transfer'"),
        ([("action", "answer"), ("idcall", "1")], "callerId", "callerId, calleeId, line"),
        (line("answer", idcall=""), "idcall", "'idcall' must not be empty"),
        ([*line("answer"), ("line", "202")], "line", "'line' given more than once"),
        ([*INCOMING.items(), *line("answer")], "callid", "are mixed"),
    ],
)
def test_bad_hooks_are_refused_with_the_parameter_at_fault(
    params: list[tuple[str, str]], parameter: str | None, message: str
) -> None:
    with pytest.raises(DaktelaUsageError, match=message) as caught:
        parse_hook(params)
    assert caught.value.parameter == parameter


def test_a_long_bad_action_is_cut_in_the_message() -> None:
    with pytest.raises(DaktelaUsageError) as caught:
        parse_hook(line("x" * 500))
    assert len(caught.value.message) < 120


def test_events_have_distinct_kinds_keys_per_call_and_line_and_no_user() -> None:
    kinds = {cls.kind for cls in WEBHOOK_EVENTS}
    assert kinds == {"incoming_call", "line_ringing", "line_answered", "call_hung_up"}
    assert all(issubclass(cls, Event) for cls in WEBHOOK_EVENTS)
    ringing = LineRinging(call_id="1.1", line="201", caller="", callee="")
    assert ringing.key == ("line_ringing", "1.1", "201")
    assert ringing.key != attrs.evolve(ringing, line="202").key
    assert ringing.key != CallHungUp(call_id="1.1", line="201", caller="", callee="").key
    incoming = IncomingCall(caller="123", did="456")
    assert incoming.key == ("incoming_call", "123", "456")
    assert not hasattr(ringing, "user")
    assert not hasattr(incoming, "user")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        ringing.line = "x"  # type: ignore[misc]


@pytest.mark.anyio
async def test_hub_users_filter_lets_webhook_events_through() -> None:
    hub = Hub()
    async with hub.subscribe(users=["hajek"], kinds=WEBHOOK_EVENTS) as sub:
        hub.publish(IncomingCall(caller="1", did="2"))
        event = sub.get_nowait()
    assert isinstance(event, IncomingCall)
    assert event.seq == 1


class Colour(enum.Enum):
    RED = "red"


def test_flatten_turns_every_value_into_a_string() -> None:
    answer = {
        "NAME": "Daktela s.r.o.",
        "NONE": None,
        "VIP": True,
        "BLOCKED": False,
        "COUNT": 3,
        "RATIO": 0.5,
        "PRICE": decimal.Decimal("1.10"),
        "SINCE": dt.datetime(2016, 9, 26, 10, 0, 0),
        "COLOUR": Colour.RED,
        "RAW": b"\xc5\xbelu\xc5\xa5",
    }
    assert flatten_answer(answer) == {
        "NAME": "Daktela s.r.o.",
        "NONE": "",
        "VIP": "1",
        "BLOCKED": "0",
        "COUNT": "3",
        "RATIO": "0.5",
        "PRICE": "1.10",
        "SINCE": "2016-09-26 10:00:00",
        "COLOUR": "red",
        "RAW": "žluť",
    }


def test_flatten_nests_with_dotted_keys() -> None:
    answer = {
        "CONTACT": {"NAME": "Jan", "TAGS": ["vip", {"x": 1}]},
        "EMPTY": {},
        "NONE": [],
        1: "int key",
    }
    assert flatten_answer(answer) == {  # type: ignore[arg-type]
        "CONTACT.NAME": "Jan",
        "CONTACT.TAGS.0": "vip",
        "CONTACT.TAGS.1.x": "1",
        "EMPTY": "",
        "NONE": "",
        "1": "int key",
    }
    assert flatten_answer({}) == {}


def test_flatten_replaces_control_characters_that_would_break_agi() -> None:
    answer = {"NAME": "Jan\nEXEC Hangup\r\n", "A\tB": "x\x00y"}
    assert flatten_answer(answer) == {"NAME": "Jan EXEC Hangup  ", "A B": "x y"}


def test_flatten_refuses_cycles_and_absurd_depth() -> None:
    cyclic: dict[str, Any] = {}
    cyclic["self"] = cyclic
    with pytest.raises(ValueError, match="nested deeper"):
        flatten_answer(cyclic)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=12,
)


@given(st.dictionaries(st.text(max_size=8), json_values, max_size=5))
def test_flatten_always_gives_flat_strings_without_control_characters(
    answer: dict[str, Any],
) -> None:
    flat = flatten_answer(answer)
    for key, value in flat.items():
        assert isinstance(key, str)
        assert isinstance(value, str)
        assert not any(ord(c) < 32 or ord(c) == 127 for c in key + value)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            [*INCOMING.items(), *line("answer")],
            "parameters of the incoming hook (callid, dnd) and of the line hooks "
            "(callerId, calleeId, line, idcall, action) are mixed",
        ),
        (
            [("tenant", "a")],
            "not a Daktela hook: expected callid and dnd (incoming call), or callerId, "
            "calleeId, line, idcall and action (line hooks)",
        ),
        (list(LINE.items()), "missing parameter 'action'"),
        (line("answer", idcall=""), "parameter 'idcall' must not be empty"),
        ([(k, v) for k, v in line("answer") if k != "line"], "missing parameter line"),
        (
            [(k, v) for k, v in line("answer") if k not in ("line", "callerId")],
            "missing parameters callerId, line",
        ),
    ],
)
def test_bad_hooks_are_refused_with_these_exact_messages(
    params: list[tuple[str, str]], message: str
) -> None:
    # The message is the 400 answer's "error": what the operator reads in the PBX's log.
    with pytest.raises(DaktelaUsageError) as caught:
        parse_hook(params)
    assert caught.value.message == message


@pytest.mark.parametrize(
    ("action", "shown"),
    [("p" * 40, repr("p" * 40)), ("p" * 41, repr("p" * 40 + "..."))],
)
def test_a_bad_action_is_quoted_whole_up_to_40_characters(action: str, shown: str) -> None:
    with pytest.raises(DaktelaUsageError) as caught:
        parse_hook(line(action))
    assert caught.value.message == f"action must be ringing, answer or hangup, not {shown}"


def test_flatten_keeps_empty_nested_values_as_empty_strings() -> None:
    answer = {"PHONES": [], "CONTACT": {}, "NAME": "Jan"}
    assert flatten_answer(answer) == {"PHONES": "", "CONTACT": "", "NAME": "Jan"}


def test_flatten_decodes_bytes_that_are_not_utf8_with_replacement_characters() -> None:
    assert flatten_answer({"NAME": b"Jan \xff", "NOTE": bytearray(b"\xc5\xbe")}) == {
        "NAME": "Jan \ufffd",
        "NOTE": "\u017e",
    }


def nested(levels: int) -> dict[str, Any]:
    """An answer of *levels* mappings, each inside the one before."""
    answer: dict[str, Any] = {"LEAF": "x"}
    for _ in range(levels - 1):
        answer = {"N": answer}
    return answer


def test_flatten_accepts_16_levels_below_the_answer_and_refuses_17() -> None:
    assert flatten_answer(nested(17)) == {"N." * 16 + "LEAF": "x"}
    with pytest.raises(DaktelaUsageError, match="nested deeper than 16 levels"):
        flatten_answer(nested(18))
