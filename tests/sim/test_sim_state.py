"""State transitions of the simulated PBX, and the invariants every sequence keeps."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from daktela_async.sim import CallCentre, SimClock, SimError, SimState
from daktela_async.sim._clock import fmt, parse_dt
from daktela_async.sim._render import Views
from daktela_async.sim.handlers import HANDLERS, ApiRequest

START = parse_dt("2024-03-04 08:00:00")


def fresh(**kwargs: Any) -> SimState:
    kwargs.setdefault("agents", 8)
    return SimState(clock=SimClock(START, speed=0), **kwargs)


def call_api(state: SimState, action: str, version: str = "4.1", **params: Any) -> Any:
    major, minor = version.split(".")
    req = ApiRequest((int(major), int(minor)), action, None, "json", params)
    answer = HANDLERS[action](state, Views(state), req)
    return json.loads(answer.raw) if answer.raw is not None else answer.result


def test_login_queue_sets_rt_logged() -> None:
    state = fresh(logged_in=False)
    views = Views(state)
    user = state.user("michalhajek")
    with pytest.raises(SimError, match="není přihlášen"):
        views.user_state(user, state.agents[user.id])
    call_api(state, "LoginQueue", user="michalhajek", queue="5001", priority="0")
    body = json.loads(views.user_state(user, state.agents[user.id])[0])
    assert body["agent_state"] == "Idle"
    rt_logged = {q["name"]: q["rt_logged"] for q in body["login_oqueues"]}
    assert rt_logged["5001"] is True
    assert rt_logged["2000"] is False
    everybody = call_api(state, "RTUsersState")
    assert list(everybody) == [user.id]
    assert everybody[user.id]["agent_name"] == "michalhajek"
    agent = state.agents[user.id]
    assert agent.logged
    assert agent.exten == "1004"
    assert list(agent.queues) == [state.queue("5001").id]


def test_pause_on_sets_paused_and_id_pause_and_pause_off_returns_to_idle() -> None:
    state = fresh()
    agent = state.agent("hajek")
    state.advance(5)
    state.pause_on(agent, "7")
    assert state.agent_state(agent) == "Paused"
    assert agent.pause_id == "7"
    assert agent.onpause == START + 5 == agent.state_time
    with pytest.raises(SimError, match="Tato pauza nebyla nalezena"):
        state.pause_on(agent, "100")
    state.pause_off(agent)
    assert state.agent_state(agent) == "Idle"
    assert agent.pause_id is None


def test_create_call_rings_the_agent_and_hangup_writes_cdr_and_stats() -> None:
    state = fresh()
    with pytest.raises(SimError, match="Agent není přihlášen do odchozí kampaně/fronty"):
        state.create_agent_call("michalhajek", "800123456")
    state.login_queue("michalhajek", "5000")
    call = state.create_agent_call("michalhajek", "800123456")
    agent = state.agent("michalhajek")
    assert state.agent_state(agent) == "Ringing"
    assert agent.call_ids == [call.id]
    with pytest.raises(SimError, match="hovor s číslem 800123456"):
        state.logout_queue("michalhajek", "5000")
    state.advance(3)
    state.answer(agent)
    assert state.agent_state(agent) == "Speaking"
    state.advance(60)
    state.hangup_agent(agent)
    assert not agent.call_ids
    [leg] = state.legs_by_call[call.id]
    assert leg.disposition == "ANSWERED"
    assert leg.answered is not None
    assert leg.end - leg.answered == 60
    [row] = state.queue_calls
    assert row.call_id == call.id
    assert row.answered
    assert row.duration == 60
    # The out queue's wrap-up: Wrap pause, then back to Idle when it ends.
    assert state.agent_state(agent) == "Paused"
    assert agent.pause_id == "2"
    state.advance(5)
    assert state.agent_state(agent) == "Idle"
    assert state.recordings[call.recording_hash] is call


def test_unanswered_inbound_call_moves_on_and_the_slacker_gets_lajdak() -> None:
    state = fresh(agents=2)
    call = state.incoming_call("2000", "226211245")
    first = state.agents[call.agent_id or ""]
    state.advance(21)
    assert first.pause_id == "3"  # Lajdak
    assert call.agent_id is not None
    assert call.agent_id != first.user_id
    assert state.calls[call.id].state == "Ringing"


def test_attended_transfer_completes_on_hangup() -> None:
    state = fresh()
    call = state.ring_agent("hajek", "226211245")
    state.answer_call(call)
    hajek = state.agent("hajek")
    state.transfer(hajek, dst_user=state.user("novak").id)
    assert state.agent_state(hajek) == "On Hold"
    state.hangup_agent(hajek)
    novak = state.agent("novak")
    assert state.agent_state(novak) == "Ringing"
    assert call.id in novak.call_ids
    assert not hajek.call_ids
    assert len(state.legs_by_call[call.id]) == 1
    state.answer(novak)
    state.hangup_agent(novak)
    assert len(state.legs_by_call[call.id]) == 2
    assert not state.check_invariants()


def test_sms_are_stored_and_processed() -> None:
    state = fresh()
    sms = state.send_sms(
        "603927227",
        "Ahoj " * 40,
        confirmation=True,
        unicode=False,
        email=None,
        accountcode="A1",
        gw=None,
        slot=None,
        port=None,
        priority=10,
        scheduled=None,
    )
    assert sms.count_sms == 2
    assert sms.result == "waiting"
    assert call_api(state, "StatusSMS")["count_waiting"] == "1"
    state.advance(3)
    assert sms.result == "ok"
    assert sms.processed == START + 2
    state.advance(5)
    assert sms.confirmed == "1"
    rows = call_api(state, "GetSMS", keyword="ahoj")
    assert [r["id"] for r in rows] == [str(sms.id)]


def test_callscript_opens_on_answer_and_close_leaves_wrap() -> None:
    state = fresh()
    state.login_queue("novak", "5001")
    for queue_id in list(state.agent("novak").queues):
        if queue_id != state.queue("5001").id:
            state.logout_queue("novak", state.queues[queue_id].number)
    call = state.ring_agent("novak", state.records[3].number)
    state.answer_call(call)
    agent = state.agent("novak")
    assert agent.callscript_opened == "3"
    opened = call_api(state, "CallScriptOpened", user="novak")
    assert opened["record"]["record"] == "3"
    state.hangup_agent(agent)
    result = call_api(state, "CallScriptClose", call_id=call.id, status="objednavka")
    assert result["cc"] == {"result": True, "error": None}
    assert result["record"]["action"] == 5
    assert result["record"]["status"] == "9"
    assert agent.callscript_opened is None


def test_statistics_follow_the_calls() -> None:
    state = fresh()
    for clid in ("226211245", "226211245", "603927227"):
        call = state.incoming_call("2001", clid)
        state.advance(4)
        state.answer_call(call)
        state.advance(30)
        state.hangup(call)
        state.advance(60)
    span = {"datetime_from": fmt(START), "datetime_to": fmt(state.now())}
    stats = call_api(state, "StatsCalls", **span)
    assert stats["total"] == "3"
    assert {r["waiting_time"] for r in stats["data"]} == {"4"}
    repeated = call_api(state, "StatsCallsRepeated", **span, phonenumber="226211245")
    assert repeated == [
        {
            "clid": "226211245",
            "call_total": 2,
            "call_answered": 2,
            "call_unanswered": 0,
            "waiting_avg": 4,
            "duration_avg": 30,
        }
    ]
    trace = call_api(
        state, "StatsTrace", **span, user=state.users[stats["data"][0]["user"]].name, trace="call"
    )
    assert {t["action_name"] for t in trace} <= {"call", "ring_in"}
    too_many = ApiRequest((4, 1), "StatsCalls", None, "json", {**span, "take": "1001"})
    with pytest.raises(SimError, match="1000"):
        HANDLERS["StatsCalls"](state, Views(state), too_many)


def test_hash_changes_iff_the_answer_changes() -> None:
    state = fresh()
    views = Views(state)
    user = state.user("hajek")
    agent = state.agents[user.id]
    before = views.user_state(user, agent)
    state.advance(100)
    assert views.user_state(user, agent) == before
    state.pause_on(agent, "6")
    during = views.user_state(user, agent)
    assert during[1] != before[1]
    state.pause_off(agent)
    after = views.user_state(user, agent)
    assert after[1] != during[1]


def test_the_model_is_deterministic_and_consistent() -> None:
    def run(seed: int) -> tuple[int, int, list[str]]:
        state = fresh(agents=20, seed=seed)
        model = CallCentre(state, seed=seed)
        model.start()
        for _ in range(240):
            state.advance(15)
            problems = state.check_invariants()
            assert not problems, problems
        model.stop()
        return len(state.ended_calls), len(state.legs), [c.call_id for c in state.queue_calls][:50]

    first = run(5)
    assert first[0] > 50
    assert first == run(5)
    assert first != run(6)


def test_every_ended_call_has_a_cdr_row_after_the_model_ran() -> None:
    state = fresh(agents=15, seed=9)
    CallCentre(state, seed=9).start()
    state.advance(3 * 3600)
    assert state.ended_calls
    assert all(state.legs_by_call.get(call_id) for call_id in state.ended_calls)
    assert {r.call_id for r in state.queue_calls} == {
        c.id for c in state.ended_calls.values() if c.kind == "queue"
    }
    states = {state.agent_state(a) for _, a in state.iter_agents() if a.logged}
    assert states <= {"Idle", "Paused", "Ringing", "Speaking", "Logged", "On Hold"}


LOGINS = ("hajek", "hajekhu", "demouser", "michalhajek", "novak")


class PBXMachine(RuleBasedStateMachine):
    """Random sequences of API-level transitions keep the state consistent."""

    def __init__(self) -> None:
        super().__init__()
        self.state = fresh(agents=6, seed=2)

    def attempt(self, fn: Any, *args: Any, **kwargs: Any) -> None:
        with contextlib.suppress(SimError):
            fn(*args, **kwargs)

    @rule(login=st.sampled_from(LOGINS))
    def login(self, login: str) -> None:
        self.attempt(self.state.login, login)

    @rule(login=st.sampled_from(LOGINS))
    def logout(self, login: str) -> None:
        self.attempt(self.state.logout, login)

    @rule(login=st.sampled_from(LOGINS), queue=st.sampled_from(["2000", "2001", "5000", "5001"]))
    def login_queue(self, login: str, queue: str) -> None:
        self.attempt(self.state.login_queue, login, queue)

    @rule(login=st.sampled_from(LOGINS), queue=st.sampled_from(["2000", "5000", "5001"]))
    def logout_queue(self, login: str, queue: str) -> None:
        self.attempt(self.state.logout_queue, login, queue)

    @rule(
        login=st.sampled_from(LOGINS),
        pause=st.sampled_from(["2", "3", "7", "100"]),
        force=st.booleans(),
    )
    def pause_on(self, login: str, pause: str, force: bool) -> None:
        self.attempt(self.state.pause_on, self.state.agent(login), pause, force=force)

    @rule(login=st.sampled_from(LOGINS))
    def pause_off(self, login: str) -> None:
        self.state.pause_off(self.state.agent(login))

    @rule(login=st.sampled_from(LOGINS), autoanswer=st.booleans())
    def create_call(self, login: str, autoanswer: bool) -> None:
        self.attempt(self.state.create_agent_call, login, "603927227", autoanswer=autoanswer)

    @rule(queue=st.sampled_from(["2000", "2001"]))
    def incoming(self, queue: str) -> None:
        self.state.incoming_call(queue, "226211245")

    @rule(login=st.sampled_from(LOGINS))
    def answer(self, login: str) -> None:
        self.attempt(self.state.answer, self.state.agent(login))

    @rule(login=st.sampled_from(LOGINS))
    def hangup(self, login: str) -> None:
        self.attempt(self.state.hangup_agent, self.state.agent(login))

    @rule(login=st.sampled_from(LOGINS), other=st.sampled_from(LOGINS), blind=st.booleans())
    def transfer(self, login: str, other: str, blind: bool) -> None:
        self.attempt(
            self.state.transfer,
            self.state.agent(login),
            dst_user=self.state.user(other).id,
            blind=blind,
        )

    @rule(call_index=st.integers(0, 5), login=st.sampled_from(LOGINS))
    def pickup(self, call_index: int, login: str) -> None:
        calls = list(self.state.calls)
        if calls:
            self.attempt(self.state.pickup, calls[call_index % len(calls)], login)

    @rule(seconds=st.sampled_from([1.0, 5.0, 25.0, 120.0]))
    def wait(self, seconds: float) -> None:
        self.state.advance(seconds)

    @invariant()
    def consistent(self) -> None:
        problems = self.state.check_invariants()
        assert not problems, problems


TestPBXMachine = PBXMachine.TestCase
TestPBXMachine.settings = settings(
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
