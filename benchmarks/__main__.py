"""``python -m benchmarks``: measure every row, print the table, write ``docs/benchmarks.md``."""

from __future__ import annotations

import argparse
import cProfile
import importlib
import io
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

import attrs

from ._support import (
    PROFILE_ENV,
    ROOT,
    ROW_TITLES,
    Line,
    machine,
    render_document,
    render_text,
)

#: Row number -> the module measuring it (``run(quick) -> list[Line]``, ``NOTES``).
MODULES: Final = {
    1: "benchmarks.bench_calls",
    2: "benchmarks.bench_decode",
    3: "benchmarks.bench_watch",
    4: "benchmarks.bench_latency",
    5: "benchmarks.bench_fanout",
    7: "benchmarks.bench_outage",
    8: "benchmarks.bench_redis",
    9: "benchmarks.bench_fleet",
}
WEBHOOKS: Final = "benchmarks.bench_webhooks"

GENERAL_NOTES: Final = (
    "- Loopback only; every loop is bounded. Servers (the simulator, the canned-answer "
    "server) run in child processes, so the client's CPU (`time.process_time()` of the "
    "benchmark process, user + system) never includes theirs.",
    "- Ratios are subject / baseline, both measured in this run, interleaved where the "
    "row allows it; absolute figures depend on the machine and on whatever else ran on it "
    "(see the load average below), ratios much less.",
    "- Each row runs in a fresh Python process, so no row inherits another's heap, "
    "threads or open connections.",
)
#: A row that has not finished after this long is stopped (every loop is bounded anyway).
_ROW_TIMEOUT: Final = 900.0
#: Functions listed per order in a profile's text summary (``nox -s profile``).
_PROFILE_TOP: Final = 40


def _unit(key: str, value: float) -> str:
    if key.endswith("_ms"):
        return f"{key[:-3]} {value:.2f} ms"
    return f"{key} {value:.4g}"


def _webhooks(quick: bool) -> list[Line]:
    """Row 6, measured by ``benchmarks/bench_webhooks.py`` when it exists."""
    try:
        module: Any = importlib.import_module(WEBHOOKS)
    except ModuleNotFoundError as exc:
        if exc.name != WEBHOOKS:
            raise
        return [
            Line(
                row=6,
                case="Webhook answer time under concurrent load, p50/p99",
                measured="not available (benchmarks/bench_webhooks.py is missing)",
            )
        ]
    figures: dict[str, float] = dict(module.run(quick))
    if "p50_ms" in figures and "p99_ms" in figures:
        measured = f"p50 {figures.pop('p50_ms'):.2f} ms, p99 {figures.pop('p99_ms'):.2f} ms"
    else:
        measured = ", ".join(_unit(key, value) for key, value in figures.items())
        figures = {}
    setting = []
    if "concurrency" in figures:
        setting.append(f"{figures.pop('concurrency'):.0f} in flight")
    if "requests" in figures:
        setting.append(f"{figures.pop('requests'):.0f} hooks")
    if "requests_per_s" in figures:
        measured += f" ({figures.pop('requests_per_s'):,.0f} requests/s)"
    lookup = figures.pop("lookup_ms", None)
    rest = ", ".join(f"{key} {value:.4g}" for key, value in figures.items())
    return [
        Line(
            row=6,
            case="Webhook answer time under concurrent load"
            + (f", {', '.join(setting)}" if setting else "")
            + (f" ({rest})" if rest else ""),
            measured=measured,
            baseline="-" if lookup is None else f"the CRM lookup alone: {lookup:.0f} ms",
        )
    ]


_WEBHOOKS_NOTE: Final = (
    "- **Row 6** comes from `benchmarks/bench_webhooks.py` (`run(quick)`): the webhook app "
    "served by uvicorn in a child process, clients keeping hooks in flight; p50/p99 of the "
    "answer time the clients see.",
)


def _runner(row: int) -> tuple[Callable[[bool], list[Line]], Sequence[str]]:
    if row == 6:
        return _webhooks, _WEBHOOKS_NOTE
    module: Any = importlib.import_module(MODULES[row])
    return module.run, tuple(getattr(module, "NOTES", ()))


