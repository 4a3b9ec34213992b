"""``daktela-async watch``: print the watcher's events as they come.

One line per event, readable by default; with ``--jsonl`` one JSON object per line, as
:meth:`Event.to_json() <daktela_async.realtime.Event.to_json>` writes it (``kind``,
``seq``, ``time``, then the event's fields, models in the server's JSON shape; read a line
back with :meth:`Event.from_dict() <daktela_async.realtime.Event.from_dict>`), flushed
after each line so that ``| jq`` and log shippers see events at once. The lines are
compact (no per-queue ``options`` in agent states); ``--full`` keeps everything.

``--redis URL`` also publishes the events through a
:class:`~daktela_async.redis.RedisSink`; ``--from-redis URL --name NAME`` prints what a
sink wrote instead, read with a :class:`~daktela_async.redis.RedisSource` (the current
state first, then the stream), without contacting the PBX.

``--metrics-port N`` also serves Prometheus metrics on ``/metrics`` and a health check on
``/healthz`` (:class:`~daktela_async.metrics.WatcherMetrics`), on loopback unless
``--metrics-host`` says otherwise; requests must name this host (or an ``--allow-host``).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import socket
import sys
from collections.abc import AsyncIterator
from typing import Any, Final, TextIO

import anyio

from .._client import DaktelaClient
from .._cmdline._signals import run as run_until_stopped
from .._cmdline._signals import until_stopped
from .._errors import DaktelaUsageError
from ..realtime import (
    STATS_SOURCES,
    AgentCallEnded,
    AgentCallStarted,
    AgentStateChanged,
    CallChanged,
    Event,
    EventsDropped,
    PauseStatsChanged,
    QueueLoginChanged,
    QueuesSummaryChanged,
    QueueStatsChanged,
    SessionChanged,
    SourceFailed,
    SourceRecovered,
    Watcher,
)
from ._redis import check_redis_name, check_redis_url, connect, redact_url, redis_failure
from ._serve import add_allow_host_argument, exposure_warning, open_socket
from ._settings import (
    CLIError,
    add_connection_arguments,
    check_connection,
    open_client,
    resolve_connection,
    split_csv,
)
from ._view import every_user, fetch_titles, logged_in_agents

__all__ = ["EVENT_KINDS", "add_parser", "event_to_dict", "format_event", "run"]

_EVENT_TYPES: Final[tuple[type[Event], ...]] = (
    AgentStateChanged,
    AgentCallStarted,
    AgentCallEnded,
    QueueLoginChanged,
    QueueStatsChanged,
    QueuesSummaryChanged,
    SessionChanged,
    CallChanged,
    PauseStatsChanged,
    SourceFailed,
    SourceRecovered,
    EventsDropped,
)

#: The ``kind`` of every event, as ``--kind`` and the JSON lines name them.
EVENT_KINDS: Final = tuple(cls.kind for cls in _EVENT_TYPES)

#: What the PBX answers ``RTUserState`` for a login no user has (a wrong token gets the
#: same text: :func:`check_connection` tells the two apart).
_NO_SUCH_USER: Final = "Uživatel neexistuje"
#: The events that carry each watched agent's first answer, whatever ``--kind`` prints.
_FIRST_ANSWER_KINDS: Final = (AgentStateChanged.kind, SourceFailed.kind)
#: Logins named in the message about missing agents; the rest are counted.
_NAMED_LOGINS: Final = 10


def event_to_dict(event: Event, *, full: bool = False) -> dict[str, Any]:
    """An event as ``--jsonl`` writes it: :meth:`Event.to_dict`, compact unless *full*.

    ``kind``, ``seq``, ``time``, then the event's own fields; models (``previous``,
    ``current``, ``call``...) take the server's JSON shape, so a line's ``current`` reads
    like an ``RTUserState`` answer (without each queue's ``options`` unless *full*).
    """
    return event.to_dict(full=full)


def _call_text(direction: str | None, number: str | None, name: str | None) -> str:
    who = number or "?"
    if name and name != number:
        who += f" ({name})"
    return f"{direction or '?'} {who}"


def _describe(event: Event) -> str:
    if isinstance(event, AgentStateChanged):
        state = str(event.current.agent_state)
        if event.current.id_pause is not None:
            state += f" (pause {event.current.id_pause})"
        before = "start" if event.previous is None else str(event.previous.agent_state)
        return f"{event.user}: {before} -> {state}"
    if isinstance(event, AgentCallStarted | AgentCallEnded):
        verb = "started" if isinstance(event, AgentCallStarted) else "ended"
        call = event.call
        return f"{event.user}: call {verb}, {_call_text(call.direction, call.clid, call.clid_name)}"
    if isinstance(event, QueueLoginChanged):
        return f"{event.user}: {'logged into' if event.logged else 'logged out of'} {event.queue}"
    if isinstance(event, QueueStatsChanged):
        row = event.current
        if row is None:
            return f"queue {event.queue}: gone"
        return (
            f"queue {event.queue}: ready {row.users_ready}, busy {row.users_busy}, "
            f"paused {row.users_pause}, waiting {row.calls_wait}"
        )
    if isinstance(event, QueuesSummaryChanged):
        s = event.current
        return f"all queues: ready {s.users_ready}, busy {s.users_busy}, waiting {s.calls_wait}"
    if isinstance(event, SessionChanged):
        if event.current is None:
            return f"session of agent {event.agent}: ended"
        return f"session of agent {event.agent}: {event.current.state}"
    if isinstance(event, CallChanged):
        if event.current is None:
            return f"call {event.call}: ended"
        c = event.current
        return f"call {event.call}: {c.state}, {_call_text(c.direction, c.clid, None)}"
    if isinstance(event, PauseStatsChanged):
        count = 0 if event.current is None else event.current.count
        return f"pause {event.pause}: {count} agents"
    if isinstance(event, SourceFailed):
        retry = "stopped" if event.retry_in is None else f"retry in {event.retry_in:.1f} s"
        return f"{event.source} failing ({retry}): {event.error}"
    if isinstance(event, SourceRecovered):
        return f"{event.source} recovered after {event.outage:.1f} s"
    if isinstance(event, EventsDropped):
        return f"{event.missed} events dropped (this output fell behind)"
    return event.kind


def format_event(event: Event) -> str:
    """One readable line: local time, ``seq``, kind and what changed."""
    when = event.time.astimezone().strftime("%H:%M:%S")
    return f"{when} #{event.seq:<5} {event.kind:<16} {_describe(event)}"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``watch`` command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "watch",
        help="print live agent and statistics events",
        description="Watch agents (RTUserState long polls) and realtime statistics; "
        "print one line per event until Ctrl-C (or --duration).",
    )
    parser.add_argument(
        "--user",
        action="append",
        metavar="LOGIN",
        dest="users",
        help="agent login to watch (repeat, or separate with commas)",
    )
    parser.add_argument("--all-users", action="store_true", help="watch every agent logged in now")
    parser.add_argument(
        "--stats",
        action="append",
        metavar="NAMES",
        help=f"statistics to poll, comma-separated: {', '.join(STATS_SOURCES)}",
    )
    parser.add_argument(
        "--stats-interval", type=float, default=2.0, metavar="S", help="seconds between polls (2)"
    )
    parser.add_argument(
        "--kind",
        action="append",
        metavar="KIND",
        dest="kinds",
        help=f"print only these event kinds: {', '.join(EVENT_KINDS)}",
    )
    parser.add_argument("--jsonl", action="store_true", help="one JSON object per line")
    parser.add_argument(
        "--full",
        action="store_true",
        help="with --jsonl: keep every detail (each queue's options in agent states)",
    )
    parser.add_argument(
        "--duration", type=float, metavar="S", help="stop after S seconds (default: Ctrl-C)"
    )
    parser.add_argument("--count", type=int, metavar="N", help="stop after N events")
    redis = parser.add_argument_group(
        "redis", "Publish the events to Redis, or read them from there instead of the PBX."
    )
    redis.add_argument(
        "--redis",
        metavar="URL",
        help="also write the events and state through a RedisSink (redis://HOST:PORT/DB)",
    )
    redis.add_argument(
        "--from-redis",
        metavar="URL",
        help="print what a sink wrote to this Redis, not the PBX's events (needs --name; "
        "no PBX settings)",
    )
    redis.add_argument(
        "--fleet",
        action="store_true",
        help="with --redis: share the agents with the other members of the fleet (run every "
        "member with the same --user/--all-users, --stats and --shards); each agent is "
        "polled by one live member",
    )
    redis.add_argument(
        "--shards", type=int, default=64, metavar="N", help="with --fleet: agent shards (64)"
    )
    redis.add_argument(
        "--lease-ttl",
        type=float,
        default=3.0,
        metavar="S",
        help="with --fleet: seconds a dead member's agents wait for another (3)",
    )
    redis.add_argument("--member", metavar="ID", help="with --fleet: this member's id")
    redis.add_argument(
        "--name",
        help="the PBX's name in the Redis keys (with --redis: the PBX's host by default)",
    )
    metrics = parser.add_argument_group(
        "metrics", "Serve Prometheus metrics (/metrics) and a health check (/healthz)."
    )
    metrics.add_argument(
        "--metrics-port",
        type=int,
        metavar="N",
        help="serve /metrics and /healthz on this port (0: a free one, printed on stderr)",
    )
    metrics.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        metavar="HOST",
        help="interface the metrics are served on (127.0.0.1)",
    )
    add_allow_host_argument(metrics, what="the metrics", host_flag="--metrics-host")
    add_connection_arguments(parser)
    parser.set_defaults(handler=run)
    return parser


def _common_options(args: argparse.Namespace) -> list[str] | None:
    """``--kind``, ``--duration``, ``--count`` and the Redis options, checked."""
    kinds = split_csv(args.kinds) or None
    bad = [k for k in kinds or () if k not in EVENT_KINDS]
    if bad:
        raise CLIError(
            f"unknown --kind {', '.join(bad)}; choose from {', '.join(EVENT_KINDS)}", exit_code=2
        )
    if args.duration is not None and not args.duration > 0:
        raise CLIError("--duration must be a positive number of seconds", exit_code=2)
    if args.count is not None and args.count < 1:
        raise CLIError("--count must be at least 1", exit_code=2)
    if args.full and not args.jsonl:
        raise CLIError("--full goes with --jsonl", exit_code=2)
    if args.redis is not None:
        check_redis_url(args.redis, "--redis")
    if args.from_redis is not None:
        check_redis_url(args.from_redis, "--from-redis")
        if args.redis is not None:
            raise CLIError("--redis and --from-redis do not go together", exit_code=2)
        if not args.name:
            raise CLIError("--from-redis needs --name (the PBX's name in the keys)", exit_code=2)
        if args.users or args.all_users or args.stats or args.fleet:
            raise CLIError(
                "--from-redis prints what the sink watches: --user, --all-users, --stats "
                "and --fleet do not apply",
                exit_code=2,
            )
    elif args.fleet and args.redis is None:
        raise CLIError("--fleet needs --redis (the fleet meets there)", exit_code=2)
    elif args.fleet and args.shards < 1:
        raise CLIError("--shards must be at least 1", exit_code=2)
    elif args.fleet and not 0 < args.lease_ttl < math.inf:
        raise CLIError("--lease-ttl must be a positive number of seconds", exit_code=2)
    elif args.name is not None and args.redis is None:
        raise CLIError("--name goes with --redis or --from-redis", exit_code=2)
    if args.name is not None:
        check_redis_name(args.name)
    return kinds


def _intervals(stats: list[str], every: float) -> dict[str, float]:
    """``--stats-interval`` for the live tables; ``today`` (a paged report) keeps its own."""
    return {name: every for name in stats if name != "today"}


def _options(args: argparse.Namespace) -> tuple[list[str], list[str], list[str] | None]:
    kinds = _common_options(args)
    users = split_csv(args.users)
    stats = split_csv(args.stats)
    unknown = [s for s in stats if s not in STATS_SOURCES]
    if unknown:
        raise CLIError(
            f"unknown --stats {', '.join(unknown)}; choose from {', '.join(STATS_SOURCES)}",
            exit_code=2,
        )
    if not args.stats_interval > 0:
        raise CLIError("--stats-interval must be a positive number of seconds", exit_code=2)
    if not users and not stats and not args.all_users:
        raise CLIError(
            "nothing to watch: pass --user LOGIN, --all-users or --stats NAMES", exit_code=2
        )
    return users, stats, kinds


class _FirstAnswers:
    """Which watched agents do not exist, from each one's first answer.

    A watcher's first ``RTUserState`` per agent has no ``hash``, so the PBX answers it at
    once: with the agent's state (``agent_state``), or with a status 0 (``source_failed``
    of ``agent:LOGIN``). A logged-out agent's status 0 says so ("Agent není přihlášen do
    Call Centra"); an unknown login's says :data:`_NO_SUCH_USER`.
    """

    def __init__(self, users: list[str]) -> None:
        self._waiting = set(users)
        self.unknown: list[str] = []

    def see(self, event: Event) -> bool:
        """Take *event* in; ``True`` once: when the last watched agent has answered."""
        if not self._waiting:
            return False
        if isinstance(event, AgentStateChanged):
            user = event.user
        elif isinstance(event, SourceFailed) and event.source.startswith("agent:"):
            user = event.source.removeprefix("agent:")
            unknown = event.error_type == "DaktelaAPIError" and _NO_SUCH_USER in event.error
            if unknown and user in self._waiting:
                self.unknown.append(user)
        else:
            return False
        self._waiting.discard(user)
        return not self._waiting


def _logins_text(logins: list[str]) -> str:
    named = ", ".join(logins[:_NAMED_LOGINS])
    more = len(logins) - _NAMED_LOGINS
    return named + (f" and {more} more" if more > 0 else "")


async def _check_agents_exist(
    unknown: list[str], users: list[str], stats: list[str], client: DaktelaClient, err: TextIO
) -> None:
    """Stop when no watched agent exists and nothing else is watched; else warn once.

    Raises:
        CLIError: Every watched agent is unknown and no statistics are polled (or the
            token was refused meanwhile, which gets the same answer).
    """
    if not unknown:
        return
    where = f"on the PBX at {client.base_url}"
    why = f"RTUserState answers {_NO_SUCH_USER!r}"
    if len(users) == 1:
        what = f"the watched agent {users[0]!r} does not exist {where} ({why})"
    elif len(unknown) == len(users):
        what = f"none of the {len(users)} watched agents exists {where}: "
        what += f"{_logins_text(unknown)} ({why})"
    else:
        what = f"{len(unknown)} of the {len(users)} watched agents do not exist {where}: "
        what += f"{_logins_text(unknown)} ({why})"
    if len(unknown) == len(users) and not stats:
        await check_connection(client)  # a refused token answers the same: say that instead
        raise CLIError(f"{what}; check the --user logins")
    print(f"warning: {what}", file=err, flush=True)


def _line(event: Event, args: argparse.Namespace) -> str:
    if args.jsonl:
        return event.to_json(full=args.full)
    return format_event(event)


def _check_metrics_options(args: argparse.Namespace) -> None:
    """``--metrics-port``, ``--metrics-host`` and ``--allow-host``, checked."""
    if args.metrics_port is None:
        if args.allow_hosts or args.metrics_host != "127.0.0.1":
            raise CLIError("--metrics-host and --allow-host go with --metrics-port", exit_code=2)
        return
    if args.from_redis is not None:
        raise CLIError("--metrics-port watches the PBX: not with --from-redis", exit_code=2)
    if not 0 <= args.metrics_port <= 65535:
        raise CLIError("--metrics-port must be between 0 and 65535", exit_code=2)


@contextlib.asynccontextmanager
async def _serve_metrics(
    args: argparse.Namespace,
    sock: socket.socket,
    watcher: Watcher,
    client: DaktelaClient,
    err: TextIO,
) -> AsyncIterator[None]:
    """Serve ``/metrics`` and ``/healthz`` of *watcher* on *sock* (``--metrics-port``)."""
    from .._metrics import WatcherMetrics
    from ._dashboard import serve_metrics

    queues, _ = await fetch_titles(client)
    metrics = WatcherMetrics(watcher, queue_titles=queues)
    hosts = [args.metrics_host, *split_csv(args.allow_hosts)]
    async with serve_metrics(metrics, sock, allowed_hosts=hosts) as url:
        if exposure_warning(args.metrics_host) is not None:
            print(
                f"warning: serving metrics on {args.metrics_host}: whoever can reach it sees "
                "agents' logins and states; requests must name this address or an --allow-host",
                file=err,
                flush=True,
            )
        print(f"metrics: {url}metrics (health: {url}healthz)", file=err, flush=True)
        yield


async def _watch(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    _check_metrics_options(args)
    if args.from_redis is not None:
        return await _watch_redis(args, out, err)
    users, stats, kinds = _options(args)
    connection = resolve_connection(args)
    async with open_client(connection) as client:
        await check_connection(client)
        if args.all_users:
            # A fleet's members must agree on the agents: every user, not who is in now.
            found = await (every_user(client) if args.fleet else logged_in_agents(client))
            users = list(dict.fromkeys(users + found))
            if not users and not stats:
                raise CLIError("nobody is logged in, and no --stats to poll")
        try:
            if args.fleet:
                from ..redis import RedisFleet

                fleet = RedisFleet(
                    args.redis,
                    client,
                    users=users,
                    stats=stats,
                    stats_interval=_intervals(stats, args.stats_interval),
                    name=args.name,
                    member=args.member,
                    shards=args.shards,
                    lease_ttl=args.lease_ttl,
                )
                watcher = fleet.watcher
            else:
                watcher = client.watch(
                    users, stats=stats, stats_interval=_intervals(stats, args.stats_interval)
                )
        except DaktelaUsageError as exc:
            raise CLIError(str(exc), exit_code=2) from None
        what = [f"{len(users)} agents"] if users else []
        what += [f"{', '.join(stats)} statistics"] if stats else []
        print(f"watching {' and '.join(what)} at {client.base_url}", file=err, flush=True)
        sink: Any = None
        try:
            async with contextlib.AsyncExitStack() as stack:
                metrics_sock = None
                if args.metrics_port is not None:  # bound first: a taken port fails at once
                    metrics_sock = stack.enter_context(
                        open_socket(args.metrics_host, args.metrics_port)[0]
                    )
                if args.fleet:
                    await stack.enter_async_context(connect(args.redis))  # fails fast if down
                    await stack.enter_async_context(fleet)
                    sink = fleet
                    print(
                        f"member {fleet.member} of the fleet {fleet.keys.prefix} at "
                        f"{redact_url(args.redis)}: polling {len(fleet.polled)} of "
                        f"{len(users)} agents{' and the stats' * fleet.stats().stats_owner}",
                        file=err,
                        flush=True,
                    )
                elif args.redis is not None:
                    from ..redis import RedisSink

                    redis = await stack.enter_async_context(connect(args.redis))
                    await stack.enter_async_context(watcher)
                    # Left before the watcher: the sink writes what it still buffers.
                    sink = await stack.enter_async_context(
                        RedisSink(redis, watcher, name=args.name)
                    )
                    print(
                        f"publishing to {sink.keys.prefix} at {redact_url(args.redis)}",
                        file=err,
                        flush=True,
                    )
                else:
                    await stack.enter_async_context(watcher)
                if metrics_sock is not None:
                    await stack.enter_async_context(
                        _serve_metrics(args, metrics_sock, watcher, client, err)
                    )
                # A fleet member polls only its share: which agents exist is not its to say.
                first = _FirstAnswers(users) if users and not args.fleet else None
                wanted = kinds
                if kinds is not None and first is not None:
                    wanted = list(dict.fromkeys([*kinds, *_FIRST_ANSWER_KINDS]))
                events = await stack.enter_async_context(
                    watcher.subscribe(kinds=wanted, maxsize=10_000, name="cli")
                )
                # SIGTERM and Ctrl-C end this loop only: the watcher and client then close.
                duration = math.inf if args.duration is None else args.duration
                with until_stopped(), anyio.move_on_after(duration):
                    seen = 0
                    async for event in events:
                        if kinds is None or event.kind in kinds:
                            seen += 1
                            out.write(_line(event, args) + "\n")
                            out.flush()
                        if first is not None and first.see(event):
                            await _check_agents_exist(first.unknown, users, stats, client, err)
                        if (
                            isinstance(event, SourceFailed)
                            and event.stopped
                            and watcher.failure is not None
                        ):
                            raise CLIError(f"the PBX stopped the watch: {event.error}")
                        if args.count is not None and seen >= args.count:
                            break
        finally:
            if sink is not None:
                totals = sink.stats().sink if args.fleet else sink.stats()
                if totals.dropped or totals.failures:
                    last = f"; last error: {totals.last_error}" if totals.last_error else ""
                    print(
                        f"redis: {totals.written} events written, {totals.dropped} dropped, "
                        f"{totals.failures} failed calls{last}",
                        file=err,
                        flush=True,
                    )
    return 0


async def _watch_redis(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``watch --from-redis``: print what a sink wrote, as ``watch`` prints events."""
    from redis.exceptions import RedisError

    from ..redis import RedisSource

    kinds = _common_options(args)
    url: str = args.from_redis
    async with connect(url) as redis:
        source = RedisSource(redis, name=args.name)
        print(f"reading {source.keys.prefix} at {redact_url(url)}", file=err, flush=True)
        duration = math.inf if args.duration is None else args.duration
        try:
            async with source:
                with until_stopped(), anyio.move_on_after(duration):
                    seen = 0
                    async for event in source:
                        if kinds is not None and event.kind not in kinds:
                            continue
                        seen += 1
                        out.write(_line(event, args) + "\n")
                        out.flush()
                        if args.count is not None and seen >= args.count:
                            break
        except (RedisError, OSError) as exc:
            if isinstance(exc, BrokenPipeError):
                raise  # the reader went away (| head), not Redis
            raise redis_failure(url, exc) from None
    return 0


def run(args: argparse.Namespace) -> int:
    """Run ``watch`` with parsed arguments; returns the exit status."""
    return run_until_stopped(_watch, args, sys.stdout, sys.stderr) or 0
