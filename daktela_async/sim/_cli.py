"""``daktela-async sim``: run the simulated PBX as a server until Ctrl-C."""

from __future__ import annotations

import argparse
import ipaddress
import sys
import threading
from collections.abc import Sequence
from typing import Final

from .._cmdline._signals import sigterm_interrupts
from .._cmdline._usage import UsageParser

__all__ = ["build_parser", "exposure_warning", "main"]

#: The API user's documented default credentials.
_DEFAULT_LOGIN: Final = "admin"
_DEFAULT_PASSWORD: Final = "daktela"


def build_parser() -> argparse.ArgumentParser:
    """The ``sim`` command's argument parser."""
    from ._holds import HOLD_ENDS

    # UsageParser: a token given to a mistyped flag is not echoed in the usage error.
    parser = UsageParser(
        prog="daktela-async sim",
        description="Run a simulated Daktela PBX serving the legacy API (v3.0-4.1).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (0 picks a free one)")
    parser.add_argument("--agents", type=int, default=50, help="operators (50)")
    parser.add_argument("--queues", type=int, default=3, help="inbound queues (3)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (1)")
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="simulated seconds per real second; 0 freezes time (1)",
    )
    parser.add_argument(
        "--hold",
        type=float,
        default=60.0,
        help="seconds RTUserState with an unchanged hash is held (60)",
    )
    parser.add_argument(
        "--hold-ends",
        choices=HOLD_ENDS,
        default="arrival",
        help="when an unchanged held poll ends: a hold after it arrived, at its agent's "
        "own point of the hold cycle (spread out, as a real PBX's), or every agent's "
        "together (arrival)",
    )
    parser.add_argument("--login", default=_DEFAULT_LOGIN, help="API user login (admin)")
    parser.add_argument("--password", default=_DEFAULT_PASSWORD, help="API user password (daktela)")
    parser.add_argument(
        "--start-time", default=None, help='simulated start, "YYYY-MM-DD HH:MM:SS" (now)'
    )
    parser.add_argument(
        "--no-dynamics", action="store_true", help="no autonomous call-centre activity"
    )
    parser.add_argument(
        "--logged-out", action="store_true", help="start with every operator logged out"
    )
    return parser


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def exposure_warning(host: str, login: str, password: str) -> str | None:
    """A warning when the simulator listens beyond this machine, or ``None``.

    Whoever reaches the port can use the API: with the default credentials (the
    ``--help`` text shows them), or with a simulated agent's fixed password.
    """
    if _is_loopback(host):
        return None
    if password == _DEFAULT_PASSWORD:
        shown = f"{login}/{password}" if login == _DEFAULT_LOGIN else f"password {password}"
        return (
            f"warning: listening on {host} with the well-known default credentials "
            f"({shown}): anyone who can reach this port can use the simulated API; "
            "pass --password, or bind 127.0.0.1"
        )
    return (
        f"warning: listening on {host}: the simulated agents' passwords are fixed "
        "(heslo2, heslo3, ...), so anyone who can reach this port can use the simulated API"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the simulator; prints its URL and token, serves until Ctrl-C.

    Args:
        argv: Arguments (without the program name); a leading ``sim`` is skipped so the
            package's ``daktela-async`` command can pass its own arguments through.

    Returns:
        The process exit status.
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["sim"]:
        args_list = args_list[1:]
    args = build_parser().parse_args(args_list)

    from . import Simulator

    sim = Simulator(
        agents=args.agents,
        queues=args.queues,
        seed=args.seed,
        speed=args.speed,
        hold=args.hold,
        hold_ends=args.hold_ends,
        dynamics=False if args.no_dynamics else None,
        host=args.host,
        port=args.port,
        login=args.login,
        password=args.password,
        start_time=args.start_time,
        logged_in=not args.logged_out,
    )
    warning = exposure_warning(args.host, args.login, args.password)
    if warning is not None:
        print(warning, file=sys.stderr, flush=True)
    # SIGTERM (a service manager's stop) is Ctrl-C: either one stops the server
    # cleanly, held requests answered, and the exit status is 0.
    try:
        with sigterm_interrupts():
            try:
                sim.start()
            except RuntimeError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 1
            print(f"URL:   {sim.url}", flush=True)
            print(f"Token: {sim.token}", flush=True)
            print(
                f"Try:   curl '{sim.url}/api/4.1/RTUsersState/json?access_token={sim.token}'",
                flush=True,
            )
            threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        # Outside the block: a second signal during the stop gets the default
        # behaviour, which forces the way out of a stop that hangs.
        sim.stop()
    return 0
