"""The ``daktela-async`` command (also ``python -m daktela_async``).

Commands:

- ``demo``: a simulated call centre watched live, on a terminal board (``--web``: and
  in the browser). Start here.
- ``watch``: live events of agents and statistics, readable or ``--jsonl``.
- ``call``: any action, its result as JSON.
- ``dashboard``: the live web dashboard for a real PBX.
- ``sim``: the simulated PBX as a server (:mod:`daktela_async.sim`).
- ``webhooks``: the webhook receiver (:mod:`daktela_async.webhooks`).

Connection settings come from ``--url``/``--token`` or ``DAKTELA_URL``/``DAKTELA_TOKEN``
(or a login and password). A failure is one line on stderr and a non-zero exit status
(2 for bad usage); the token never appears in it, nor does any value typed on a
mistyped flag. Ctrl-C, or SIGTERM, ends a command cleanly with status 0.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import os
import sys
from collections.abc import Callable, Sequence
from typing import Final

from .._cmdline._signals import sigterm_interrupts
from .._errors import DaktelaError
from ._settings import CLIError, Parser, redact, secrets_of

__all__ = ["PROG", "build_parser", "main"]

PROG: Final = "daktela-async"

#: Commands with parsers of their own: the rest of the arguments go to ``main(argv)``.
_DELEGATED: Final = {
    "sim": ("daktela_async.sim._cli", "run the simulated PBX as a server"),
    "webhooks": ("daktela_async.webhooks._cli", "receive Daktela webhooks (serve, agi)"),
}

#: Modules the optional commands need, and the extra that installs them.
_EXTRA_MODULES: Final = frozenset({"rich", "starlette", "uvicorn"})

_EPILOG: Final = """\
examples:
  daktela-async demo                                 a simulated call centre, live
  daktela-async demo --web                           ... and its web dashboard
  export DAKTELA_URL=https://pbx.example.com DAKTELA_TOKEN=...
  daktela-async call GetQueues
  daktela-async call CreateCall user=hajek number=800123456
  daktela-async watch --user hajek --user novak --stats queues --jsonl
  daktela-async dashboard --port 8080
  daktela-async watch --all-users --stats queues --redis redis://localhost:6379/0
  daktela-async watch --from-redis redis://localhost:6379/0 --name pbx.example.com
  daktela-async dashboard --redis redis://localhost:6379/0 --name pbx.example.com
"""


def build_parser() -> argparse.ArgumentParser:
    """The ``daktela-async`` argument parser (``sim`` and ``webhooks`` parse their own)."""
    from .. import __version__
    from . import _call, _demo, _serve, _watch

    parser = Parser(
        prog=PROG,
        description="Command line of daktela-async: the Daktela legacy API (v3.0-4.1).",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _demo.add_parser(commands)
    _watch.add_parser(commands)
    _call.add_parser(commands)
    _serve.add_parser(commands)
    for name, (_, text) in _DELEGATED.items():
        commands.add_parser(name, help=text, add_help=False)
    return parser


def _delegate(command: str, argv: list[str]) -> int:
    module_name, _ = _DELEGATED[command]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            raise CLIError(f"the {command} command is not available in this version") from None
        raise
    entry: Callable[[Sequence[str]], int] = module.main
    return int(entry(argv) or 0)


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    found: list[BaseException] = []
    for exc in group.exceptions:
        found += _leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc]
    return found


def _explain(exc: BaseException) -> CLIError | None:
    """The one-line error for a failure the user should see, or ``None``."""
    if isinstance(exc, BaseExceptionGroup):
        for leaf in _leaves(exc):
            found = _explain(leaf)
            if found is not None:
                return found
        return None
    if isinstance(exc, CLIError):
        return exc
    if isinstance(exc, DaktelaError):
        return CLIError(str(exc))
    if isinstance(exc, ModuleNotFoundError) and exc.name == "redis":
        return CLIError("this command needs redis: pip install 'daktela-async[redis]'", exit_code=1)
    if isinstance(exc, ModuleNotFoundError) and exc.name in _EXTRA_MODULES:
        return CLIError(
            f"this command needs {exc.name}: pip install 'daktela-async[cli]'", exit_code=1
        )
    return None


def _quiet_stdout() -> None:
    """After a closed pipe (``| head``), send what is left of stdout nowhere.

    Python flushes stdout at exit; without this, that flush fails again and prints
    an "Exception ignored" message.
    """
    with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _argv_secrets(argv: Sequence[str]) -> list[str]:
    """Values of ``--token`` and ``--password`` as typed, for a line that failed to parse.

    Abbreviated and misspelt flags (``--tok``, ``--tokn``, ``--pass``) count too: their
    value is just as secret when ``argparse`` rejects the flag and echoes the rest.
    """
    found: list[str] = []
    for i, arg in enumerate(argv):
        flag, eq, value = arg.partition("=")
        if not flag.startswith(("--tok", "--pas", "--pw")):
            continue
        if eq:
            found.append(value)
        elif i + 1 < len(argv):
            found.append(argv[i + 1])
    return found


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv: The arguments without the program name (default: ``sys.argv[1:]``).

    Returns:
        The exit status: 0 on success (and after Ctrl-C), 1 on failure, 2 on bad usage.
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    args: argparse.Namespace | None = None
    try:
        # SIGTERM is Ctrl-C: a service manager's stop ends the command cleanly, with
        # status 0. The long-running commands handle both signals in their event loop
        # (:mod:`._signals`); this covers starting up and the simpler commands.
        with sigterm_interrupts():
            if args_list and args_list[0] in _DELEGATED:
                return _delegate(args_list[0], args_list[1:])
            args = build_parser().parse_args(args_list)
            handler: Callable[[argparse.Namespace], int] = args.handler
            return handler(args)
    except KeyboardInterrupt:
        print(file=sys.stderr, flush=True)
        return 0
    except BrokenPipeError:  # the reader went away (| head): nothing more to say
        _quiet_stdout()
        return 0
    except SystemExit as exc:  # --help, --version, and the delegates' own exits
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
    except BaseException as exc:
        if isinstance(exc, BaseExceptionGroup):
            leaves = _leaves(exc)
            if any(isinstance(leaf, KeyboardInterrupt) for leaf in leaves):
                return 0
            if any(isinstance(leaf, BrokenPipeError) for leaf in leaves):
                _quiet_stdout()
                return 0
        error = _explain(exc)
        if error is None:
            raise
        message = redact(str(error), secrets_of(args) + _argv_secrets(args_list))
        print(f"{error.prog or PROG}: error: {message}", file=sys.stderr, flush=True)
        return error.exit_code
