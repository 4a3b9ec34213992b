"""``daktela-async watch --metrics-port``: /metrics and /healthz from a real child process."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from daktela_async.cli._serve import bind
from daktela_async.sim import Simulator
from tests.cli.support import Run, connection
from tests.cli.test_signals import Command

Samples = dict[str, dict[frozenset[tuple[str, str]], float]]


def scraped(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[frozenset(sample.labels.items())] = sample.value
    return samples


def by(samples: Samples, name: str, label: str) -> dict[str, float]:
    return {dict(key)[label]: v for key, v in samples.get(name, {}).items()}


def eventually(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "no change in time"
        time.sleep(0.1)


def sim_states(sim: Simulator) -> dict[str, float]:
    counts: dict[str, float] = {}
    for agent in sim.snapshot()["agents"].values():
        if agent["logged"]:
            counts[agent["state"]] = counts.get(agent["state"], 0) + 1
    return counts


@pytest.fixture
def watch(sim: Simulator) -> Iterator[Callable[..., Command]]:
    started: list[Command] = []

    def start(*argv: str) -> Command:
        started.append(Command("watch", *argv, *connection(sim)))
        return started[-1]

    try:
        yield start
    finally:
        for each in started:
            each.close()


def test_watch_serves_metrics_and_health(sim: Simulator, watch: Callable[..., Command]) -> None:
    sim.set_state("hajek", "Speaking")
    cmd = watch(
        "--all-users", "--stats", "queues", "--stats-interval", "0.2", "--metrics-port", "0"
    )
    try:
        found = cmd.wait_for(r"metrics: (http://127\.0\.0\.1:\d+/)metrics \(health: \S+healthz\)")
        base = found[1]
        expected = sim_states(sim)
        assert expected["Speaking"] == 1
        with httpx.Client(base_url=base, timeout=5) as http:

            def agents_arrived() -> bool:
                samples = scraped(http.get("/metrics").text)
                agents = {s: n for s, n in by(samples, "daktela_agents", "state").items() if n}
                return agents == expected and bool(
                    by(samples, "daktela_queue_calls_waiting", "queue")
                )

            eventually(agents_arrived)
            response = http.get("/metrics")
            assert response.headers["content-type"].startswith("text/plain")
            samples = scraped(response.text)
            assert by(samples, "daktela_source_requests_total", "source")["agents"] >= 1
            assert by(samples, "daktela_source_failing", "source")["agents"] == 0
            # Queue names come from GetQueues.
            assert by(samples, "daktela_queue_info", "queue")
            healthz = http.get("/healthz")
            assert healthz.status_code == 200
            assert healthz.json()["status"] == "ok"
            assert http.get("/healthz", headers={"Host": "evil.example"}).status_code == 400

            sim.stop_server()
            try:
                eventually(lambda: http.get("/healthz").status_code == 503)
                body = http.get("/healthz").json()
                assert body["status"] == "stale"
                assert "agents" in body["failing"] or "stats:queues" in body["failing"]
                assert body["since"]
                assert sim.token not in body["reason"]
                failing = by(scraped(http.get("/metrics").text), "daktela_source_failing", "source")
                assert {name for name, v in failing.items() if v} >= set(body["failing"])
            finally:
                sim.start_server()
            eventually(lambda: http.get("/healthz").status_code == 200)
            failing = by(scraped(http.get("/metrics").text), "daktela_source_failing", "source")
            assert not any(failing.values())
        elapsed = cmd.stop(signal.SIGTERM)
        assert cmd.process.returncode == 0, cmd.output
        assert elapsed < 3, f"took {elapsed:.2f} s to exit"
        assert "Traceback" not in cmd.output
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{base}healthz", timeout=2)
    finally:
        sim.set_state("hajek", "Idle")


def test_watch_allows_named_hosts_on_the_metrics_server(
    sim: Simulator, watch: Callable[..., Command]
) -> None:
    cmd = watch("--user", "hajek", "--metrics-port", "0", "--allow-host", "metrics.example")
    base = cmd.wait_for(r"metrics: (http://\S+/)metrics")[1]
    with httpx.Client(base_url=base, timeout=5) as http:
        assert http.get("/healthz", headers={"Host": "metrics.example:9100"}).status_code == 200
        assert http.get("/metrics", headers={"Host": "other.example"}).status_code == 400
    cmd.stop(signal.SIGTERM)
    assert cmd.process.returncode == 0, cmd.output


def test_metrics_options_are_checked(sim: Simulator, run: Run) -> None:
    result = run("watch", "--user", "hajek", "--metrics-host", "::1", *connection(sim))
    assert result.code == 2
    assert "go with --metrics-port" in result.err
    result = run("watch", "--user", "hajek", "--metrics-port", "70000", *connection(sim))
    assert result.code == 2
    assert "--metrics-port must be between 0 and 65535" in result.err
    result = run(
        "watch", "--from-redis", "redis://127.0.0.1:1/0", "--name", "x", "--metrics-port", "0"
    )
    assert result.code == 2
    assert "not with --from-redis" in result.err


def test_a_taken_metrics_port_fails_at_once(sim: Simulator, run: Run) -> None:
    with bind("127.0.0.1", 0) as taken:
        port = taken.getsockname()[1]
        result = run("watch", "--user", "hajek", "--metrics-port", str(port), *connection(sim))
    assert result.code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.err
