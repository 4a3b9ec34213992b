"""Fault injection: make the simulated PBX slow, failing, rude or silent on purpose.

A :class:`Fault` says *what* goes wrong and *when*:

- ``latency``: answer *seconds* late (combines with the others).
- ``status``: answer HTTP *status* (500, 502, 503, 429, ...) with a short HTML body,
  and ``Retry-After`` when *retry_after* is set.
- ``reset``: close the connection without an answer. Under the simulator's own uvicorn
  server the socket is aborted with ``SO_LINGER`` 0, so the client sees a reset (for
  httpx: ``httpx.ReadError``/``RemoteProtocolError``). Served in memory through
  ``httpx.ASGITransport`` there is no socket: the app raises ``httpx.ReadError``, which
  the transport hands to the client.
- ``garbage``: answer 200 with a broken body: ``html`` (an error page), ``truncated``
  (the real JSON answer cut in half) or ``wrong_shape`` (valid JSON, not the envelope).
- ``hang``: send nothing until the client gives up, the fault's *duration* ends (the
  request then gets its normal answer) or the simulator stops.

Each fault applies to a share of requests (*probability*, drawn from a seeded RNG),
for a *duration* (real seconds from when it is added), and/or a *count* of hits,
optionally only for some *actions* and/or some *users*: the agent logins a request names
in its ``user`` parameter (``RTUserState?user=hajek``, ``PauseOn``, ...). A fault limited
to users never hits a request without a ``user`` parameter, such as ``RTUsersState`` or
``RTUserState?extension=...``, so one agent's requests can fail while the others' answer.
Requests that a fault's filters skip draw nothing from the RNG: adding a filtered fault
does not change which requests an unfiltered one hits. Control endpoints (``/_sim/...``)
are never faulted.
"""

from __future__ import annotations

import itertools
import math
import random
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from .._errors import DaktelaUsageError

__all__ = ["Fault", "FaultKind", "FaultPlan", "GarbageKind"]

#: What a fault does (see the module docstring).
FaultKind = Literal["latency", "status", "reset", "garbage", "hang"]

#: The broken bodies a ``garbage`` fault sends.
GarbageKind = Literal["html", "truncated", "wrong_shape"]

_KINDS: Final = ("latency", "status", "reset", "garbage", "hang")
_GARBAGE: Final = ("html", "truncated", "wrong_shape")


