"""``daktela-async webhooks``: serve the hook receiver, or print the dialplan lines for the PBX.

- ``daktela-async webhooks serve --port 8080 [--secret S] [--allow 10.0.0.0/8]
  [--budget 1.5] [--lookup mymodule:lookup] [--trust-proxy 10.0.0.5]`` serves
  :class:`WebhookApp` with uvicorn (access log off: it would print the secret). The
  secret may also come from the ``DAKTELA_WEBHOOK_SECRET`` environment variable, which
  keeps it out of ``ps``. ``X-Forwarded-For`` is believed only from ``--trust-proxy``
  addresses (uvicorn would believe it from loopback, letting anyone on the host pass
  the allow-list). A connection must deliver its request within ``--request-timeout``
  seconds, and at most ``--max-connections`` stay open (see :mod:`._server`).
- ``daktela-async webhooks agi --url https://crm.example/hook [--secret S]`` prints the
  four ``AGI(notify_crm_api.agi,...)`` lines of the API document, in the order of the
  PBX's settings: the hook on arrival of a call, on ringing, on answer and on hangup.
"""

from __future__ import annotations

import argparse
import importlib
import ipaddress
import logging
import math
import os
import re
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, cast
from urllib.parse import quote, urlsplit

from .._cmdline._usage import UsageParser
from .._errors import DaktelaUsageError

if TYPE_CHECKING:
    from ._app import Lookup

__all__ = ["AGI_SCRIPT", "HASH_NAME", "SECRET_ENV", "agi_lines", "build_parser", "main"]

#: The script the API document's dialplan lines call.
AGI_SCRIPT: Final = "notify_crm_api.agi"
#: The document's hash name: the dialplan reads the answer as ``${HASH(CRMAPI,KEY)}``.
HASH_NAME: Final = "CRMAPI"
#: Read when ``--secret`` is not given: an environment variable does not show in ``ps``.
SECRET_ENV: Final = "DAKTELA_WEBHOOK_SECRET"  # noqa: S105 - a variable name
#: A free, unprivileged port commonly used for local HTTP services.
_DEFAULT_PORT: Final = 8080
#: Seconds a connection may take to deliver its request; the AGI script sends it at once.
_REQUEST_TIMEOUT: Final = 5.0
#: Connections kept open at most (lowered to fit the open-file limit).
_MAX_CONNECTIONS: Final = 512
#: A hook's request head is well under 1 KiB; h11 would buffer 16 KiB of an unfinished one.
_MAX_HEAD: Final = 8 * 1024
#: Seconds an idle kept-alive connection stays open (uvicorn's default, made explicit).
_KEEP_ALIVE: Final = 5

#: The query of each hook, exactly as the API document writes it, in the PBX settings' order.
_HOOK_QUERIES: Final = (
    "callid=${CALLERID(num)}&dnd=${FROM_DID}",
    "callerId=${CALLERID(num)}&calleeId=${FROM_DID}&line=${REAL_EXTEN}&idcall=${ID_CALL}"
    "&action=ringing",
    "callerId=${CALLERID(num)}&calleeId=${FROM_DID}&line=${REAL_EXTEN}&idcall=${ID_CALL}"
    "&action=answer",
    "callerId=${CALLERID(num)}&calleeId=${FROM_DID}&line=${REAL_EXTEN}&idcall=${ID_CALL}"
    "&action=hangup",
)
_HASH_NAME_RE: Final = re.compile(r"[A-Za-z0-9_]+")
_UNSAFE_URL_RE: Final = re.compile(r'[\s"\x00-\x1f\x7f]')

_AGI_EPILOG = """\
Paste each line into the PBX settings (Manage PBX -> Custom context):
  1. system hook on arrival of a call   (callid/dnd)
  2. system hook when a line rings      (action=ringing)
  3. system hook when a call is answered (action=answer)
  4. system hook when a call hangs up   (action=hangup)
"""


