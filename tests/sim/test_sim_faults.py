"""Injected faults do what they say: latency, status, reset, garbage, hang."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import anyio
import httpx
import pytest

from daktela_async.sim import Fault, FaultPlan, SimState, Simulator, create_app, token_for

USERS = "/api/3.0/GetUsers/3/json"
PAUSES = "/api/3.3/GetPauses/json"
USER_STATE = "/api/4.1/RTUserState/json"
USERS_STATE = "/api/4.1/RTUsersState/json"


@pytest.fixture(scope="module")
def server() -> Iterator[Simulator]:
    with Simulator(agents=5, speed=0, hold=0.5, seed=7) as sim:
        yield sim


@pytest.fixture
def sim(server: Simulator) -> Iterator[Simulator]:
    yield server
    server.clear_faults()


def client(sim: Simulator, timeout: float = 5.0) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=sim.url, params={"access_token": sim.token}, timeout=timeout)


@pytest.mark.anyio
async def test_latency_delays_the_answer(sim: Simulator) -> None:
    sim.inject("latency", seconds=1.0, count=1)
    async with client(sim) as http:
        started = time.monotonic()
        slow = await http.get(USERS)
        middle = time.monotonic()
        fast = await http.get(USERS)
    # Generous bounds: a loaded CI machine must not fail what is a 1 s vs ~1 ms difference.
    assert 1.0 <= middle - started < 3.0
    assert time.monotonic() - middle < 0.9
    assert slow.json() == fast.json()


@pytest.mark.anyio
async def test_status_faults_answer_the_code_with_retry_after(sim: Simulator) -> None:
    sim.inject("status", status=503, retry_after=2, count=2)
    async with client(sim) as http:
        first, second, third = [await http.get(USERS) for _ in range(3)]
    assert first.status_code == second.status_code == 503
    assert first.headers["retry-after"] == "2"
    assert third.status_code == 200
    assert third.json()["status"] == 1


@pytest.mark.anyio
async def test_reset_closes_the_connection_without_an_answer(sim: Simulator) -> None:
    sim.inject("reset", count=1)
    async with client(sim) as http:
        with pytest.raises(httpx.TransportError):
            await http.get(USERS)
        after = await http.get(USERS)
    assert after.json()["status"] == 1


@pytest.mark.anyio
async def test_garbage_bodies(sim: Simulator) -> None:
    async with client(sim) as http:
        sim.inject("garbage", garbage="html", count=1)
        html = await http.get(USERS)
        sim.inject("garbage", garbage="truncated", count=1)
        truncated = await http.get(USERS)
        sim.inject("garbage", garbage="wrong_shape", count=1)
        wrong = await http.get(USERS)
        whole = await http.get(USERS)
    assert html.status_code == 200
    assert html.headers["content-type"].startswith("text/html")
    with pytest.raises(json.JSONDecodeError):
        json.loads(html.text)
    assert whole.text.startswith(truncated.text)
    assert len(truncated.text) < len(whole.text)
    with pytest.raises(json.JSONDecodeError):
        json.loads(truncated.text)
    assert "status" not in wrong.json() or wrong.json().get("status") not in (0, 1)


@pytest.mark.anyio
async def test_hang_holds_until_the_client_gives_up(sim: Simulator) -> None:
    fault = sim.inject("hang", count=1)
    async with client(sim, timeout=0.3) as http:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            await http.get(USERS)
        assert time.monotonic() - started < 3.0
        assert fault.hits == 1
        after = await http.get(USERS)
    assert after.json()["status"] == 1


@pytest.mark.anyio
async def test_hang_for_a_duration_then_answers(sim: Simulator) -> None:
    sim.inject("hang", duration=0.4)
    async with client(sim) as http:
        started = time.monotonic()
        answer = await http.get(USERS)
    assert 0.3 <= time.monotonic() - started < 4.0
    assert answer.json()["status"] == 1


@pytest.mark.anyio
async def test_faults_can_be_limited_to_actions(sim: Simulator) -> None:
    sim.inject("status", status=500, actions={"GetPauses"})
    async with client(sim) as http:
        users = await http.get(USERS)
        pauses = await http.get(PAUSES)
    assert users.status_code == 200
    assert pauses.status_code == 500


@pytest.mark.anyio
async def test_faults_can_be_limited_to_agents(sim: Simulator) -> None:
    fault = sim.inject("status", status=503, users=["hajek"])
    async with client(sim) as http:
        hajek = await http.get(USER_STATE, params={"user": "hajek"})
        novak = await http.get(USER_STATE, params={"user": "novak"})
        every = await http.get(USERS_STATE)
        # The login counts wherever the request carries it: in a POST form body too.
        posted = await http.post(USER_STATE, data={"user": "hajek"})
        by_extension = await http.get(USER_STATE, params={"extension": "1001"})
    assert fault.users == frozenset({"hajek"})
    assert hajek.status_code == posted.status_code == 503
    assert novak.status_code == every.status_code == by_extension.status_code == 200
    assert novak.json()["result"]["agent_name"] == "novak"
    assert by_extension.json()["result"]["agent_name"] == "hajek"
    assert fault.hits == 2


@pytest.mark.anyio
async def test_agent_faults_combine_with_actions_and_take_one_login_as_a_string(
    sim: Simulator,
) -> None:
    # A str is an iterable of letters: it must mean the login, not {"h", "a", ...}.
    sim.inject("status", status=500, users="novak", actions={"RTUserState"})
    async with client(sim) as http:
        novak = await http.get(USER_STATE, params={"user": "novak"})
        novak_other_action = await http.get("/api/4.1/GetUser/json", params={"user": "novak"})
        hajek = await http.get(USER_STATE, params={"user": "hajek"})
    assert novak.status_code == 500
    assert novak_other_action.status_code == hajek.status_code == 200


@pytest.mark.anyio
async def test_control_endpoint_limits_faults_to_agents(sim: Simulator) -> None:
    async with client(sim) as http:
        added = await http.post(
            "/_sim/faults",
            json=[
                {"kind": "status", "code": 502, "users": "hajek"},
                {"kind": "status", "code": 504, "users": ["novak", "demouser"]},
            ],
        )
        listed = await http.get("/_sim/faults")
        hajek = await http.get(USER_STATE, params={"user": "hajek"})
        novak = await http.get(USER_STATE, params={"user": "novak"})
        demouser = await http.get(USER_STATE, params={"user": "demouser"})
        michalhajek = await http.get(USER_STATE, params={"user": "michalhajek"})
        every = await http.get(USERS_STATE)
        not_a_list = await http.post("/_sim/faults", json={"kind": "reset", "users": {"a": 1}})
        no_login = await http.post("/_sim/faults", json={"kind": "reset", "users": []})
    assert added.status_code == 201
    assert [f["users"] for f in added.json()] == [["hajek"], ["demouser", "novak"]]
    assert [f["users"] for f in listed.json()] == [["hajek"], ["demouser", "novak"]]
    assert hajek.status_code == 502
    assert novak.status_code == demouser.status_code == 504
    assert michalhajek.status_code == every.status_code == 200
    assert michalhajek.json()["result"]["agent_name"] == "michalhajek"
    assert not_a_list.status_code == no_login.status_code == 400
    assert "users" in not_a_list.json()["error"]


@pytest.mark.anyio
async def test_duration_faults_expire(sim: Simulator) -> None:
    sim.inject("status", status=502, duration=0.3)
    async with client(sim) as http:
        during = await http.get(USERS)
        await anyio.sleep(0.4)
        after = await http.get(USERS)
    assert during.status_code == 502
    assert after.status_code == 200


@pytest.mark.anyio
async def test_control_endpoint_adds_lists_and_clears_faults(sim: Simulator) -> None:
    async with client(sim) as http:
        refused = await http.post("/_sim/faults", params={"access_token": "bad"}, json={})
        added = await http.post(
            "/_sim/faults", json={"kind": "status", "code": 429, "retry_after": 1, "count": 5}
        )
        listed = await http.get("/_sim/faults")
        limited = await http.get(USERS)
        bad = await http.post("/_sim/faults", json={"kind": "explode"})
        cleared = await http.delete("/_sim/faults")
        fine = await http.get(USERS)
        state = await http.get("/_sim/state")
    assert refused.status_code == 401
    assert added.status_code == 201
    assert added.json()["status"] == 429
    assert [f["kind"] for f in listed.json()] == ["status"]
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "1"
    assert bad.status_code == 400
    assert cleared.json() == {"removed": 1}
    assert fine.status_code == 200
    assert state.json()["agents"]["hajek"]["state"] == "Idle"


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
async def test_a_share_hits_about_that_share_and_repeats_with_the_seed(
    anyio_backend: str,
) -> None:
    def pattern(seed: int) -> list[bool]:
        plan = FaultPlan(seed)
        plan.add(Fault("status", probability=0.3))
        return [bool(plan.pick("GetUsers")) for _ in range(1000)]

    first = pattern(11)
    assert 220 <= sum(first) <= 380
    assert pattern(11) == first
    assert pattern(12) != first

    state = SimState(agents=3, seed=11)
    faults = FaultPlan(11)
    faults.add(Fault("status", status=500, probability=0.3))
    app = create_app(state, faults=faults)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://sim",
        params={"access_token": token_for("admin", "daktela")},
    ) as http:
        codes = [(await http.get(USERS)).status_code for _ in range(200)]
    assert 30 <= codes.count(500) <= 90
    assert set(codes) == {200, 500}


def test_agent_filters_skip_requests_before_the_draw() -> None:
    logins: list[str | None] = ["hajek", "novak", None, "hajek", "demouser"] * 200

    def pattern(*extra: Fault) -> list[list[int]]:
        plan = FaultPlan(5)
        plan.add(Fault("status", probability=0.5))
        for fault in extra:
            plan.add(fault)
        return [[f.id for f in plan.pick("RTUserState", user=u)] for u in logins]

    alone = pattern()
    # A fault for an agent that never asks must not draw: the unfiltered fault then hits
    # exactly the requests it hits alone.
    assert pattern(Fault("latency", probability=0.5, users=frozenset({"nobody"}))) == alone

    novak_only = Fault("latency", probability=0.5, users=frozenset({"novak"}))
    shared = pattern(novak_only)
    hit_novak = [2 in ids for ids in shared]
    assert all(u == "novak" for u, hit in zip(logins, hit_novak, strict=True) if hit)
    assert 60 <= novak_only.hits <= 140
    assert pattern(Fault("latency", probability=0.5, users=frozenset({"novak"}))) == shared


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
async def test_in_memory_reset_raises_a_transport_error(anyio_backend: str) -> None:
    app = create_app(SimState(agents=2))
    app.state.sim.faults.add(Fault("reset", count=1))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://sim",
        params={"access_token": token_for("admin", "daktela")},
    ) as http:
        with pytest.raises(httpx.TransportError):
            await http.get(USERS)
        assert (await http.get(USERS)).status_code == 200


def test_fault_validation() -> None:
    with pytest.raises(ValueError, match="kind"):
        Fault("boom")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="probability"):
        Fault("status", probability=2)
    with pytest.raises(ValueError, match="unknown fault field"):
        Fault.from_json({"kind": "status", "colour": "red"})
    fault = Fault.from_json({"kind": "latency", "seconds": "0.5", "share": 0.5, "actions": "X"})
    assert fault.seconds == 0.5
    assert fault.probability == 0.5
    assert fault.actions == frozenset({"X"})
    assert fault.users is None
    assert fault.to_json()["users"] is None
    one = Fault.from_json({"kind": "reset", "users": "hajek"})
    two = Fault.from_json({"kind": "reset", "users": ["novak", "hajek", "novak"]})
    assert one.users == frozenset({"hajek"})
    assert two.users == frozenset({"hajek", "novak"})
    assert two.to_json()["users"] == ["hajek", "novak"]
    assert Fault("reset", users="hajek").users == frozenset({"hajek"})  # type: ignore[arg-type]
    for bad in ([], [""], [1], 5, {"hajek": 1}):
        with pytest.raises(ValueError, match="users"):
            Fault.from_json({"kind": "reset", "users": bad})
