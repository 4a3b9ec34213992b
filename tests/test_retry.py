"""Retries: which failures are retried, how often, how long apart, and never a sent write."""

from __future__ import annotations

import httpx
import pytest
import respx

from daktela_async import (
    DaktelaAPIError,
    DaktelaClient,
    DaktelaConnectError,
    DaktelaHTTPStatusError,
    DaktelaTimeoutError,
    DaktelaTransportError,
    RetryPolicy,
)
from daktela_async._retry import next_delay, parse_retry_after
from tests.conftest import MakeClient
from tests.support import TOKEN, Answer, FakePBX, SleepRecorder

pytestmark = pytest.mark.anyio

OK = httpx.Response(200, json={"status": 1, "error": None, "result": {"queue": "3"}})


def raise_(exc: Exception) -> httpx.Response:
    raise exc


@pytest.mark.parametrize(
    "failure",
    [
        lambda r: raise_(httpx.ConnectError("refused", request=r)),
        lambda r: raise_(httpx.ReadTimeout("slow", request=r)),
        lambda r: raise_(httpx.RemoteProtocolError("reset", request=r)),
        lambda r: httpx.Response(502),
        lambda r: httpx.Response(503),
        lambda r: httpx.Response(504),
        lambda r: httpx.Response(429),
    ],
)
async def test_reads_retry_transient_failures(
    pbx: FakePBX, make_client: MakeClient, sleeps: SleepRecorder, failure: Answer
) -> None:
    pbx.answer(failure, failure, OK)
    async with make_client() as client:
        assert await client.call("GetQueues", 3) == {"queue": "3"}
    assert len(pbx.requests) == 3
    assert len(sleeps.delays) == 2


async def test_reads_give_up_after_max_attempts(
    pbx: FakePBX, make_client: MakeClient, sleeps: SleepRecorder
) -> None:
    pbx.answer(httpx.Response(503))
    async with make_client() as client:
        with pytest.raises(DaktelaHTTPStatusError) as info:
            await client.call("RTStatsQueues")
    assert info.value.status_code == 503
    assert len(pbx.requests) == 4  # the default: one try and three retries
    assert len(sleeps.delays) == 3


async def test_backoff_is_capped_exponential_full_jitter(
    pbx: FakePBX, make_client: MakeClient, sleeps: SleepRecorder
) -> None:
    pbx.answer(httpx.Response(503))
    ceilings: list[float] = []

    def jitter(ceiling: float) -> float:
        ceilings.append(ceiling)
        return ceiling / 2

    policy = RetryPolicy(
        max_attempts=7, backoff_initial=1.0, backoff_max=8.0, sleep=sleeps, jitter=jitter
    )
    async with make_client(retries=policy) as client:
        with pytest.raises(DaktelaHTTPStatusError):
            await client.call("GetQueues")
    assert ceilings == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert sleeps.delays == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_default_jitter_stays_within_the_ceiling() -> None:
    policy = RetryPolicy(backoff_initial=1.0, backoff_max=4.0)
    for retry in range(1, 8):
        for _ in range(50):
            assert 0.0 <= policy.delay(retry) <= min(4.0, 2 ** (retry - 1))


async def test_retry_after_is_honoured(
    pbx: FakePBX, make_client: MakeClient, sleeps: SleepRecorder
) -> None:
    pbx.answer(httpx.Response(429, headers={"Retry-After": "3"}), OK)
    async with make_client() as client:
        await client.call("GetQueues")
    assert sleeps.delays == [3.0]


async def test_retry_after_beyond_the_cap_is_not_waited_for(
    pbx: FakePBX, make_client: MakeClient, sleeps: SleepRecorder
) -> None:
    pbx.answer(httpx.Response(429, headers={"Retry-After": "3600"}), OK)
    async with make_client() as client:
        with pytest.raises(DaktelaHTTPStatusError) as info:
            await client.call("GetQueues")
    assert info.value.retry_after == 3600.0
    assert sleeps.delays == []
    assert len(pbx.requests) == 1


