"""The ASGI app in memory: every hook kind, the budget, failures, bad input, protection."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

import anyio
import anyio.lowlevel
import httpx
import orjson
import pytest
import trio
import trio.testing
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
from daktela_async.webhooks._app import MAX_BODY, Lookup
from tests.webhooks.support import INCOMING, LINE, ItemsRaise, Recorder, client_for

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


# --- what the operator reads: exact log lines, counters, timings in virtual time ----------


def in_virtual_time(scenario: Callable[[], Awaitable[None]]) -> None:
    """Run *scenario* on trio with a clock that jumps every sleep: timings are exact."""
    trio.run(scenario, clock=trio.testing.MockClock(autojump_threshold=0))


def logged(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == level]


def answering(answer: object, after: float = 0.0) -> Lookup:
    async def lookup(event: WebhookEvent) -> Mapping[str, object] | None:
        await anyio.sleep(after)
        return cast("Mapping[str, object] | None", answer)

    return lookup


def raising(exc: BaseException) -> Lookup:
    async def lookup(event: WebhookEvent) -> Mapping[str, object] | None:
        await anyio.lowlevel.checkpoint()
        raise exc

    return lookup


class NotAnError(BaseException):
    """Neither an Exception nor a request to stop: still a failing answer."""


CYCLE: dict[str, Any] = {}
CYCLE["me"] = CYCLE
FAILED = "lookup failed for incoming_call seq={seq}; answered {{}}"
UNUSABLE = "lookup answer unusable for incoming_call seq={seq}; answered {{}}"
LOOKUP_FAILED = "lookup failed, answered {}"


@pytest.mark.parametrize(
    ("lookup", "problem", "outcome", "elapsed", "counter"),
    [
        (None, None, "no lookup, answered {}", "0.0", "hooks"),
        (answering(ANSWER, 0.25), None, "answered 2 keys", "250.0", "answered"),
        (answering(None), None, "lookup returned None, answered {}", "0.0", "answered"),
        (
            answering(ANSWER, 10),
            "lookup for incoming_call seq={seq} took longer than 0.5 s; cancelled, answered {{}}",
            "lookup timed out, answered {}",
            "500.0",
            "timeouts",
        ),
        (raising(RuntimeError("CRM down")), FAILED, LOOKUP_FAILED, "0.0", "failures"),
        (raising(GeneratorExit()), FAILED, LOOKUP_FAILED, "0.0", "failures"),
        (
            answering(42),
            "lookup for incoming_call seq={seq} returned int, not a mapping; answered {{}}",
            "lookup answer unusable, answered {}",
            "0.0",
            "failures",
        ),
        (
            answering(CYCLE),
            "lookup answer for incoming_call seq={seq} unusable (the answer is nested deeper "
            "than 16 levels); answered {{}}",
            "lookup answer unusable, answered {}",
            "0.0",
            "failures",
        ),
        (
            answering(ItemsRaise(RuntimeError("cursor closed"))),
            UNUSABLE,
            "lookup answer unusable, answered {}",
            "0.0",
            "failures",
        ),
        (
            answering(ItemsRaise(NotAnError())),
            UNUSABLE,
            "lookup answer unusable, answered {}",
            "0.0",
            "failures",
        ),
    ],
    ids=[
        "no-lookup",
        "answer",
        "none",
        "timeout",
        "error",
        "base-exception",
        "not-a-mapping",
        "cycle",
        "items-raise",
        "items-raise-base",
    ],
)
def test_each_outcome_is_logged_timed_and_counted(
    lookup: Lookup | None,
    problem: str | None,
    outcome: str,
    elapsed: str,
    counter: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    app = WebhookApp(lookup, budget=0.5 if counter == "timeouts" else 1.0)

    async def scenario() -> None:
        async with client_for(app) as client:
            for _ in range(2):
                response = await client.get("/", params=hook())
                assert response.status_code == 200
                assert response.headers["content-type"] == "application/json"

    in_virtual_time(scenario)
    assert logged(caplog, logging.INFO) == [
        f"incoming_call seq={seq} from 192.0.2.10: {outcome} in {elapsed} ms" for seq in (1, 2)
    ]
    problems = logged(caplog, logging.WARNING) + logged(caplog, logging.ERROR)
    assert problems == ([] if problem is None else [problem.format(seq=1), problem.format(seq=2)])
    assert getattr(app.stats, counter) == 2
    assert app.stats.hooks == 2


async def test_a_stop_request_while_flattening_the_answer_is_not_hidden() -> None:
    stop = BaseExceptionGroup("crm", [SystemExit(3)])
    app = WebhookApp(answering(ItemsRaise(stop)))
    with pytest.raises(BaseExceptionGroup) as caught:
        async with client_for(app) as client:
            await client.get("/", params=hook())
    assert caught.group_contains(SystemExit)


async def test_line_hooks_are_logged_with_call_and_line_backslashes_escaped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    async with client_for(WebhookApp()) as client:
        await client.get("/", params={**hook("answer"), "idcall": "C:\\calls\\7", "line": "201"})
    [message] = logged(caplog, logging.INFO)
    assert message.startswith(
        r"line_answered seq=1 call=C:\\calls\\7 line=201 from 192.0.2.10: no lookup, answered {}"
    )


async def test_refusals_are_logged_counted_and_answered_exactly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = WebhookApp(Recorder(ANSWER), secret=SECRET)
    async with client_for(app) as client:
        missing = await client.get("/", params=hook())
        wrong = await client.get("/", params={**hook(), "secret": "guess"})
        bad = await client.get("/", params={"callid": "1", "secret": SECRET})
        worse = await client.get("/", params={"dnd": "1", "secret": SECRET})
    assert [r.status_code for r in (missing, wrong, bad, worse)] == [403, 403, 400, 400]
    assert "allow" not in bad.headers
    assert bad.json() == {"error": "missing parameter 'dnd'"}
    assert app.stats.forbidden == app.stats.rejected == 2
    assert logged(caplog, logging.WARNING) == [
        "hook from 192.0.2.10 refused: missing or wrong secret (answered 403)",
        "hook from 192.0.2.10 refused: missing or wrong secret (answered 403)",
        "bad hook from 192.0.2.10: missing parameter 'dnd' (answered 400)",
        "bad hook from 192.0.2.10: missing parameter 'callid' (answered 400)",
    ]
    outside = WebhookApp(allow=["10.0.0.0/8"])
    async with client_for(outside) as client:
        assert (await client.get("/", params=hook())).status_code == 403
    assert logged(caplog, logging.WARNING)[-1] == (
        "hook from 192.0.2.10 refused: address not in the allow-list (answered 403)"
    )


async def test_a_custom_secret_parameter_is_checked_and_dropped() -> None:
    lookup = Recorder(ANSWER)
    app = WebhookApp(lookup, secret=SECRET, secret_param="key")
    async with client_for(app) as client:
        good = await client.get("/", params={**hook(), "key": SECRET, "tenant": "a"})
        bad = await client.get("/", params={**hook(), "secret": SECRET})
    assert [good.status_code, bad.status_code] == [200, 403]
    assert lookup.events[0].extra == {"tenant": "a"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lookup": "module:function"}, "lookup must be an async callable"),
        ({"budget": 0}, "budget must be a positive number of seconds, not 0"),
        ({"secret": ""}, "secret must not be empty"),
        ({"allow": ["10.0.0.0/8", "nope"]}, "allow: 'nope' is not an IP address or network"),
    ],
)
def test_bad_settings_are_refused_with_these_messages(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(DaktelaUsageError) as caught:
        WebhookApp(**kwargs)
    assert caught.value.message == message


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [
        ({}, "<WebhookApp budget=1.5s protected=no>"),
        ({"secret": SECRET}, "<WebhookApp budget=1.5s protected=secret>"),
        ({"allow": "10.0.0.1"}, "<WebhookApp budget=1.5s protected=allow-list>"),
    ],
)
def test_repr_says_what_protects_the_app(kwargs: dict[str, Any], text: str) -> None:
    assert repr(WebhookApp(**kwargs)) == text


class RaisingHub(Hub):
    def publish(self, event: Event) -> Event:
        raise RuntimeError("hub broken")


async def test_a_failing_hub_does_not_cost_the_pbx_its_answer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lookup = Recorder(ANSWER)
    async with client_for(WebhookApp(lookup, hub=RaisingHub())) as client:
        response = await client.get("/", params=hook())
    assert (response.status_code, response.json()) == (200, ANSWER)
    assert [e.seq for e in lookup.events] == [0]
    [error] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert error.getMessage() == "publishing incoming_call failed"
    assert error.exc_info is not None


async def raw_request(
    app: WebhookApp, scope: dict[str, Any], messages: list[dict[str, Any]]
) -> tuple[int, bytes]:
    """Call *app* with a bare ASGI *scope*, the request's *messages*; status and body."""
    incoming = iter(messages)
    sent: list[dict[str, Any]] = []

    async def receive() -> Any:
        return next(incoming, {"type": "http.disconnect"})

    async def send(message: Any) -> None:
        sent.append(message)

    base = {"type": "http", "method": "GET", "path": "/", "query_string": b"", "headers": []}
    await app({**base, **scope}, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


async def test_a_request_without_a_client_address_is_served_unless_an_allow_list_is_set(
    caplog: pytest.LogCaptureFixture,
) -> None:
    scope = {"query_string": b"callid=1&dnd=2", "client": None}
    assert await raw_request(WebhookApp(), scope, []) == (200, b"{}")
    assert await raw_request(WebhookApp(allow="10.0.0.1"), scope, []) == (
        403,
        b'{"error":"forbidden"}',
    )
    assert logged(caplog, logging.WARNING) == [
        "hook from None refused: address not in the allow-list (answered 403)"
    ]


async def test_a_client_leaving_before_the_body_ended_gets_a_400() -> None:
    scope = {"method": "POST", "headers": [(b"content-type", _FORM.encode())]}
    first = {"type": "http.request", "body": b"callid=1", "more_body": True}
    status, body = await raw_request(WebhookApp(), scope, [first])
    assert (status, orjson.loads(body)) == (
        400,
        {"error": "the client disconnected before the body ended"},
    )


async def test_websockets_are_closed_with_policy_violation() -> None:
    sent: list[Any] = []

    async def receive() -> Any:
        return {"type": "websocket.connect"}  # pragma: no cover - never read

    async def send(message: Any) -> None:
        sent.append(message)

    await WebhookApp()({"type": "websocket"}, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008}]