@dataclass(slots=True)
class Fault:
    """One injected fault.

    Attributes:
        kind: What happens (:data:`FaultKind`).
        seconds: Added delay, for ``latency``.
        status: HTTP status code, for ``status``.
        retry_after: ``Retry-After`` seconds sent with a ``status`` fault.
        garbage: Which broken body, for ``garbage`` (:data:`GarbageKind`).
        probability: Share of matching requests hit (0..1).
        duration: Real seconds the fault stays active after it is added (``None``:
            until removed or its count is used up).
        count: How many requests it hits before it retires (``None``: no limit).
        actions: Only requests for these actions (``None``: every action).
        users: Only requests whose ``user`` parameter is one of these agent logins
            (``None``: every request; a set never hits requests without ``user``). A
            single string is taken as one login, not as a set of letters.
        id: Set when added to a plan.
    """

    kind: FaultKind
    seconds: float = 0.0
    status: int = 503
    retry_after: float | None = None
    garbage: GarbageKind = "html"
    probability: float = 1.0
    duration: float | None = None
    count: int | None = None
    actions: frozenset[str] | None = None
    users: frozenset[str] | None = None
    id: int = 0
    expires: float | None = field(default=None, repr=False)
    hits: int = field(default=0, repr=False)
    removed: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise DaktelaUsageError(f"unknown fault kind {self.kind!r}")
        if self.garbage not in _GARBAGE:
            raise DaktelaUsageError(f"unknown garbage kind {self.garbage!r}")
        if not 0.0 <= self.probability <= 1.0:  # NaN too
            raise DaktelaUsageError("probability must be within 0..1")
        # NaN or infinity here would break every request the fault hits (a sleep of
        # NaN seconds, int(inf) for Retry-After), not just the one that added it.
        for name in ("seconds", "duration", "retry_after"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise DaktelaUsageError(f"{name} must be a finite number >= 0, not {value!r}")
        if self.kind == "status" and not 100 <= self.status <= 599:
            raise DaktelaUsageError("status must be an HTTP status code")
        if self.count is not None and self.count < 0:
            raise DaktelaUsageError("count must be >= 0")
        if self.actions is not None:
            # Callers pass any collection of names; keep an immutable set.
            self.actions = frozenset(self.actions)
        self.users = _logins(self.users)

    @classmethod
    def from_json(cls, data: Any) -> Fault:
        """Build a fault from the JSON of ``POST /_sim/faults``.

        Keys are the attribute names; ``share`` is accepted for ``probability``,
        ``code`` for ``status`` and ``garbage_kind`` for ``garbage``. ``actions`` and
        ``users`` take one name or a list of names. Numbers are JSON numbers or strings
        of them (``status`` and ``count`` whole ones), finite; names are strings.

        Raises:
            ValueError: Not an object, an unknown key, or a value of the wrong type
                or out of range.
        """
        if not isinstance(data, dict):
            raise DaktelaUsageError(f"a fault must be a JSON object, not {type(data).__name__}")
        known = {
            "kind",
            "seconds",
            "status",
            "retry_after",
            "garbage",
            "probability",
            "duration",
            "count",
            "actions",
            "users",
        }
        aliases = {"share": "probability", "code": "status", "garbage_kind": "garbage"}
        args: dict[str, Any] = {}
        for key, value in data.items():
            name = aliases.get(key, key)
            if name not in known:
                raise DaktelaUsageError(f"unknown fault field {key!r}")
            args[name] = value
        if "kind" not in args:
            raise DaktelaUsageError("a fault needs a kind")
        for name in ("kind", "garbage"):
            if name in args and not isinstance(args[name], str):
                raise DaktelaUsageError(f"{name} must be a string")
        if "actions" in args and args["actions"] is not None:
            actions = args["actions"]
            if isinstance(actions, str):
                actions = [actions]
            if not isinstance(actions, list) or not all(isinstance(a, str) for a in actions):
                raise DaktelaUsageError("actions must be an action's name or a list of names")
            args["actions"] = frozenset(actions)
        if "users" in args and args["users"] is not None:
            users = args["users"]
            if isinstance(users, str):
                users = [users]
            elif not isinstance(users, list) or not all(isinstance(u, str) for u in users):
                # A JSON object would iterate as its keys; a number not at all.
                raise DaktelaUsageError("users must be a login or a list of logins")
            args["users"] = frozenset(users)
        for name in ("seconds", "probability", "duration", "retry_after"):
            if args.get(name) is not None:
                args[name] = _json_number(name, args[name])
        for name in ("status", "count"):
            if args.get(name) is not None:
                number = _json_number(name, args[name])
                if not number.is_integer():
                    raise DaktelaUsageError(f"{name} must be a whole number")
                args[name] = int(number)
        return cls(**args)

    def to_json(self) -> dict[str, Any]:
        """The fault as ``GET /_sim/faults`` lists it."""
        return {
            "id": self.id,
            "kind": self.kind,
            "seconds": self.seconds,
            "status": self.status,
            "retry_after": self.retry_after,
            "garbage": self.garbage,
            "probability": self.probability,
            "duration": self.duration,
            "count": self.count,
            "actions": sorted(self.actions) if self.actions is not None else None,
            "users": sorted(self.users) if self.users is not None else None,
            "hits": self.hits,
        }


def _json_number(name: str, value: Any) -> float:
    """*value*, a number from JSON (or a string of one, ``"0.5"``), as a finite float.

    Raises:
        ValueError: Not a number (a boolean neither: JSON's ``true`` is no number), or
            NaN or infinity (``1e400`` parses as infinity).
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise DaktelaUsageError(f"{name} must be a number")
    try:
        number = float(value)
    except ValueError:
        raise DaktelaUsageError(f"{name} must be a number, not {value!r}") from None
    except OverflowError:  # an integer too large for a float
        number = math.inf
    if not math.isfinite(number):
        raise DaktelaUsageError(f"{name} must be a finite number")
    return number


def _logins(users: Iterable[str] | None) -> frozenset[str] | None:
    """*users* as an immutable set of logins, validated; ``None`` stays ``None``.

    Raises:
        ValueError: A login that is not a non-empty string, or no login at all.
    """
    if users is None:
        return None
    # A bare string is an iterable of letters: "hajek" would match no agent at all.
    found = frozenset([users] if isinstance(users, str) else users)
    for login in found:
        if not isinstance(login, str) or not login:
            raise DaktelaUsageError(f"users must be agent logins, not {login!r}")
    if not found:
        raise DaktelaUsageError("users must name at least one login (None: every request)")
    return found


class FaultPlan:
    """The active faults of one simulator; safe to change from any thread.

    Args:
        seed: Seeds the draws of ``probability``, so a run is repeatable.
        clock: Real time for ``duration`` (monotonic seconds).
    """

    def __init__(self, seed: int = 1, *, clock: Any = time.monotonic) -> None:
        self._faults: list[Fault] = []
        self._rng = random.Random(seed)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._clock = clock

    def add(self, fault: Fault) -> Fault:
        """Activate *fault* (its duration starts now); returns it with its id."""
        with self._lock:
            fault.id = next(self._ids)
            fault.hits = 0
            fault.expires = None if fault.duration is None else self._clock() + fault.duration
            self._faults.append(fault)
        return fault

    def remove(self, fault_id: int | None = None) -> int:
        """Remove one fault by id, or all of them; returns how many were removed."""
        with self._lock:
            gone = [f for f in self._faults if fault_id is None or f.id == fault_id]
            for fault in gone:
                fault.removed = True
            self._faults = [f for f in self._faults if not f.removed]
            return len(gone)

    def active(self) -> list[Fault]:
        """The faults still in force."""
        with self._lock:
            self._expire()
            return list(self._faults)

    def hang_over(self, fault: Fault) -> bool:
        """Whether a request held by the ``hang`` *fault* may go on.

        True once the fault was removed or its duration ended (a used-up *count* does
        not release the requests it holds).
        """
        return fault.removed or (fault.expires is not None and self._clock() >= fault.expires)

    def _expire(self) -> None:
        now = self._clock()
        self._faults = [
            f
            for f in self._faults
            if (f.expires is None or f.expires > now) and (f.count is None or f.hits < f.count)
        ]

    def pick(self, action: str, user: str | None = None) -> list[Fault]:
        """The faults that hit one request (counting the hits).

        Args:
            action: The request's action.
            user: The request's ``user`` parameter (an agent login), ``None`` when it
                has none; faults limited to users hit only their users' requests.

        Returns:
            The faults in force that match the request and won their probability draw.
        """
        if not self._faults:
            return []
        with self._lock:
            self._expire()
            hit = []
            for fault in self._faults:
                if fault.actions is not None and action not in fault.actions:
                    continue
                # Filters come before the draw, so requests a fault cannot hit do not
                # shift the seeded stream that decides the others.
                if fault.users is not None and user not in fault.users:
                    continue
                if fault.probability < 1.0 and self._rng.random() >= fault.probability:
                    continue
                fault.hits += 1
                hit.append(fault)
            return hit
