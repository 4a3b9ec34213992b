"""The ASGI app in memory: every hook kind, the budget, failures, bad input, protection."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount, Route

from daktela_async import DaktelaClient, DaktelaUsageError, Timeouts
from daktela_async._models import RTStatsQueue
from daktela_async.realtime import AgentStateChanged, Event, Hub, QueueStatsChanged
from daktela_async.sim import Simulator
from daktela_async.webhooks import (
    WEBHOOK_EVENTS,
    CallHungUp,
    IncomingCall,
    LineAnswered,
    LineRinging,
    WebhookApp,
    WebhookEvent,
)
from tests.webhooks.support import INCOMING, LINE, Recorder, client_for

pytestmark = pytest.mark.anyio

LOGGER = "daktela_async.webhooks"
ANSWER = {"NAME": "Daktela s.r.o.", "ADDRESS": "Pod Krejcarkem 975"}
SECRET = "Tajn0-heslo/+="


def hook(action: str | None = None) -> dict[str, str]:
    return dict(INCOMING) if action is None else {**LINE, "action": action}


@pytest.mark.parametrize(
    ("action", "cls"),
    [
        (None, IncomingCall),
        ("ringing", LineRinging),
        ("answer", LineAnswered),
        ("hangup", CallHungUp),
    ],
)
async def test_each_hook_is_published_and_answered_with_the_lookup(
    action: str | None, cls: type[Event]
) -> None:
    lookup = Recorder(ANSWER)
    app = WebhookApp(lookup)
    async with app.hub.subscribe() as events, client_for(app) as client:
        response = await client.get("/any/path", params=hook(action))
        published = events.get_nowait()
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == ANSWER
    assert type(published) is cls
    assert published.seq == 1
    assert lookup.events == [published]
    assert app.stats.hooks == app.stats.answered == 1


async def test_event_is_published_before_the_lookup_runs() -> None:
    hub = Hub()
    seen_by_lookup: list[Event | None] = []
    async with hub.subscribe() as events:

        async def lookup(event: WebhookEvent) -> Mapping[str, object]:
            seen_by_lookup.append(events.get_nowait())
            return {"SEQ": event.seq}

        async with client_for(WebhookApp(lookup, hub=hub)) as client:
            response = await client.get("/", params=hook("ringing"))
    assert response.json() == {"SEQ": "1"}
    [event] = seen_by_lookup
    assert isinstance(event, LineRinging)
    assert event.seq == 1


async def test_answer_is_flattened_utf8_json() -> None:
    answer = {"NAME": "Žluťoučký kůň", "VIP": True, "CONTACT": {"ID": 42, "NOTE": None}}
    async with client_for(WebhookApp(Recorder(answer))) as client:
        response = await client.get("/", params=hook())
    assert "Žluťoučký kůň".encode() in response.content
    assert response.json() == {
        "NAME": "Žluťoučký kůň",
        "VIP": "1",
        "CONTACT.ID": "42",
        "CONTACT.NOTE": "",
    }


async def test_post_form_body_is_accepted_with_query_parameters() -> None:
    lookup = Recorder({"OK": 1})
    async with client_for(WebhookApp(lookup)) as client:
        response = await client.post("/?tenant=a", data=hook("answer"))
    assert response.json() == {"OK": "1"}
    [event] = lookup.events
    assert isinstance(event, LineAnswered)
    assert event.extra == {"tenant": "a"}


async def test_post_bodies_other_than_forms_are_refused() -> None:
    app = WebhookApp(Recorder(ANSWER))
    async with client_for(app) as client:
        as_json = await client.post("/", json=hook("answer"))
    assert as_json.status_code == 400
    assert "x-www-form-urlencoded" in as_json.json()["error"]
    assert app.stats.rejected == 1
    assert app.stats.hooks == 0


# The app stops reading at the limit; httpx's in-memory transport then leaves its own
# request-body generator unfinished, which trio reports when it is collected.
@pytest.mark.filterwarnings("ignore:Exception ignored in. <async_generator object ByteStream")
async def test_post_bodies_over_the_limit_get_a_413() -> None:
    app = WebhookApp(Recorder(ANSWER))
    async with client_for(app) as client:
        too_big = await client.post("/", data={**hook("answer"), "x": "y" * 70_000})
    assert too_big.status_code == 413
    assert "larger than 65536 bytes" in too_big.json()["error"]
    assert app.stats.hooks == 0


async def test_without_a_lookup_hooks_are_answered_empty_and_still_published() -> None:
    app = WebhookApp()
    async with app.hub.subscribe() as events, client_for(app) as client:
        response = await client.get("/", params=hook("hangup"))
        assert isinstance(events.get_nowait(), CallHungUp)
    assert response.status_code == 200
    assert response.json() == {}


async def test_slow_lookup_is_cancelled_at_the_budget_and_answered_empty(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    cancelled = anyio.Event()

    async def slow(event: WebhookEvent) -> Mapping[str, object]:
        try:
            await anyio.sleep(10)
        finally:
            cancelled.set()
        return ANSWER  # pragma: no cover - never reached

    app = WebhookApp(slow, budget=0.2)
    async with app.hub.subscribe() as events, client_for(app) as client:
        start = time.monotonic()
        response = await client.get("/", params=hook("ringing"))
        elapsed = time.monotonic() - start
        assert isinstance(events.get_nowait(), LineRinging)
    assert response.status_code == 200
    assert response.json() == {}
    assert 0.15 < elapsed < 1.0
    assert cancelled.is_set()
    assert app.stats.timeouts == 1
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "longer than 0.2 s" in warning.getMessage()
    assert "call=1474900000.12" in warning.getMessage()


async def test_failing_lookup_is_answered_empty_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def failing(event: WebhookEvent) -> Mapping[str, object]:
        raise RuntimeError("CRM database is down")

    app = WebhookApp(failing)
    async with client_for(app) as client:
        response = await client.get("/", params=hook())
        again = await client.get("/", params=hook("answer"))
    assert (response.status_code, response.json()) == (200, {})
    assert (again.status_code, again.json()) == (200, {})
    assert app.stats.failures == 2
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2
    assert errors[0].exc_info is not None
    assert "CRM database is down" in str(errors[0].exc_info[1])


@pytest.mark.parametrize("answer", [["NAME", "x"], "NAME", 42])
async def test_lookup_answers_that_are_not_mappings_are_answered_empty(
    answer: Any, caplog: pytest.LogCaptureFixture
) -> None:
    app = WebhookApp(Recorder(answer))
    async with client_for(app) as client:
        response = await client.get("/", params=hook())
    assert response.json() == {}
    assert app.stats.failures == 1
    assert "not a mapping" in caplog.text


async def test_lookup_returning_none_or_a_cycle() -> None:
    cyclic: dict[str, Any] = {}
    cyclic["me"] = cyclic
    none_app = WebhookApp(Recorder(None))
    cyclic_app = WebhookApp(Recorder(cyclic))
    async with client_for(none_app) as a, client_for(cyclic_app) as b:
        assert (await a.get("/", params=hook())).json() == {}
        assert (await b.get("/", params=hook())).json() == {}
    assert none_app.stats.answered == 1
    assert cyclic_app.stats.failures == 1


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "not a Daktela hook"),
        ({"callid": "1"}, "missing parameter 'dnd'"),
        ({**LINE}, "missing parameter 'action'"),
        ({**LINE, "action": "park"}, "action must be"),
        ({**LINE, "action": "answer", "idcall": ""}, "'idcall' must not be empty"),
        ({"action": "hangup", "idcall": "1"}, "missing parameters callerId, calleeId, line"),
    ],
)
async def test_bad_input_gets_a_400_json_a_log_line_and_the_app_keeps_serving(
    params: dict[str, str], message: str, caplog: pytest.LogCaptureFixture
) -> None:
    lookup = Recorder(ANSWER)
    app = WebhookApp(lookup)
    async with app.hub.subscribe() as events, client_for(app) as client:
        bad = await client.get("/", params=params)
        good = await client.get("/", params=hook())
        published = [events.get_nowait(), events.get_nowait()]
    assert bad.status_code == 400
    assert bad.headers["content-type"] == "application/json"
    assert message in bad.json()["error"]
    assert good.json() == ANSWER
    assert isinstance(published[0], IncomingCall)
    assert published[1] is None
    assert len(lookup.events) == 1
    assert app.stats.rejected == 1
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert message in warning.getMessage()
    assert "192.0.2.10" in warning.getMessage()


async def test_other_methods_get_a_405_json() -> None:
    async with client_for(WebhookApp()) as client:
        response = await client.put("/", params=hook())
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert "not allowed" in response.json()["error"]


@pytest.mark.parametrize(
    ("params", "headers", "status"),
    [
        ({}, {}, 403),
        ({"secret": "guess-123"}, {}, 403),
        ({"secret": SECRET[:-1]}, {}, 403),
        ({}, {"X-Daktela-Secret": "guess-123"}, 403),
        ({"secret": SECRET}, {}, 200),
        ({}, {"X-Daktela-Secret": SECRET}, 200),
    ],
)
async def test_shared_secret_in_the_query_or_a_header(
    params: dict[str, str],
    headers: dict[str, str],
    status: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    lookup = Recorder(ANSWER)
    app = WebhookApp(lookup, secret=SECRET)
    async with client_for(app) as client:
        response = await client.get("/", params={**hook("answer"), **params}, headers=headers)
    assert response.status_code == status
    if status == 403:
        assert response.json() == {"error": "forbidden"}
        assert lookup.events == []
        assert app.stats.forbidden == 1
        assert "missing or wrong secret" in caplog.text
    else:
        assert response.json() == ANSWER
        [event] = lookup.events
        assert event.extra == {}
    assert SECRET not in caplog.text
    assert "guess-123" not in caplog.text


async def test_secret_in_a_post_form_and_a_custom_header() -> None:
    app = WebhookApp(Recorder(ANSWER), secret=SECRET, secret_header="X-Token")
    async with client_for(app) as client:
        form = await client.post("/", data={**hook(), "secret": SECRET})
        header = await client.get("/", params=hook(), headers={"X-Token": SECRET})
        old_header = await client.get("/", params=hook(), headers={"X-Daktela-Secret": SECRET})
    assert [form.status_code, header.status_code, old_header.status_code] == [200, 200, 403]


async def test_secret_parameter_is_dropped_even_without_a_secret_configured() -> None:
    lookup = Recorder()
    async with client_for(WebhookApp(lookup)) as client:
        await client.get("/", params={**hook(), "secret": "x", "tenant": "t"})
    assert lookup.events[0].extra == {"tenant": "t"}


@pytest.mark.parametrize(
    ("allow", "ip", "status"),
    [
        (["192.0.2.10"], "192.0.2.10", 200),
        (["192.0.2.11"], "192.0.2.10", 403),
        (["10.0.0.0/8", "192.0.2.0/24"], "192.0.2.200", 200),
        (["10.0.0.0/8"], "192.0.2.200", 403),
        (["10.1.2.3/16"], "10.1.200.1", 200),
        (["2001:db8::/32"], "2001:db8::5", 200),
        (["2001:db8::/32"], "2001:db9::5", 403),
        (["192.0.2.0/24"], "::ffff:192.0.2.7", 200),
        (["192.0.2.0/24"], "testclient", 403),
        ([], "192.0.2.10", 403),
    ],
)
async def test_allow_list_of_addresses_and_networks(allow: list[str], ip: str, status: int) -> None:
    lookup = Recorder(ANSWER)
    app = WebhookApp(lookup, allow=allow)
    async with app.hub.subscribe() as events, client_for(app, ip=ip) as client:
        response = await client.get("/", params=hook())
        published = events.get_nowait()
    assert response.status_code == status
    if status == 403:
        assert response.json() == {"error": "forbidden"}
        assert published is None
        assert lookup.events == []
    else:
        assert isinstance(published, IncomingCall)


async def test_allow_list_is_checked_before_anything_else() -> None:
    app = WebhookApp(allow="10.0.0.1", secret=SECRET)
    async with client_for(app) as client:
        response = await client.put("/")
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"budget": 0}, "budget"),
        ({"budget": -1.0}, "budget"),
        ({"budget": float("nan")}, "budget"),
        ({"secret": ""}, "secret"),
        ({"allow": ["10.0.0.0/8", "not-an-ip"]}, "allow"),
        ({"lookup": "module:function"}, "lookup"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, Any], parameter: str) -> None:
    with pytest.raises(DaktelaUsageError) as caught:
        WebhookApp(**kwargs)
    assert caught.value.parameter == parameter


def test_repr_does_not_show_the_secret() -> None:
    text = repr(WebhookApp(secret=SECRET, allow=["10.0.0.0/8"], budget=0.5))
    assert SECRET not in text
    assert text == "<WebhookApp budget=0.5s protected=secret,allow-list>"


async def test_concurrent_hooks_each_get_their_own_answer_within_the_budget() -> None:
    async def lookup(event: WebhookEvent) -> Mapping[str, object]:
        await anyio.sleep(0.05)
        assert not isinstance(event, IncomingCall)
        return {"CALL": event.call_id}

    app = WebhookApp(lookup, budget=1.0)
    answers: dict[str, str] = {}

    async with client_for(app) as client:

        async def one(i: int) -> None:
            response = await client.get("/", params={**hook("ringing"), "idcall": f"c{i}"})
            answers[f"c{i}"] = response.json()["CALL"]

        start = time.monotonic()
        async with anyio.create_task_group() as tg:
            for i in range(100):
                tg.start_soon(one, i)
        elapsed = time.monotonic() - start
    assert answers == {f"c{i}": f"c{i}" for i in range(100)}
    assert elapsed < 1.0  # 100 x 50 ms one after another would be 5 s
    assert app.stats.hooks == app.stats.answered == 100
    assert app.hub.seq == 100


async def test_routed_or_mounted_in_starlette_without_redirects() -> None:
    lookup = Recorder(ANSWER)
    webhooks = WebhookApp(lookup)
    outer = Starlette(routes=[Mount("/crm", app=webhooks), Route("/hook", webhooks)])
    transport = httpx.ASGITransport(app=outer)
    async with httpx.AsyncClient(transport=transport, base_url="http://crm.test") as client:
        mounted = await client.get("/crm/hook", params=hook())
        nested = await client.get("/crm/hook/pbx1", params=hook("answer"))
        routed = await client.post("/hook", data=hook("hangup"))
    for response in (mounted, nested, routed):
        assert (response.status_code, response.json()) == (200, ANSWER)
    assert [type(e) for e in lookup.events] == [IncomingCall, LineAnswered, CallHungUp]


async def test_lifespan_messages_are_acknowledged() -> None:
    incoming = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[Any] = []

    async def receive() -> Any:
        return next(incoming)

    async def send(message: Any) -> None:
        sent.append(message["type"])

    await WebhookApp()({"type": "lifespan"}, receive, send)
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


async def test_one_subscriber_sees_realtime_and_webhook_events_on_a_shared_hub() -> None:
    hub = Hub()
    app = WebhookApp(hub=hub)
    async with hub.subscribe() as events, client_for(app) as client:
        hub.publish(QueueStatsChanged(queue="1", previous=None, current=RTStatsQueue(id=1)))
        await client.get("/", params=hook("ringing"))
        received = [events.get_nowait(), events.get_nowait()]
    assert [type(e) for e in received] == [QueueStatsChanged, LineRinging]
    assert [e.seq for e in received if e is not None] == [1, 2]


async def test_webhook_events_reach_a_watchers_subscribers() -> None:
    async with Simulator(agents=3, queues=1, seed=7, speed=0, hold=0.3) as sim:
        timeouts = Timeouts(connect=1.0, read=1.0, write=1.0, pool=1.0, deadline=2.0)
        async with (
            DaktelaClient(sim.url, sim.token, timeout=timeouts) as daktela,
            daktela.watch(users=["hajek"], long_poll_timeout=2.0, long_poll_deadline=3.0) as w,
            w.subscribe(users=["hajek"]) as events,
            client_for(WebhookApp(hub=w.hub)) as client,
        ):
            with anyio.fail_after(5):
                first = await events.__anext__()
            assert isinstance(first, AgentStateChanged)
            await client.get("/", params=hook("ringing"))
            seen: list[Event] = []
            with anyio.fail_after(5):
                async for event in events:
                    seen.append(event)
                    if isinstance(event, WEBHOOK_EVENTS):
                        break
    assert isinstance(seen[-1], LineRinging)
    assert seen[-1].seq > first.seq
