"""The client: URLs, tokens (query, cookie, redaction), versions, raw answers, settings."""

from __future__ import annotations

import functools
import hashlib
import logging
import ssl
import traceback
import types
from typing import Any

import anyio
import httpx
import pytest

from daktela_async import (
    NOT_GIVEN,
    DaktelaAPIError,
    DaktelaClient,
    DaktelaConnectError,
    DaktelaDecodeError,
    DaktelaError,
    DaktelaHTTPStatusError,
    DaktelaTimeoutError,
    DaktelaUsageError,
    DaktelaVersionError,
    RetryPolicy,
    Timeouts,
    TransportOptions,
    _client,
)
from daktela_async._config import API_VERSIONS
from daktela_async.endpoints import NAMESPACES
from tests.conftest import MakeClient
from tests.support import TOKEN, FakePBX, SleepRecorder

pytestmark = pytest.mark.anyio


async def test_call_builds_the_documented_url(pbx: FakePBX, make_client: MakeClient) -> None:
    pbx.ok({"queue": "3"})
    async with make_client() as client:
        assert await client.call("GetQueues", 3) == {"queue": "3"}
    assert pbx.last.url.path == "/api/3.0/GetQueues/3/json"
    assert pbx.last.method == "GET"
    assert pbx.last_query() == {"access_token": TOKEN}


async def test_params_are_encoded_php_style(pbx: FakePBX, make_client: MakeClient) -> None:
    async with make_client() as client:
        await client.call(
            "CDR",
            datetime_from="2012-03-01 00:00:00",
            datetime_to="2012-03-31 23:59:59",
            real_extens=["300", "500"],
            direction="out",
            min_price_call=None,
        )
    assert pbx.last.url.path == "/api/3.5/CDR/json"
    assert pbx.last_query() == {
        "datetime_from": "2012-03-01 00:00:00",
        "datetime_to": "2012-03-31 23:59:59",
        "real_extens": ["300", "500"],
        "direction": "out",
        "access_token": TOKEN,
    }


async def test_query_carries_names_that_clash_with_call_arguments(
    pbx: FakePBX, make_client: MakeClient
) -> None:
    async with make_client() as client:
        await client.call("MoveRecords", query={"id": "5"}, queue="7", action="x")
    assert pbx.last_query() == {"id": "5", "queue": "7", "action": "x", "access_token": TOKEN}
    assert pbx.last.url.path.endswith("/MoveRecords/json")


@pytest.mark.parametrize(
    ("params", "version"),
    [
        ({"extension": "300", "number": "800123456"}, "3.0"),  # non call-centre form
        ({"user": "michalhajek", "number": "800123456"}, "3.1"),  # call-centre form
    ],
)
async def test_overloads_pick_their_form_version(
    pbx: FakePBX, make_client: MakeClient, params: dict[str, str], version: str
) -> None:
    async with make_client() as client:
        await client.call("CreateCall", query=params)
    assert pbx.last.url.path == f"/api/{version}/CreateCall/json"


async def test_the_form_is_picked_from_every_parameter(
    pbx: FakePBX, make_client: MakeClient
) -> None:
    async with make_client() as client:
        # A name the catalogue does not list, given first, leaves the others deciding.
        await client.call("CreateCall", custom="1", extension="300", number="800123456")
    assert pbx.last.url.path == "/api/3.0/CreateCall/json"
    async with make_client(api_version="3.1") as client:
        # The newest form allowed is the one that user needs.
        await client.call("CreateCall", user="michalhajek", number="800123456")
    assert pbx.last.url.path == "/api/3.1/CreateCall/json"


async def test_long_poll_form_is_used_when_the_client_allows_it(
    pbx: FakePBX, make_client: MakeClient
) -> None:
    async with make_client() as client:
        await client.call("RTUserState", user="demouser")
    assert pbx.last.url.path == "/api/4.0/RTUserState/json"
    async with make_client(api_version="3.9") as client:
        await client.call("RTUserState", user="demouser")
    assert pbx.last.url.path == "/api/3.9/RTUserState/json"


async def test_newest_allowed_form_is_used(pbx: FakePBX, make_client: MakeClient) -> None:
    async with make_client() as client:
        await client.call("GetPauses")
    assert pbx.last.url.path == "/api/3.3/GetPauses/json"
    async with make_client(api_version="3.2") as client:
        await client.call("GetPauses")
    assert pbx.last.url.path == "/api/3.0/GetPauses/json"


async def test_explicit_version_overrides(pbx: FakePBX, make_client: MakeClient) -> None:
    async with make_client() as client:
        await client.call("GetQueues", version="4.1")
    assert pbx.last.url.path == "/api/4.1/GetQueues/json"


async def test_action_newer_than_api_version_is_refused_before_sending(
    pbx: FakePBX, make_client: MakeClient
) -> None:
    async with make_client(api_version="4.0") as client:
        with pytest.raises(DaktelaVersionError) as info:
            await client.call("RTUsersState")
    assert info.value.required == "4.1"
    assert info.value.configured == "4.0"
    assert info.value.action == "RTUsersState"
    assert "4.1" in str(info.value)
    assert pbx.requests == []


async def test_parameter_newer_than_api_version_is_refused(
    pbx: FakePBX, make_client: MakeClient
) -> None:
    async with make_client(api_version="3.9") as client:
        with pytest.raises(DaktelaVersionError) as info:
            await client.call("RTUserState", user="demouser", hash="abc")
    assert info.value.parameter == "hash"
    assert info.value.action == "RTUserState"
    assert info.value.required == "4.0"
    assert info.value.configured == "3.9"
    assert str(info.value) == (
        "RTUserState: parameter 'hash' needs API version 4.0, but the client is configured for 3.9"
    )
    assert pbx.requests == []