@pytest.mark.parametrize(
    "failure",
    [
        lambda r: raise_(httpx.ReadTimeout("slow", request=r)),
        lambda r: raise_(httpx.RemoteProtocolError("reset", request=r)),
        lambda r: raise_(httpx.WriteError("broken pipe", request=r)),
        lambda r: httpx.Response(503),
        lambda r: httpx.Response(502),
        lambda r: httpx.Response(429, headers={"Retry-After": "1"}),
    ],
)
@pytest.mark.parametrize(
    ("action", "params"),
    [
        ("CreateCall", {"user": "michalhajek", "number": "800123456"}),
        ("SendSMS", {"number": "+420777000000", "message": "hi"}),
        ("PauseOn", {"user": "michalhajek", "pause": "7"}),
        ("Transfer", {"user": "michalhajek", "number": "100"}),
        ("LoginQueue", {"user": "michalhajek", "queue": "5001"}),
    ],
)
async def test_writes_are_never_resent_once_they_may_have_arrived(
    pbx: FakePBX,
    make_client: MakeClient,
    sleeps: SleepRecorder,
    failure: Answer,
    action: str,
    params: dict[str, str],
) -> None:
    pbx.answer(failure, OK)
    async with make_client() as client:
        with pytest.raises((DaktelaHTTPStatusError, DaktelaTimeoutError, DaktelaConnectError)):
            await client.call(action, query=params)
    assert len(pbx.requests) == 1
    assert sleeps.delays == []


@pytest.mark.parametrize(
    ("failure", "error"),
    [
        (lambda r: raise_(httpx.ConnectError("refused", request=r)), DaktelaConnectError),
        (lambda r: raise_(httpx.ConnectTimeout("syn lost", request=r)), DaktelaTimeoutError),
        (lambda r: raise_(httpx.PoolTimeout("pool full", request=r)), DaktelaTimeoutError),
    ],
)
async def test_writes_retry_when_certainly_not_sent(
    pbx: FakePBX,
    make_client: MakeClient,
    sleeps: SleepRecorder,
    failure: Answer,
    error: type[DaktelaTransportError],
) -> None:
    pbx.answer(failure, OK)
    async with make_client() as client:
        assert await client.call("CreateCall", user="hajek", number="1") == {"queue": "3"}
    assert len(pbx.requests) == 2
    # And the error says so when it is the last one.
    pbx.answers.clear()
    pbx.answer(failure)
    async with make_client(retries=0) as client:
        with pytest.raises(error) as info:
            await client.call("CreateCall", user="hajek", number="1")
    assert info.value.sent is False


async def test_api_errors_are_not_retried(
    pbx: FakePBX, make_client: MakeClient, sleeps: SleepRecorder
) -> None:
    pbx.answer(httpx.Response(200, json={"status": 0, "error": "Uživatel neexistuje"}))
    async with make_client() as client:
        with pytest.raises(DaktelaAPIError):
            await client.call("GetUser")
    assert len(pbx.requests) == 1


async def test_other_statuses_are_not_retried(pbx: FakePBX, make_client: MakeClient) -> None:
    pbx.answer(httpx.Response(500), OK)
    async with make_client() as client:
        with pytest.raises(DaktelaHTTPStatusError) as info:
            await client.call("GetQueues")
    assert info.value.status_code == 500
    assert len(pbx.requests) == 1


async def test_per_call_retry_override(
    pbx: FakePBX, make_client: MakeClient, sleeps: SleepRecorder
) -> None:
    pbx.answer(httpx.Response(503))
    async with make_client() as client:
        with pytest.raises(DaktelaHTTPStatusError):
            await client.call("GetQueues", retries=0)
        assert len(pbx.requests) == 1
        with pytest.raises(DaktelaHTTPStatusError):
            await client.call("GetQueues", retries=1)
        assert len(pbx.requests) == 3


