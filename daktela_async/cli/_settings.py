"""Connection settings of the commands: arguments first, then the environment.

Precedence: ``--token``, then ``--login``/``--password``, then ``DAKTELA_TOKEN``, then
``DAKTELA_LOGIN``/``DAKTELA_PASSWORD`` (the token is ``SHA1(login + password)``, as the
API defines it); the address comes from ``--url`` or ``DAKTELA_URL``.

The token and the password are never printed: every message the commands show goes
through :func:`redact`, which blanks them out even where a server or ``argparse``
echoed them back.
"""

from __future__ import annotations

import argparse
import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Final, NoReturn, cast

import attrs

from .._client import DaktelaClient
from .._cmdline._usage import scrub_usage_error
from .._config import API_VERSIONS, DEFAULT_API_VERSION, Timeouts, TokenPlacement
from .._errors import DaktelaAPIError, DaktelaError, DaktelaHTTPStatusError
from .._transport._request import REDACTED, version_key

__all__ = [
    "ENV_LOGIN",
    "ENV_PASSWORD",
    "ENV_TOKEN",
    "ENV_URL",
    "CLIError",
    "Connection",
    "Parser",
    "add_connection_arguments",
    "check_connection",
    "open_client",
    "redact",
    "resolve_connection",
    "secrets_of",
    "split_csv",
]

ENV_URL: Final = "DAKTELA_URL"
ENV_TOKEN: Final = "DAKTELA_TOKEN"  # noqa: S105 - the variable's name, not a token
ENV_LOGIN: Final = "DAKTELA_LOGIN"
ENV_PASSWORD: Final = "DAKTELA_PASSWORD"  # noqa: S105 - the variable's name

#: Secrets shorter than this are not blanked out of messages: replacing "a" everywhere
#: would garble every line without hiding anything worth hiding.
_MIN_SECRET = 4


