"""Decode cost of ``RTUsersState`` relative to ``orjson.loads`` of the same body.

Builds a realistic answer from the API document's ``RTUsersState`` and ``RTUserState``
examples (every operator with three ``login_oqueues`` and their options, a quarter of
them speaking with a call and its queue, a quarter paused), for 100 and 1000
operators, and prints, for each way of structuring the ``result``, its time divided
by the time ``orjson.loads`` takes for the whole body:

- ``cattrs generic``: the cattrs-generated hooks only (the reference path);
- ``converter``: ``structure(result, Mapping[str, AgentState])`` (the typed call's
  path: the hand-written ``AgentState`` code, each operator's ``calls`` and
  ``login_oqueues`` left to structure when first read);
- ``converter, all read``: the same, then every operator's ``calls`` and
  ``login_oqueues`` read (the full cost of the models);
- ``agent_states``: ``structure_agent_states(result)`` (lazy like ``converter``);
- ``agent_states, eager``: ``structure_agent_states(result, lazy=False)`` (the
  realtime watcher's path);
- ``reuse, 0% / 5% changed``: ``structure_agent_states(result, previous)`` on a fresh
  decode of the next answer, when nothing or 5% of the operators changed.

Row 2 of the benchmark table (``python -m benchmarks --only 2``) holds the client's
typed path and ``structure_agent_states`` to the target end to end (``orjson.loads``
plus structuring, divided by ``orjson.loads`` alone), and shows the typed path with
every operator's calls and queues read, for information.

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
from typing import Any, Final

import orjson

from daktela_async._models import AgentState, structure, structure_agent_states
from daktela_async._models._agent_states import structure_agent_state_generic

if __package__:
    from ._support import Line, Profile, ms, ratio_text

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


def _best(
    func: Callable[[], object], rounds: int = _ROUNDS, round_seconds: float = _ROUND_SECONDS
) -> float:
    """Return the best per-call time of *func* over bounded rounds."""
    best = float("inf")
    for _ in range(rounds):
        calls = 0
        start = time.perf_counter()
        elapsed = 0.0
        while calls < _MAX_CALLS_PER_ROUND and elapsed < round_seconds:
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
    converter_read = _best(lambda: _read_all(structure(result, mapping_type)))
    fast = _best(lambda: structure_agent_states(result))
    eager = _best(lambda: structure_agent_states(result, lazy=False))

    previous = structure_agent_states(result)
    ratios = {
        "cattrs generic": generic / loads,
        "converter": converter / loads,
        "converter, all read": converter_read / loads,
        "agent_states": fast / loads,
        "agent_states, eager": eager / loads,
    }
    for fraction in (0.0, 0.05):
        following = orjson.loads(_changed(body, fraction))["result"]
        reuse = _best(lambda f=following: structure_agent_states(f, previous))  # type: ignore[misc]
        ratios[f"reuse, {fraction:.0%} changed"] = reuse / loads
    print(f"{agents} agents: body {len(body) / 1e6:.2f} MB, orjson.loads {loads * 1e3:.2f} ms")
    for name, ratio in ratios.items():
        print(f"  {name:<22} {ratio:5.2f}x loads ({ratio * loads * 1e3:.2f} ms)")
    return ratios


def _read_all(states: Mapping[str, AgentState]) -> None:
    """Read every operator's ``calls`` and ``login_oqueues`` (structured on first read)."""
    for state in states.values():
        _ = state.calls, state.login_oqueues


def end_to_end(agents: int, quick: bool) -> dict[str, float]:
    """Seconds per decode of an answer for *agents* operators: bytes to dicts, to models.

    The paths are measured round by round, interleaved, so that a busy machine slows
    them alike.
    """
    body = make_body(agents)
    mapping_type: Any = Mapping[str, AgentState]
    # The poller's steady state: the previous answer's models, 5% of the agents changed.
    previous = structure_agent_states(orjson.loads(body)["result"])
    following = _changed(body, 0.05)
    paths: dict[str, Callable[[], object]] = {
        "orjson.loads": lambda: orjson.loads(following),
        "converter": lambda: structure(orjson.loads(following)["result"], mapping_type),
        "converter, all read": lambda: _read_all(
            structure(orjson.loads(following)["result"], mapping_type)
        ),
        "agent_states": lambda: structure_agent_states(orjson.loads(following)["result"]),
        "reuse": lambda: structure_agent_states(orjson.loads(following)["result"], previous),
    }
    best = dict.fromkeys(paths, float("inf"))
    for _ in range(3 if quick else _ROUNDS):
        for name, func in paths.items():
            best[name] = min(best[name], _best(func, 1, 0.1 if quick else _ROUND_SECONDS))
    return best


#: Row 2's cases: the path, its label, and its target (a ratio to ``orjson.loads``; ``None``
#: for the informational case).
_CASES: Final = (
    ("converter", "typed call's path, structure(Mapping[str, AgentState])", 1.5),
    ("agent_states", "structure_agent_states", 1.5),
    (
        "converter, all read",
        "typed call's path, and every agent's calls and queues read",
        None,
    ),
    ("reuse", "a poller's next answer, 5% changed, structure_agent_states(previous)", 2.0),
)


def run(quick: bool) -> list[Line]:
    """Row 2 of the benchmark table: end-to-end decode time over ``orjson.loads``."""
    lines = []
    for agents in (100, 1000):
        times = end_to_end(agents, quick)
        loads = times["orjson.loads"]
        evidence = ""
        if max(times["converter"], times["agent_states"]) > 1.5 * loads:  # cold paths
            result = orjson.loads(make_body(agents))["result"]
            mapping_type: Any = Mapping[str, AgentState]
            with Profile() as profile:
                for _ in range(10 if quick else 50):
                    structure(result, mapping_type)
            evidence = (
                "Where structuring spends it (cProfile of the typed call's path, own time):"
                f"\n\n```\n{profile.top(12)}\n```"
            )
        for name, label, target in _CASES:
            ratio = times[name] / loads
            met = None if target is None else ratio <= target
            lines.append(
                Line(
                    row=2,
                    case=(
                        f"RTUsersState, {agents} agents ({len(make_body(agents)) / 1e6:.2f} MB) "
                        f"into models, {label}"
                    ),
                    measured=f"{ms(times[name])} (structuring alone {ratio - 1:.2f}x loads)",
                    baseline=f"orjson.loads {ms(loads)}",
                    ratio=ratio_text(ratio),
                    target="-" if target is None else f"≤ {target:g}x",
                    met=met,
                    limit=(
                        ""
                        if met is not False or target is None
                        else "Structuring alone costs "
                        f"{ratio - 1:.2f}x `orjson.loads` here (it would have to be at most "
                        f"{target - 1:g}x); `python benchmarks/bench_decode.py` compares the "
                        "paths (cattrs generic, the hand-written hooks, eager and lazy parts, "
                        f"reuse of unchanged models).\n\n{evidence}"
                    ),
                )
            )
            if met is False:
                evidence = "The profile is the one above (the same hooks do the work)."
    return lines


NOTES: Final = (
    "- **Row 2** times `orjson.loads(body)` and `orjson.loads` followed by structuring "
    "into `AgentState` models (the best of interleaved, bounded rounds) on answers built "
    "from the API document's examples. Both cold paths leave each agent's `calls` and "
    "`login_oqueues` to be structured at their first read (their shape is checked at "
    "once); the case with every agent's calls and queues read shows the full cost, "
    "for information (no target).",
)


def main() -> None:
    """Run the benchmark for 100 and 1000 operators and print the ratios."""
    for agents in (100, 1000):
        bench(agents)


if __name__ == "__main__":
    main()
