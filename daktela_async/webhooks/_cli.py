"""``daktela-async webhooks``: serve the hook receiver, or print the dialplan lines for the PBX.

- ``daktela-async webhooks serve --port 8080 [--secret S] [--allow 10.0.0.0/8]
  [--budget 1.5] [--lookup mymodule:lookup]`` serves :class:`WebhookApp` with uvicorn
  (access log off: it would print the secret). The secret may also come from the
  ``DAKTELA_WEBHOOK_SECRET`` environment variable, which keeps it out of ``ps``.
- ``daktela-async webhooks agi --url https://crm.example/hook [--secret S]`` prints the
  four ``AGI(notify_crm_api.agi,...)`` lines of the API document, in the order of the
  PBX's settings: the hook on arrival of a call, on ringing, on answer and on hangup.
"""

from __future__ import annotations

import argparse
import importlib
import ipaddress
import logging
import os
import re
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, cast
from urllib.parse import quote, urlsplit

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
    parser = argparse.ArgumentParser(
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
        "--budget", type=float, default=None, help="seconds the lookup may take (1.5)"
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


def _server_config(args: argparse.Namespace) -> Any:
    """The uvicorn configuration serving a :class:`WebhookApp` built from *args*."""
    import uvicorn

    from ._app import LOOKUP_BUDGET, SECRET_HEADER, WebhookApp

    allow = None
    if args.allow is not None:
        allow = [entry for value in args.allow for entry in value.split(",") if entry.strip()]
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
    )


def _run(config: Any) -> None:
    """Serve until Ctrl-C (a seam for tests)."""
    import uvicorn

    uvicorn.Server(config).run()


def _serve(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
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
