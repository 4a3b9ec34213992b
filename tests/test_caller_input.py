"""Whatever the caller passes, the client answers with DaktelaUsageError before sending.

The token (stripped, refused when it holds control characters, percent-encoded), the
parameters (too long, not valid Unicode, nested without end), the extra headers, and
every setting: none of them may surface as a raw httpx, Unicode or recursion error, or
as a "connection error" that is then retried.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from daktela_async import (
    DaktelaClient,
    DaktelaUsageError,
    PoolLimits,
    RetryPolicy,
    Timeouts,
)
from daktela_async._actions import ACTIONS
from daktela_async._spec import ActionSpec, ParamSpec
from daktela_async._transport._query import MAX_NESTING, encode_params, parse_php_query
from daktela_async._transport._request import check_all_params, check_params
from daktela_async._transport._token import MAX_URL_LENGTH
from tests.conftest import MakeClient
from tests.support import TOKEN, FakePBX

pytestmark = pytest.mark.anyio


# --- the token ----------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [f"{TOKEN}\n", f"  {TOKEN}\r\n", f"\t{TOKEN} "])
async def test_white_space_around_the_token_is_dropped(
    pbx: FakePBX, make_client: MakeClient, raw: str
) -> None:
    async with DaktelaClient("https://pbx.example.com", raw, transport_factory=pbx.factory) as c:
        await c.call("GetQueues")
    assert pbx.last_query()["access_token"] == TOKEN
    cookie = DaktelaClient(
        "https://pbx.example.com", raw, token_in="cookie", transport_factory=pbx.factory
    )
    async with cookie:
        await cookie.call("GetQueues")
    assert pbx.last.headers["cookie"] == f"access_token={TOKEN}"


@pytest.mark.parametrize(
    "raw",
    [f"{TOKEN[:20]}\n{TOKEN[20:]}", f"{TOKEN}\x00", f"{TOKEN[:10]}\x7f{TOKEN[10:]}", "\u200b"],
)
@pytest.mark.parametrize("token_in", ["query", "cookie"])
def test_a_token_with_control_characters_is_refused_unseen(raw: str, token_in: str) -> None:
    with pytest.raises(DaktelaUsageError) as info:
        DaktelaClient("https://pbx.example.com", raw, token_in=token_in)  # type: ignore[arg-type]
    assert info.value.parameter == "token"
    assert TOKEN[:10] not in str(info.value)
    assert TOKEN[:10] not in repr(info.value.args)


@pytest.mark.parametrize("raw", ["", "   ", "\n", None, 1234])
def test_an_empty_or_non_string_token_is_refused(raw: object) -> None:
    with pytest.raises(DaktelaUsageError) as info:
        DaktelaClient("https://pbx.example.com", raw)  # type: ignore[arg-type]
    assert info.value.parameter == "token"


async def test_the_token_is_percent_encoded(pbx: FakePBX) -> None:
    odd = "a&b#c d;e=f+g%h"
    async with DaktelaClient("https://pbx.example.com", odd, transport_factory=pbx.factory) as c:
        await c.call("GetQueues", user="novak")
    assert pbx.last_query() == {"user": "novak", "access_token": odd}
    assert pbx.last.url.fragment == ""
    cookie = DaktelaClient(
        "https://pbx.example.com", odd, token_in="cookie", transport_factory=pbx.factory
    )
    async with cookie:
        await cookie.call("GetQueues")
    # PHP url-decodes cookie values, as it does query parameters.
    assert pbx.last.headers["cookie"] == "access_token=a%26b%23c%20d%3Be%3Df%2Bg%25h"


# --- parameters ---------------------------------------------------------------------------


def _too_deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": "x"}
    for _ in range(levels - 1):
        value = {"k": value}
    return value


def _self_referencing_dict() -> dict[str, Any]:
    value: dict[str, Any] = {"a": "1"}
    value["self"] = value
    return value


def _self_referencing_list() -> list[Any]:
    value: list[Any] = ["1"]
    value.append(value)
    return value


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"name": "x\ud800y"}, "name"),
        ({"fields": {"a": ["ok", "\udcff"]}}, "fields"),
        ({"query": {"k\ud800": "v"}}, "k\ud800"),
        ({"variables": _self_referencing_dict()}, "variables"),
        ({"users": _self_referencing_list()}, "users"),
        ({"fields": _too_deep(MAX_NESTING + 1)}, "fields"),
        ({"query": {1: "x"}}, None),
        ({"fields": object()}, "fields"),
    ],
    ids=[
        "surrogate",
        "nested-surrogate",
        "surrogate-key",
        "dict-self",
        "list-self",
        "deep",
        "int-name",
        "object",
    ],
)
async def test_unsendable_parameters_are_usage_errors(
    pbx: FakePBX, make_client: MakeClient, params: dict[str, Any], parameter: str | None
) -> None:
    params = dict(params)  # shared by the asyncio and trio runs
    query = params.pop("query", None)
    async with make_client() as client:
        with pytest.raises(DaktelaUsageError) as info:
            await client.call("GetQueues", query=query, **params)
    assert pbx.requests == []
    if parameter is not None:
        assert info.value.parameter == parameter
    assert info.value.action == "GetQueues"
    assert str(info.value).startswith("GetQueues: ")
    assert TOKEN not in str(info.value)


async def test_nesting_up_to_the_limit_is_sent(pbx: FakePBX, make_client: MakeClient) -> None:
    async with make_client() as client:
        await client.call("GetQueues", fields=_too_deep(MAX_NESTING))
    assert "fields" in pbx.last_query()


async def test_an_id_that_is_not_valid_unicode_is_a_usage_error(
    pbx: FakePBX, make_client: MakeClient
) -> None:
    async with make_client() as client:
        with pytest.raises(DaktelaUsageError) as info:
            await client.call("GetUsers", "a\ud800")
    assert info.value.parameter == "id"
    assert info.value.action == "GetUsers"
    assert str(info.value) == "GetUsers: the id is not valid Unicode (a lone surrogate)"
    assert pbx.requests == []


@pytest.mark.parametrize("token_in", ["query", "cookie"])
async def test_the_url_length_limit_is_checked_before_sending(
    pbx: FakePBX, make_client: MakeClient, token_in: str
) -> None:
    async with make_client(token_in=token_in) as client:
        await client.call("GetQueues", pad="")
        base = len(str(pbx.last.url))
        pbx.requests.clear()
        # The longest URL httpx accepts goes out; one character more is refused unsent.
        await client.call("GetQueues", pad="x" * (MAX_URL_LENGTH - base))
        assert len(str(pbx.last.url)) == MAX_URL_LENGTH
        with pytest.raises(DaktelaUsageError, match="characters long"):
            await client.call("GetQueues", pad="x" * (MAX_URL_LENGTH - base + 1))
        with pytest.raises(DaktelaUsageError):
            await client.call("GetQueues", pad="x" * 70_000)
    assert len(pbx.requests) == 1


# --- headers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Agent": "Novák"},
        {"X-Note": "a\r\nInjected: 1"},
        {"X-Note": "a\nb"},
        {"X-Note": "a\x00b"},
        {"X Note": "a"},
        {"": "a"},
        {"X-Count": 3},
        ["X-Note", "a"],
    ],
)
def test_bad_headers_are_refused_when_the_client_is_made(headers: Any) -> None:
    with pytest.raises(DaktelaUsageError) as info:
        DaktelaClient("https://pbx.example.com", TOKEN, headers=headers)
    assert info.value.parameter == "headers"


async def test_headers_lose_surrounding_white_space(pbx: FakePBX, make_client: MakeClient) -> None:
    async with make_client(headers={"X-Note": "  a b\t", "X-Empty": ""}) as client:
        await client.call("GetQueues")
    assert pbx.last.headers["x-note"] == "a b"
    assert pbx.last.headers["x-empty"] == ""


async def test_a_request_h11_refuses_is_a_usage_error_not_retried(
    pbx: FakePBX, make_client: MakeClient
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.LocalProtocolError(f"Illegal header value {request.url!s}", request=request)

    pbx.answer(refuse)
    async with make_client() as client:
        with pytest.raises(DaktelaUsageError) as info:
            await client.call("GetQueues")
    assert len(pbx.requests) == 1
    assert TOKEN not in str(info.value)
    assert TOKEN not in str(info.value.__cause__)


# --- settings -----------------------------------------------------------------------------

BAD_SECONDS = [0, -1, math.nan, math.inf, "5", True, [1]]


@pytest.mark.parametrize("value", BAD_SECONDS)
def test_bad_timeouts_are_usage_errors(value: object) -> None:
    with pytest.raises(DaktelaUsageError) as info:
        DaktelaClient("https://pbx.example.com", TOKEN, timeout=value)  # type: ignore[arg-type]
    assert info.value.parameter == "timeout"
    assert isinstance(info.value, ValueError)  # what these settings raised before
    with pytest.raises(DaktelaUsageError) as info:
        Timeouts(read=value)  # type: ignore[arg-type]
    assert info.value.parameter == "read"


@pytest.mark.parametrize("value", [-1, 2.5, "3", None])
def test_bad_retry_counts_are_usage_errors(value: object) -> None:
    with pytest.raises(DaktelaUsageError) as info:
        RetryPolicy.of(value)  # type: ignore[arg-type]
    assert info.value.parameter == "retries"


def test_bad_retries_setting_is_a_usage_error() -> None:
    with pytest.raises(DaktelaUsageError) as info:
        DaktelaClient("https://pbx.example.com", TOKEN, retries=-1)
    assert info.value.parameter == "retries"


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": 1.5}, "max_attempts"),
        ({"backoff_initial": -1}, "backoff_initial"),
        ({"backoff_max": math.nan}, "backoff_max"),
        ({"retry_after_max": "30"}, "retry_after_max"),
        ({"sleep": None}, "sleep"),
        ({"jitter": 0.5}, "jitter"),
    ],
)
def test_bad_retry_policies_are_usage_errors(kwargs: dict[str, Any], parameter: str) -> None:
    with pytest.raises(DaktelaUsageError) as info:
        RetryPolicy(**kwargs)
    assert info.value.parameter == parameter


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"shard_connections": 0}, "shard_connections"),
        ({"max_shards": 2.5}, "max_shards"),
        ({"keepalive_expiry": -1}, "keepalive_expiry"),
    ],
)
def test_bad_pool_limits_are_usage_errors(kwargs: dict[str, Any], parameter: str) -> None:
    with pytest.raises(DaktelaUsageError) as info:
        PoolLimits(**kwargs)
    assert info.value.parameter == parameter


@pytest.mark.parametrize(
    ("kwargs", "parameter", "message"),
    [
        ({"limits": 10}, "limits", "limits must be a PoolLimits, not int"),
        (
            {"transport_factory": "httpx"},
            "transport_factory",
            "transport_factory must be a callable",
        ),
        ({"token_in": "header"}, "token_in", "token_in must be 'query' or 'cookie', not 'header'"),
    ],
)
def test_bad_client_settings_are_usage_errors(
    kwargs: dict[str, Any], parameter: str, message: str
) -> None:
    with pytest.raises(DaktelaUsageError) as info:
        DaktelaClient("https://pbx.example.com", TOKEN, **kwargs)
    assert info.value.parameter == parameter
    assert str(info.value) == message


@pytest.mark.parametrize(("option", "value"), [("timeout", 0), ("retries", -1)])
async def test_bad_per_call_options_are_usage_errors_unsent(
    pbx: FakePBX, make_client: MakeClient, option: str, value: int
) -> None:
    options: dict[str, Any] = {option: value}
    async with make_client() as client:
        with pytest.raises(DaktelaUsageError) as info:
            await client.call("GetQueues", **options)
    assert info.value.parameter == option
    assert pbx.requests == []


@pytest.mark.parametrize("retry_number", [1023, 1025, 10**6, 2**70])
def test_backoff_never_overflows(retry_number: int) -> None:
    policy = RetryPolicy(backoff_initial=0.5, backoff_max=8.0, jitter=lambda ceiling: ceiling)
    assert policy.delay(retry_number) == 8.0
    unbounded = RetryPolicy(backoff_max=math.inf, jitter=lambda ceiling: ceiling)
    assert math.isfinite(unbounded.delay(retry_number))


def test_backoff_below_the_cap_is_unchanged() -> None:
    policy = RetryPolicy(backoff_initial=0.5, backoff_max=100.0, jitter=lambda ceiling: ceiling)
    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 8.0]


def test_parse_php_query_reads_the_percent_encoded_token() -> None:
    assert parse_php_query("access_token=a%26b%23c") == {"access_token": "a&b#c"}


# --- parameter values against the document ------------------------------------------------
#
# check_params is what DaktelaClient.call (and through it every typed method) runs before
# encoding; check_all_params adds the checks of names that the command line's `call` makes.

WHEN = dt.datetime(2024, 1, 2, 3, 4, 5)
DATETIME_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")


class Direction(enum.Enum):
    IN = "in"
    SIDEWAYS = "sideways"


def _check(action: str, **params: object) -> Mapping[str, object]:
    return check_params(ACTIONS[action], params)


@pytest.mark.parametrize(
    ("action", "params", "parameter", "problem"),
    [
        ("GetAttempts", {"take": "ten"}, "take", "must be an integer, not 'ten'"),
        ("GetAttempts", {"take": True}, "take", "must be an integer, not True"),
        ("GetAttempts", {"take": 2.0}, "take", "must be an integer"),
        ("GetAttempts", {"take": "1e3"}, "take", "must be an integer"),
        ("GetAttempts", {"take": " 10"}, "take", "must be an integer"),
        ("GetAttempts", {"take": "\u0661\u0660"}, "take", "must be an integer"),  # Arabic 10
        ("GetAttempts", {"take": ["10"]}, "take", "must be an integer, not a list"),
        ("GetAttempts", {"take": -1}, "take", "must be between 0 and 1000, not -1"),
        ("GetAttempts", {"take": 1001}, "take", "must be between 0 and 1000, not 1001"),
        ("StatsCalls", {"take": "5000"}, "take", "must be between 0 and 1000, not 5000"),
        ("GetAttempts", {"take": "9" * 5000}, "take", "must be between 0 and 1000"),
        ("StatsUsersPauses", {"skip": -5}, "skip", "must be at least 0, not -5"),
        ("StatsUsersPauses", {"take": -1}, "take", "must be at least 0, not -1"),
        ("LoginQueue", {"priority": 3}, "priority", "must be between 0 and 2, not 3"),
        ("CreateCall", {"waitingtime": "30s"}, "waitingtime", "must be an integer"),
        ("CDR", {"min_price_call": "cheap"}, "min_price_call", "must be a number, not 'cheap'"),
        ("CDR", {"min_price_call": math.nan}, "min_price_call", "must be a number"),
        ("CDR", {"min_price_call": False}, "min_price_call", "must be a number"),
        (
            "GetAttempts",
            {"datetime_from": "2024-01-02"},
            "datetime_from",
            "must be a datetime or text in the form YYYY-MM-DD HH:MM:SS, not '2024-01-02'",
        ),
        ("GetAttempts", {"datetime_from": "2024-1-2 3:04:05"}, "datetime_from", "the form"),
        ("GetAttempts", {"datetime_from": "2024-01-02T03:04:05"}, "datetime_from", "the form"),
        ("GetAttempts", {"datetime_to": "2024-01-02 03:04:05 "}, "datetime_to", "the form"),
        ("GetAttempts", {"datetime_to": 1704164645}, "datetime_to", "not 1704164645"),
        (
            "GetAttempts",
            {"datetime_from": "2024-02-30 00:00:00"},
            "datetime_from",
            "is not a real date and time",
        ),
        ("GetAttempts", {"datetime_from": "2024-01-02 24:00:00"}, "datetime_from", "real"),
        (
            "GetAttempts",
            {"datetime_from": "2024-01-02 03:60:00"},
            "datetime_from",
            "is not a real date and time: '2024-01-02 03:60:00'",
        ),
        ("GetAttempts", {"datetime_from": "2024-01-02 03:04:60"}, "datetime_from", "real"),
        ("CallScriptClose", {"nextcall": "0000-00-00 00:00:00"}, "nextcall", "real"),
        (
            "CreateCall",
            {"autoanswer": "true"},
            "autoanswer",
            "must be True or False (sent as 'yes'/'no'), or the text 'yes'/'no', not 'true'",
        ),
        ("CreateCall", {"autoanswer": 1}, "autoanswer", "not 1"),
        ("PauseOn", {"force": "YES"}, "force", "'yes'/'no'"),
        ("CreateQueue", {"outbounder": "yes"}, "outbounder", "'true'/'false', not 'yes'"),
        ("CreateQueue", {"outbounder": "1"}, "outbounder", "'true'/'false'"),
        ("LastCallNumber", {"answered": "1"}, "answered", "'yes'/'no'/'true'/'false'"),
        (
            "CreateQueue",
            {"direction": "sideways"},
            "direction",
            "must be one of 'in', 'out', not 'sideways'",
        ),
        ("CreateQueue", {"direction": Direction.SIDEWAYS}, "direction", "must be one of"),
        ("CreateQueue", {"title": ["a", "b"]}, "title", "takes one value, not a list"),
        ("CreateQueue", {"title": {"k": "v"}}, "title", "takes one value, not a dict"),
        ("RTStatsQueuesSummary", {"users": [["1"]]}, "users", "items must be strings or numbers"),
        ("RTStatsQueuesSummary", {"users": [True]}, "users", "not True"),
        ("RTStatsQueuesSummary", {"users": {1, 2}}, "users", "not a set"),
        ("ExportData", {"actions": ["0", "9"]}, "actions", "must be one of"),
        (
            "CreateRemoteCall",
            {"variables": "myid=1"},
            "variables",
            "must be a mapping (a keyed array), not 'myid=1'",
        ),
    ],
)
def test_values_outside_the_document_are_refused(
    action: str, params: dict[str, object], parameter: str, problem: str
) -> None:
    with pytest.raises(DaktelaUsageError) as info:
        check_params(ACTIONS[action], params)
    assert info.value.action == action
    assert info.value.parameter == parameter
    assert str(info.value).startswith(f"{action}: parameter {parameter!r} ")
    assert problem in str(info.value)


def _token_run_in(text: str) -> bool:
    """Whether *text* shows eight consecutive characters of TOKEN (a partial echo)."""
    return any(TOKEN[i : i + 8] in text.lower() for i in range(len(TOKEN) - 7))


def test_a_long_value_is_described_never_cut() -> None:
    """A cut value would show part of a token that redaction, looking for all of it, misses."""
    with pytest.raises(DaktelaUsageError) as info:
        _check("GetAttempts", take="x" * 100)
    assert str(info.value).endswith("must be an integer, not a str of 100 characters")
    # Up to 64 characters (quotes included) a value is quoted whole.
    with pytest.raises(DaktelaUsageError) as info:
        _check("GetAttempts", take="x" * 62)
    assert str(info.value).endswith(f"must be an integer, not {'x' * 62!r}")
    with pytest.raises(DaktelaUsageError) as info:
        _check("GetAttempts", take="x" * 63)
    assert str(info.value).endswith("must be an integer, not a str of 63 characters")
    with pytest.raises(DaktelaUsageError) as info:
        _check("GetAttempts", take=TOKEN)
    assert repr(TOKEN) in str(info.value)  # whole, so that the command line's redaction works


def test_the_token_passed_as_a_value_is_blanked() -> None:
    for value in (TOKEN, TOKEN.upper(), f"x{TOKEN[3:30]}"):
        with pytest.raises(DaktelaUsageError) as info:
            check_params(ACTIONS["GetAttempts"], {"take": value}, secret=TOKEN)
        assert not _token_run_in(str(info.value)), str(info.value)
        # Only the token is blanked: the message still says what is wrong.
        assert str(info.value).startswith("GetAttempts: parameter 'take' must be an integer, not")
        assert info.value.parameter == "take"
        assert info.value.action == "GetAttempts"


@pytest.mark.parametrize(
    ("action", "params", "sent"),
    [
        ("GetAttempts", {"take": 1000, "skip": 0}, {"take": 1000, "skip": 0}),
        ("GetAttempts", {"take": "1000", "skip": "20"}, {"take": "1000", "skip": "20"}),
        # Only GetAttempts and StatsCalls document the cap of 1000.
        ("StatsUsersPauses", {"take": 5000}, {"take": 5000}),
        ("LoginQueue", {"priority": "2"}, {"priority": "2"}),
        ("CDR", {"min_price_call": "1.20"}, {"min_price_call": "1.20"}),
        ("CDR", {"min_price_call": 3}, {"min_price_call": 3}),
        ("CreateCall", {"autoanswer": True}, {"autoanswer": "yes"}),
        ("CreateCall", {"autoanswer": False}, {"autoanswer": "no"}),
        ("CreateCall", {"autoanswer": "no"}, {"autoanswer": "no"}),
        ("CreateQueue", {"outbounder": True}, {"outbounder": "true"}),
        ("CreateQueue", {"outbounder": "false"}, {"outbounder": "false"}),
        ("LastCallNumber", {"answered": True}, {"answered": "yes"}),
        ("LastCallNumber", {"answered": "true"}, {"answered": "true"}),
        ("LastCallNumber", {"answered": "no"}, {"answered": "no"}),
        ("GetAttempts", {"datetime_from": WHEN}, {"datetime_from": "2024-01-02 03:04:05"}),
        (
            "GetAttempts",
            {"datetime_to": dt.date(2024, 1, 31)},
            {"datetime_to": "2024-01-31 00:00:00"},
        ),
        (
            "GetAttempts",
            {"datetime_from": "2024-02-29 23:59:59"},
            {"datetime_from": "2024-02-29 23:59:59"},
        ),
        (
            "GetAttempts",
            {"datetime_from": dt.datetime(2024, 1, 2, 3, 4, 5, 999999, tzinfo=dt.UTC)},
            {"datetime_from": "2024-01-02 03:04:05"},
        ),
        ("CreateQueue", {"direction": "in"}, {"direction": "in"}),
        ("CreateQueue", {"direction": Direction.IN}, {"direction": Direction.IN}),
        ("RTStatsQueuesSummary", {"users": "3"}, {"users": "3"}),
        ("RTStatsQueuesSummary", {"users": (3, "4")}, {"users": (3, "4")}),
        ("CreateRemoteCall", {"variables": {"myid": 1}}, {"variables": {"myid": 1}}),
        # Not in the catalogue: sent as given.
        ("GetQueues", {"pad": object()}, None),
        ("GetAttempts", {"take": None}, {"take": None}),
    ],
)
def test_values_in_the_document_form_pass(
    action: str, params: dict[str, object], sent: dict[str, object] | None
) -> None:
    result = check_params(ACTIONS[action], params)
    assert result == (params if sent is None else sent)


def test_nothing_is_copied_when_nothing_changes() -> None:
    params: dict[str, object] = {"take": 10, "skip": "0", "users": ["1"]}
    assert check_params(ACTIONS["GetAttempts"], params) is params
    rewritten = check_params(ACTIONS["CreateCall"], {"number": "1", "autoanswer": True})
    assert rewritten == {"number": "1", "autoanswer": "yes"}


@pytest.mark.parametrize("first", [{"skip": None}, {"pad": "x"}])
def test_values_after_one_left_unchecked_are_checked(first: dict[str, object]) -> None:
    """A value not given (None), or a name the catalogue does not list, ends nothing."""
    with pytest.raises(DaktelaUsageError) as info:
        check_params(ACTIONS["GetAttempts"], {**first, "take": "ten"})
    assert info.value.parameter == "take"


def test_an_action_the_catalogue_does_not_know_is_not_checked() -> None:
    params: dict[str, object] = {"take": "ten"}
    assert check_params(None, params) is params


def test_a_date_parameter_takes_a_date_not_a_datetime() -> None:
    spec = ActionSpec(
        name="Dated", version="3.0", sections=("X",), params=(ParamSpec("day", type="date"),)
    )
    assert check_params(spec, {"day": dt.date(999, 3, 4)}) == {"day": "0999-03-04"}
    assert check_params(spec, {"day": "2024-03-04"}) == {"day": "2024-03-04"}
    for bad, problem in [
        (WHEN, "is a date: pass a datetime.date (value.date()), not a datetime"),
        (
            "2024-03-04 00:00:00",
            "must be a date or text in the form YYYY-MM-DD, not '2024-03-04 00:00:00'",
        ),
        ("2023-02-29", "is not a real date: '2023-02-29'"),
        (20240304, "must be a date or text in the form YYYY-MM-DD, not 20240304"),
    ]:
        with pytest.raises(DaktelaUsageError) as info:
            check_params(spec, {"day": bad})
        assert str(info.value) == f"Dated: parameter 'day' {problem}"
        assert info.value.action == "Dated"
        assert info.value.parameter == "day"


def test_a_changed_spec_gets_its_own_checks() -> None:
    """The per-action cache of checks is rebuilt for a spec that is not the cached one."""
    loose = ActionSpec(name="Twin", version="3.0", sections=("X",), params=(ParamSpec("n"),))
    strict = ActionSpec(
        name="Twin", version="3.0", sections=("X",), params=(ParamSpec("n", type="int"),)
    )
    assert check_params(loose, {"n": "many"}) == {"n": "many"}
    with pytest.raises(DaktelaUsageError):
        check_params(strict, {"n": "many"})
    assert check_params(loose, {"n": "many"}) == {"n": "many"}


def test_integer_checks_follow_the_spec() -> None:
    """What the catalogue states of an integer is checked: a bound alone, an enumeration.

    No action of today's document has either on an integer; the document is regenerated,
    and the checks must follow whatever it says.
    """
    spec = ActionSpec(
        name="Counted",
        version="3.0",
        sections=("X",),
        params=(
            ParamSpec("most", type="int", maximum=5),
            ParamSpec("level", type="int", choices=("1", "2")),
            ParamSpec("free", type="int"),
        ),
    )
    sent: dict[str, object] = {"most": -7, "level": 2, "free": -3}
    assert check_params(spec, sent) is sent
    assert check_params(spec, {"most": "5", "level": "1"}) == {"most": "5", "level": "1"}
    bad: list[tuple[str, object, str]] = [
        ("most", 6, "must be at most 5, not 6"),
        ("most", "9" * 5000, "must be at most 5"),
        ("level", 3, "must be one of '1', '2', not 3"),
        ("level", "12", "must be one of '1', '2', not '12'"),
    ]
    for name, value, problem in bad:
        with pytest.raises(DaktelaUsageError) as info:
            check_params(spec, {name: value})
        assert str(info.value) == f"Counted: parameter {name!r} {problem}"
        assert info.value.action == "Counted"
        assert info.value.parameter == name


def test_integers_the_document_leaves_open_may_be_negative() -> None:
    """Only skip and take are held at 0 or more where the document gives no minimum."""
    assert _check("CreateCall", waitingtime=-1, dialingtime="-30") == {
        "waitingtime": -1,
        "dialingtime": "-30",
    }


@given(st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31)))
def test_every_datetime_is_sent_in_the_document_form(when: dt.datetime) -> None:
    sent = _check("GetAttempts", datetime_from=when)["datetime_from"]
    assert isinstance(sent, str)
    assert DATETIME_TEXT.fullmatch(sent)
    assert dt.datetime.strptime(sent, "%Y-%m-%d %H:%M:%S") == when.replace(microsecond=0)
    # The encoder writes a datetime the same way when it meets one unchecked.
    assert encode_params({"t": when}) == [("t", sent)]
    # And the text form passes the check unchanged.
    assert _check("GetAttempts", datetime_from=sent)["datetime_from"] == sent


@given(st.integers(min_value=0, max_value=1000), st.booleans())
def test_every_count_up_to_the_cap_is_accepted(count: int, as_text: bool) -> None:
    value: object = str(count) if as_text else count
    assert _check("GetAttempts", take=value, skip=value) == {"take": value, "skip": value}


@given(st.one_of(st.integers(max_value=-1), st.integers(min_value=1001)), st.booleans())
def test_every_count_outside_the_cap_is_refused(count: int, as_text: bool) -> None:
    with pytest.raises(DaktelaUsageError) as info:
        _check("GetAttempts", take=str(count) if as_text else count)
    assert info.value.parameter == "take"


@given(st.text().filter(lambda text: not re.fullmatch(r"-?[0-9]+", text)))
def test_text_that_is_not_an_integer_is_refused(text: str) -> None:
    with pytest.raises(DaktelaUsageError, match="must be an integer"):
        _check("StatsUsersPauses", skip=text)


@given(st.text().filter(lambda text: not DATETIME_TEXT.fullmatch(text)))
def test_text_that_is_not_a_datetime_is_refused(text: str) -> None:
    with pytest.raises(DaktelaUsageError, match="YYYY-MM-DD HH:MM:SS"):
        _check("StatsCalls", datetime_to=text)


@pytest.mark.parametrize(
    ("action", "params", "parameter", "problem"),
    [
        ("RTUserState", {"usr": "hajek"}, "usr", "unknown parameter 'usr'; did you mean 'user'?"),
        ("RTUserState", {"user": "hajek", "qqq": "1"}, "qqq", "unknown parameter 'qqq'"),
        ("PauseOn", {"user": "hajek"}, "pause", "missing mandatory parameter 'pause'"),
        ("PauseOn", {"pause": "7"}, "user", "needs one of 'user', 'extension'"),
        (
            "PauseOn",
            {"pause": "7", "user": "hajek", "extension": "100"},
            "extension",
            "takes only one of 'user', 'extension', got 'user' and 'extension'",
        ),
        ("GetAttempts", {"datetime_from": WHEN, "datetime_to": WHEN, "take": "ten"}, "take", ""),
    ],
)
def test_the_command_line_checks_names_too(
    action: str, params: dict[str, object], parameter: str, problem: str
) -> None:
    with pytest.raises(DaktelaUsageError) as info:
        check_all_params(ACTIONS[action], params)
    assert info.value.action == action
    assert info.value.parameter == parameter
    assert str(info.value).startswith(f"{action}: ")
    assert str(info.value).endswith(problem)


def test_every_example_of_the_document_passes_the_checks() -> None:
    """The document's own requests are valid: the checks are not stricter than it is."""
    examples = json.loads((Path(__file__).parent / "data" / "doc_examples.json").read_text())
    checked = 0
    for example in examples:
        # The document renders "&para" as an HTML entity (CreateEvent's &params[...]).
        url = example["input"].replace("\u00b6", "&para")
        params = parse_php_query(urlsplit(url).query)
        params.pop("access_token", None)
        spec = ACTIONS[example["action"]]
        check_params(spec, params)
        if example["action"] != "SetSMSSettings":  # its callback URL is not encoded
            check_all_params(spec, params)
        checked += 1
    assert checked == 133


