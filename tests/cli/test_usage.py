"""Usage errors name the flags at fault but never repeat a value typed on the line.

``argparse`` echoes the rest of the line in its errors (``unrecognized arguments:
--access-token 0123...``, ``invalid choice: '0123...'``): a token given to a misspelt
flag would land on the terminal and in CI logs. Every parser of the command scrubs
them: the top one, each subcommand's, and the delegated ``sim`` and ``webhooks``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from daktela_async._cmdline._usage import scrub_usage_error
from daktela_async.cli import main

ROOT = Path(__file__).resolve().parents[2]

#: A value that looks like an API token (SHA1 hex).
TOKEN = "0123456789abcdef0123456789abcdef01234567"

#: The mistyped flags of the issue, each with the token after it.
SPELLINGS = {
    "access-token": ["--access-token", TOKEN],
    "t": ["-t", TOKEN],
    "key": ["--key", TOKEN],
}
#: More ways to type a value where it does not belong.
MORE_SPELLINGS = {
    "access-token=": [f"--access-token={TOKEN}"],
    "t glued": [f"-t{TOKEN}"],
    "key=": [f"--key={TOKEN}"],
    "a stray value": [TOKEN],
}

#: Every parser: the top one, each command's, and the delegated ones.
COMMANDS = {
    "top": [],
    "demo": ["demo"],
    "watch": ["watch", "--user", "hajek"],
    "call": ["call", "GetQueues"],
    "dashboard": ["dashboard"],
    "sim": ["sim"],
    "webhooks": ["webhooks"],
    "webhooks serve": ["webhooks", "serve"],
    "webhooks agi": ["webhooks", "agi", "--url", "https://crm.example/hook"],
}


@pytest.mark.parametrize("spelling", [*SPELLINGS, *MORE_SPELLINGS])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_no_parser_echoes_a_value_typed_on_a_mistyped_flag(
    command: str, spelling: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = COMMANDS[command] + {**SPELLINGS, **MORE_SPELLINGS}[spelling]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert TOKEN not in captured.err + captured.out
    assert TOKEN[:12] not in captured.err + captured.out
    assert "error:" in captured.err


@pytest.mark.parametrize("spelling", list(SPELLINGS))
def test_the_error_still_names_the_unknown_flag(
    spelling: str, capsys: pytest.CaptureFixture[str]
) -> None:
    flag = SPELLINGS[spelling][0]
    for command in ("watch", "sim", "webhooks serve"):
        assert main([*COMMANDS[command], *SPELLINGS[spelling]]) == 2
        err = capsys.readouterr().err
        assert f"unrecognized arguments: {flag}" in err, (command, err)


@pytest.mark.parametrize(
    "argv",
    [
        ["watch", "--user", "hajek", "--stats-interval", TOKEN],  # invalid float value
        ["demo", "--agents", TOKEN],  # invalid int value
        ["watch", "--user", "hajek", "--api-version", TOKEN],  # invalid choice
        ["watch", "--user", "hajek", "--token-in", TOKEN],  # invalid choice
        ["watch", "--user", "hajek", f"--t={TOKEN}"],  # ambiguous: --token, --timeout, ...
        ["sim", "--port", TOKEN],
        ["webhooks", "serve", "--log-level", TOKEN],
        [TOKEN],  # not a command
    ],
)
def test_a_value_typed_into_a_known_flag_is_not_echoed_either(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert TOKEN not in captured.err + captured.out
    assert "error:" in captured.err


@pytest.mark.parametrize(
    ("message", "scrubbed"),
    [
        (
            f"unrecognized arguments: --access-token {TOKEN}",
            "unrecognized arguments: --access-token (and values, not shown)",
        ),
        (
            f"unrecognized arguments: -t{TOKEN}",
            "unrecognized arguments: -t (and values, not shown)",
        ),
        (
            f"unrecognized arguments: --key={TOKEN} --other",
            "unrecognized arguments: --key, --other (and values, not shown)",
        ),
        ("unrecognized arguments: --bogus", "unrecognized arguments: --bogus"),
        (f"unrecognized arguments: {TOKEN}", "unrecognized arguments (values not shown)"),
        (
            f"argument COMMAND: invalid choice: '{TOKEN}' (choose from 'demo', 'watch')",
            "argument COMMAND: invalid choice (choose from 'demo', 'watch')",
        ),
        (
            f"argument --x: invalid choice: '{TOKEN}', maybe you meant 'a'? (choose from a, b)",
            "argument --x: invalid choice (choose from a, b)",
        ),
        (f"argument --port: invalid int value: '{TOKEN}'", "argument --port: invalid int value"),
        (
            f"argument --version: ignored explicit argument '{TOKEN}'",
            "argument --version: ignored explicit argument",
        ),
        (
            f"ambiguous option: --t={TOKEN} could match --token, --timeout",
            "ambiguous option: --t could match --token, --timeout",
        ),
        (
            "the following arguments are required: --url",
            "the following arguments are required: --url",
        ),
        ("argument --url: expected one argument", "argument --url: expected one argument"),
        (f"a message of a new shape: '{TOKEN}'", "a message of a new shape: '...'"),
    ],
)
def test_scrub_usage_error(message: str, scrubbed: str) -> None:
    assert scrub_usage_error(message) == scrubbed


def test_real_processes_never_echo_the_token() -> None:
    """The installed command, as a user runs it: stderr has no token, the status is 2."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name in ("DAKTELA_URL", "DAKTELA_TOKEN", "DAKTELA_LOGIN", "DAKTELA_PASSWORD"):
        env.pop(name, None)
    runs = {
        (command, spelling): subprocess.Popen(  # noqa: S603 - our interpreter, our arguments
            [sys.executable, "-m", "daktela_async", *COMMANDS[command], *SPELLINGS[spelling]],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        for command in ("top", "watch", "sim", "webhooks serve")
        for spelling in SPELLINGS
    }
    try:
        for key, process in runs.items():
            out, err = process.communicate(timeout=30)
            assert process.returncode == 2, (key, err)
            assert TOKEN not in err + out, key
            assert "error:" in err, key
    finally:
        for process in runs.values():
            if process.poll() is None:
                process.kill()
                process.communicate()
