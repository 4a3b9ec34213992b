"""The control endpoints refuse bad input with 400 and a JSON error, and stay usable.

``POST /_sim/advance?seconds=nan`` used to break the simulated clock for good (every
later answer wrong or failing); ``inf`` and huge values ran timers without end; bad
fault bodies answered 500. The simulator's command warns when it listens beyond this
machine with credentials anybody knows.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from daktela_async.sim import Fault, Simulator
from daktela_async.sim import _cli as sim_cli

USERS = "/api/3.0/GetUsers/3/json"


@pytest.fixture(scope="module")
def server() -> Iterator[Simulator]:
    # A short timeout in the client: a broken simulator must fail the test, not hang it.
    with Simulator(agents=3, speed=0, seed=3, hold=0.3) as sim:
        yield sim


@pytest.fixture
def sim(server: Simulator) -> Iterator[Simulator]:
    yield server
    server.clear_faults()


def client(sim: Simulator) -> httpx.Client:
    return httpx.Client(base_url=sim.url, params={"access_token": sim.token}, timeout=10)


def assert_still_works(http: httpx.Client, time_before: Any) -> None:
    """The clock did not move, time still advances, and the API still answers."""
    state = http.get("/_sim/state")
    assert state.status_code == 200
    assert state.json()["time"] == time_before
    moved = http.post("/_sim/advance", params={"seconds": "1"})
    assert moved.status_code == 200
    assert moved.json()["time"] != time_before
    assert http.get(USERS).json()["status"] == 1


@pytest.mark.parametrize(
    "seconds",
    ["nan", "NaN", "inf", "-inf", "Infinity", "-1", "-0.5", "1e309", "86401", "1e12", "x", ""],
)
def test_advance_refuses_what_is_not_a_sane_number_of_seconds(sim: Simulator, seconds: str) -> None:
    with client(sim) as http:
        before = http.get("/_sim/state").json()["time"]
        refused = http.post("/_sim/advance", params={"seconds": seconds})
        assert refused.status_code == 400, refused.text
        assert refused.headers["content-type"].startswith("application/json")
        assert "seconds" in refused.json()["error"]
        assert_still_works(http, before)


def test_advance_takes_zero_and_the_upper_bound(sim: Simulator) -> None:
    with client(sim) as http:
        assert http.post("/_sim/advance", params={"seconds": "0"}).status_code == 200
        assert http.post("/_sim/advance").status_code == 200  # seconds defaults to 0
        assert http.post("/_sim/advance", params={"seconds": "86400"}).status_code == 200


def test_the_clock_itself_refuses_nan_and_infinity(sim: Simulator) -> None:
    for seconds in (math.nan, math.inf, -1.0):
        with pytest.raises(ValueError, match="seconds"):
            sim.advance(seconds)
    assert sim.run(lambda s: math.isfinite(s.now()))


BAD_FAULTS: list[tuple[str, bytes]] = [
    ("invalid JSON", b"{kind: status"),
    ("not UTF-8", b'{"kind": "\xff"}'),
    ("empty body", b""),
    ("a number", b"5"),
    ("a string", b'"status"'),
    ("null", b"null"),
    ("a list of non-objects", b"[1, 2]"),
    ("a list with one bad fault", b'[{"kind": "reset"}, {"kind": "explode"}]'),
    ("unknown kind", b'{"kind": "explode"}'),
    ("kind not a string", b'{"kind": ["status"]}'),
    ("kind an object", b'{"kind": {"a": 1}}'),
    ("unknown field", b'{"kind": "reset", "when": 1}'),
    ("no kind", b'{"status": 503}'),
    ("status not a number", b'{"kind": "status", "status": "abc"}'),
    ("status a list", b'{"kind": "status", "status": [503]}'),
    ("status a fraction", b'{"kind": "status", "status": 503.5}'),
    ("status a boolean", b'{"kind": "status", "status": true}'),
    ("status overflowing", b'{"kind": "status", "status": 1e400}'),
    ("count overflowing", b'{"kind": "reset", "count": 1e400}'),
    ("count negative", b'{"kind": "reset", "count": -1}'),
    ("seconds NaN", b'{"kind": "latency", "seconds": NaN}'),
    ("seconds infinite", b'{"kind": "latency", "seconds": Infinity}'),
    ("seconds negative", b'{"kind": "latency", "seconds": -1}'),
    ("seconds not a number", b'{"kind": "latency", "seconds": "soon"}'),
    ("seconds a NaN string", b'{"kind": "latency", "seconds": "nan"}'),
    ("retry_after infinite", b'{"kind": "status", "retry_after": 1e400}'),
    ("retry_after NaN", b'{"kind": "status", "retry_after": NaN}'),
    ("duration NaN", b'{"kind": "hang", "duration": NaN}'),
    ("duration negative", b'{"kind": "hang", "duration": -5}'),
    ("probability NaN", b'{"kind": "reset", "probability": NaN}'),
    ("probability a list", b'{"kind": "reset", "probability": [0.5]}'),
    ("count a boolean", b'{"kind": "reset", "count": false}'),
    ("garbage unknown", b'{"kind": "garbage", "garbage": "soup"}'),
    ("garbage a list", b'{"kind": "garbage", "garbage": ["html"]}'),
    ("actions a number", b'{"kind": "reset", "actions": 5}'),
    ("actions an object", b'{"kind": "reset", "actions": {"GetUsers": 1}}'),
    ("actions with a number", b'{"kind": "reset", "actions": [1]}'),
    ("actions nested", b'{"kind": "reset", "actions": [["GetUsers"]]}'),
    ("users with a number", b'{"kind": "reset", "users": [1]}'),
    ("deeply nested", b"[" * 100_000 + b"]" * 100_000),
]


@pytest.mark.parametrize(("why", "body"), BAD_FAULTS, ids=[why for why, _ in BAD_FAULTS])
def test_a_bad_fault_body_is_a_400_with_a_json_error(sim: Simulator, why: str, body: bytes) -> None:
    with client(sim) as http:
        refused = http.post(
            "/_sim/faults", content=body, headers={"content-type": "application/json"}
        )
        assert refused.status_code == 400, (why, refused.status_code, refused.text)
        assert isinstance(refused.json()["error"], str)
        # Nothing was added (not even the good half of a list), and the API is unharmed.
        assert http.get("/_sim/faults").json() == []
        assert http.get(USERS).json()["status"] == 1


def test_good_fault_bodies_still_work(sim: Simulator) -> None:
    with client(sim) as http:
        one = http.post("/_sim/faults", json={"kind": "latency", "seconds": 0, "count": 1})
        many = http.post(
            "/_sim/faults",
            json=[
                {"kind": "status", "code": 502, "retry_after": 2, "duration": 60},
                {"kind": "reset", "actions": "GetUsers", "probability": 0.5, "users": "hajek"},
                {"kind": "garbage", "garbage_kind": "truncated", "share": 1, "count": 0},
            ],
        )
    assert one.status_code == many.status_code == 201
    assert [f["kind"] for f in many.json()] == ["status", "reset", "garbage"]


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "latency", "seconds": math.nan},
        {"kind": "latency", "seconds": math.inf},
        {"kind": "status", "retry_after": math.inf},
        {"kind": "hang", "duration": math.nan},
        {"kind": "status", "status": True},
    ],
)
def test_fault_from_json_refuses_what_the_endpoint_refuses(data: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message varies with the field
        Fault.from_json(data)


# --- the command's warning -------------------------------------------------------------


class _NoServer:
    """A Simulator that never binds anything (the tests listen on loopback only)."""

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs

    def start(self) -> None:
        raise RuntimeError("not started in this test")

    def stop(self) -> None:
        pass


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "pbx.example.com"])  # noqa: S104
def test_sim_warns_when_listening_beyond_loopback_with_the_default_credentials(
    host: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("daktela_async.sim.Simulator", _NoServer)
    assert sim_cli.main(["--host", host, "--port", "0"]) == 1
    err = capsys.readouterr().err
    warning = err.splitlines()[0]
    assert warning.startswith(f"warning: listening on {host} ")
    assert "default credentials" in warning
    assert "admin/daktela" in warning
    assert "--password" in warning


def test_sim_warns_beyond_loopback_even_with_a_password_of_ones_own(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("daktela_async.sim.Simulator", _NoServer)
    assert sim_cli.main(["--host", "0.0.0.0", "--password", "s3cret-pw"]) == 1  # noqa: S104
    err = capsys.readouterr().err
    assert err.startswith("warning: listening on 0.0.0.0")
    assert "default credentials" not in err
    assert "s3cret-pw" not in err


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_sim_does_not_warn_on_loopback(
    host: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("daktela_async.sim.Simulator", _NoServer)
    assert sim_cli.main(["--host", host]) == 1
    assert "warning" not in capsys.readouterr().err


def test_bad_simulator_settings_are_usage_errors() -> None:
    from daktela_async import DaktelaUsageError
    from daktela_async.sim._clock import SimClock

    with pytest.raises(DaktelaUsageError, match="speed"):
        SimClock(speed=-1)
    with pytest.raises(DaktelaUsageError, match="finite"):
        SimClock(speed=0).advance(math.nan)
    with pytest.raises(DaktelaUsageError, match="agents"):
        Simulator(agents=-1)
    with Simulator(agents=1, queues=1) as sim, pytest.raises(DaktelaUsageError, match="running"):
        sim._server.start()
