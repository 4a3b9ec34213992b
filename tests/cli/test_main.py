"""The ``daktela-async`` entry point: help, version, delegation, and how failures end."""

from __future__ import annotations

import argparse
import subprocess
import sys
import types
from pathlib import Path

import pytest

import daktela_async
from daktela_async.cli import main
from daktela_async.cli._settings import CLIError
from tests.cli.support import Run

ROOT = Path(__file__).resolve().parents[2]


def test_help_lists_every_command(run: Run) -> None:
    result = run("--help")
    assert result.code == 0
    for command in ("demo", "watch", "call", "dashboard", "sim", "webhooks"):
        assert command in result.out


@pytest.mark.parametrize("command", ["demo", "watch", "call", "dashboard"])
def test_each_command_has_help(run: Run, command: str) -> None:
    result = run(command, "--help")
    assert result.code == 0
    assert f"daktela-async {command}" in result.out


def test_version(run: Run) -> None:
    result = run("--version")
    assert result.code == 0
    assert daktela_async.__version__ in result.out


def test_no_command_is_a_usage_error(run: Run) -> None:
    result = run()
    assert result.code == 2
    assert result.err.startswith("daktela-async: error:")
    assert result.err.count("\n") == 1


def test_an_unknown_command_is_a_usage_error(run: Run) -> None:
    result = run("frobnicate")
    assert result.code == 2
    assert "invalid choice" in result.err


def test_a_misspelt_token_flag_is_not_echoed(run: Run) -> None:
    result = run("call", "GetQueues", "--tokn", "s3cret-value", "--url", "https://x")
    assert result.code == 2
    assert "s3cret-value" not in result.text
    # The flag is named; what followed it is not shown at all (tests/cli/test_usage.py).
    assert "--tokn" in result.err
    assert "not shown" in result.err


def test_sim_is_delegated_with_the_rest_of_the_arguments(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    import daktela_async.sim._cli as sim_cli

    seen: list[list[str]] = []

    def fake_main(argv: list[str]) -> int:
        seen.append(list(argv))
        return 3

    monkeypatch.setattr(sim_cli, "main", fake_main)
    assert run("sim", "--port", "0", "--agents", "5").code == 3
    assert seen == [["--port", "0", "--agents", "5"]]


def test_the_real_sim_command_parses_its_own_arguments(run: Run) -> None:
    result = run("sim", "--help")
    assert result.code == 0
    assert "simulated Daktela PBX" in result.out


def test_webhooks_is_delegated(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []
    module = types.ModuleType("daktela_async.webhooks._cli")

    def fake_main(argv: list[str]) -> int:
        seen.append(list(argv))
        return 0

    module.main = fake_main  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "daktela_async.webhooks._cli", module)
    assert run("webhooks", "serve", "--port", "9000").code == 0
    assert seen == [["serve", "--port", "9000"]]


def test_a_missing_delegate_is_one_line(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "daktela_async.webhooks._cli", None)
    result = run("webhooks", "serve")
    assert result.code == 1
    assert result.err.count("\n") == 1
    assert "webhooks" in result.err


def with_handler(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    def handler(args: argparse.Namespace) -> int:
        raise error

    monkeypatch.setattr("daktela_async.cli._call.run", handler)


def test_ctrl_c_is_a_clean_exit(monkeypatch: pytest.MonkeyPatch) -> None:
    with_handler(monkeypatch, KeyboardInterrupt())
    assert main(["call", "GetQueues"]) == 0


def test_ctrl_c_inside_a_task_group_is_a_clean_exit(monkeypatch: pytest.MonkeyPatch) -> None:
    with_handler(monkeypatch, BaseExceptionGroup("g", [KeyboardInterrupt()]))
    assert main(["call", "GetQueues"]) == 0


def test_errors_inside_task_groups_are_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    error = ExceptionGroup("g", [ExceptionGroup("h", [CLIError("it broke", exit_code=1)])])
    with_handler(monkeypatch, error)
    assert main(["call", "GetQueues"]) == 1
    assert capsys.readouterr().err == "daktela-async: error: it broke\n"


def test_a_missing_extra_is_explained(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with_handler(monkeypatch, ModuleNotFoundError("No module named 'rich'", name="rich"))
    assert main(["call", "GetQueues"]) == 1
    assert "pip install 'daktela-async[cli]'" in capsys.readouterr().err


def test_bugs_are_not_swallowed(monkeypatch: pytest.MonkeyPatch) -> None:
    with_handler(monkeypatch, ZeroDivisionError("a bug"))
    with pytest.raises(ZeroDivisionError):
        main(["call", "GetQueues"])


def test_python_dash_m_runs_the_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "daktela_async", "--version"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert daktela_async.__version__ in done.stdout


def test_a_delegates_missing_dependency_is_explained(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = types.ModuleType("daktela_async.webhooks._cli")

    def fake_main(argv: list[str]) -> int:
        raise ModuleNotFoundError("No module named 'starlette'", name="starlette")

    module.main = fake_main  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "daktela_async.webhooks._cli", module)
    result = run("webhooks", "serve")
    assert result.code == 1
    assert "pip install 'daktela-async[cli]'" in result.err
