"""Revoked tokens get the PBX's wrong-token answer until they are restored."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest

from daktela_async.sim import Simulator, token_for

USER = "/api/4.0/GetUser/json"
USER_STATE = "/api/4.1/RTUserState/json"
#: How the PBX answers a wrong token (PHP-escaped, as in the API document).
UNKNOWN_USER = '{"error":"U\\u017eivatel neexistuje","status":0}'


@pytest.fixture(scope="module")
def server() -> Iterator[Simulator]:
    with Simulator(agents=5, speed=0, hold=0.5, seed=7) as sim:
        yield sim


@pytest.fixture
def sim(server: Simulator) -> Iterator[Simulator]:
    yield server
    # A failed test must not leave the module's server refusing its own token.
    server.restore_token()


def client(sim: Simulator, token: str | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=sim.url, params={"access_token": token or sim.token}, timeout=5.0
    )


def hajek_token(sim: Simulator) -> str:
    hajek = sim.run(lambda s: s.user("hajek"))
    return token_for(hajek.name, hajek.password)


@pytest.mark.anyio
async def test_a_revoked_token_is_refused_until_restored(sim: Simulator) -> None:
    async with client(sim) as http:
        before = await http.get(USER_STATE, params={"user": "hajek"})
        sim.revoke_token()
        refused = await http.get(USER_STATE, params={"user": "hajek"})
        posted = await http.post(USER, data={"name": "hajek"})
        xml = await http.get("/api/4.0/GetUser/xml", params={"name": "hajek"})
        control = await http.get("/_sim/state")
        sim.revoke_token()  # again: nothing changes
        still = await http.get(USER, params={"name": "hajek"})
        sim.restore_token()
        after = await http.get(USER_STATE, params={"user": "hajek"})
    assert before.json()["status"] == 1
    assert refused.status_code == posted.status_code == still.status_code == 200
    assert refused.text == posted.text == still.text == UNKNOWN_USER
    assert "neexistuje" in xml.text
    assert control.status_code == 401
    assert after.json()["status"] == 1
    assert after.json()["result"]["agent_name"] == "hajek"


@pytest.mark.anyio
async def test_revoking_one_token_leaves_the_others(sim: Simulator) -> None:
    token = hajek_token(sim)
    user_id = sim.run(lambda s: s.tokens[token])
    try:
        sim.revoke_token(token)
        async with client(sim, token) as hajek, client(sim) as admin:
            refused = await hajek.get(USER, params={"name": "novak"})
            fine = await admin.get(USER, params={"name": "novak"})
            sim.restore_token(token)
            restored = await hajek.get(USER, params={"name": "novak"})
    finally:
        sim.restore_token(token)
    assert refused.text == UNKNOWN_USER
    assert fine.json()["status"] == restored.json()["status"] == 1
    assert restored.json() == fine.json()
    assert sim.run(lambda s: s.tokens[token]) == user_id


def test_tokens_change_on_the_simulators_loop(sim: Simulator) -> None:
    class Recording(dict[str, str]):
        """The token table, noting which thread changes it."""

        threads: list[str]

        def pop(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
            self.threads.append(threading.current_thread().name)
            return super().pop(key, default)

        def setdefault(self, key: str, default: str) -> str:
            self.threads.append(threading.current_thread().name)
            return super().setdefault(key, default)

    original = sim.state.tokens
    recording = Recording(original)
    recording.threads = []
    sim.run(lambda s: setattr(s, "tokens", recording))
    try:
        sim.revoke_token()
        sim.restore_token()
    finally:
        sim.run(lambda s: setattr(s, "tokens", original))
    # The API reads the table on the loop; changing it from the caller's thread would race.
    assert recording.threads == ["daktela-sim", "daktela-sim"]
    assert threading.current_thread().name != "daktela-sim"


def test_unknown_tokens_are_refused(sim: Simulator) -> None:
    with pytest.raises(ValueError, match="no such token"):
        sim.revoke_token("x" * 40)
    with pytest.raises(ValueError, match="no such token"):
        sim.restore_token("x" * 40)
    sim.restore_token()  # accepted already: nothing to do


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
async def test_revoking_works_in_memory_without_a_server(anyio_backend: str) -> None:
    sim = Simulator(agents=2, speed=0)  # never started: control runs inline
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim.app),
        base_url="http://sim",
        params={"access_token": sim.token},
    ) as http:
        sim.revoke_token()
        refused = await http.get(USER, params={"name": "hajek"})
        sim.restore_token()
        answered = await http.get(USER, params={"name": "hajek"})
    assert refused.text == UNKNOWN_USER
    assert answered.json()["status"] == 1


def test_misuse_of_the_simulator_is_a_usage_error() -> None:
    from daktela_async import DaktelaUsageError
    from daktela_async.sim import Simulator

    sim = Simulator(agents=2, speed=0)
    with pytest.raises(DaktelaUsageError, match="not been started"):
        _ = sim.url
    with pytest.raises(DaktelaUsageError, match="no such token"):
        sim.revoke_token("f" * 40)
