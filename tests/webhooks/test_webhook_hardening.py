"""The app against hostile input: repeated secrets, forged log lines, lookups that misbehave."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from daktela_async.webhooks import WebhookApp, WebhookEvent
from tests.webhooks.support import INCOMING, LINE, ItemsRaise, Recorder, client_for

pytestmark = pytest.mark.anyio

LOGGER = "daktela_async.webhooks"
SECRET = "Tajn0-heslo/+="
ANSWER = {"NAME": "Daktela s.r.o."}


# --- the shared secret: exactly one value ---------------------------------------------------


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        # 3,001 guesses in one request used to pass when any of them matched.
        ([("secret", f"guess-{i}") for i in range(3000)] + [("secret", SECRET)], {}),
        ([("secret", SECRET), ("secret", SECRET)], {}),
        ([("secret", "guess")], {"X-Daktela-Secret": SECRET}),
        ([("secret", SECRET)], {"X-Daktela-Secret": SECRET}),
    ],
)
async def test_a_request_carrying_several_secrets_is_refused(
    query: list[tuple[str, str]], headers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    lookup = Recorder(ANSWER)
    app = WebhookApp(lookup, secret=SECRET)
    async with client_for(app) as client:
        response = await client.get("/", params=[*INCOMING.items(), *query], headers=headers)
    assert (response.status_code, response.json()) == (403, {"error": "forbidden"})
    assert lookup.events == []
    assert app.stats.forbidden == 1
    assert "more than one secret" in caplog.text
    assert SECRET not in caplog.text


async def test_several_secrets_in_the_form_and_the_query_are_refused() -> None:
    app = WebhookApp(Recorder(ANSWER), secret=SECRET)
    async with client_for(app) as client:
        both = await client.post("/", params={"secret": SECRET}, data={**INCOMING, "secret": "x"})
        one = await client.post("/", data={**INCOMING, "secret": SECRET})
    assert (both.status_code, one.status_code) == (403, 200)


async def test_repeated_headers_count_as_several_secrets() -> None:
    app = WebhookApp(Recorder(ANSWER), secret=SECRET)
    async with client_for(app) as client:
        response = await client.get(
            "/", params=INCOMING, headers=[("X-Daktela-Secret", "x"), ("X-Daktela-Secret", SECRET)]
        )
    assert response.status_code == 403


# --- logs: values from the request cannot forge log lines ----------------------------------


async def test_control_characters_from_the_request_are_escaped_in_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    forged = "1\r\n2024-01-01 00:00:00 INFO daktela_async.webhooks: forged\x1b[2J\u2028\\"
    app = WebhookApp(Recorder(ANSWER))
    async with client_for(app) as client:
        good = await client.get(
            "/", params={**LINE, "idcall": forged, "line": "2\n01"} | {"action": "answer"}
        )
        bad = await client.get("/", params={**LINE, "idcall": forged})
    assert (good.status_code, bad.status_code) == (200, 400)
    messages = [record.getMessage() for record in caplog.records if record.name == LOGGER]
    assert len(messages) == 2
    for message in messages:
        assert not any(ch in message for ch in "\r\n\x1b\u2028")
    assert (
        r"call=1\r\n2024-01-01 00:00:00 INFO daktela_async.webhooks: forged\x1b[2J\u2028\\"
        in (messages[0])
    )
    assert r"line=2\n01" in messages[0]


# --- lookups that misbehave: the PBX still gets 200 {} -----------------------------------


class Unprintable:
    """A value whose ``str()`` raises."""

    def __str__(self) -> str:
        raise RuntimeError("no str for you")


@pytest.mark.parametrize(
    "answer",
    [
        {"NAME": Unprintable()},
        {Unprintable(): "x"},
        ItemsRaise(RuntimeError("the CRM cursor is closed")),
        {"A": {"B": ItemsRaise(RuntimeError("the CRM cursor is closed"))}},
    ],
)
async def test_an_answer_that_cannot_be_flattened_is_answered_empty(
    answer: Any, caplog: pytest.LogCaptureFixture
) -> None:
    app = WebhookApp(Recorder(answer))
    async with client_for(app) as client:
        response = await client.get("/", params=INCOMING)
    assert (response.status_code, response.json()) == (200, {})
    assert app.stats.failures == 1
    assert "unusable" in caplog.text


def lookup_raising(exc: BaseException) -> Any:
    async def lookup(event: WebhookEvent) -> Mapping[str, object]:
        await anyio.lowlevel.checkpoint()
        raise exc

    return lookup


@pytest.mark.parametrize(
    "exc",
    [
        # Not a cancellation of the request: a future cancelled elsewhere, re-raised.
        asyncio.CancelledError(),
        BaseExceptionGroup("lookup", [asyncio.CancelledError(), ValueError("x")]),
        BaseExceptionGroup("lookup", [GeneratorExit()]),
        GeneratorExit(),
    ],
    ids=["cancelled", "group", "group-generator-exit", "generator-exit"],
)
async def test_a_lookup_raising_a_base_exception_is_answered_empty(
    exc: BaseException, caplog: pytest.LogCaptureFixture
) -> None:
    app = WebhookApp(lookup_raising(exc), budget=1.0)
    async with client_for(app) as client:
        with anyio.fail_after(1.5):
            response = await client.get("/", params=INCOMING)
            again = await client.get("/", params=INCOMING)
    assert (response.status_code, response.json()) == (200, {})
    assert again.status_code == 200
    assert app.stats.failures == 2
    assert "lookup failed" in caplog.text


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), SystemExit(3)])
async def test_a_lookup_raising_keyboard_interrupt_or_system_exit_is_not_hidden(
    exc: BaseException,
) -> None:
    app = WebhookApp(lookup_raising(BaseExceptionGroup("lookup", [exc])))
    with pytest.raises(BaseExceptionGroup) as caught:
        async with client_for(app) as client:
            await client.get("/", params=INCOMING)
    assert caught.group_contains(type(exc))


async def test_a_real_cancellation_of_the_request_still_propagates() -> None:
    """Server shutdown cancels the request: the app must not answer it as a failed lookup."""
    started = anyio.Event()
    caught: list[BaseException] = []

    async def lookup(event: WebhookEvent) -> Mapping[str, object]:
        started.set()
        try:
            await anyio.sleep_forever()
        except BaseException as exc:
            # A lookup that wraps the cancellation, as a task group inside it would.
            caught.append(exc)
            raise BaseExceptionGroup("lookup", [exc]) from None
        raise AssertionError("unreachable")

    app = WebhookApp(lookup, budget=30)
    sent: list[Any] = []
    query = "&".join(f"{k}={v}" for k, v in INCOMING.items()).encode()
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "query_string": query,
        "headers": [],
        "client": ("192.0.2.10", 40000),
    }

    async def receive() -> Any:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(app, scope, receive, send)
            await started.wait()
            tg.cancel_scope.cancel()
    assert len(caught) == 1
    assert sent == []  # no answer: the request was cancelled, not failed
    assert app.stats.failures == 0


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_native_asyncio_cancellation_of_the_request_still_propagates() -> None:
    """uvicorn cancels request tasks with ``Task.cancel()``, outside any anyio cancel scope."""
    started = asyncio.Event()

    async def lookup(event: WebhookEvent) -> Mapping[str, object]:
        started.set()
        await asyncio.sleep(30)
        return ANSWER

    app = WebhookApp(lookup, budget=30)
    sent: list[Any] = []
    query = "&".join(f"{k}={v}" for k, v in INCOMING.items()).encode()
    scope = {"type": "http", "method": "GET", "path": "/", "query_string": query}
    scope |= {"headers": [], "client": ("192.0.2.10", 40000)}

    async def receive() -> Any:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    task = asyncio.ensure_future(app(scope, receive, send))
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert sent == []
    assert app.stats.failures == 0
