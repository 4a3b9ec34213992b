"""Decode cost of ``RTUsersState`` relative to ``orjson.loads`` of the same body.

Builds a realistic answer from the API document's ``RTUsersState`` and ``RTUserState``
examples (every operator with three ``login_oqueues`` and their options, a quarter of
them speaking with a call and its queue, a quarter paused), for 100 and 1000
operators, and prints, for each way of structuring the ``result``, its time divided
by the time ``orjson.loads`` takes for the whole body:

- ``cattrs generic``: the cattrs-generated hooks only (the reference path);
- ``converter``: ``structure(result, Mapping[str, AgentState])`` (the hand-written
  ``AgentState`` hook registered on the converter);
- ``agent_states``: ``structure_agent_states(result)``;
- ``reuse, 0% / 5% changed``: ``structure_agent_states(result, previous)`` on a fresh
  decode of the next answer, when nothing or 5% of the operators changed.

Run: ``python benchmarks/bench_decode.py``. Loops are bounded (a fixed number of
rounds, each capped in time); the best round counts.
"""

from __future__ import annotations

import copy
import json
import random
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import orjson

from daktela_async._models import AgentState, structure, structure_agent_states
from daktela_async._models._agent_states import structure_agent_state_generic

_EXAMPLES = Path(__file__).resolve().parent.parent / "tests" / "data" / "doc_examples.json"
_ROUNDS = 7
_ROUND_SECONDS = 0.4
_MAX_CALLS_PER_ROUND = 200


def _examples() -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the document's RTUsersState operator and RTUserState 3.9 call."""
    examples = json.loads(_EXAMPLES.read_text(encoding="utf-8"))
    users = next(e for e in examples if e["action"] == "RTUsersState")
    user = next(e for e in examples if e["action"] == "RTUserState" and '"calls":[{' in e["output"])
    agent = next(iter(json.loads(users["output"])["result"].values()))
    call = json.loads(user["output"])["result"]["calls"][0]
    return agent, call


def make_body(agents: int, seed: int = 1) -> bytes:
    """Return an RTUsersState answer for *agents* operators."""
    rng = random.Random(seed)
    template, call_template = _examples()
    result: dict[str, Any] = {}
    for i in range(1, agents + 1):
        agent = copy.deepcopy(template)
        agent["id_agent"] = str(i)
        agent["agent_name"] = f"agent{i:04d}"
        agent["agent_title"] = f"Operator {i}"
        agent["exten"] = str(1000 + i)
        agent["logintime"] = f"2016-09-26 {8 + i % 4:02d}:{i % 60:02d}:{(i * 7) % 60:02d}"
        kind = i % 4
        if kind == 0:
            agent["agent_state"] = "Speaking"
            call = copy.deepcopy(call_template)
            call["id_call"] = f"1474900000.{i}"
            call["clid"] = str(600000000 + rng.randrange(100000000))
            agent["calls"] = [call]
        elif kind == 1:
            agent["agent_state"] = "Paused"
            agent["id_pause"] = str(rng.choice([2, 3, 4]))
            agent["onpause"] = agent["state_time"]
        for queue in agent["login_oqueues"]:
            queue["rt_logged"] = rng.random() < 0.5
        result[str(i)] = agent
    return orjson.dumps({"status": 1, "error": None, "result": result})


def _best(func: Callable[[], object]) -> float:
    """Return the best per-call time of *func* over bounded rounds."""
    best = float("inf")
    for _ in range(_ROUNDS):
        calls = 0
        start = time.perf_counter()
        elapsed = 0.0
        while calls < _MAX_CALLS_PER_ROUND and elapsed < _ROUND_SECONDS:
            func()
            calls += 1
            elapsed = time.perf_counter() - start
        best = min(best, elapsed / calls)
    return best


def _changed(body: bytes, fraction: float) -> bytes:
    """Return *body* with *fraction* of the operators in a new state."""
    answer = orjson.loads(body)
    agents = list(answer["result"].values())
    for agent in agents[: int(len(agents) * fraction)]:
        agent["agent_state"] = "Ringing"
        agent["state_time"] = "2016-09-26 16:00:00"
    return orjson.dumps(answer)


def bench(agents: int) -> dict[str, float]:
    """Measure every path for *agents* operators; return the ratios to ``orjson.loads``."""
    body = make_body(agents)
    result = orjson.loads(body)["result"]
    mapping_type: Any = Mapping[str, AgentState]

    loads = _best(lambda: orjson.loads(body))
    generic = _best(
        lambda: {k: structure_agent_state_generic(v, AgentState) for k, v in result.items()}
    )
    converter = _best(lambda: structure(result, mapping_type))
    fast = _best(lambda: structure_agent_states(result))

    previous = structure_agent_states(result)
    ratios = {
        "cattrs generic": generic / loads,
        "converter": converter / loads,
        "agent_states": fast / loads,
    }
    for fraction in (0.0, 0.05):
        following = orjson.loads(_changed(body, fraction))["result"]
        reuse = _best(lambda f=following: structure_agent_states(f, previous))  # type: ignore[misc]
        ratios[f"reuse, {fraction:.0%} changed"] = reuse / loads
    print(f"{agents} agents: body {len(body) / 1e6:.2f} MB, orjson.loads {loads * 1e3:.2f} ms")
    for name, ratio in ratios.items():
        print(f"  {name:<22} {ratio:5.2f}x loads ({ratio * loads * 1e3:.2f} ms)")
    return ratios


def main() -> None:
    """Run the benchmark for 100 and 1000 operators and print the ratios."""
    for agents in (100, 1000):
        bench(agents)


if __name__ == "__main__":
    main()