async def test_parameters_of_different_forms_cannot_be_mixed(
    pbx: FakePBX, make_client: MakeClient
) -> None:
    async with make_client() as client:
        with pytest.raises(DaktelaUsageError) as info:
            # queue and user both need the 3.1 form: the first one is named.
            await client.call("CreateCall", extension="300", queue="5", user="x", number="1")
    assert str(info.value) == (
        "CreateCall: parameters 'queue' and 'extension' belong to different forms of the "
        "action and cannot be combined"
    )
    assert info.value.action == "CreateCall"
    assert info.value.parameter == "extension"
    assert pbx.requests == []


async def test_unsendable_value_is_a_usage_error(pbx: FakePBX, make_client: MakeClient) -> None:
    async with make_client() as client:
        with pytest.raises(DaktelaUsageError, match="cannot send"):
            await client.call("GetQueues", weird=object())
    assert pbx.requests == []


async def test_bad_action_names_and_formats_are_refused(
    pbx: FakePBX, make_client: MakeClient
) -> None:
    async with make_client() as client:
        with pytest.raises(DaktelaUsageError) as info:
            await client.call("../GetQueues")
        assert str(info.value) == "invalid action name '../GetQueues'"
        assert info.value.action == "../GetQueues"
        with pytest.raises(DaktelaUsageError) as info:
            await client.call("GetQueues", format="xml")
        assert str(info.value) == (
            "GetQueues: call() decodes JSON envelopes; use call_raw() for format='xml'"
        )
        assert info.value.action == "GetQueues"
        assert info.value.parameter == "format"
        with pytest.raises(DaktelaUsageError) as info:
            await client.call_raw("GetQueues", format="yaml")
        assert str(info.value) == "format must be 'json' or 'xml', not 'yaml'"
        assert info.value.action == "GetQueues"
        assert info.value.parameter == "format"
    assert pbx.requests == []


@pytest.mark.parametrize(
    ("id", "path"),
    [
        ("", "/api/3.0/GetQueues/json"),
        ("a/b c?d", "/api/3.0/GetQueues/a%2Fb%20c%3Fd/json"),
        ("..", "/api/3.0/GetQueues/%2E%2E/json"),
        ("v1.2", "/api/3.0/GetQueues/v1.2/json"),
        ("X.", "/api/3.0/GetQueues/X./json"),  # only an id made of dots is rewritten
    ],
)
async def test_the_id_is_one_path_segment(
    pbx: FakePBX, make_client: MakeClient, id: str, path: str
) -> None:
    async with make_client() as client:
        await client.call("GetQueues", id)
    assert pbx.last.url.raw_path.split(b"?")[0].decode() == path


async def test_api_error_reaches_the_caller(pbx: FakePBX, make_client: MakeClient) -> None:
    pbx.answer(httpx.Response(200, json={"error": "Tato pauza nebyla nalezena", "status": 0}))
    async with make_client() as client:
        with pytest.raises(DaktelaAPIError) as info:
            await client.call("PauseOn", user="michalhajek", pause="100")
    assert info.value.message == "Tato pauza nebyla nalezena"
    assert info.value.action == "PauseOn"


async def test_call_raw_returns_status_headers_and_bytes(
    pbx: FakePBX, make_client: MakeClient
) -> None:
    pbx.answer(
        httpx.Response(
            200, content=b"<?xml version='1.0'?><result/>", headers={"content-type": "text/xml"}
        )
    )
    async with make_client() as client:
        raw = await client.call_raw("GetQueues", format="xml")
    assert pbx.last.url.path == "/api/3.0/GetQueues/xml"
    assert raw.status_code == 200
    assert raw.content.startswith(b"<?xml")
    assert raw.content_type == "text/xml"
    assert "<result/>" in raw.text


async def test_call_raw_takes_an_id_and_a_query_and_keeps_repeated_headers(
    pbx: FakePBX, make_client: MakeClient
) -> None:
    pbx.answer(
        httpx.Response(200, content=b"{}", headers=[("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")])
    )
    async with make_client() as client:
        raw = await client.call_raw("GetQueues", 3, query={"id": "5"})
    assert pbx.last.url.path == "/api/3.0/GetQueues/3/json"
    assert pbx.last_query() == {"id": "5", "access_token": TOKEN}
    assert raw.headers.get_list("set-cookie") == ["a=1", "b=2"]


async def test_non_2xx_raises_http_status_error(pbx: FakePBX, make_client: MakeClient) -> None:
    pbx.answer(httpx.Response(404, text="<html>not found</html>"))
    async with make_client() as client:
        with pytest.raises(DaktelaHTTPStatusError) as info:
            await client.call("GetQueues")
    assert info.value.status_code == 404
    assert info.value.action == "GetQueues"
    assert str(info.value) == (
        "GetQueues: HTTP 404 Not Found "
        "(https://pbx.example.com/api/3.0/GetQueues/json?access_token=***)"
    )


