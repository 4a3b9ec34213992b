"""The simulator as a server: lifecycle on both backends, outages, auth, formats, CLI."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET

import anyio
import httpx
import pytest

import daktela_async.sim as sim_package
from daktela_async.sim import Simulator
from daktela_async.sim._cli import build_parser


def sim_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "daktela-sim"]


def test_public_names_are_sorted_and_exported() -> None:
    assert sim_package.__all__ == sorted(sim_package.__all__)
    for name in sim_package.__all__:
        assert getattr(sim_package, name) is not None


@pytest.mark.anyio
async def test_async_with_serves_on_loopback_and_stops_cleanly() -> None:
    started = time.monotonic()
    async with Simulator(agents=5, queues=2, seed=1, speed=0) as sim:
        assert time.monotonic() - started < 5
        assert sim.url.startswith("http://127.0.0.1:")
        assert not sim.url.endswith("/")
        assert sim.token == hashlib.sha1(b"admindaktela").hexdigest()  # noqa: S324 (the API's token scheme)
        async with httpx.AsyncClient(base_url=sim.url) as http:
            answer = await http.get(
                "/api/4.1/RTUsersState/json", params={"access_token": sim.token}
            )
        assert answer.json()["status"] == 1
        assert len(answer.json()["result"]) == 5
        assert len(sim_threads()) == 1
    assert time.monotonic() - started < 10
    assert not sim_threads()
    assert not sim.running


@pytest.mark.anyio
async def test_outage_refuses_connections_then_serves_the_same_state_on_the_same_port() -> None:
    async with Simulator(agents=3, speed=0) as sim:
        url = sim.url
        sim.pause_on("hajek", "7")
        await anyio.to_thread.run_sync(sim.stop_server)
        async with httpx.AsyncClient(base_url=url, params={"access_token": sim.token}) as http:
            with pytest.raises(httpx.ConnectError):
                await http.get("/api/3.0/GetUsers/json")
            sim.pause_off("hajek")  # the state still changes while the API is down
            await anyio.to_thread.run_sync(sim.start_server)
            assert sim.url == url
            answer = await http.get("/api/4.0/RTUserState/json", params={"user": "hajek"})
        assert answer.json()["result"]["agent_state"] == "Idle"
    assert not sim_threads()


@pytest.mark.anyio
async def test_shutdown_releases_held_requests_quickly() -> None:
    sim = Simulator(agents=3, speed=0, hold=60)
    await anyio.to_thread.run_sync(sim.start)
    digest = sim.hash("hajek")
    results: list[int] = []
    async with httpx.AsyncClient(base_url=sim.url, timeout=30) as http:

        async def poll() -> None:
            try:
                answer = await http.get(
                    "/api/4.0/RTUserState/json",
                    params={"access_token": sim.token, "user": "hajek", "hash": digest},
                )
                results.append(answer.status_code)
            except httpx.TransportError:
                results.append(-1)

        async with anyio.create_task_group() as tg:
            tg.start_soon(poll)
            await anyio.sleep(0.2)
            started = time.monotonic()
            await anyio.to_thread.run_sync(sim.stop)
            assert time.monotonic() - started < 5
    assert results in ([200], [-1])
    assert not sim_threads()


@pytest.mark.anyio
async def test_token_from_query_or_cookie_and_wrong_token_error() -> None:
    async with Simulator(agents=3, speed=0) as sim, httpx.AsyncClient(base_url=sim.url) as http:
        by_query = await http.get("/api/3.0/GetUsers/3/json", params={"access_token": sim.token})
        http.cookies.set("access_token", sim.token)
        by_cookie = await http.get("/api/3.0/GetUsers/3/json")
        http.cookies.clear()
        wrong = await http.get("/api/4.0/GetUser/json", params={"access_token": "x" * 40})
        missing = await http.get("/api/4.0/GetUser/json")
        control = await http.get("/_sim/state")
    assert by_query.json() == by_cookie.json()
    assert by_query.json()["result"]["name"] == "hajekhu"
    expected = '{"error":"U\\u017eivatel neexistuje","status":0}'
    assert wrong.text == missing.text == expected
    assert control.status_code == 401


@pytest.mark.anyio
async def test_json_is_php_escaped_and_xml_is_served() -> None:
    async with Simulator(agents=4, speed=0) as sim:
        params = {"access_token": sim.token}
        async with httpx.AsyncClient(base_url=sim.url, params=params) as http:
            queues = await http.get("/api/3.0/GetQueues/1/json")
            user = await http.get("/api/3.0/GetUsers/json")
            xml = await http.get("/api/3.5/RTStatsQueues/xml")
            error_xml = await http.get(
                "/api/3.1/PauseOn/xml", params={"user": "hajek", "pause": "100"}
            )
            post = await http.post("/api/3.1/PauseOn/json", data={"user": "hajek", "pause": "7"})
            unknown = await http.get("/api/3.0/NoSuchAction/json")
    assert "http:\\\\\\/\\\\\\/" in queues.text  # options: a JSON string holding "http:\/\/"
    assert "\\u00e1" in user.text or "\\u00ed" in user.text
    root = ET.fromstring(xml.text)  # noqa: S314 (our own output)
    assert root.findtext("status") == "1"
    assert root.find("result/item[@key='1']/users_total") is not None
    error_root = ET.fromstring(error_xml.text)  # noqa: S314
    assert error_root.findtext("error") == "Tato pauza nebyla nalezena"
    assert post.json() == {"error": None, "status": 1}
    assert unknown.json()["status"] == 0


@pytest.mark.anyio
async def test_dynamics_run_calls_through_the_centre() -> None:
    async with Simulator(agents=10, queues=2, seed=4, speed=1000, hold=1) as sim:
        await anyio.sleep(1.0)
        snapshot = await sim.arun(lambda s: (s.check_invariants(), s.snapshot()))
    problems, state = snapshot
    assert not problems
    assert state["ended_calls"] > 0
    assert state["cdr_rows"] >= state["ended_calls"]


def test_control_methods_from_another_thread_are_serialised() -> None:
    with Simulator(agents=6, speed=0) as sim:
        errors: list[BaseException] = []

        def flip(user: str) -> None:
            try:
                for _ in range(30):
                    sim.set_state(user, "Paused")
                    sim.set_state(user, "Speaking")
                    sim.set_state(user, "Idle")
            except BaseException as exc:
                errors.append(exc)

        workers = [threading.Thread(target=flip, args=(u,)) for u in ("hajek", "novak")]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert not errors
        assert sim.run(lambda s: s.check_invariants()) == []
        call_id = sim.set_state("hajek", "On Hold")
        assert sim.snapshot()["calls"][call_id or ""]["state"] == "On Hold"


@pytest.mark.anyio
async def test_advance_endpoint_runs_the_wrap_up_timer() -> None:
    async with Simulator(agents=4, speed=0) as sim:
        sim.set_state("hajek", "Speaking")
        sim.hangup("hajek")
        assert sim.snapshot()["agents"]["hajek"]["state"] == "Paused"
        params = {"access_token": sim.token}
        async with httpx.AsyncClient(base_url=sim.url, params=params) as http:
            advanced = await http.post("/_sim/advance", params={"seconds": "15"})
            state = await http.get("/_sim/state")
    assert advanced.json()["timers_run"] >= 1
    assert state.json()["agents"]["hajek"]["state"] == "Idle"
    assert state.json()["ended_calls"] == state.json()["cdr_rows"] == 1


def test_cli_parses_the_documented_options() -> None:
    args = build_parser().parse_args(
        ["--port", "8765", "--agents", "50", "--speed", "10", "--hold", "2"]
    )
    assert (args.host, args.port, args.agents, args.speed, args.hold) == (
        "127.0.0.1",
        8765,
        50,
        10.0,
        2.0,
    )


def test_cli_prints_url_and_token_and_serves() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daktela_async.sim",
            "sim",
            "--port",
            "0",
            "--agents",
            "3",
            "--speed",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        url_line = process.stdout.readline()
        token_line = process.stdout.readline()
        url = url_line.split()[-1]
        token = token_line.split()[-1]
        assert url.startswith("http://127.0.0.1:")
        answer = httpx.get(f"{url}/api/3.0/GetUsers/2/json", params={"access_token": token})
        assert answer.json()["result"]["name"] == "hajek"
    finally:
        process.terminate()
        process.communicate(timeout=10)


def test_cli_takes_when_held_polls_end() -> None:
    assert build_parser().parse_args([]).hold_ends == "arrival"
    assert build_parser().parse_args(["--hold-ends", "spread"]).hold_ends == "spread"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--hold-ends", "sometimes"])
