"""``daktela-async call ACTION [ID] key=value ...``: any action, pretty JSON out.

Parameters are written the way PHP reads them, and sent the same way:

- ``queue=1`` once: a string;
- ``queues=1 queues=2`` or ``queues[]=1 queues[]=2``: an array (``queues[]=1&queues[]=2``);
- ``data[title]=Novak data[phone]=123``: a keyed array (``data[title]=Novak&...``),
  nesting as deep as the brackets go (``a[b][c]=v``, ``a[b][]=v``).

Values are sent exactly as typed. The one argument without ``=`` is the record id of
the URL path (``call GetUsers 3`` asks ``/api/4.1/GetUsers/3/json``).

Before anything is sent, an action of the API document gets the checks its typed
method makes: known parameter names (a close one is suggested), mandatory parameters,
one-of groups, the record id where the URL takes one, and each value in its
documented form (integers, ``take`` within the document's cap, ``YYYY-MM-DD HH:MM:SS``
datetimes, booleans spelt ``yes``/``no`` or ``true``/``false`` as the parameter wants,
enumerations). A failed check is one line and exit status 2. Actions the document does
not list are sent unchecked.

``--api-version V`` sends the call at exactly version ``V`` (refused when the action or
a parameter used is not in that version's form); without it the newest documented form
that fits the parameters is used. ``call --version`` was its former name and now only
says so: ``daktela-async --version`` is the program's version.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any, Final, NoReturn, TextIO

import anyio

from .._actions import ACTIONS
from .._config import DEFAULT_API_VERSION
from .._errors import DaktelaAPIError, DaktelaError, DaktelaUsageError
from .._spec import ActionSpec
from .._transport._request import check_all_params, pick_version, version_key
from ._settings import CLIError, add_connection_arguments, open_client, resolve_connection

__all__ = ["add_parser", "check_call", "parse_params", "run"]

_KEY: Final = re.compile(r"(?P<name>[^\[\]]+)(?P<path>(?:\[[^\[\]]*\])*)\Z")
_SEGMENT: Final = re.compile(r"\[([^\[\]]*)\]")

#: What ``call --version`` says now that the option is ``--api-version``.
_RENAMED: Final = (
    "call --version is now --api-version V (the API version of the call); "
    "the program's version is daktela-async --version"
)


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


class _RenamedOption(argparse.Action):
    """``call --version``: a usage error that names the new option (and reads no value)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> NoReturn:
        parser.error(_RENAMED)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``call`` command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "call",
        help="call any action and print its result",
        description="Call any action of the API and print its result as JSON. "
        "Parameters: key=value; arrays as repeated keys or key[]=v; keyed arrays as "
        "key[k]=v. A bare argument is the record ID of the URL. Actions of the API "
        "document are checked against it before anything is sent. --api-version V "
        "sends the call at exactly version V (default: the newest form that fits).",
    )
    parser.add_argument("action", metavar="ACTION", help="the action, e.g. GetQueues")
    parser.add_argument(
        "params", nargs="*", default=[], metavar="[ID] key=value", help="ID and parameters"
    )
    # The former name of --api-version, which the program's own --version shadowed. It
    # takes an optional value so that "--version 3.0" is reported, not read as an ID.
    parser.add_argument("--version", nargs="?", action=_RenamedOption, help=argparse.SUPPRESS)
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
    for option in parser._actions:  # argparse has no public way to reword one option
        if option.dest == "api_version":
            # On this command it is the version of the one call, not a ceiling.
            option.help = (
                "send the call at exactly this API version (default: the newest documented "
                f"form that fits the parameters, up to {DEFAULT_API_VERSION})"
            )
    # No default here: a given --api-version forces the URL's version (see _call), while
    # without it the client picks the newest fitting form up to DEFAULT_API_VERSION.
    parser.set_defaults(handler=run, api_version=None)
    return parser


def _hint(action: str) -> str:
    if action in ACTIONS:
        return ""
    close = difflib.get_close_matches(action, list(ACTIONS), n=1)
    if close:
        return f" ({action} is not in the API document; did you mean {close[0]}?)"
    return f" ({action} is not in the API document)"


def _check_version(spec: ActionSpec, params: Mapping[str, object], version: str) -> None:
    """Refuse a forced *version* that lacks the action or a parameter's form."""
    used = [name for name, value in params.items() if value is not None]
    pick_version(spec, used, version)  # the action or a parameter newer than `version`
    for name in used:
        param = spec.param(name)
        until = param.until if param is not None else None
        if until is not None and version_key(until) < version_key(version):
            raise DaktelaUsageError(
                f"{spec.name}: parameter {name!r} belongs to the {until} form of the "
                f"action; version {version} would send another form",
                action=spec.name,
                parameter=name,
            )


def check_call(
    spec: ActionSpec, ident: str | None, params: Mapping[str, Any], version: str | None = None
) -> Mapping[str, Any]:
    """Check a ``call`` of a catalogued action the way its typed method would.

    Args:
        spec: The action.
        ident: The record id typed as a bare argument, if any.
        params: The parameters as :func:`parse_params` read them.
        version: The version ``--api-version`` forces, if any.

    Returns:
        The parameters to send.

    Raises:
        DaktelaUsageError: A check failed; the message names the parameter.
    """
    if spec.id == "path":
        if "id" in params:
            raise DaktelaUsageError(
                f"{spec.name}: the record id goes in the URL: give it as the bare argument "
                f"(call {spec.name} 7), not as id=",
                action=spec.name,
                parameter="id",
            )
        if spec.id_required and ident is None:
            raise DaktelaUsageError(
                f"{spec.name}: missing the record id, the bare argument (call {spec.name} 7)",
                action=spec.name,
                parameter="id",
            )
    elif ident is not None:
        where = "; pass it as id=..." if spec.id == "query" else ""
        raise DaktelaUsageError(
            f"{spec.name}: the URL takes no record id, so {ident!r} has no place{where}",
            action=spec.name,
            parameter="id",
        )
    checked = check_all_params(spec, params)
    if version is not None:
        _check_version(spec, checked, version)
    return checked


async def _call(args: argparse.Namespace, out: TextIO) -> int:
    ident, params = parse_params(args.params)
    forced: str | None = args.api_version
    spec = ACTIONS.get(args.action)
    if spec is not None:
        try:
            params = dict(check_call(spec, ident, params, forced))
        except DaktelaUsageError as exc:
            raise CLIError(str(exc), exit_code=2) from None
    args.api_version = forced or DEFAULT_API_VERSION
    connection = resolve_connection(args)
    options: dict[str, Any] = {"query": params}
    if forced is not None:
        options["version"] = forced
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
            # Its text carries the English hint (which also covers a wrong token); _hint
            # adds a suggestion for an action the document does not list.
            raise CLIError(str(exc) + _hint(args.action)) from None
        except DaktelaError as exc:
            raise CLIError(str(exc)) from None
    out.write(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    out.flush()
    return 0


def run(args: argparse.Namespace) -> int:
    """Run ``call`` with parsed arguments; returns the exit status."""
    result: int = anyio.run(_call, args, sys.stdout, backend="asyncio")
    return result