@pytest.mark.parametrize("status", [199, 300])
async def test_only_2xx_is_an_answer(pbx: FakePBX, make_client: MakeClient, status: int) -> None:
    pbx.answer(httpx.Response(status, json={"status": 1, "result": 1}))
    async with make_client(retries=0) as client:
        with pytest.raises(DaktelaHTTPStatusError) as info:
            await client.call("GetQueues")
    assert info.value.status_code == status
    pbx.answer(httpx.Response(299, json={"status": 1, "result": 1}))
    pbx.answers.pop(0)
    async with make_client() as client:
        assert await client.call("GetQueues") == 1


async def test_stream_raw_yields_chunks(pbx: FakePBX, make_client: MakeClient) -> None:
    audio = bytes(range(256)) * 400
    pbx.answer(httpx.Response(200, content=audio, headers={"content-type": "audio/x-wav"}))
    async with (
        make_client() as client,
        client.stream_raw("GetRecording", recording_hash="abc") as response,
    ):
        received = b"".join([chunk async for chunk in response.aiter_bytes()])
    assert received == audio


# --- the token ------------------------------------------------------------------------------


async def test_cookie_mode_keeps_the_token_out_of_the_url(
    pbx: FakePBX, make_client: MakeClient
) -> None:
    async with make_client(token_in="cookie") as client:
        await client.call("GetQueues")
    assert "access_token" not in str(pbx.last.url)
    assert pbx.last.headers["cookie"] == f"access_token={TOKEN}"


def test_from_credentials_hashes_login_and_password() -> None:
    client = DaktelaClient.from_credentials("https://pbx.example.com", "login", "password")
    expected = hashlib.sha1(b"loginpassword").hexdigest()  # noqa: S324 - the API's own scheme
    assert client._token.value == expected
    assert expected not in repr(client)
    other = DaktelaClient.from_credentials(
        "https://pbx.example.com", "login", "password", api_version="3.5", token_in="cookie"
    )
    assert other.api_version == "3.5"
    assert repr(other).endswith("token_in='cookie')")


def test_repr_shows_the_settings_never_the_token() -> None:
    client = DaktelaClient("https://pbx.example.com/api", TOKEN, api_version="3.8")
    assert repr(client) == (
        "DaktelaClient(base_url='https://pbx.example.com', api_version='3.8', token=***, "
        "token_in='query')"
    )


def test_a_client_refusing_a_setting_shows_in_a_traceback_with_locals() -> None:
    """Python 3.11's traceback module calls repr() of `self` in __init__, half made."""
    with pytest.raises(DaktelaUsageError) as info:
        DaktelaClient("https://pbx.example.com", TOKEN, token_in="header")  # type: ignore[arg-type]
    shown = "".join(
        traceback.TracebackException.from_exception(info.value, capture_locals=True).format()
    )
    assert "DaktelaClient(base_url=None, api_version=None, token=***, token_in=None)" in shown


async def test_token_never_shows_in_logs_errors_or_reprs(
    pbx: FakePBX, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url.host}", request=request)

    pbx.answer(httpx.Response(503), fail, httpx.Response(200, text=f"<html>{TOKEN}</html>"))
    caplog.set_level(logging.DEBUG, logger="daktela_async")
    client = make_client()
    seen: list[str] = [repr(client), str(client)]
    async with client:
        for _ in range(2):
            with pytest.raises(DaktelaError) as info:
                await client.call("GetQueues", retries=0)
            seen += [str(info.value), repr(info.value), *traceback.format_exception(info.value)]
            seen += [repr(getattr(info.value, "url", "")), repr(vars(info.value))]
        with pytest.raises(DaktelaError) as info:
            await client.call("GetQueues", retries=0)
        seen += [str(info.value), *traceback.format_exception(info.value), repr(vars(info.value))]
    seen.append(caplog.text)
    assert len(caplog.records) >= 3
    assert "access_token=***" in "".join(seen)
    for text in seen:
        assert TOKEN not in text


def test_prepared_requests_do_not_show_the_token() -> None:
    for token_in in ("query", "cookie"):
        client = DaktelaClient("https://pbx.example.com", TOKEN, token_in=token_in)
        prepared = client._prepare(
            "GetQueues",
            None,
            version=NOT_GIVEN,
            format="json",
            timeout=NOT_GIVEN,
            retries=NOT_GIVEN,
            params={},
        )
        assert TOKEN not in repr(prepared)


async def test_each_request_logs_one_debug_line(
    pbx: FakePBX, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="daktela_async")
    async with make_client() as client:
        await client.call("GetQueues")
    [record] = caplog.records
    assert record.levelno == logging.DEBUG
    message = record.getMessage()
    assert message.startswith("GetQueues -> 200 in ")
    assert message.endswith("ms (attempt 1)")


