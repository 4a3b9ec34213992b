"""``RTUserState`` with ``hash``: held until the agent's state changes or the hold ends."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from daktela_async.sim import HoldEnds, SimState, Simulator, create_app, token_for
from daktela_async.sim._holds import hold_deadline

HOLD = 2.0  # long enough that 'released early' and 'held' never overlap on a busy CI


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    # Thread-based: one server serves the tests of both anyio backends.
    with Simulator(agents=20, speed=0, hold=HOLD) as running:
        yield running


def client(sim: Simulator, **kwargs: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=sim.url, params={"access_token": sim.token}, **kwargs)


async def user_state(http: httpx.AsyncClient, user: str, **params: str) -> dict[str, Any]:
    answer = await http.get("/api/4.0/RTUserState/json", params={"user": user, **params})
    body: dict[str, Any] = answer.json()
    return body


@pytest.mark.anyio
async def test_a_stale_hash_is_answered_at_once(sim: Simulator) -> None:
    async with client(sim) as http:
        first = await user_state(http, "hajek")
        started = time.monotonic()
        second = await user_state(http, "hajek", hash="0" * 40)
    assert time.monotonic() - started < HOLD / 2
    assert second["result"]["hash"] == first["result"]["hash"] == sim.hash("hajek")


@pytest.mark.anyio
async def test_without_change_the_answer_comes_after_the_hold(sim: Simulator) -> None:
    async with client(sim) as http:
        current = (await user_state(http, "hajekhu"))["result"]["hash"]
        started = time.monotonic()
        held = await user_state(http, "hajekhu", hash=current)
    elapsed = time.monotonic() - started
    assert HOLD * 0.9 <= elapsed < HOLD + 1.0
    assert held["status"] == 1
    assert held["result"]["hash"] == current


@pytest.mark.anyio
async def test_a_change_releases_the_held_request_immediately(sim: Simulator) -> None:
    sim.set_state("demouser", "Idle")
    async with client(sim) as http:
        current = (await user_state(http, "demouser"))["result"]["hash"]
        answers: list[dict[str, Any]] = []

        async def poll() -> None:
            answers.append(await user_state(http, "demouser", hash=current))

        started = time.monotonic()
        async with anyio.create_task_group() as tg:
            tg.start_soon(poll)
            await anyio.sleep(0.15)
            assert not answers, "answered before anything changed"
            await sim.arun(lambda s: s.pause_on(s.agent("demouser"), "7"))
        elapsed = time.monotonic() - started
    assert elapsed < 0.15 + HOLD / 2
    result = answers[0]["result"]
    assert result["agent_state"] == "Paused"
    assert result["id_pause"] == "7"
    assert result["hash"] != current
    assert result["hash"] == sim.hash("demouser")


@pytest.mark.anyio
async def test_one_change_wakes_every_poller_of_that_agent_only(sim: Simulator) -> None:
    sim.set_state("michalhajek", "Idle")
    sim.set_state("novak", "Idle")
    limits = httpx.Limits(max_connections=150)
    async with client(sim, limits=limits, timeout=10) as http:
        mine = (await user_state(http, "michalhajek"))["result"]["hash"]
        other = (await user_state(http, "novak"))["result"]["hash"]
        order: list[str] = []
        answers: dict[str, list[dict[str, Any]]] = {"michalhajek": [], "novak": []}

        async def poll(user: str, digest: str) -> None:
            answer = await user_state(http, user, hash=digest)
            answers[user].append(answer["result"])
            order.append(user)

        async with anyio.create_task_group() as tg:
            for _ in range(100):
                tg.start_soon(poll, "michalhajek", mine)
            for _ in range(20):
                tg.start_soon(poll, "novak", other)
            await anyio.sleep(0.25)
            sim.set_state("michalhajek", "Ringing")
    # Every poller of the changed agent got the new state, before any poller of the other
    # agent was let go (those ran to the end of the hold, unchanged). Order, not speed.
    assert order == ["michalhajek"] * 100 + ["novak"] * 20
    assert {r["agent_state"] for r in answers["michalhajek"]} == {"Ringing"}
    assert {r["hash"] for r in answers["michalhajek"]} == {sim.hash("michalhajek")} - {mine}
    assert {r["hash"] for r in answers["novak"]} == {other}


@pytest.mark.anyio
async def test_queue_changes_release_everybody(sim: Simulator) -> None:
    async with client(sim) as http:
        current = (await user_state(http, "pavelmoravec"))["result"]["hash"]
        answers: list[dict[str, Any]] = []

        async def poll() -> None:
            answers.append(await user_state(http, "pavelmoravec", hash=current))

        async with anyio.create_task_group() as tg:
            tg.start_soon(poll)
            await anyio.sleep(0.1)
            created = await http.get(
                "/api/3.0/CreateQueue/json",
                params={"number": "2000", "title": "Podpora", "direction": "in"},
            )
            assert created.json()["status"] == 1
    titles = {q["name"]: q["title"] for q in answers[0]["result"]["login_oqueues"]}
    assert titles["2000"] == "Podpora"


@pytest.mark.anyio
async def test_unknown_user_and_old_versions_are_answered_at_once(sim: Simulator) -> None:
    async with client(sim) as http:
        started = time.monotonic()
        unknown = await user_state(http, "nobody", hash="x")
        old = (
            await http.get(
                "/api/3.9/RTUserState/json", params={"user": "hajek", "hash": sim.hash("hajek")}
            )
        ).json()
    assert time.monotonic() - started < HOLD / 2
    assert unknown == {"error": "Uživatel neexistuje", "status": 0}
    assert "hash" not in old["result"]
    assert "login_oqueues" not in old["result"]


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
async def test_a_thousand_held_requests_are_cheap_and_released_by_one_change(
    anyio_backend: str,
) -> None:
    state = SimState(agents=10, seed=3)
    app = create_app(state, hold=30.0)
    ctx = app.state.sim
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://sim",
        params={"access_token": token_for("admin", "daktela")},
    ) as http:
        current = (await user_state(http, "hajek"))["result"]["hash"]
        done: list[str] = []

        async def poll() -> None:
            done.append((await user_state(http, "hajek", hash=current))["result"]["hash"])

        started = time.monotonic()
        async with anyio.create_task_group() as tg:
            for _ in range(1000):
                tg.start_soon(poll)
            while ctx.held < 1000:  # noqa: ASYNC110 (the app exposes a counter, not an event)
                await anyio.sleep(0.01)
            assert time.monotonic() - started < 5
            state.pause_on(state.agent("hajek"), "6")
    assert len(done) == 1000
    assert len(set(done)) == 1
    assert done[0] != current
    assert ctx.held == 0


# --- when an unchanged hold ends (hold_ends) ------------------------------------------------

_LOGINS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._-", min_size=1, max_size=30)


@given(now=st.floats(0, 1e6), hold=st.floats(0.1, 120), login=_LOGINS)
def test_an_arrival_hold_ends_a_whole_hold_after_the_poll(
    now: float, hold: float, login: str
) -> None:
    assert hold_deadline(now, hold, login, "arrival") == now + hold


@given(
    now=st.floats(0, 1e6),
    hold=st.floats(0.1, 120),
    login=_LOGINS,
    ends=st.sampled_from(["spread", "together"]),
)
def test_a_phased_hold_ends_at_the_agents_point_of_the_cycle(
    now: float, hold: float, login: str, ends: HoldEnds
) -> None:
    deadline = hold_deadline(now, hold, login, ends)
    # Never held longer than a hold: a client's read timeout is set by it.
    assert 0 < deadline - now <= hold * (1 + 1e-9)
    # Asked again as soon as answered (a moment later, or at that very moment): answered
    # one whole hold later, at the same point.
    for delay in (0.0, hold / 1000):
        again = hold_deadline(deadline + delay, hold, login, ends)
        assert again - deadline == pytest.approx(hold, rel=1e-6, abs=1e-6)
    # The same point whenever the agent started polling.
    later = hold_deadline(now + hold * 0.37, hold, login, ends)
    assert (later - deadline) / hold == pytest.approx(round((later - deadline) / hold), abs=1e-6)


def test_together_every_agent_ends_at_once_and_spread_evenly_over_the_cycle() -> None:
    logins = [f"agent{i:04d}" for i in range(1000)]
    hold, now = 10.0, 1234.5
    together = {round(hold_deadline(now, hold, login, "together"), 6) for login in logins}
    assert len(together) == 1
    spread = [hold_deadline(now, hold, login, "spread") % hold for login in logins]
    tenths = [0] * 10
    for phase in spread:
        tenths[int(phase / hold * 10)] += 1
    # Evenly: every tenth of the cycle gets about a tenth of the agents.
    assert all(60 <= count <= 140 for count in tenths), tenths


async def _answered_apart(ends: HoldEnds) -> float:
    """Seconds between the answers of two agents' unchanged polls sent 0.4 s apart.

    The first is sent just after a point of the 2 s hold cycle ("together" ends every
    hold at one), so that both fall due at the next one: the simulator's loop clock is
    asyncio's, this process's ``time.monotonic()``.
    """
    hold = 2.0
    with Simulator(agents=5, speed=0, hold=hold, hold_ends=ends) as running:
        async with client(running) as http:
            users = ("hajek", "hajekhu")
            hashes = {user: (await user_state(http, user))["result"]["hash"] for user in users}
            done: dict[str, float] = {}

            async def poll(user: str) -> None:
                held = await user_state(http, user, hash=hashes[user])
                assert held["result"]["hash"] == hashes[user]
                done[user] = time.monotonic()

            await anyio.sleep(0.1 + (-time.monotonic()) % hold)
            async with anyio.create_task_group() as tg:
                tg.start_soon(poll, users[0])
                await anyio.sleep(0.4)
                tg.start_soon(poll, users[1])
    return done[users[1]] - done[users[0]]


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # the simulator's own thread decides
async def test_the_simulator_ends_phased_holds_together_not_by_arrival(anyio_backend: str) -> None:
    # By arrival the two answers come 0.4 s apart, "together" at the same point of the
    # cycle. Order and spacing, with wide margins, not speed.
    assert await _answered_apart("arrival") > 0.25
    assert abs(await _answered_apart("together")) < 0.2