_FORM = "application/x-www-form-urlencoded"


async def test_post_forms_are_read_as_browsers_and_proxies_send_them() -> None:
    lookup = Recorder(ANSWER)
    app = WebhookApp(lookup)
    form = {"content-type": f"{_FORM}; charset=UTF-8"}
    async with client_for(app) as client:
        charset = await client.post("/", content=b"callid=1&dnd=", headers=form)
        latin = await client.post("/", content=b"callid=J\xe1n&dnd=2", headers=form)
        untyped = await client.post("/", content=b"callid=1&dnd=2")
    assert [charset.status_code, latin.status_code, untyped.status_code] == [200, 200, 400]
    assert untyped.json() == {"error": f"a POST body must be {_FORM}"}
    assert [(e.caller, e.did) for e in lookup.events if isinstance(e, IncomingCall)] == [
        ("1", ""),
        ("J\ufffdn", "2"),
    ]


async def test_a_post_body_of_exactly_the_limit_is_read() -> None:
    lookup = Recorder(ANSWER)
    body = b"callid=1&dnd=2&pad="
    body += b"x" * (MAX_BODY - len(body))
    async with client_for(WebhookApp(lookup)) as client:
        response = await client.post("/", content=body, headers={"content-type": _FORM})
    assert response.status_code == 200
    assert len(lookup.events) == 1