async def test_each_retry_is_logged_with_its_delay(
    pbx: FakePBX, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    pbx.answer(httpx.Response(503), httpx.Response(200, json={"status": 1, "result": 1}))
    caplog.set_level(logging.DEBUG, logger="daktela_async")
    sleeps = SleepRecorder()
    policy = RetryPolicy(sleep=sleeps, backoff_initial=0.5, jitter=lambda ceiling: ceiling)
    async with make_client(retries=policy) as client:
        assert await client.call("GetQueues") == 1
    messages = [record.getMessage() for record in caplog.records]
    assert messages[1] == "GetQueues: retry 1 in 0.50 s after DaktelaHTTPStatusError"
    assert messages[2].endswith("(attempt 2)")
    assert sleeps.delays == [0.5]


async def test_the_debug_line_gives_the_attempts_duration(
    pbx: FakePBX,
    make_client: MakeClient,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ticks = iter([100.0, 100.25])
    # The client's own clock only (trio's runs on the real one).
    monkeypatch.setattr(_client, "time", types.SimpleNamespace(perf_counter=lambda: next(ticks)))
    caplog.set_level(logging.DEBUG, logger="daktela_async")
    async with make_client() as client:
        await client.call("GetQueues")
    [record] = caplog.records
    assert record.getMessage() == "GetQueues -> 200 in 250.0 ms (attempt 1)"


async def test_an_attempt_with_no_answer_is_logged_and_named(
    pbx: FakePBX, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    pbx.answer(refuse)
    caplog.set_level(logging.DEBUG, logger="daktela_async")
    async with make_client(retries=0) as client:
        with pytest.raises(DaktelaConnectError) as info:
            await client.call("GetQueues")
    shown = "https://pbx.example.com/api/3.0/GetQueues/json?access_token=***"
    assert info.value.action == "GetQueues"
    assert info.value.url == shown
    assert str(info.value) == f"GetQueues: ConnectError: refused ({shown})"
    [record] = caplog.records
    assert record.getMessage().startswith("GetQueues -> error in ")


async def test_an_answer_that_is_no_envelope_keeps_its_status(
    pbx: FakePBX, make_client: MakeClient
) -> None:
    pbx.answer(httpx.Response(203, text="<html>proxy login</html>"))
    async with make_client() as client:
        with pytest.raises(DaktelaDecodeError) as info:
            await client.call("GetQueues")
    assert info.value.status_code == 203
    assert info.value.action == "GetQueues"


# --- settings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["http://pbx.example.com", "http://10.0.0.5", "http://192.168.1.1:8080/"]
)
def test_plain_http_to_a_remote_host_is_refused(url: str) -> None:
    with pytest.raises(DaktelaUsageError) as info:
        DaktelaClient(url, TOKEN)
    host = httpx.URL(url).host
    assert str(info.value) == (
        f"refusing plain http:// to {host}: the access token would travel in clear text; "
        "use https:// or pass allow_insecure_http=True"
    )
    assert info.value.parameter == "base_url"
    client = DaktelaClient(url, TOKEN, allow_insecure_http=True)
    assert client.base_url.startswith("http://")


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765"),
        ("http://localhost:8765/", "http://localhost:8765"),
        ("http://pbx.localhost:8765", "http://pbx.localhost:8765"),
        ("http://[::1]:8765/api", "http://[::1]:8765"),
        ("https://pbx.example.com/prefix/api/", "https://pbx.example.com/prefix"),
        ("https://pbx.example.com/PBX/", "https://pbx.example.com/PBX"),
    ],
)
def test_loopback_http_and_normalisation(url: str, normalised: str) -> None:
    assert DaktelaClient(url, TOKEN).base_url == normalised


ABSOLUTE = "base_url must be an absolute http(s) URL such as https://pbx.example.com"
BARE = "base_url must not carry a query, fragment or credentials"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://pbx.example.com", ABSOLUTE),
        ("pbx.example.com", ABSOLUTE),
        ("https://[::1", "invalid base_url: Invalid port: ':1'"),
        (1234, "invalid base_url: "),  # what follows is httpx's wording
        ("https://pbx.example.com?a=1", BARE),
        ("https://pbx.example.com#top", BARE),
        ("https://me:pw@pbx.example.com", BARE),
    ],
)
def test_bad_base_urls_say_what_is_wrong(url: object, message: str) -> None:
    with pytest.raises(DaktelaUsageError) as info:
        DaktelaClient(url, TOKEN)  # type: ignore[arg-type]
    assert info.value.parameter == "base_url"
    assert str(info.value).startswith(message)
    if not message.endswith(": "):
        assert str(info.value) == message


def test_an_unknown_api_version_lists_the_known_ones() -> None:
    with pytest.raises(DaktelaUsageError) as info:
        DaktelaClient("https://pbx.example.com", TOKEN, api_version="5.0")
    assert (
        str(info.value) == f"unknown API version '5.0'; expected one of {', '.join(API_VERSIONS)}"
    )
    assert info.value.parameter == "api_version"


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"base_url": "ftp://x"}, "base_url"),
        ({"base_url": "https://x?access_token=1"}, "base_url"),
        ({"base_url": "pbx.example.com"}, "base_url"),
        ({"token": ""}, "token"),
        ({"api_version": "5.0"}, "api_version"),
        ({"token_in": "header"}, "token_in"),
    ],
)
def test_bad_settings_are_usage_errors(kwargs: dict[str, str], parameter: str) -> None:
    args = {"base_url": "https://pbx.example.com", "token": TOKEN, **kwargs}
    with pytest.raises(DaktelaUsageError) as info:
        DaktelaClient(args.pop("base_url"), args.pop("token"), **args)  # type: ignore[arg-type]
    assert info.value.parameter == parameter


# --- timeouts -------------------------------------------------------------------------------


async def test_long_polls_get_long_poll_timeouts(pbx: FakePBX, make_client: MakeClient) -> None:
    async with make_client(timeout=Timeouts(read=10.0)) as client:
        await client.call("RTUserState", user="demouser", hash="abc")
        long_poll = pbx.last.extensions["timeout"]
        await client.call("RTUserState", user="demouser")
        first = pbx.last.extensions["timeout"]
        await client.call("GetQueues", timeout=2.5)
        override = pbx.last.extensions["timeout"]
    assert long_poll["read"] >= 70
    assert first["read"] == 10.0
    assert override == {"connect": 2.5, "read": 2.5, "write": 2.5, "pool": 2.5}