def _rows(text: str | None) -> list[int]:
    if not text:
        return sorted(ROW_TITLES)
    rows = sorted({int(part) for part in text.replace(" ", "").split(",") if part})
    unknown = [r for r in rows if r not in ROW_TITLES]
    if unknown:
        raise SystemExit(f"unknown rows {unknown}; choose from {sorted(ROW_TITLES)}")
    return rows


def _profiled(row: int, quick: bool, run: Callable[[bool], list[Line]]) -> list[Line]:
    """``run(quick)`` under cProfile; the stats go to the folder ``PROFILE_ENV`` names.

    Writes ``row<N>[-quick].pstats`` (for ``python -m pstats``, snakeviz...) and
    ``row<N>[-quick].txt``: the top 40 functions by cumulative and by own time. The
    whole row is profiled (its baselines, warm-ups and servers' start included; the
    servers' own CPU is in their child processes, not here), and cProfile's overhead
    makes the row's figures meaningless for the table.
    """
    folder = Path(os.environ[PROFILE_ENV])
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / f"row{row}{'-quick' if quick else ''}"
    profile = cProfile.Profile()
    profile.enable()
    try:
        lines = run(quick)
    finally:
        profile.disable()
        profile.dump_stats(stem.with_suffix(".pstats"))
        out = io.StringIO()
        out.write(f"row {row} ({ROW_TITLES[row]}), {'quick' if quick else 'full'} run\n")
        for sort, title in (("cumulative", "cumulative time"), ("tottime", "own time")):
            out.write(f"\n=== top {_PROFILE_TOP} by {title} ===\n")
            pstats.Stats(profile, stream=out).sort_stats(sort).print_stats(_PROFILE_TOP)
        stem.with_suffix(".txt").write_text(out.getvalue(), encoding="utf-8")
        print(f"row {row}: profile in {stem}.pstats and {stem}.txt", file=sys.stderr)
    return lines


def _measure_row(row: int, quick: bool, result: Path) -> None:
    """In the row's own process: measure it and write its lines and notes as JSON."""
    run, notes = _runner(row)
    lines = _profiled(row, quick, run) if os.environ.get(PROFILE_ENV) else run(quick)
    result.write_text(
        json.dumps({"lines": [attrs.asdict(line) for line in lines], "notes": list(notes)}),
        encoding="utf-8",
    )


def _row_in_child(row: int, quick: bool) -> tuple[list[Line], list[str]]:
    with tempfile.TemporaryDirectory() as directory:
        result = Path(directory) / "row.json"
        command = [sys.executable, "-m", "benchmarks", "--row", str(row), "--result", str(result)]
        if quick:
            command.append("--quick")
        completed = subprocess.run(command, cwd=ROOT, timeout=_ROW_TIMEOUT, check=False)  # noqa: S603
        if completed.returncode != 0 or not result.exists():
            raise RuntimeError(f"the row's process exited with status {completed.returncode}")
        data = json.loads(result.read_text(encoding="utf-8"))
    return [Line(**line) for line in data["lines"]], list(data["notes"])


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks; returns the exit status (1 when a row failed to run)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (under a minute)")
    parser.add_argument("--output", type=Path, help="write the Markdown report here")
    parser.add_argument("--only", help="comma-separated row numbers (1-9)")
    parser.add_argument("--row", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.row is not None:
        _measure_row(args.row, args.quick, args.result)
        return 0

    host = machine()
    started = time.perf_counter()
    lines: list[Line] = []
    notes: list[str] = list(GENERAL_NOTES)
    failed = False
    for row in _rows(args.only):
        print(f"row {row}: {ROW_TITLES[row]} ...", file=sys.stderr, flush=True)
        row_started = time.perf_counter()
        try:
            row_lines, row_notes = _row_in_child(row, args.quick)
            lines.extend(row_lines)
            notes.extend(row_notes)
        except Exception as exc:
            failed = True
            traceback.print_exc()
            lines.append(
                Line(row=row, case=ROW_TITLES[row], measured=f"error: {type(exc).__name__}: {exc}")
            )
        print(
            f"row {row}: done in {time.perf_counter() - row_started:.1f} s",
            file=sys.stderr,
            flush=True,
        )
    elapsed = time.perf_counter() - started
    print(render_text(lines))
    print(f"\n{elapsed:.1f} s", file=sys.stderr)
    if args.output is not None:
        document = render_document(lines, quick=args.quick, elapsed=elapsed, host=host, notes=notes)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(document, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
