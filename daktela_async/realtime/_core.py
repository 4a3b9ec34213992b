"""What the watcher's parts share: checked settings, the sources, and the way to stop.

Every setting is checked here, when :meth:`DaktelaClient.watch` is called, so a typo or a
client too old for ``RTUserState`` is a :class:`DaktelaUsageError` before any request.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Final

import attrs

from .._actions import ACTIONS
from .._config import STATS_INTERVAL, TOKEN_CHECK_GAP, Timeouts
from .._errors import DaktelaError, DaktelaUsageError, DaktelaVersionError
from .._hub import Hub
from .._transport._request import version_key
from ._health import Backoff, Source, Verdict
from ._today import TODAY_INTERVAL, check_threshold

if TYPE_CHECKING:
    from .._client import DaktelaClient

__all__ = [
    "DEFAULT_INTERVALS",
    "STATS_SOURCES",
    "Core",
    "Settings",
    "check_logins",
    "check_version",
]

#: Stats names accepted by ``watch(stats=...)`` and the action each one polls
#: (``today``: the day's figures per queue, counted from ``StatsCalls``).
STATS_SOURCES: Final = {
    "queues": "RTStatsQueues",
    "sessions": "RTStatsSessions",
    "calls": "RTStatsCalls",
    "pauses": "RTStatsPauses",
    "summary": "RTStatsQueuesSummary",
    "today": "StatsCalls",
}

#: Seconds between polls of a stats name when ``stats_interval`` does not say: the
#: ``RTStats*`` tables are live views; ``today`` pages through the day's history.
DEFAULT_INTERVALS: Final[Mapping[str, float]] = {"today": TODAY_INTERVAL}


def check_logins(users: object, parameter: str = "users", noun: str = "logins") -> list[str]:
    """*users* as a list of distinct logins (or other *noun*), or a :class:`DaktelaUsageError`.

    A single string is refused: iterating ``"hajek"`` would watch ``h``, ``a``, ``j``...
    """
    if isinstance(users, str | bytes):
        raise DaktelaUsageError(
            f"{parameter} must be a list of {noun}, not one string: write {parameter}=[{users!r}]",
            parameter=parameter,
        )
    if not isinstance(users, Iterable):
        raise DaktelaUsageError(
            f"{parameter} must be an iterable of {noun}, not {type(users).__name__}",
            parameter=parameter,
        )
    logins = list(users)
    for login in logins:
        if not isinstance(login, str) or not login.strip():
            raise DaktelaUsageError(
                f"{parameter} must hold non-empty strings, found {login!r}", parameter=parameter
            )
    return list(dict.fromkeys(logins))


def check_version(client: DaktelaClient, action: str, what: str) -> None:
    """Raise :class:`DaktelaVersionError` when *action* is newer than the client's version."""
    required = ACTIONS[action].version
    if version_key(client.api_version) < version_key(required):
        raise DaktelaVersionError(
            f"{what} needs {action}, which the API has from version {required}; "
            f"this client is at api_version={client.api_version!r}",
            action=action,
            required=required,
            configured=client.api_version,
        )


def _known_stats(names: Iterable[object], parameter: str) -> None:
    unknown = [name for name in names if name not in STATS_SOURCES]
    if unknown:
        raise DaktelaUsageError(
            f"unknown stats {', '.join(map(repr, unknown))}; "
            f"choose from {', '.join(STATS_SOURCES)}",
            parameter=parameter,
        )


def _seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DaktelaUsageError(
            f"{name} must be a number of seconds, not {type(value).__name__}", parameter=name
        )
    if not (math.isfinite(value) and value > 0):
        raise DaktelaUsageError(
            f"{name} must be a positive, finite number of seconds, not {value!r}",
            parameter=name,
        )
    return float(value)