async def test_read_timeout_becomes_a_typed_timeout(pbx: FakePBX, make_client: MakeClient) -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    pbx.answer(slow)
    async with make_client(retries=0) as client:
        with pytest.raises(DaktelaTimeoutError) as info:
            await client.call("GetQueues")
    assert info.value.sent is True
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)


async def test_closed_client_refuses_calls(pbx: FakePBX, make_client: MakeClient) -> None:
    client = make_client()
    await client.aclose()
    with pytest.raises(DaktelaUsageError) as info:
        await client.call("GetQueues")
    assert str(info.value) == "the client is closed; open a new one"
    assert info.value.action == "GetQueues"
    assert pbx.requests == []


async def test_closing_the_client_closes_its_transports() -> None:
    closed: list[bool] = []

    class Recording(httpx.MockTransport):
        async def aclose(self) -> None:
            closed.append(True)

    def factory(_options: TransportOptions) -> httpx.AsyncBaseTransport:
        return Recording(lambda request: httpx.Response(200, json={"status": 1, "result": 1}))

    async with DaktelaClient("https://pbx.example.com", TOKEN, transport_factory=factory) as c:
        async with c.with_options(timeout=5) as view:
            assert await view.call("GetQueues") == 1
        assert closed == []  # a view closes nothing
    assert closed == [True]


def test_the_certificate_is_checked_unless_told_otherwise() -> None:
    seen: list[TransportOptions] = []

    def factory(options: TransportOptions) -> httpx.AsyncBaseTransport:
        seen.append(options)
        return httpx.MockTransport(lambda request: httpx.Response(200))

    async def one_call(**kwargs: Any) -> None:
        async with DaktelaClient(
            "https://pbx.example.com", TOKEN, transport_factory=factory, **kwargs
        ) as client:
            await client.call_raw("GetQueues")

    anyio.run(one_call)
    anyio.run(functools.partial(one_call, verify=False))
    checked, unchecked = (options.ssl_context for options in seen)
    assert checked.verify_mode == ssl.CERT_REQUIRED
    assert checked.check_hostname
    assert unchecked.verify_mode == ssl.CERT_NONE


# --- prepared calls: kept and reused, never where they would differ -------------------------


async def test_a_repeated_call_is_prepared_once_and_sent_the_same(
    pbx: FakePBX, make_client: MakeClient
) -> None:
    async with make_client() as client:
        for _ in range(3):
            await client.call("RTUserState", user="hajek", hash="abc")
        assert len(client._prepared) == 1
    assert [str(r.url) for r in pbx.requests[1:]] == [str(pbx.requests[0].url)] * 2


async def test_equal_values_of_other_types_are_prepared_apart(
    pbx: FakePBX, make_client: MakeClient
) -> None:
    # 1 == True and hash(1) == hash(True): a cache keyed on values alone would send the
    # first form for both.
    async with make_client() as client:
        await client.call("SomeCustomAction", flag=1)
        await client.call("SomeCustomAction", flag=True)
        await client.call("SomeCustomAction", flag="1")
    assert [r.url.params["flag"] for r in pbx.requests] == ["1", "true", "1"]


async def test_ids_equal_in_python_but_sent_apart_are_prepared_apart(
    pbx: FakePBX, make_client: MakeClient
) -> None:
    class Ticket:
        """An id of the caller's own type: its text may change (hashed by identity)."""

        def __init__(self, number: int) -> None:
            self.number = number

        def __str__(self) -> str:
            return str(self.number)

    ticket = Ticket(7)
    async with make_client() as client:
        await client.call("GetQueues", 1)
        await client.call("GetQueues", True)
        await client.call("GetQueues", ticket)
        ticket.number = 8
        await client.call("GetQueues", ticket)
    assert [r.url.path for r in pbx.requests] == [
        "/api/3.0/GetQueues/1/json",
        "/api/3.0/GetQueues/True/json",
        "/api/3.0/GetQueues/7/json",
        "/api/3.0/GetQueues/8/json",
    ]


async def test_a_view_never_reuses_its_parents_prepared_calls(
    pbx: FakePBX, make_client: MakeClient
) -> None:
    async with make_client() as client:
        await client.call("GetQueues")
        view = client.with_options(token_in="cookie", api_version="3.5", headers={"X-A": "b"})
        await view.call("GetQueues")
        await client.call("GetQueues")
    parent, by_view, parent_again = pbx.requests
    assert "access_token" in parent.url.params
    assert "cookie" not in parent.headers
    assert "access_token" not in by_view.url.params
    assert by_view.headers["cookie"] == f"access_token={TOKEN}"
    assert by_view.headers["x-a"] == "b"
    assert str(parent_again.url) == str(parent.url)


async def test_lists_and_dicts_are_prepared_every_time(
    pbx: FakePBX, make_client: MakeClient
) -> None:
    async with make_client() as client:
        users = ["a"]
        await client.call("SomeCustomAction", users=users)
        users.append("b")  # the same list object, changed: must be encoded again
        await client.call("SomeCustomAction", users=users)
        assert client._prepared == {}
    assert [r.url.params.get_list("users[]") for r in pbx.requests] == [["a"], ["a", "b"]]