async def test_unknown_actions_are_treated_as_writes(pbx: FakePBX, make_client: MakeClient) -> None:
    pbx.answer(httpx.Response(503), OK)
    async with make_client() as client:
        with pytest.raises(DaktelaHTTPStatusError):
            await client.call("SomeFutureAction")
    assert len(pbx.requests) == 1


def test_parse_retry_after() -> None:
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None
    when = parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT")
    assert when == 0.0  # in the past


def test_next_delay_stops_at_max_attempts() -> None:
    policy = RetryPolicy(max_attempts=2, jitter=lambda c: c)
    err = DaktelaTimeoutError("x", sent=True)
    assert next_delay(err, policy, 1, idempotent=True) == policy.backoff_initial
    assert next_delay(err, policy, 2, idempotent=True) is None


def test_a_retry_after_of_exactly_the_cap_is_waited_for() -> None:
    """``retry_after_max`` is the longest wait honoured: that long is still honoured."""
    policy = RetryPolicy(retry_after_max=30.0, jitter=lambda c: c)

    def busy(seconds: float) -> DaktelaHTTPStatusError:
        return DaktelaHTTPStatusError(
            "HTTP 429", action="GetQueues", status_code=429, url="u", retry_after=seconds
        )

    assert next_delay(busy(30.0), policy, 1, idempotent=True) == 30.0
    assert next_delay(busy(30.5), policy, 1, idempotent=True) is None
    assert next_delay(busy(30.0), policy, 1, idempotent=False) is None


# --- the same rules, against respx routes (matched on action and parameters) -----------------


@pytest.fixture
def router() -> respx.Router:
    """A respx router answering for the PBX; unmatched requests fail the test."""
    return respx.Router(base_url="https://pbx.example.com/api", assert_all_called=False)


def _client(router: respx.Router, sleeps: SleepRecorder, **kwargs: object) -> DaktelaClient:
    return DaktelaClient(
        "https://pbx.example.com",
        TOKEN,
        transport_factory=lambda _options: httpx.MockTransport(router.async_handler),
        retries=RetryPolicy(sleep=sleeps),
        **kwargs,  # type: ignore[arg-type]
    )


async def test_a_flaky_server_is_retried_until_it_answers(
    router: respx.Router, sleeps: SleepRecorder
) -> None:
    """Two failures, then the answer: a read goes through, two backoffs later."""
    route = router.get(path__regex=r"/GetQueues/json$").mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(503), OK]
    )
    async with _client(router, sleeps) as client:
        assert await client.call("GetQueues") == {"queue": "3"}
    assert route.call_count == 3
    assert len(sleeps.delays) == 2


async def test_a_write_on_a_flaky_server_is_sent_once(
    router: respx.Router, sleeps: SleepRecorder
) -> None:
    """ClickToCall rings a customer: after a 503 it is not sent again, however flaky."""
    route = router.get(
        path__regex=r"/ClickToCall/json$", params={"number": "800123456", "user": "hajek"}
    ).mock(side_effect=[httpx.Response(503), OK])
    async with _client(router, sleeps) as client:
        with pytest.raises(DaktelaHTTPStatusError):
            await client.call("ClickToCall", number="800123456", user="hajek")
    assert route.call_count == 1
    assert sleeps.delays == []


async def test_only_the_failing_action_is_retried(
    router: respx.Router, sleeps: SleepRecorder
) -> None:
    """Routes per action: a 429 with Retry-After on one, answers on the other."""
    queues = router.get(path__regex=r"/RTStatsQueues/json$").mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "2"}), OK]
    )
    users = router.get(path__regex=r"/GetUsers/json$").mock(return_value=OK)
    async with _client(router, sleeps) as client:
        await client.call("RTStatsQueues")
        await client.call("GetUsers")
    assert (queues.call_count, users.call_count) == (2, 1)
    assert sleeps.delays == [2.0]
