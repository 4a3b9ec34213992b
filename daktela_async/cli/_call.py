"""``daktela-async call ACTION [ID] key=value ...``: any action, pretty JSON out.

Parameters are written the way PHP reads them, and sent the same way:

- ``queue=1`` once: a string;
- ``queues=1 queues=2`` or ``queues[]=1 queues[]=2``: an array (``queues[]=1&queues[]=2``);
- ``data[title]=Novak data[phone]=123``: a keyed array (``data[title]=Novak&...``),
  nesting as deep as the brackets go (``a[b][c]=v``, ``a[b][]=v``).

Values are sent exactly as typed. The one argument without ``=`` is the record id of
the URL path (``call GetUsers 3`` asks ``/api/4.1/GetUsers/3/json``).
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from typing import Any, Final, TextIO

import anyio

from .._config import API_VERSIONS
from .._errors import DaktelaAPIError, DaktelaError, DaktelaUsageError
from ._settings import CLIError, add_connection_arguments, open_client, resolve_connection

__all__ = ["add_parser", "parse_params", "run"]

_KEY: Final = re.compile(r"(?P<name>[^\[\]]+)(?P<path>(?:\[[^\[\]]*\])*)\Z")
_SEGMENT: Final = re.compile(r"\[([^\[\]]*)\]")

#: What the PBX answers to a wrong access token (the document's own example).
_BAD_TOKEN_ANSWER: Final = "Uživatel neexistuje"  # noqa: S105 - an answer, not a secret


def _put(container: dict[str, Any], path: list[str], value: str, token: str) -> None:
    name, rest = path[0], path[1:]
    existing = container.get(name)
    if not rest:
        if existing is None:
            container[name] = value
        elif isinstance(existing, list):
            existing.append(value)
        elif isinstance(existing, str):
            container[name] = [existing, value]
        else:
            raise CLIError(f"{token!r}: {name} is already a keyed array", exit_code=2)
        return
    if rest[0] == "":
        if len(rest) > 1:
            raise CLIError(f"{token!r}: [] must come last", exit_code=2)
        if existing is None:
            container[name] = [value]
        elif isinstance(existing, list):
            existing.append(value)
        elif isinstance(existing, str):
            container[name] = [existing, value]
        else:
            raise CLIError(f"{token!r}: {name} is already a keyed array", exit_code=2)
        return
    if existing is None:
        existing = container[name] = {}
    if not isinstance(existing, dict):
        raise CLIError(f"{token!r}: {name} already has a plain value", exit_code=2)
    _put(existing, rest, value, token)


def parse_params(tokens: list[str]) -> tuple[str | None, dict[str, Any]]:
    """Split ``ID key=value ...`` into the record id and the parameters.

    Returns:
        ``(id, params)``: the id (``None`` when not given) and the parameters with
        repeated keys and ``key[]`` as lists, ``key[k]`` as dicts.

    Raises:
        CLIError: A malformed key, a second id, or a key used both ways.
    """
    ident: str | None = None
    params: dict[str, Any] = {}
    for token in tokens:
        key, sep, value = token.partition("=")
        if not sep:
            if ident is not None:
                raise CLIError(
                    f"unexpected {token!r}: parameters are key=value, and the ID comes once",
                    exit_code=2,
                )
            ident = token
            continue
        match = _KEY.match(key)
        if match is None:
            raise CLIError(f"bad parameter {token!r}: expected key=value", exit_code=2)
        path = [match["name"], *_SEGMENT.findall(match["path"])]
        _put(params, path, value, token)
    return ident, params


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``call`` command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "call",
        help="call any action and print its result",
        description="Call any action of the API and print its result as JSON. "
        "Parameters: key=value; arrays as repeated keys or key[]=v; keyed arrays as "
        "key[k]=v. A bare argument is the record ID of the URL.",
    )
    parser.add_argument("action", metavar="ACTION", help="the action, e.g. GetQueues")
    parser.add_argument(
        "params", nargs="*", default=[], metavar="[ID] key=value", help="ID and parameters"
    )
    parser.add_argument(
        "--version",
        dest="action_version",
        metavar="V",
        choices=API_VERSIONS,
        help="force the API version in the URL (default: the newest form that fits)",
    )
    parser.add_argument(
        "--raw", action="store_true", help="print the answer's body exactly as it came"
    )
    parser.add_argument(
        "--format",
        choices=("json", "xml"),
        default="json",
        help="the answer's format; xml implies --raw (json)",
    )
    add_connection_arguments(parser)
    parser.set_defaults(handler=run)
    return parser


def _hint(action: str) -> str:
    from .._actions import ACTIONS

    if action in ACTIONS:
        return ""
    close = difflib.get_close_matches(action, list(ACTIONS), n=1)
    if close:
        return f" ({action} is not in the API document; did you mean {close[0]}?)"
    return f" ({action} is not in the API document)"


async def _call(args: argparse.Namespace, out: TextIO) -> int:
    ident, params = parse_params(args.params)
    connection = resolve_connection(args)
    options: dict[str, Any] = {"query": params}
    if args.action_version is not None:
        options["version"] = args.action_version
    async with open_client(connection) as client:
        try:
            if args.raw or args.format != "json":
                response = await client.call_raw(args.action, ident, format=args.format, **options)
                buffer = getattr(out, "buffer", None)
                out.flush()
                if buffer is not None:
                    buffer.write(response.content)
                    buffer.flush()
                else:
                    out.write(response.text)
                return 0
            result = await client.call(args.action, ident, **options)
        except DaktelaUsageError as exc:
            raise CLIError(f"{exc}{_hint(args.action)}", exit_code=2) from None
        except DaktelaAPIError as exc:
            message = str(exc)
            if exc.message == _BAD_TOKEN_ANSWER:
                message += " (the PBX's answer to a wrong token, too)"
            raise CLIError(message + _hint(args.action)) from None
        except DaktelaError as exc:
            raise CLIError(str(exc)) from None
    out.write(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    out.flush()
    return 0


def run(args: argparse.Namespace) -> int:
    """Run ``call`` with parsed arguments; returns the exit status."""
    result: int = anyio.run(_call, args, sys.stdout, backend="asyncio")
    return result
