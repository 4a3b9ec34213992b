"""The token's holder and the token-bearing request; the boundary that detaches httpx's errors."""

from __future__ import annotations

import traceback
from typing import Any

import httpx
import pytest

from daktela_async import DaktelaConnectError, DaktelaTimeoutError
from daktela_async._transport import _token
from daktela_async._transport._token import Secret, SecretRequest
from tests.conftest import MakeClient
from tests.support import TOKEN, FakePBX

URLS = [
    "https://pbx.example.com/api/4.1/GetQueues/json",
    "https://pbx.example.com/api/4.1/RTUserState/json?user=novak&hash=abc",
    "http://127.0.0.1:8765/prefix/api/3.0/GetUsers/n%C3%A1k/json?x[]=a%20b&y[k]=%2F",
    "http://[::1]:8765/api/4.1/GetQueues/json?q=%C5%A1",
]


def test_the_secret_shows_nothing_and_holds_no_token_string() -> None:
    secret = Secret(TOKEN)
    assert secret.value == TOKEN
    assert repr(secret) == str(secret) == "***"
    assert f"{secret}" == "***"
    held = [getattr(secret, name) for name in Secret.__slots__]
    assert all(TOKEN.encode() not in bytes(value) for value in held)


def test_the_secret_redacts_plain_and_percent_encoded_forms() -> None:
    secret = Secret("a&b c")
    assert secret.quoted == "a%26b%20c"
    assert secret.redact("x a&b c y a%26b%20c z") == "x *** y *** z"


@pytest.mark.parametrize("url", URLS)
def test_adding_the_token_equals_parsing_the_whole_url(url: str) -> None:
    pair = "access_token=a%26b"
    whole = httpx.URL(url + ("&" if "?" in url else "?") + pair)
    added = _token._with_query(httpx.URL(url), pair, "shown")
    assert str(added) == str(whole)
    assert added.raw_path == whole.raw_path
    assert added.query == whole.query
    assert added == whole


@pytest.mark.parametrize("url", URLS)
def test_the_general_path_gives_the_same_url(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    pair = "access_token=a%26b"
    fast = _token._with_query(httpx.URL(url), pair, "shown")
    monkeypatch.setattr(_token, "_parsed", lambda _url: None)
    slow = _token._with_query(httpx.URL(url), pair, "shown")
    assert str(slow) == str(fast)
    assert isinstance(slow, _token._SecretURL)


def test_the_installed_httpx_takes_the_fast_path() -> None:
    # Adding the token without a second parse relies on httpx keeping a parsed URL as a
    # NamedTuple; if a release changes that, the general path is taken (and this fails).
    assert _token._parsed(httpx.URL(URLS[1])) is not None


@pytest.mark.parametrize("placement", ["query", "cookie"])
def test_the_request_carries_the_token_and_shows_it_nowhere(placement: Any) -> None:
    shown = "https://pbx.example.com/api/4.1/GetQueues/json?user=novak"
    if placement == "query":
        shown += "&access_token=***"
    request = SecretRequest(
        httpx.URL("https://pbx.example.com/api/4.1/GetQueues/json?user=novak"),
        httpx.Headers({"User-Agent": "daktela-async"}),
        secret=Secret(TOKEN),
        placement=placement,
        shown_url=shown,
    )
    for text in (repr(request), repr(request.url), repr(request.headers), repr(vars(request))):
        assert TOKEN not in text
    assert repr(request) == f"<Request('GET', {shown!r})>"
    if placement == "query":
        assert request.url.params["access_token"] == TOKEN
        assert "cookie" not in request.headers
    else:
        assert request.headers["cookie"] == f"access_token={TOKEN}"
        assert "access_token" not in str(request.url)
    assert request.headers["host"] == "pbx.example.com"
    assert request.headers["user-agent"] == "daktela-async"


@pytest.mark.anyio
@pytest.mark.parametrize("token_in", ["query", "cookie"])
async def test_the_cause_is_detached_from_the_request_and_the_transport(
    pbx: FakePBX, make_client: MakeClient, token_in: str
) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        # aiohttp's messages quote the URL (its ClientResponseError, mapped by our
        # aiohttp transport); and httpx's exceptions may carry the request.
        detail = f"400, message='Invalid', url={str(request.url)!r}, {request.headers!r}"
        raise httpx.RemoteProtocolError(detail + TOKEN, request=request)

    pbx.answer(fail)
    async with make_client(token_in=token_in, retries=0) as client:
        with pytest.raises(DaktelaConnectError) as info:
            await client.call("GetQueues")
    error = info.value
    cause = error.__cause__
    assert isinstance(cause, httpx.RemoteProtocolError)
    assert error.__context__ is cause
    assert cause.__traceback__ is None
    assert cause.__cause__ is None
    assert cause.__context__ is None
    with pytest.raises(RuntimeError):
        _ = cause.request
    assert "400, message='Invalid'" in str(cause)
    for text in (str(error), str(cause), *traceback.format_exception(error)):
        assert TOKEN not in text


@pytest.mark.anyio
async def test_a_timeout_cause_keeps_its_type_and_message(
    pbx: FakePBX, make_client: MakeClient
) -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    pbx.answer(slow)
    async with make_client(retries=0) as client:
        with pytest.raises(DaktelaTimeoutError) as info:
            await client.call("GetQueues")
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)
    assert str(info.value.__cause__) == "timed out"
    assert "ReadTimeout: timed out" in str(info.value)


@pytest.mark.anyio
async def test_the_exception_the_caller_is_handling_is_left_alone(
    pbx: FakePBX, make_client: MakeClient
) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    pbx.answer(fail)
    handled = ValueError("the caller's own")
    async with make_client(retries=0) as client:
        try:
            raise handled
        except ValueError:
            traceback_before = handled.__traceback__
            with pytest.raises(DaktelaConnectError) as info:
                await client.call("GetQueues")
    assert traceback_before is not None
    assert handled.__traceback__ is traceback_before
    assert info.value.__cause__ is not None
    assert info.value.__cause__.__context__ is None