async def test_calls_that_differ_in_any_argument_are_prepared_apart(
    pbx: FakePBX, make_client: MakeClient
) -> None:
    pbx.answer(httpx.Response(200, json={"status": 1, "result": 1}))
    async with make_client() as client:
        await client.call("GetQueues", 3)
        await client.call("GetQueues", 4)
        await client.call("GetQueues", 4, version="4.1")
        await client.call_raw("GetQueues", 4, version="4.1", format="xml")
        await client.call("GetQueues", 4, version="4.1", timeout=7)
        paths = [r.url.path for r in pbx.requests]
        assert paths == [
            "/api/3.0/GetQueues/3/json",
            "/api/3.0/GetQueues/4/json",
            "/api/4.1/GetQueues/4/json",
            "/api/4.1/GetQueues/4/xml",
            "/api/4.1/GetQueues/4/json",
        ]
        assert pbx.last.extensions["timeout"]["read"] == 7
        assert pbx.requests[2].extensions["timeout"]["read"] != 7
        pbx.answer(httpx.Response(503))
        pbx.answers.pop(0)
        with pytest.raises(DaktelaHTTPStatusError):
            await client.call("GetQueues", 4, version="4.1", retries=0)
        sent = len(pbx.requests)
        with pytest.raises(DaktelaHTTPStatusError):
            await client.call("GetQueues", 4, version="4.1", retries=2)
        assert len(pbx.requests) - sent > 1


async def test_prepared_calls_kept_are_bounded(pbx: FakePBX, make_client: MakeClient) -> None:
    from daktela_async._prepare import PREPARED_CACHE

    async with make_client() as client:
        for n in range(PREPARED_CACHE + 5):
            await client.call("RTUserState", user=f"agent{n}")
            assert len(client._prepared) <= PREPARED_CACHE
    assert pbx.last.url.params["user"] == f"agent{PREPARED_CACHE + 4}"


# --- with_options: views with other defaults over the same pool -----------------------------


async def test_view_has_its_own_defaults(pbx: FakePBX, make_client: MakeClient) -> None:
    pbx.ok({})
    async with make_client(timeout=Timeouts(read=10.0)) as client:
        view = client.with_options(timeout=3.0, api_version="3.9", headers={"X-Team": "ops"})
        assert isinstance(view, DaktelaClient)
        assert view.pool is client.pool
        assert view.timeouts == Timeouts.of(3.0)
        assert view.api_version == "3.9"
        await view.queues.get_queues()
        await view.call("GetQueues", timeout=1.0)  # a per-call option still wins
        await client.queues.get_queues()
    by_view, per_call, by_parent = pbx.requests
    assert by_view.extensions["timeout"]["read"] == 3.0
    assert by_view.headers["x-team"] == "ops"
    assert by_view.headers["user-agent"] == "daktela-async"
    assert per_call.extensions["timeout"]["read"] == 1.0
    assert by_parent.extensions["timeout"]["read"] == 10.0
    assert "x-team" not in by_parent.headers
    assert client.timeouts == Timeouts(read=10.0)
    assert client.api_version == "4.1"


async def test_view_namespaces_use_the_view(pbx: FakePBX, make_client: MakeClient) -> None:
    async with make_client() as client:
        view = client.with_options(api_version="3.9")
        assert view.operators is not client.operators
        with pytest.raises(DaktelaVersionError):
            await view.operators.get_user()  # needs 4.0
        await client.operators.get_user()
    assert len(pbx.requests) == 1


async def test_view_retries_build_on_the_parent_policy(
    pbx: FakePBX, make_client: MakeClient
) -> None:
    pbx.answer(httpx.Response(503))
    async with make_client() as client:
        view = client.with_options(retries=1)
        with pytest.raises(DaktelaHTTPStatusError):
            await view.queues.get_queues()
        assert len(pbx.requests) == 2
        # The parent's sleep (instant in these tests) is kept: only the count changed.
        assert view._retry.sleep is client._retry.sleep
        none = client.with_options(retries=0, timeout=None)
        with pytest.raises(DaktelaHTTPStatusError):
            await none.queues.get_queues()
        assert len(pbx.requests) == 3
    assert pbx.last.extensions["timeout"]["read"] is None


async def test_view_token_placement_and_headers_replace(
    pbx: FakePBX, make_client: MakeClient
) -> None:
    async with make_client(headers={"X-Team": "sales", "User-Agent": "mine"}) as client:
        view = client.with_options(token_in="cookie", headers={"x-team": "ops"})
        await view.call("GetQueues")
    assert "access_token" not in str(pbx.last.url)
    assert pbx.last.headers["cookie"] == f"access_token={TOKEN}"
    assert pbx.last.headers.get_list("x-team") == ["ops"]
    assert pbx.last.headers.get_list("user-agent") == ["mine"]


async def test_a_view_of_a_view_keeps_both_sets_of_headers(
    pbx: FakePBX, make_client: MakeClient
) -> None:
    async with make_client(headers={"X-Site": "prague"}, token_in="cookie") as client:
        view = client.with_options(headers={"X-Team": "ops"}).with_options(
            headers={"X-Shift": "night"}, token_in="query"
        )
        await view.call("GetQueues")
    assert pbx.last.headers["x-site"] == "prague"
    assert pbx.last.headers["x-team"] == "ops"
    assert pbx.last.headers["x-shift"] == "night"
    assert pbx.last_query() == {"access_token": TOKEN}
    assert "cookie" not in pbx.last.headers


async def test_closing_a_view_leaves_the_parent_open(pbx: FakePBX, make_client: MakeClient) -> None:
    async with make_client() as client:
        async with client.with_options(timeout=5) as view:
            await view.call("GetQueues")
        with pytest.raises(DaktelaUsageError, match="closed"):
            await view.call("GetQueues")
        await client.call("GetQueues")  # the shared pool is still open
        assert client.pool._closed is False
        other = client.with_options(retries=0)
    with pytest.raises(DaktelaUsageError, match="closed"):
        await other.call("GetQueues")  # closing the parent closed the pool under it
    assert len(pbx.requests) == 2