def agi_lines(
    url: str,
    *,
    secret: str | None = None,
    hash_name: str = HASH_NAME,
    secret_param: str = "secret",  # noqa: S107 - a parameter name, not a password
) -> list[str]:
    """The four dialplan lines calling the hook at *url*, in the API document's form.

    Args:
        url: The hook's URL (``https://crm.example/hook``); it may have a query of its
            own, to which the hook's parameters are appended.
        secret: A shared secret, appended URL-encoded as ``&secret=...``.
        hash_name: The dialplan hash the answer is read into.
        secret_param: The secret's query parameter name.

    Returns:
        The lines for the hooks on an incoming call, ringing, answer and hangup.

    Raises:
        DaktelaUsageError: The URL is not an absolute ``http(s)`` URL without a
            fragment, spaces or quotes; the secret is empty; the hash name is not
            letters, digits and underscores.
    """
    if _UNSAFE_URL_RE.search(url):
        raise DaktelaUsageError(
            "the URL must not contain spaces, quotes or control characters", parameter="url"
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise DaktelaUsageError(
            f"the URL must be absolute http:// or https://, not {url!r}", parameter="url"
        )
    if parts.fragment or url.endswith("#"):
        raise DaktelaUsageError("the URL must not have a #fragment", parameter="url")
    if not _HASH_NAME_RE.fullmatch(hash_name):
        raise DaktelaUsageError(
            f"the hash name must be letters, digits and underscores, not {hash_name!r}",
            parameter="hash_name",
        )
    if secret is not None and not secret:
        raise DaktelaUsageError("the secret must not be empty", parameter="secret")
    if "?" not in url:
        base = f"{url}?"
    elif url.endswith(("?", "&")):
        base = url
    else:
        base = f"{url}&"
    tail = f"&{secret_param}={quote(secret, safe='')}" if secret is not None else ""
    return [f'AGI({AGI_SCRIPT},"{base}{query}{tail}","{hash_name}")' for query in _HOOK_QUERIES]


def build_parser() -> argparse.ArgumentParser:
    """The ``webhooks`` command's argument parser (subcommands ``serve`` and ``agi``)."""
    # UsageParser (and its subcommand parsers): a secret given to a mistyped flag is
    # not echoed in the usage error.
    parser = UsageParser(
        prog="daktela-async webhooks",
        description="Receive the Daktela PBX's CRM webhooks.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="serve the hook receiver with uvicorn",
        description="Serve the CRM hook receiver (every path answers hooks).",
    )
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (127.0.0.1)")
    serve.add_argument(
        "--port", type=int, default=_DEFAULT_PORT, help=f"port ({_DEFAULT_PORT}; 0 picks one)"
    )
    serve.add_argument(
        "--secret",
        default=os.environ.get(SECRET_ENV),
        help=f"shared secret the hooks must carry (default: ${SECRET_ENV})",
    )
    serve.add_argument(
        "--secret-header",
        default=None,
        help="header that may carry the secret instead of the query (X-Daktela-Secret)",
    )
    serve.add_argument(
        "--allow",
        action="append",
        default=None,
        metavar="IP[/PREFIX]",
        help="address or network allowed to call; repeat or separate with commas",
    )
    serve.add_argument(
        "--trust-proxy",
        action="append",
        default=None,
        metavar="IP[/PREFIX]",
        help="reverse proxy whose X-Forwarded-For is believed; repeat or separate with "
        "commas (default: none, the connection's address counts)",
    )
    serve.add_argument(
        "--budget", type=float, default=None, help="seconds the lookup may take (1.5)"
    )
    serve.add_argument(
        "--request-timeout",
        type=float,
        default=_REQUEST_TIMEOUT,
        metavar="S",
        help=f"seconds a connection may take to send its request ({_REQUEST_TIMEOUT:g})",
    )
    serve.add_argument(
        "--max-connections",
        type=int,
        default=_MAX_CONNECTIONS,
        metavar="N",
        help=f"connections kept open at most; the one waiting longest for its request is "
        f"closed for a new one ({_MAX_CONNECTIONS}, lowered to fit ulimit -n)",
    )
    serve.add_argument(
        "--lookup",
        default=None,
        metavar="MODULE:FUNCTION",
        help="async lookup callback to import; without it every hook is answered {}",
    )
    serve.add_argument(
        "--log-level",
        default="info",
        choices=("debug", "info", "warning", "error"),
        help="log level (info: one line per hook)",
    )

    agi = commands.add_parser(
        "agi",
        help="print the four dialplan lines to paste into the PBX",
        description="Print the AGI lines calling the hook at --url, one per PBX hook.",
        epilog=_AGI_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    agi.add_argument("--url", required=True, help="the hook's URL (https://crm.example/hook)")
    agi.add_argument("--secret", default=None, help="shared secret appended as &secret=...")
    agi.add_argument(
        "--hash-name", default=HASH_NAME, help=f"dialplan hash the answer fills ({HASH_NAME})"
    )
    return parser


def _load_lookup(path: str) -> Lookup:
    """Import ``module:attribute`` (the attribute may be dotted) from the current directory."""
    module_name, sep, attribute = path.partition(":")
    if not sep or not module_name or not attribute:
        raise DaktelaUsageError(
            f"--lookup must be MODULE:FUNCTION, not {path!r}", parameter="lookup"
        )
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        found: Any = importlib.import_module(module_name)
        for name in attribute.split("."):
            found = getattr(found, name)
    except (ImportError, AttributeError) as exc:
        raise DaktelaUsageError(f"--lookup {path}: {exc}", parameter="lookup") from exc
    if not callable(found):
        raise DaktelaUsageError(f"--lookup {path} is not callable", parameter="lookup")
    return cast("Lookup", found)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _split(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    return [entry.strip() for value in values for entry in value.split(",") if entry.strip()]


def _proxies(entries: list[str] | None) -> list[str]:
    """The ``--trust-proxy`` networks, checked, as uvicorn's ``forwarded_allow_ips``."""
    import uvicorn

    networks = []
    for entry in entries or ():
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError as exc:
            raise DaktelaUsageError(
                f"--trust-proxy: {entry!r} is not an IP address or network",
                parameter="trust_proxy",
            ) from exc
    version = tuple(int(part) for part in re.findall(r"\d+", uvicorn.__version__)[:2])
    if version < (0, 31) and any(n.num_addresses > 1 for n in networks):
        raise DaktelaUsageError(
            f"--trust-proxy networks need uvicorn 0.31 or later (this is "
            f"{uvicorn.__version__}); give single addresses",
            parameter="trust_proxy",
        )
    # A single address as itself: uvicorn before 0.31 compares the strings.
    return [str(n.network_address) if n.num_addresses == 1 else str(n) for n in networks]


def _server_config(args: argparse.Namespace) -> Any:
    """The uvicorn configuration serving a :class:`WebhookApp` built from *args*."""
    import uvicorn

    from ._app import LOOKUP_BUDGET, SECRET_HEADER, WebhookApp
    from ._server import connection_limits, guarded_protocol, open_files_limit

    if not (args.request_timeout > 0 and math.isfinite(args.request_timeout)):
        raise DaktelaUsageError(
            "--request-timeout must be a positive number of seconds", parameter="request_timeout"
        )
    if args.max_connections < 1:
        raise DaktelaUsageError("--max-connections must be at least 1", parameter="max_connections")
    proxies = _proxies(_split(args.trust_proxy))
    max_connections, backlog = connection_limits(args.max_connections, open_files_limit())
    if max_connections < args.max_connections:
        print(
            f"note: --max-connections lowered to {max_connections} to stay under the "
            f"open-file limit (ulimit -n {open_files_limit()})",
            file=sys.stderr,
        )
    allow = _split(args.allow)
    app = WebhookApp(
        _load_lookup(args.lookup) if args.lookup else None,
        budget=args.budget if args.budget is not None else LOOKUP_BUDGET,
        secret=args.secret,
        secret_header=args.secret_header or SECRET_HEADER,
        allow=allow,
    )
    return uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        lifespan="on",
        log_config=None,
        log_level=args.log_level,
        # The access log prints the query string, and with it the secret.
        access_log=False,
        # uvicorn believes X-Forwarded-For from 127.0.0.1 by default: anybody on this
        # host could then claim an allowed address. Only the proxies named are believed.
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies or None,
        http=guarded_protocol(
            request_timeout=args.request_timeout, max_connections=max_connections
        ),
        h11_max_incomplete_event_size=_MAX_HEAD,
        timeout_keep_alive=_KEEP_ALIVE,
        backlog=backlog,
        # The PBX never opens a WebSocket; the app would only refuse it.
        ws="none",
    )


def _run(config: Any) -> None:
    """Serve until Ctrl-C or SIGTERM (a seam for tests).

    uvicorn's own handlers would stop the server and then raise the signal again, which
    kills the process (exit status 143 after SIGTERM). The command's handlers instead
    stop the server gracefully (requests in flight are answered) and return.
    """
    import contextlib
    from collections.abc import Iterator

    import uvicorn

    from .._cmdline._signals import run, stopping

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield  # the signals are the command's (see above)

    server = Server(config)

    def stop() -> None:
        server.should_exit = True

    async def serve() -> None:
        with stopping(stop):
            await server.serve()

    run(serve, loop_factory=config.get_loop_factory())


def _serve(args: argparse.Namespace) -> int:
    from ._server import limit_logs

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # asyncio logs every failing accept() when descriptors run out: 85 MB in half a minute.
    limit_logs()
    config = _server_config(args)
    if not _is_loopback(args.host) and args.secret is None and args.allow is None:
        print(
            f"warning: serving on {args.host} without --secret or --allow: anybody who "
            "reaches the port can post hooks",
            file=sys.stderr,
        )
    if args.lookup is None:
        print("note: no --lookup given; every hook is answered {}", file=sys.stderr)
    _run(config)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``daktela-async webhooks serve|agi``.

    Args:
        argv: Arguments (without the program name); a leading ``webhooks`` is skipped so
            the package's ``daktela-async`` command can pass its own arguments through.

    Returns:
        The process exit status: 0, or 2 for bad arguments.
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["webhooks"]:
        args_list = args_list[1:]
    args = build_parser().parse_args(args_list)
    try:
        if args.command == "agi":
            for line in agi_lines(args.url, secret=args.secret, hash_name=args.hash_name):
                print(line)
            return 0
        return _serve(args)
    except DaktelaUsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