@attrs.frozen(slots=True, kw_only=True)
class Settings:
    """The watcher's checked settings (see :class:`Watcher` for each)."""

    stats: tuple[str, ...]
    stats_intervals: Mapping[str, float]
    poll_interval: float
    long_poll: Timeouts
    probe: Timeouts
    backoff: Backoff
    probe_backoff: Backoff
    min_unchanged_gap: float
    check_token: bool
    canary_interval: float | None
    token_check_gap: float
    resync_concurrency: int
    service_level_threshold: float

    @classmethod
    def build(
        cls,
        client: DaktelaClient,
        users: list[str],
        *,
        stats: object,
        stats_interval: object,
        poll_interval: object,
        long_poll_timeout: object,
        long_poll_deadline: object,
        backoff: object,
        probe_backoff: object,
        min_unchanged_gap: object,
        check_token: object,
        canary_interval: object,
        canary_timeout: object,
        resync_concurrency: object,
        service_level_threshold: object,
    ) -> Settings:
        """Check every setting against the client; raise :class:`DaktelaUsageError` early."""
        names = check_logins(stats, "stats", "stats names")
        _known_stats(names, "stats")
        if users:
            check_version(client, "RTUserState", "watching agents")
        for name in names:
            check_version(client, STATS_SOURCES[name], f"stats={name!r}")
        if stats_interval is None:
            intervals = {n: DEFAULT_INTERVALS.get(n, STATS_INTERVAL) for n in names}
        elif isinstance(stats_interval, Mapping):
            _known_stats(stats_interval, "stats_interval")
            intervals = {
                n: _seconds(
                    f"stats_interval[{n!r}]",
                    stats_interval.get(n, DEFAULT_INTERVALS.get(n, STATS_INTERVAL)),
                )
                for n in names
            }
        else:
            every = _seconds("stats_interval", stats_interval)
            intervals = dict.fromkeys(names, every)
        read = _seconds("long_poll_timeout", long_poll_timeout)
        deadline = max(_seconds("long_poll_deadline", long_poll_deadline), read)
        canary = None if canary_interval is None else _seconds("canary_interval", canary_interval)
        canary_read = _seconds("canary_timeout", canary_timeout)
        for name, value in (("backoff", backoff), ("probe_backoff", probe_backoff)):
            if value is not None and not isinstance(value, Backoff):
                raise DaktelaUsageError(
                    f"{name} must be a Backoff, not {type(value).__name__}", parameter=name
                )
        if (
            isinstance(resync_concurrency, bool)
            or not isinstance(resync_concurrency, int)
            or resync_concurrency < 1
        ):
            raise DaktelaUsageError(
                f"resync_concurrency must be a whole number >= 1, not {resync_concurrency!r}",
                parameter="resync_concurrency",
            )
        if not isinstance(check_token, bool):
            raise DaktelaUsageError("check_token must be True or False", parameter="check_token")
        base = client.timeouts
        return cls(
            stats=tuple(names),
            stats_intervals=intervals,
            poll_interval=_seconds("poll_interval", poll_interval),
            # Only the waiting for the answer grows for a held poll: connecting, writing
            # and waiting for a pooled connection keep the client's own limits.
            long_poll=attrs.evolve(base, read=read, deadline=deadline),
            # The deadline leaves room for waiting on the pool and connecting, so that a
            # full pool fails as a pool timeout (the client's congestion), not as a
            # silent PBX.
            probe=attrs.evolve(
                base,
                read=canary_read,
                deadline=canary_read + (base.pool or 0.0) + (base.connect or 0.0),
            ),
            backoff=backoff if isinstance(backoff, Backoff) else Backoff(),
            probe_backoff=probe_backoff if isinstance(probe_backoff, Backoff) else Backoff.probe(),
            min_unchanged_gap=_seconds("min_unchanged_gap", min_unchanged_gap),
            check_token=check_token,
            canary_interval=canary,
            token_check_gap=min(TOKEN_CHECK_GAP, canary or TOKEN_CHECK_GAP),
            resync_concurrency=resync_concurrency,
            service_level_threshold=check_threshold(
                service_level_threshold, "service_level_threshold"
            ),
        )


class Core:
    """The shared parts: client, settings, hub, sources, and the way to stop for good."""

    def __init__(
        self,
        client: DaktelaClient,
        settings: Settings,
        hub: Hub,
        stop: Callable[[DaktelaError, Verdict], None],
        suspect_token: Callable[[], None],
    ) -> None:
        self.client = client
        self.settings = settings
        self.hub = hub
        self.sources: dict[str, Source] = {}
        self._stop = stop
        self.suspect_token = suspect_token

    def source(self, name: str) -> Source:
        """The source called *name*, created on first use."""
        source = self.sources.get(name)
        if source is None:
            source = self.sources[name] = Source(name, self.hub)
        return source

    def stop(self, error: DaktelaError, verdict: Verdict) -> None:
        """Stop every source for good (``AUTH`` or ``USAGE``): *error* is final."""
        self._stop(error, verdict)
