"""``StatsCalls`` of the simulator agrees with the calls the call-centre model made."""

from __future__ import annotations

import json
from typing import Any

import pytest

from daktela_async.sim import CallCentre, SimClock, SimState, Traffic
from daktela_async.sim._clock import fmt, parse_dt
from daktela_async.sim._render import Views
from daktela_async.sim.handlers import HANDLERS, ApiRequest

START = parse_dt("2024-03-04 08:00:00")


def call_api(state: SimState, action: str, **params: Any) -> Any:
    req = ApiRequest((4, 1), action, None, "json", params)
    answer = HANDLERS[action](state, Views(state), req)
    return json.loads(answer.raw) if answer.raw is not None else answer.result


def run_model(seed: int, hours: float, traffic: Traffic | None = None) -> SimState:
    state = SimState(clock=SimClock(START, speed=0), agents=12, queues=2, seed=seed)
    CallCentre(state, seed=seed, traffic=traffic).start()
    for _ in range(int(hours * 3600 / 30)):
        state.advance(30)
    return state


def every_row(state: SimState, take: int = 1000) -> list[dict[str, Any]]:
    span = {"datetime_from": fmt(START), "datetime_to": fmt(state.now())}
    rows: list[dict[str, Any]] = []
    while True:
        page = call_api(state, "StatsCalls", **span, skip=str(len(rows)), take=str(take))
        rows += page["data"]
        if len(page["data"]) < take:
            assert page["total"] == str(len(rows))
            return rows


@pytest.mark.parametrize("seed", [1, 2])
def test_each_row_says_what_happened_to_its_call(seed: int) -> None:
    state = run_model(seed, hours=2)
    rows = every_row(state)
    assert len(rows) > 100
    assert {r["answered"] for r in rows} == {"0", "1"}  # some callers gave up
    for row in rows:
        call = state.ended_calls[row["name"]]
        assert call.ended is not None
        assert row["call_time"] == fmt(call.entered)  # when it entered the queue
        assert row["direction"] == "in"
        assert row["queue"] == call.queue_id is not None
        wait, ring = int(row["waiting_time"]), int(row["ringing_time"])
        duration, hold = int(row["duration"]), int(row["hold_time"])
        assert 0 <= ring <= wait
        assert 0 <= hold <= duration
        if row["answered"] == "1":
            assert call.answered is not None
            # Waiting runs to the answer (ringing included); talk (and hold) after it.
            assert wait == int(call.answered - call.entered)
            assert duration == int(call.ended - call.answered)
        else:
            assert call.answered is None
            # An unanswered call waited until the caller hung up; nothing was spoken.
            assert wait == int(call.ended - call.entered)
            assert duration == 0
            assert row["disposition_cause"] == "caller"


def test_pages_hold_every_row_once_newest_first() -> None:
    state = run_model(3, hours=1)
    whole = every_row(state)
    paged = every_row(state, take=7)
    assert paged == whole
    assert len({r["call"] for r in paged}) == len(paged)
    ended = [state.ended_calls[r["name"]].ended or 0.0 for r in whole]
    assert ended == sorted(ended, reverse=True)


def test_callers_hang_up_when_their_patience_ends_even_while_it_rings() -> None:
    # Operators let every call ring 15 s; callers wait 5 s on average. A caller whose
    # patience ends while an operator's phone rings hangs up there and then.
    impatient = Traffic(ring_min=15.0, ring_max=15.0, patience_mean=5.0, utilisation=0.3)
    rows = every_row(run_model(4, hours=1, traffic=impatient))
    assert len(rows) > 30
    answered = [r for r in rows if r["answered"] == "1"]
    abandoned = [r for r in rows if r["answered"] == "0"]
    # P(patience > 15 s) = e**-3, about 5%: the rest give up, most of them while it rings.
    assert len(abandoned) > 0.8 * len(rows)
    assert sum(1 for r in abandoned if int(r["ringing_time"]) > 0) > len(abandoned) / 2
    assert all(int(r["waiting_time"]) >= 15 for r in answered)
