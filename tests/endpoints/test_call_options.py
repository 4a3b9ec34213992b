"""Per-call ``timeout=`` and ``retries=`` on every typed method, and the optional-id overloads."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import httpx
import pytest

from daktela_async import NOT_GIVEN, DaktelaHTTPStatusError, DaktelaUsageError, Timeouts
from daktela_async.endpoints import NAMESPACES
from daktela_async.models import Queue, User
from tests.conftest import MakeClient
from tests.support import FakePBX, SleepRecorder

pytestmark = pytest.mark.anyio

#: Downloads that stream are never retried, so they take ``timeout=`` only.
STREAMS = ("stream_recording", "save_recording")

METHODS = sorted(
    {
        (attr, name)
        for attr, cls in NAMESPACES.items()
        for name, value in vars(cls).items()
        if callable(value) and not name.startswith("_")
    }
)

QUEUE = {"queue": "3", "name": "queue_3", "title": "Sales"}


def timeouts_sent(pbx: FakePBX) -> list[dict[str, float | None]]:
    return [r.extensions["timeout"] for r in pbx.requests]


@pytest.mark.parametrize(("attr", "name"), METHODS, ids=lambda v: str(v))
def test_every_typed_method_takes_timeout_and_retries(attr: str, name: str) -> None:
    method = getattr(NAMESPACES[attr], name)
    parameters = inspect.signature(method).parameters
    options = ("timeout",) if name in STREAMS else ("timeout", "retries")
    for option in options:
        parameter = parameters[option]
        assert parameter.kind is inspect.Parameter.KEYWORD_ONLY
        assert parameter.default is NOT_GIVEN
        assert method.__doc__ is not None
        assert f"{option}: " in method.__doc__
    if name in STREAMS:
        assert "retries" not in parameters


async def test_timeout_applies_to_that_call_only(pbx: FakePBX, make_client: MakeClient) -> None:
    pbx.ok(QUEUE)
    async with make_client(timeout=Timeouts(read=10.0)) as client:
        await client.queues.get_queues(3, timeout=2.5)
        await client.queues.get_queues(3)
        await client.queues.get_queues(3, timeout=Timeouts(connect=1.0, read=None))
        await client.operators.pause_on(user="hajek", pause=1, timeout=None)
    override, default, partial, none = timeouts_sent(pbx)
    assert override == {"connect": 2.5, "read": 2.5, "write": 2.5, "pool": 2.5}
    assert default["read"] == 10.0
    assert partial["connect"] == 1.0
    assert partial["read"] is None
    assert none == {"connect": None, "read": None, "write": None, "pool": None}


async def test_retries_override_the_client_policy(
    pbx: FakePBX, make_client: MakeClient, sleeps: SleepRecorder
) -> None:
    pbx.answer(httpx.Response(503))
    async with make_client() as client:
        with pytest.raises(DaktelaHTTPStatusError):
            await client.queues.get_queues(retries=0)
        assert len(pbx.requests) == 1
        with pytest.raises(DaktelaHTTPStatusError):
            await client.queues.get_queues(retries=2)
        assert len(pbx.requests) == 1 + 3
        with pytest.raises(DaktelaHTTPStatusError):
            await client.queues.get_queues()  # the client's policy: four attempts
        assert len(pbx.requests) == 1 + 3 + 4
    assert len(sleeps.delays) == 2 + 3


async def test_retries_do_not_resend_a_write(pbx: FakePBX, make_client: MakeClient) -> None:
    pbx.answer(httpx.Response(503))
    async with make_client() as client:
        with pytest.raises(DaktelaHTTPStatusError):
            await client.operators.pause_on(user="hajek", pause=1, retries=5)
    assert len(pbx.requests) == 1


@pytest.mark.parametrize(
    ("options", "parameter"),
    [
        ({"timeout": "soon"}, "timeout"),
        ({"timeout": -1}, "timeout"),
        ({"timeout": float("nan")}, "timeout"),
        ({"retries": -1}, "retries"),
        ({"retries": "3"}, "retries"),
        ({"retries": 2.5}, "retries"),
    ],
)
async def test_bad_options_are_refused_before_sending(
    pbx: FakePBX, make_client: MakeClient, options: dict[str, Any], parameter: str
) -> None:
    async with make_client() as client:
        with pytest.raises(DaktelaUsageError) as info:
            await client.queues.get_queues(**options)
        assert info.value.parameter == parameter
        with pytest.raises(DaktelaUsageError):
            await client.call("GetQueues", **options)  # the same rule as call()
    assert pbx.requests == []


async def test_paged_methods_send_the_options_with_every_page(
    pbx: FakePBX, make_client: MakeClient
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        skip = int(request.url.params["skip"])
        data = [{"record": str(i)} for i in range(skip, min(skip + 2, 5))]
        return httpx.Response(
            200, json={"status": 1, "error": None, "result": {"data": data, "total": "5"}}
        )

    pbx.answer(handler)
    async with make_client() as client:
        rows = [r async for r in client.forms.iter_records(page_size=2, timeout=4.0)]
    assert len(rows) == 5
    assert len(pbx.requests) == 3
    assert all(t["read"] == 4.0 for t in timeouts_sent(pbx))


async def test_paged_methods_retry_each_page_by_the_option(
    pbx: FakePBX, make_client: MakeClient
) -> None:
    pbx.answer(httpx.Response(503))
    async with make_client() as client:
        with pytest.raises(DaktelaHTTPStatusError):
            async for _ in client.forms.iter_records(retries=1):
                pass
    assert len(pbx.requests) == 2


async def test_recordings_take_the_options(pbx: FakePBX, make_client: MakeClient) -> None:
    audio = httpx.Response(200, content=b"RIFF....WAVE", headers={"content-type": "audio/wav"})
    pbx.answer(httpx.Response(503), audio)
    async with make_client() as client:
        assert await client.calls.get_recording(recording_hash="h", timeout=7.0) == b"RIFF....WAVE"
        chunks = [c async for c in client.calls.stream_recording(recording_hash="h", timeout=8.0)]
        pbx.answers.clear()
        pbx.answer(httpx.Response(503))
        with pytest.raises(DaktelaHTTPStatusError):
            await client.calls.get_recording(recording_hash="h", retries=0)
    assert b"".join(chunks) == b"RIFF....WAVE"
    # The 503 was retried by the client's policy; retries=0 made the last one final.
    first, retried, streamed, refused = timeouts_sent(pbx)
    assert first["read"] == retried["read"] == 7.0
    assert streamed["read"] == 8.0
    assert refused["read"] != 7.0


# --- the overloads' promise, at run time ----------------------------------------------------


async def test_get_queues_with_an_id_is_one_queue(pbx: FakePBX, make_client: MakeClient) -> None:
    pbx.ok(QUEUE)
    async with make_client() as client:
        queue = await client.queues.get_queues(3)
    assert isinstance(queue, Queue)
    assert pbx.last.url.path == "/api/3.0/GetQueues/3/json"


async def test_get_queues_without_an_id_is_a_mapping(pbx: FakePBX, make_client: MakeClient) -> None:
    pbx.ok({"3": QUEUE, "4": {**QUEUE, "queue": "4"}})
    async with make_client() as client:
        queues = await client.queues.get_queues()
    assert isinstance(queues, Mapping)
    assert all(isinstance(q, Queue) for q in queues.values())
    assert sorted(queues) == ["3", "4"]


async def test_get_users_by_extension_is_one_user(pbx: FakePBX, make_client: MakeClient) -> None:
    pbx.ok({"user": "7", "name": "hajek", "title": "Hájek", "extension": "200"})
    async with make_client() as client:
        user = await client.operators.get_users(extension="200")
    assert isinstance(user, User)
    assert pbx.last_query()["extension"] == "200"