# The client runs check_params on every call (typed methods go through DaktelaClient.call).


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"take": "ten"}, "take"),
        ({"take": 5000}, "take"),
        ({"skip": -1}, "skip"),
        ({"datetime_from": "2024-01-02"}, "datetime_from"),
    ],
)
async def test_call_refuses_values_outside_the_document_unsent(
    pbx: FakePBX, make_client: MakeClient, params: dict[str, object], parameter: str
) -> None:
    async with make_client() as client:
        with pytest.raises(DaktelaUsageError) as info:
            await client.call("GetAttempts", query=params)
    assert info.value.parameter == parameter
    assert pbx.requests == []


async def test_call_sends_booleans_and_datetimes_in_the_document_form(
    pbx: FakePBX, make_client: MakeClient
) -> None:
    async with make_client() as client:
        await client.call("CreateCall", user="hajek", number="1", autoanswer=True)
        assert pbx.last_query()["autoanswer"] == "yes"
        await client.call("GetAttempts", datetime_from=dt.date(2024, 1, 2), take="10")
        assert pbx.last_query()["datetime_from"] == "2024-01-02 00:00:00"


async def test_call_never_shows_the_token_passed_as_a_value(
    pbx: FakePBX, make_client: MakeClient
) -> None:
    async with make_client() as client:
        with pytest.raises(DaktelaUsageError) as info:
            await client.call("GetAttempts", take=TOKEN)
    assert info.value.parameter == "take"
    assert not _token_run_in(str(info.value))
    assert pbx.requests == []


async def test_typed_methods_refuse_values_outside_the_document_unsent(
    pbx: FakePBX, make_client: MakeClient
) -> None:
    async with make_client() as client:
        with pytest.raises(DaktelaUsageError) as info:
            await client.calls.get_attempts(datetime_from=WHEN, datetime_to=WHEN, take=5000)
    assert info.value.parameter == "take"
    assert pbx.requests == []
