"""Whatever the caller passes, the client answers with DaktelaUsageError before sending.

The token (stripped, refused when it holds control characters, percent-encoded), the
parameters (too long, not valid Unicode, nested without end), the extra headers, and
every setting: none of them may surface as a raw httpx, Unicode or recursion error, or
as a "connection error" that is then retried.
"""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest

from daktela_async import (
    DaktelaClient,
    DaktelaUsageError,
    PoolLimits,
    RetryPolicy,
    Timeouts,
)
from daktela_async._transport._query import MAX_NESTING, parse_php_query
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
    ("kwargs", "parameter"),
    [({"limits": 10}, "limits"), ({"transport_factory": "httpx"}, "transport_factory")],
)
def test_bad_client_settings_are_usage_errors(kwargs: dict[str, Any], parameter: str) -> None:
    with pytest.raises(DaktelaUsageError) as info:
        DaktelaClient("https://pbx.example.com", TOKEN, **kwargs)
    assert info.value.parameter == parameter


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
