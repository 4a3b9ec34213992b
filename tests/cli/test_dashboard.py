"""The dashboard's web app on a real loopback server, fed by a watcher of the simulator."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.to_thread
import httpx
import pytest

from daktela_async import DaktelaClient
from daktela_async.cli._dashboard import Dashboard, serve_dashboard
from daktela_async.cli._serve import bind, exposure_warning, open_socket
from daktela_async.cli._settings import CLIError
from daktela_async.sim import Simulator
from tests.cli.support import LineStream, Run, connection
from tests.redis_server import RedisServer

pytestmark = pytest.mark.anyio

Messages = list[dict[str, Any]]


def logged_in(sim: Simulator) -> list[str]:
    return sorted(login for login, a in sim.snapshot()["agents"].items() if a["logged"])


@asynccontextmanager
async def running(sim: Simulator, **options: Any) -> AsyncIterator[tuple[Dashboard, str]]:
    async with DaktelaClient(sim.url, sim.token) as client:
        watcher = client.watch(
            logged_in(sim),
            stats=("queues", "summary"),
            stats_interval=0.2,
            min_unchanged_gap=0.05,
        )
        async with watcher:
            options.setdefault("title", "Test <board>")
            dashboard = Dashboard(watcher, queue_titles={"1": "Support"}, **options)
            async with serve_dashboard(dashboard, bind("127.0.0.1", 0)) as url:
                yield dashboard, url


async def read_until(
    lines: AsyncIterator[str], messages: Messages, done: Callable[[Messages], bool]
) -> Messages:
    with anyio.fail_after(10):
        while not done(messages):
            line = await anext(lines)
            if line.startswith("data: "):
                messages.append(json.loads(line.removeprefix("data: ")))
    return messages


def agent_in(messages: Messages, user: str, state: str) -> dict[str, Any] | None:
    for m in reversed(messages):
        if m["type"] == "agent" and m["user"] == user:
            return m if m["state"] == state else None
    return None


async def test_the_stream_replays_every_agent_then_pushes_changes(sim: Simulator) -> None:
    await anyio.to_thread.run_sync(sim.set_state, "hajek", "Idle")
    users = logged_in(sim)
    async with (
        running(sim, sample_every=0.2) as (_, url),
        httpx.AsyncClient(base_url=url) as http,
        http.stream("GET", "/events") as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-store"
        lines = response.aiter_lines()
        assert await anext(lines) == "retry: 2000"
        messages: Messages = []
        await read_until(lines, messages, lambda ms: len(ms) >= 1)
        hello = messages[0]
        assert hello["type"] == "hello"
        assert hello["title"] == "Test <board>"
        assert sorted(hello["users"]) == users

        def every_agent(ms: Messages) -> bool:
            return {m["user"] for m in ms if m["type"] == "agent"} == set(users)

        await read_until(lines, messages, every_agent)
        assert agent_in(messages, "hajek", "Idle") is not None

        await anyio.to_thread.run_sync(sim.set_state, "hajek", "Speaking")
        await read_until(lines, messages, lambda ms: agent_in(ms, "hajek", "Speaking") is not None)
        speaking = agent_in(messages, "hajek", "Speaking")
        assert speaking is not None
        assert speaking["call"]["number"] == "226211245"
        assert speaking["call"]["direction"] == "in"

        def queue_and_sample(ms: Messages) -> bool:
            kinds = {m["type"] for m in ms}
            return {"queue", "sample"} <= kinds

        await read_until(lines, messages, queue_and_sample)
        queue = next(m for m in messages if m["type"] == "queue" and m["id"] == "1")
        assert queue["title"] == "Support"
        sample = next(m for m in messages if m["type"] == "sample")
        assert set(sample) == {"type", "t", "waiting", "ready", "keep"}


async def test_page_and_snapshot(sim: Simulator) -> None:
    async with running(sim) as (dashboard, url), httpx.AsyncClient(base_url=url) as http:
        page = await http.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert "<title>Test &lt;board&gt;</title>" in page.text
        assert "Test <board>" not in page.text
        assert 'new EventSource("events")' in page.text
        assert "http://" not in page.text
        assert "https://" not in page.text
        with anyio.fail_after(10):
            while len(dashboard.board.agents) < len(logged_in(sim)):  # noqa: ASYNC110 (a count)
                await anyio.sleep(0.05)
        snapshot = (await http.get("/snapshot")).json()
        assert {a["user"] for a in snapshot["agents"]} == set(logged_in(sim))
        assert snapshot["title"] == "Test <board>"
        assert isinstance(snapshot["samples"], list)


async def test_a_quiet_stream_sends_pings(sim: Simulator) -> None:
    async with (
        running(sim, sample_every=60, heartbeat=0.3) as (_, url),
        httpx.AsyncClient(base_url=url) as http,
        http.stream("GET", "/events") as response,
    ):
        messages: Messages = []
        await read_until(
            response.aiter_lines(), messages, lambda ms: bool(ms) and ms[-1]["type"] == "ping"
        )
        assert isinstance(messages[-1]["now"], int)


async def test_closing_ends_the_streams_and_a_gone_browser_unsubscribes(sim: Simulator) -> None:
    async with running(sim) as (dashboard, url), httpx.AsyncClient(base_url=url) as http:
        async with http.stream("GET", "/events") as response:
            lines = response.aiter_lines()
            await read_until(lines, [], lambda ms: len(ms) >= 1)
            assert dashboard.streams == 1
        with anyio.fail_after(5):
            while dashboard.streams:  # noqa: ASYNC110 (the app exposes a count, not an event)
                await anyio.sleep(0.05)
        async with http.stream("GET", "/events") as response:
            lines = response.aiter_lines()
            await read_until(lines, [], lambda ms: len(ms) >= 1)
            dashboard.close()
            with anyio.fail_after(5):
                rest = [line async for line in lines]
            assert all(not line.startswith("retry") for line in rest)
        refused = await http.get("/events")
        assert refused.status_code == 503


def test_open_socket_falls_back_from_a_taken_default_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with bind("127.0.0.1", 0) as taken:
        port = taken.getsockname()[1]
        monkeypatch.setattr("daktela_async.cli._serve.DEFAULT_PORT", port)
        sock, note = open_socket("127.0.0.1", None)
        with sock:
            assert sock.getsockname()[1] != port
            assert note is not None
            assert "taken" in note
        with pytest.raises(CLIError, match=f"cannot listen on 127.0.0.1:{port}"):
            open_socket("127.0.0.1", port)


def test_exposure_warning() -> None:
    assert exposure_warning("127.0.0.1") is None
    assert exposure_warning("::1") is None
    assert exposure_warning("localhost") is None
    warning = exposure_warning("0.0.0.0")  # noqa: S104 - the address being warned about
    assert warning is not None
    assert "no login" in warning
    assert "--allow-host" in warning


def test_the_dashboard_command_serves_for_a_duration(sim: Simulator, run: Run) -> None:
    result = run(
        "dashboard", "--port", "0", "--duration", "0.5", "--user", "hajek", *connection(sim)
    )
    assert result.code == 0, result.err
    assert result.out.startswith("Dashboard: http://127.0.0.1:")
    assert "watching 1 agents" in result.err
    assert sim.token not in result.text


def test_the_dashboard_command_finds_agents_itself(sim: Simulator, run: Run) -> None:
    result = run("dashboard", "--port", "0", "--duration", "0.3", *connection(sim))
    assert result.code == 0, result.err
    assert f"watching {len(logged_in(sim))} agents" in result.err


def test_the_dashboard_command_with_a_bad_token(sim: Simulator, run: Run) -> None:
    result = run("dashboard", "--port", "0", "--url", sim.url, "--token", "0" * 40)
    assert result.code == 1
    assert "refused the token" in result.err
    assert result.err.count("\n") == 1


# --- the Host check (DNS rebinding) ------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "evil.example:8080",
        "localhost.evil.example",
        "127.0.0.1.nip.io",
        "[::2]:8080",
        "::1",  # an IPv6 address without brackets is not a valid Host
        "localhost:port",
        "[::1",
        "",
    ],
)
async def test_every_route_refuses_a_foreign_host(sim: Simulator, host: str) -> None:
    # A DNS-rebinding page reaches the dashboard under its own name: its requests carry
    # that name as the Host, and must not get agents' names or callers' numbers.
    async with running(sim) as (dashboard, url), httpx.AsyncClient(base_url=url) as http:
        for path in ("/", "/snapshot", "/events"):
            with anyio.fail_after(5):
                response = await http.get(path, headers={"Host": host})
            assert response.status_code == 400, path
            assert response.text == "Invalid host header"
            assert "agents" not in response.text
        assert dashboard.streams == 0


async def test_loopback_names_and_the_listening_address_are_allowed(sim: Simulator) -> None:
    async with running(sim) as (dashboard, url), httpx.AsyncClient(base_url=url) as http:
        port = url.rsplit(":", 1)[1].strip("/")
        hosts = [f"127.0.0.1:{port}", f"localhost:{port}", "LOCALHOST.", f"[::1]:{port}"]
        hosts += ["[0:0::1]", "127.0.0.1"]
        for host in hosts:
            page = await http.get("/", headers={"Host": host})
            snapshot = await http.get("/snapshot", headers={"Host": host})
            assert (page.status_code, snapshot.status_code) == (200, 200), host
        async with http.stream("GET", "/events", headers={"Host": f"localhost:{port}"}) as r:
            assert r.status_code == 200
            assert await anext(r.aiter_lines()) == "retry: 2000"
        assert dashboard.allowed_hosts == {"localhost", "127.0.0.1", "::1"}


async def test_allowed_hosts_add_names(sim: Simulator) -> None:
    async with (
        running(sim, allowed_hosts=["Dash.Example.", "[2001:db8::1]", " "]) as (dashboard, url),
        httpx.AsyncClient(base_url=url) as http,
    ):
        named = await http.get("/snapshot", headers={"Host": "dash.example:8080"})
        address = await http.get("/snapshot", headers={"Host": "[2001:DB8:0::1]:443"})
        other = await http.get("/snapshot", headers={"Host": "example"})
    assert (named.status_code, address.status_code, other.status_code) == (200, 200, 400)
    assert "dash.example" in dashboard.allowed_hosts


def test_the_dashboard_command_answers_only_its_hosts(sim: Simulator, run: Run) -> None:
    stream = LineStream()
    statuses: dict[str, int] = {}

    def browse() -> None:
        if not stream.wait_lines(1):
            return
        url = stream.getvalue().split("Dashboard: ", 1)[1].split()[0]
        for host in ("dash.example", "crm.example", "evil.example"):
            response = httpx.get(f"{url}snapshot", headers={"Host": host}, timeout=5)
            statuses[host] = response.status_code

    helper = threading.Thread(target=browse, daemon=True)
    helper.start()
    argv = ["dashboard", "--port", "0", "--duration", "3", "--user", "hajek"]
    argv += ["--allow-host", "dash.example", "--allow-host", "crm.example,other.example"]
    result = run(*argv, *connection(sim), stdout=stream)
    helper.join(5)
    assert result.code == 0, result.err
    assert statuses == {"dash.example": 200, "crm.example": 200, "evil.example": 400}


# --- /metrics and /healthz ---------------------------------------------------------------


def scraped(text: str) -> dict[str, dict[frozenset[tuple[str, str]], float]]:
    """Every sample of a ``/metrics`` answer, parsed by prometheus_client's own parser."""
    from prometheus_client.parser import text_string_to_metric_families

    samples: dict[str, dict[frozenset[tuple[str, str]], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[frozenset(sample.labels.items())] = sample.value
    return samples


def labelled(
    samples: dict[str, dict[frozenset[tuple[str, str]], float]], name: str, label: str = ""
) -> dict[str, float]:
    """The samples of *name* by the value of *label* (``""`` for a metric without labels)."""
    return {dict(k).get(label, ""): v for k, v in samples.get(name, {}).items()}


async def wait_for(check: Callable[[], Any], timeout: float = 10.0) -> None:
    with anyio.fail_after(timeout):
        while not await check():  # noqa: ASYNC110 - polling a web server's answer
            await anyio.sleep(0.1)


async def test_metrics_show_the_agents_by_state_and_the_queues(sim: Simulator) -> None:
    await anyio.to_thread.run_sync(sim.set_state, "hajek", "Speaking")
    try:
        async with running(sim) as (dashboard, url), httpx.AsyncClient(base_url=url) as http:
            expected: dict[str, float] = {}
            for agent in (await anyio.to_thread.run_sync(sim.snapshot))["agents"].values():
                if agent["logged"]:
                    expected[agent["state"]] = expected.get(agent["state"], 0) + 1
            assert expected["Speaking"] == 1

            async def arrived() -> bool:
                samples = scraped((await http.get("/metrics")).text)
                agents = {
                    s: n for s, n in labelled(samples, "daktela_agents", "state").items() if n
                }
                return agents == expected and bool(
                    labelled(samples, "daktela_queue_calls_waiting", "queue")
                )

            await wait_for(arrived)
            response = await http.get("/metrics")
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/plain")
            assert response.headers["cache-control"] == "no-store"
            samples = scraped(response.text)
            assert labelled(samples, "daktela_agents_watched") == {"": len(logged_in(sim))}
            assert samples["daktela_queue_info"] == {
                frozenset({("queue", "1"), ("title", "Support")}): 1
            }
            assert set(labelled(samples, "daktela_queue_calls_waiting", "queue")) == {"1", "2"}
            # The board's own subscription and the metrics' are among the subscribers.
            subscribers = {
                dict(k)["subscriber"] for k in samples["daktela_subscriber_buffered_events"]
            }
            assert {"dashboard", "metrics"} <= subscribers
            assert dashboard.metrics.registry is not None
            for path in ("/metrics", "/healthz"):
                refused = await http.get(path, headers={"Host": "evil.example"})
                assert refused.status_code == 400
    finally:
        await anyio.to_thread.run_sync(sim.set_state, "hajek", "Idle")


async def test_healthz_is_503_during_an_outage_and_200_after(sim: Simulator) -> None:
    async with running(sim) as (dashboard, url), httpx.AsyncClient(base_url=url) as http:

        async def healthy() -> bool:
            return (await http.get("/healthz")).status_code == 200

        async def every_agent_known() -> bool:
            # Healthy means no source is failing, not that every first answer is in:
            # the agents' states arrive one by one after the dashboard starts.
            known: int = (await http.get("/healthz")).json()["agents"]
            return known == len(logged_in(sim))

        await wait_for(healthy)
        await wait_for(every_agent_known)
        body = (await http.get("/healthz")).json()
        assert body["status"] == "ok"
        assert body["agents"] == len(logged_in(sim))
        await anyio.to_thread.run_sync(sim.stop_server)
        try:

            async def stale() -> bool:
                return (await http.get("/healthz")).status_code == 503

            await wait_for(stale)
            response = await http.get("/healthz")
            assert response.headers["content-type"] == "application/json"
            body = response.json()
            assert body["status"] == "stale"
            assert body["stopped"] is False
            assert set(body["failing"]) & {"agents", "stats:queues", "stats:summary"}
            assert body["reason"].startswith(body["failing"][0] + ": ")
            assert sim.token not in response.text
            since = dt.datetime.fromisoformat(body["since"])
            assert abs((dt.datetime.now(dt.UTC) - since).total_seconds()) < 30
            failing = labelled(
                scraped((await http.get("/metrics")).text), "daktela_source_failing", "source"
            )
            # Read later than the body: other sources may have failed meanwhile.
            assert {name for name, v in failing.items() if v} >= set(body["failing"])
            assert labelled(scraped((await http.get("/metrics")).text), "daktela_healthy") == {
                "": 0
            }
        finally:
            await anyio.to_thread.run_sync(sim.start_server)
        await wait_for(healthy, timeout=15)
        assert (await http.get("/healthz")).json()["status"] == "ok"
        failing = labelled(
            scraped((await http.get("/metrics")).text), "daktela_source_failing", "source"
        )
        assert not any(failing.values())
        dashboard.close()
        closing = await http.get("/healthz")
        assert closing.status_code == 503
        assert closing.json()["reason"] == "the dashboard is stopping"


async def test_metrics_and_health_of_a_dashboard_fed_from_redis(
    sim: Simulator, redis_server: RedisServer
) -> None:
    from daktela_async.cli._redis import RedisFeed, connect
    from daktela_async.realtime import Backoff
    from daktela_async.redis import RedisSink

    await anyio.to_thread.run_sync(sim.set_state, "hajek", "Paused")
    try:
        async with (
            DaktelaClient(sim.url, sim.token) as client,
            client.watch(["hajek", "demouser"]) as watcher,
            RedisSink(redis_server.url, watcher, name="pbx"),
            connect(redis_server.url) as redis,
            anyio.create_task_group() as tg,
        ):
            feed = RedisFeed(redis, name="pbx", block=0.1, backoff=Backoff(0.05, 0.2))
            await tg.start(feed.run)
            dashboard = Dashboard(feed)
            async with (
                serve_dashboard(dashboard, bind("127.0.0.1", 0)) as url,
                httpx.AsyncClient(base_url=url, timeout=5) as http,
            ):

                async def counted() -> bool:
                    samples = scraped((await http.get("/metrics")).text)
                    agents = labelled(samples, "daktela_agents", "state")
                    return (agents.get("Paused"), agents.get("Idle")) == (1, 1)

                await wait_for(counted)
                assert (await http.get("/healthz")).json()["status"] == "ok"
                await anyio.to_thread.run_sync(redis_server.stop)
                try:

                    async def stale() -> bool:
                        return (await http.get("/healthz")).status_code == 503

                    await wait_for(stale)
                    body = (await http.get("/healthz")).json()
                    assert body["failing"] == ["redis"]
                    failing = labelled(
                        scraped((await http.get("/metrics")).text),
                        "daktela_source_failing",
                        "source",
                    )
                    assert failing == {"redis": 1}
                finally:
                    await anyio.to_thread.run_sync(redis_server.start)

                async def healthy() -> bool:
                    return (await http.get("/healthz")).status_code == 200

                await wait_for(healthy, timeout=15)
            tg.cancel_scope.cancel()
    finally:
        await anyio.to_thread.run_sync(sim.set_state, "hajek", "Idle")