class CLIError(Exception):
    """A failure the command reports as one line on stderr.

    Attributes:
        exit_code: The process exit status: 2 for bad usage, 1 for everything else.
        prog: The command it is about (``daktela-async call``), when not the top one.
    """

    def __init__(self, message: str, *, exit_code: int = 1, prog: str | None = None) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.prog = prog


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are a :class:`CLIError` (one line, exit 2).

    ``argparse`` prints the whole usage text and exits; the commands instead print one
    line, the same way as every other failure, and return the status from ``main``.
    The line names the arguments at fault but never what was typed into them
    (:func:`~daktela_async._cmdline._usage.scrub_usage_error`): a token given to a misspelt
    flag is not echoed.
    """

    def error(self, message: str) -> NoReturn:
        """Raise the usage error instead of printing the usage and exiting."""
        raise CLIError(f"{scrub_usage_error(message)} (see --help)", exit_code=2, prog=self.prog)


@attrs.frozen(slots=True)
class Connection:
    """Where and how to reach the PBX.

    Attributes:
        url: The PBX address.
        token: The access token (never shown in ``repr``).
        api_version: The newest API version the PBX speaks.
        token_in: ``"query"`` or ``"cookie"``.
        timeout: Default timeout of one request, in seconds.
        retries: Retries of a failed read (``None``: the client's default).
        insecure_http: Allow ``http://`` to a non-loopback host.
    """

    url: str
    token: str = attrs.field(repr=False)
    api_version: str = DEFAULT_API_VERSION
    token_in: TokenPlacement = "query"  # noqa: S105 - a placement, not a password
    timeout: float = 10.0
    retries: int | None = None
    insecure_http: bool = False

    def __repr__(self) -> str:
        return f"Connection(url={self.url!r}, token={REDACTED}, api_version={self.api_version!r})"


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--url``, ``--token``, ``--login``, ``--password`` and the client options."""
    group = parser.add_argument_group(
        "connection",
        f"Also read from ${ENV_URL} and ${ENV_TOKEN} (or ${ENV_LOGIN} and ${ENV_PASSWORD}); "
        "prefer the environment for secrets, which other users can see on a command line.",
    )
    group.add_argument("--url", metavar="URL", help=f"PBX address, https://... (${ENV_URL})")
    group.add_argument("--token", metavar="TOKEN", help=f"access token (${ENV_TOKEN})")
    group.add_argument("--login", metavar="LOGIN", help=f"user login (${ENV_LOGIN})")
    group.add_argument("--password", metavar="PASSWORD", help=f"password (${ENV_PASSWORD})")
    group.add_argument(
        "--api-version",
        metavar="V",
        default=DEFAULT_API_VERSION,
        choices=API_VERSIONS,
        help=f"newest API version the PBX speaks ({DEFAULT_API_VERSION})",
    )
    group.add_argument(
        "--token-in",
        choices=("query", "cookie"),
        default="query",
        help="send the token as a query parameter or as a cookie (query)",
    )
    group.add_argument(
        "--timeout", type=float, default=10.0, metavar="S", help="request timeout (10)"
    )
    group.add_argument(
        "--retries", type=int, metavar="N", help="retries of a failed read (3; writes: never)"
    )
    group.add_argument(
        "--insecure-http",
        action="store_true",
        help="allow plain http:// to a non-loopback host (the token travels in clear)",
    )


def _token_from(login: str, password: str) -> str:
    return hashlib.sha1((login + password).encode(), usedforsecurity=False).hexdigest()


def resolve_connection(
    args: argparse.Namespace, environ: Mapping[str, str] | None = None
) -> Connection:
    """Build the :class:`Connection` from the parsed arguments and the environment.

    Raises:
        CLIError: No address, or neither a token nor a login and password.
    """
    env = os.environ if environ is None else environ
    url = args.url or env.get(ENV_URL, "")
    if not url:
        raise CLIError(f"no PBX address: pass --url or set {ENV_URL}", exit_code=2)
    if args.token:
        token = args.token
    elif args.login or args.password:
        if not (args.login and args.password):
            raise CLIError("--login and --password go together", exit_code=2)
        token = _token_from(args.login, args.password)
    elif env.get(ENV_TOKEN):
        token = env[ENV_TOKEN]
    elif env.get(ENV_LOGIN) and env.get(ENV_PASSWORD):
        token = _token_from(env[ENV_LOGIN], env[ENV_PASSWORD])
    else:
        raise CLIError(
            f"no credentials: pass --token (or --login and --password) or set {ENV_TOKEN} "
            f"(or {ENV_LOGIN} and {ENV_PASSWORD})",
            exit_code=2,
        )
    if not args.timeout > 0:
        raise CLIError("--timeout must be a positive number of seconds", exit_code=2)
    if args.retries is not None and not 0 <= args.retries <= 10:
        raise CLIError("--retries must be between 0 and 10", exit_code=2)
    return Connection(
        url=url,
        token=token,
        api_version=args.api_version,
        token_in=cast(TokenPlacement, args.token_in),
        timeout=args.timeout,
        retries=args.retries,
        insecure_http=args.insecure_http,
    )


def secrets_of(
    args: argparse.Namespace | None, environ: Mapping[str, str] | None = None
) -> list[str]:
    """Every secret that could appear in a message: tokens and passwords, given or derived."""
    env = os.environ if environ is None else environ
    found: list[str] = []
    for name in ("token", "password"):
        value = getattr(args, name, None) if args is not None else None
        if isinstance(value, str):
            found.append(value)
    found += [env.get(ENV_TOKEN, ""), env.get(ENV_PASSWORD, "")]
    login = getattr(args, "login", None) if args is not None else None
    password = getattr(args, "password", None) if args is not None else None
    if isinstance(login, str) and isinstance(password, str):
        found.append(_token_from(login, password))
    if env.get(ENV_LOGIN) and env.get(ENV_PASSWORD):
        found.append(_token_from(env[ENV_LOGIN], env[ENV_PASSWORD]))
    return [s for s in found if len(s) >= _MIN_SECRET]


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each secret in *text* with ``***``."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        if len(secret) >= _MIN_SECRET:
            text = text.replace(secret, REDACTED)
    return text


def open_client(connection: Connection) -> DaktelaClient:
    """A :class:`DaktelaClient` for *connection* (use it as an async context manager).

    Raises:
        CLIError: The settings are invalid (an ``http://`` address to a remote host...).
    """
    timeouts = Timeouts(
        connect=min(connection.timeout, 5.0),
        read=connection.timeout,
        write=connection.timeout,
        pool=connection.timeout,
        deadline=connection.timeout * 2,
    )
    try:
        return DaktelaClient(
            connection.url,
            connection.token,
            api_version=connection.api_version,
            token_in=connection.token_in,
            timeout=timeouts,
            retries=connection.retries,
            allow_insecure_http=connection.insecure_http,
        )
    except DaktelaError as exc:
        raise CLIError(str(exc), exit_code=2) from None


async def check_connection(client: DaktelaClient) -> None:
    """Make one request so a wrong address or token fails now, with a clear message.

    ``GetUser`` (API 4.0 and later) answers who the token belongs to; older APIs get
    ``GetQueues``, which every version has.

    Raises:
        CLIError: The PBX cannot be reached, or it refused the token.
    """
    action = "GetUser" if version_key(client.api_version) >= (4, 0) else "GetQueues"
    try:
        await client.call(action, retries=0)
    except DaktelaAPIError as exc:
        raise CLIError(
            f"the PBX at {client.base_url} refused the token ({exc}); check --token or ${ENV_TOKEN}"
        ) from None
    except DaktelaHTTPStatusError as exc:
        if exc.status_code in (401, 403):
            raise CLIError(
                f"the PBX at {client.base_url} refused the token (HTTP {exc.status_code}); "
                f"check --token or ${ENV_TOKEN}"
            ) from None
        raise CLIError(f"cannot use the PBX at {client.base_url}: {exc}") from None
    except DaktelaError as exc:
        raise CLIError(f"cannot reach the PBX at {client.base_url}: {exc}") from None


def split_csv(values: Sequence[str] | None) -> list[str]:
    """Flatten repeated, comma-separated option values: ``["a,b", "c"]`` -> a, b, c."""
    out: list[str] = []
    for value in values or ():
        out += [part.strip() for part in value.split(",") if part.strip()]
    return list(dict.fromkeys(out))