@pytest.mark.parametrize(
    ("options", "parameter"),
    [
        ({"timeout": 0}, "timeout"),
        ({"retries": -1}, "retries"),
        ({"api_version": "5.0"}, "api_version"),
        ({"token_in": "header"}, "token_in"),
        ({"headers": {"Bad Name": "x"}}, "headers"),
    ],
)
def test_bad_view_options_are_usage_errors(options: dict[str, object], parameter: str) -> None:
    client = DaktelaClient("https://pbx.example.com", TOKEN)
    with pytest.raises(DaktelaUsageError) as info:
        client.with_options(**options)  # type: ignore[arg-type]
    assert info.value.parameter == parameter


def test_a_bad_token_placement_of_a_view_is_explained() -> None:
    client = DaktelaClient("https://pbx.example.com", TOKEN)
    with pytest.raises(DaktelaUsageError) as info:
        client.with_options(token_in="header")  # type: ignore[arg-type]
    assert str(info.value) == "token_in must be 'query' or 'cookie', not 'header'"


# --- from_env ---------------------------------------------------------------------------------

PASSWORD = "s3cret-Pa55"


def test_from_env_with_a_token() -> None:
    client = DaktelaClient.from_env(
        environ={"DAKTELA_URL": "https://pbx.example.com/api", "DAKTELA_TOKEN": f" {TOKEN}\n"},
        timeout=7,
    )
    assert client.base_url == "https://pbx.example.com"
    assert client._token.value == TOKEN
    assert client.api_version == "4.1"
    assert client.timeouts == Timeouts.of(7)


def test_from_env_with_login_and_password() -> None:
    client = DaktelaClient.from_env(
        environ={
            "DAKTELA_URL": "https://pbx.example.com",
            "DAKTELA_LOGIN": "login",
            "DAKTELA_PASSWORD": "password",
            "DAKTELA_API_VERSION": "3.8",
        }
    )
    expected = hashlib.sha1(b"loginpassword").hexdigest()  # noqa: S324 - the API's own scheme
    assert client._token.value == expected
    assert client.api_version == "3.8"
    assert expected not in repr(client)


def test_from_env_takes_empty_variables_for_unset() -> None:
    client = DaktelaClient.from_env(
        environ={
            "DAKTELA_URL": "https://pbx.example.com",
            "DAKTELA_TOKEN": TOKEN,
            "DAKTELA_LOGIN": "",
            "DAKTELA_PASSWORD": "",
            "DAKTELA_API_VERSION": "",
        }
    )
    assert client._token.value == TOKEN
    assert client.api_version == "4.1"


@pytest.mark.parametrize("other", ["DAKTELA_LOGIN", "DAKTELA_PASSWORD"])
def test_from_env_refuses_a_token_with_either_credential(other: str) -> None:
    environ = {"DAKTELA_URL": "https://pbx.example.com", "DAKTELA_TOKEN": TOKEN, other: "x"}
    with pytest.raises(DaktelaUsageError) as info:
        DaktelaClient.from_env(environ=environ)
    assert info.value.parameter == "DAKTELA_TOKEN"
    assert str(info.value) == (
        "set either DAKTELA_TOKEN or DAKTELA_LOGIN and DAKTELA_PASSWORD, not both"
    )


def test_from_env_reads_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAKTELA_URL", "https://pbx.example.com")
    monkeypatch.setenv("DAKTELA_TOKEN", TOKEN)
    monkeypatch.setenv("DAKTELA_API_VERSION", "4.0")
    for name in ("DAKTELA_LOGIN", "DAKTELA_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    assert DaktelaClient.from_env().api_version == "4.0"
    # An explicit argument wins over the variable.
    assert DaktelaClient.from_env(api_version="3.5").api_version == "3.5"


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({}, "DAKTELA_URL"),
        ({"DAKTELA_URL": "", "DAKTELA_TOKEN": TOKEN}, "DAKTELA_URL"),
        ({"DAKTELA_URL": "pbx.example.com", "DAKTELA_TOKEN": TOKEN}, "DAKTELA_URL"),
        ({"DAKTELA_URL": "http://pbx.example.com", "DAKTELA_TOKEN": TOKEN}, "DAKTELA_URL"),
        ({"DAKTELA_URL": "https://pbx.example.com"}, "DAKTELA_TOKEN"),
        ({"DAKTELA_URL": "https://pbx.example.com", "DAKTELA_TOKEN": ""}, "DAKTELA_TOKEN"),
        ({"DAKTELA_URL": "https://pbx.example.com", "DAKTELA_TOKEN": " \t "}, "DAKTELA_TOKEN"),
        (
            {"DAKTELA_URL": "https://pbx.example.com", "DAKTELA_TOKEN": f"{PASSWORD}\x07"},
            "DAKTELA_TOKEN",
        ),
        ({"DAKTELA_URL": "https://pbx.example.com", "DAKTELA_LOGIN": "hajek"}, "DAKTELA_PASSWORD"),
        (
            {"DAKTELA_URL": "https://pbx.example.com", "DAKTELA_PASSWORD": PASSWORD},
            "DAKTELA_LOGIN",
        ),
        (
            {
                "DAKTELA_URL": "https://pbx.example.com",
                "DAKTELA_TOKEN": PASSWORD,
                "DAKTELA_LOGIN": "hajek",
                "DAKTELA_PASSWORD": PASSWORD,
            },
            "DAKTELA_TOKEN",
        ),
        (
            {
                "DAKTELA_URL": "https://pbx.example.com",
                "DAKTELA_TOKEN": PASSWORD,
                "DAKTELA_API_VERSION": "4.2",
            },
            "DAKTELA_API_VERSION",
        ),
    ],
)
def test_from_env_names_the_bad_variable_and_never_shows_secrets(
    environ: dict[str, str], variable: str
) -> None:
    with pytest.raises(DaktelaUsageError) as info:
        DaktelaClient.from_env(environ=environ)
    assert info.value.parameter == variable
    assert variable in str(info.value)
    shown = "".join(traceback.format_exception(info.value))
    assert PASSWORD not in shown
    assert PASSWORD not in repr(vars(info.value))


def test_from_env_refuses_settings_it_reads_itself() -> None:
    environ = {"DAKTELA_URL": "https://pbx.example.com", "DAKTELA_TOKEN": TOKEN}
    with pytest.raises(DaktelaUsageError) as info:
        DaktelaClient.from_env(environ=environ, base_url="https://other.example.com")
    assert info.value.parameter == "base_url"
    assert str(info.value) == (
        "from_env reads base_url from the environment; pass it to DaktelaClient() instead"
    )
    with pytest.raises(DaktelaUsageError) as info:
        DaktelaClient.from_env(environ=environ, token=TOKEN)
    assert info.value.parameter == "token"
    with pytest.raises(DaktelaUsageError) as info:
        DaktelaClient.from_env(environ=environ, api_version="5.0")
    # An explicit bad argument is named as the argument, not as the variable.
    assert info.value.parameter == "api_version"


# --- watch ------------------------------------------------------------------------------------


def test_watch_hands_its_arguments_to_the_watcher() -> None:
    client = DaktelaClient("https://pbx.example.com", TOKEN)
    watcher = client.watch(["hajek"], stats=["summary"], stats_interval=9)
    assert watcher.users == ("hajek",)
    with pytest.raises(DaktelaUsageError) as info:
        client.watch(["hajek"], stats=["bogus"])
    assert info.value.parameter == "stats"
    with pytest.raises(DaktelaUsageError) as info:
        client.watch(["hajek"], poll_interval=-1)
    assert info.value.parameter == "poll_interval"


def test_every_section_is_bound_to_its_client() -> None:
    client = DaktelaClient("https://pbx.example.com", TOKEN)
    view = client.with_options(api_version="3.5")
    for holder in (client, view):
        for attr, cls in NAMESPACES.items():
            namespace = getattr(holder, attr)
            assert isinstance(namespace, cls)
            assert repr(namespace) == f"<{cls.__name__} of {holder!r}>"


# --- prepared calls: what preparing does, done once -----------------------------------------


async def test_an_identical_call_is_checked_and_encoded_once(
    pbx: FakePBX, make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import daktela_async._prepare as prepare_module
    from daktela_async._transport._request import check_params as real

    checked: list[str] = []

    def counting(spec: object, params: object, **kwargs: object) -> object:
        checked.append(getattr(spec, "name", "?"))
        return real(spec, params, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(prepare_module, "check_params", counting)
    async with make_client() as client:
        for _ in range(3):
            await client.call("RTUserState", user="hajek", hash="abc")
        await client.call("RTUserState", user="novak", hash="abc")
    assert checked == ["RTUserState", "RTUserState"]
    assert len(pbx.requests) == 4


async def test_an_unhashable_policy_is_prepared_every_time_not_refused(
    pbx: FakePBX, make_client: MakeClient
) -> None:
    class Unhashable(RetryPolicy):
        __hash__ = None  # type: ignore[assignment]

    async with make_client() as client:
        policy = Unhashable(max_attempts=1)
        await client.call("GetQueues", retries=policy)
        await client.call("GetQueues", retries=policy)
        assert client._prepared == {}
    assert len(pbx.requests) == 2


async def test_the_shown_url_puts_the_redacted_token_after_the_query(
    pbx: FakePBX, make_client: MakeClient
) -> None:
    pbx.answer(httpx.Response(503))
    async with make_client(retries=0) as client:
        with pytest.raises(DaktelaHTTPStatusError) as with_query:
            await client.call("SomeCustomAction", x="1")
        with pytest.raises(DaktelaHTTPStatusError) as without:
            await client.call("SomeCustomAction")
    assert with_query.value.url.endswith("/SomeCustomAction/json?x=1&access_token=***")
    assert without.value.url.endswith("/SomeCustomAction/json?access_token=***")


async def test_a_url_too_long_names_the_action_and_its_length(make_client: MakeClient) -> None:
    async with make_client() as client:
        with pytest.raises(DaktelaUsageError) as refused:
            await client.call("SomeCustomAction", pad="x" * 70_000)
    assert refused.value.action == "SomeCustomAction"
    assert str(refused.value).startswith("SomeCustomAction: the request URL would be ")
    assert "characters long, more than 65536; send fewer or shorter parameters" in str(
        refused.value
    )


def test_timeout_none_on_the_client_means_the_defaults() -> None:
    # On a call, None disables every timeout; on the client it is the defaults.
    client = DaktelaClient("https://pbx.example.com", TOKEN, timeout=None)
    assert client.timeouts == Timeouts()
    assert client.timeouts.read is not None
