"""Building requests: base URL checks, parameter checks, the API version of a call.

Parameter values are checked against the catalogue (:func:`check_params`) before
anything is encoded, for the typed methods and for ``DaktelaClient.call`` alike; the
command line's ``call`` adds the checks of names (:func:`check_all_params`).
"""

from __future__ import annotations

import datetime as dt
import difflib
import enum
import ipaddress
import math
import re
import types
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Final
from urllib.parse import quote

import httpx

from .._config import API_VERSIONS
from .._envelope import REDACTED, SecretLike, scrub
from .._errors import DaktelaUsageError, DaktelaVersionError
from .._spec import ActionSpec, ParamSpec
from ._query import format_bool, format_date, format_datetime

__all__ = [
    "REDACTED",
    "build_path",
    "check_all_params",
    "check_base_url",
    "check_params",
    "check_version",
    "pick_version",
    "version_key",
]

_ACTION_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*\Z")
_FORMATS: Final = ("json", "xml")


def version_key(version: str) -> tuple[int, ...]:
    """Sort key of a version string: ``"3.10"`` after ``"3.9"``."""
    return tuple(int(part) for part in version.split("."))


def check_version(version: str) -> str:
    """Return *version* when it is one the document describes, else raise a usage error."""
    if version not in API_VERSIONS:
        raise DaktelaUsageError(
            f"unknown API version {version!r}; expected one of {', '.join(API_VERSIONS)}",
            parameter="api_version",
        )
    return version


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_base_url(base_url: str, *, allow_insecure_http: bool) -> str:
    """Validate and normalise the PBX address to ``scheme://host[:port][/prefix]``.

    A trailing ``/api`` is dropped (the client adds it). Plain ``http://`` is accepted
    only for loopback hosts unless *allow_insecure_http*: the token is a password.
    """
    try:
        url = httpx.URL(base_url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise DaktelaUsageError(f"invalid base_url: {exc}", parameter="base_url") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise DaktelaUsageError(
            "base_url must be an absolute http(s) URL such as https://pbx.example.com",
            parameter="base_url",
        )
    if url.query or url.fragment or url.userinfo:
        raise DaktelaUsageError(
            "base_url must not carry a query, fragment or credentials", parameter="base_url"
        )
    if url.scheme == "http" and not allow_insecure_http and not _is_loopback(url.host):
        raise DaktelaUsageError(
            f"refusing plain http:// to {url.host}: the access token would travel in clear "
            "text; use https:// or pass allow_insecure_http=True",
            parameter="base_url",
        )
    path = url.path.rstrip("/")
    if path.endswith("/api"):
        path = path[: -len("/api")]
    host = f"[{url.host}]" if ":" in url.host else url.host
    port = f":{url.port}" if url.port is not None else ""
    return f"{url.scheme}://{host}{port}{path}"


def build_path(version: str, action: str, id: object, format: str) -> str:
    """Return ``/api/{version}/{action}/{id}/{format}`` (without the id when it is None).

    The id is percent-encoded as one path segment; an id made only of dots (``"."``,
    ``".."``) is sent as ``%2E`` so that it is not read as a dot segment.
    """
    if not _ACTION_NAME.match(action):
        raise DaktelaUsageError(f"invalid action name {action!r}", action=action)
    if format not in _FORMATS:
        raise DaktelaUsageError(
            f"format must be 'json' or 'xml', not {format!r}", action=action, parameter="format"
        )
    if id is None or id == "":
        return f"/api/{version}/{action}/{format}"
    segment = quote(str(id), safe="")
    if segment.strip(".") == "":
        # "." and ".." are dot segments: URL normalisation would climb out of the action
        # (GetQueues/../json reaches /api/3.0/json). Percent-encoded they stay an id.
        segment = segment.replace(".", "%2E")
    return f"/api/{version}/{action}/{segment}/{format}"


def pick_version(spec: ActionSpec, used: Iterable[str], api_version: str) -> str:
    """The API version to put in the URL of a call of *spec* using parameters *used*.

    It is the highest documented form of the action that takes every parameter used and
    is not newer than *api_version*: ``CreateCall`` with ``extension`` goes to 3.0 (the
    non call-centre form), with ``user`` to 3.1; ``RTUserState`` goes to 4.0 whenever the
    client allows it, so its answer carries the ``hash``.

    Raises:
        DaktelaVersionError: The action or a parameter needs a newer API.
        DaktelaUsageError: The parameters belong to forms of different versions.
    """
    configured = version_key(api_version)
    if version_key(spec.version) > configured:
        raise DaktelaVersionError(
            f"{spec.name} needs API version {spec.version}, but the client is configured "
            f"for {api_version}",
            action=spec.name,
            required=spec.version,
            configured=api_version,
        )
    low, high = version_key(spec.version), configured
    low_param: str | None = None
    high_param: str | None = None
    for name in used:
        param = spec.param(name)
        if param is None:
            continue
        if param.since is not None and version_key(param.since) > low:
            low, low_param = version_key(param.since), name
            if low > configured:
                raise DaktelaVersionError(
                    f"{spec.name}: parameter {name!r} needs API version {param.since}, but "
                    f"the client is configured for {api_version}",
                    action=spec.name,
                    parameter=name,
                    required=param.since,
                    configured=api_version,
                )
        if param.until is not None and version_key(param.until) < high:
            high, high_param = version_key(param.until), name
    if low > high:
        raise DaktelaUsageError(
            f"{spec.name}: parameters {low_param!r} and {high_param!r} belong to different "
            "forms of the action and cannot be combined",
            action=spec.name,
            parameter=high_param,
        )
    forms = {version_key(spec.version), *(version_key(f) for f in spec.forms)}
    forms.update(version_key(p.since) for p in spec.params if p.since is not None)
    # `low` is always a form (the action's own version or a parameter's `since`).
    best = max(f for f in forms if low <= f <= high)
    return ".".join(str(part) for part in best)


# --- parameter values against the catalogue ----------------------------------------------

#: One parameter's check: returns what to send (the value itself, or the document's
#: spelling of it), or raises :class:`DaktelaUsageError`.
_Check = Callable[[object], object]

_INTEGER: Final = re.compile(r"-?[0-9]+")
_DECIMAL: Final = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_DATETIME_TEXT: Final = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})"
)
_DATE_TEXT: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

#: Row offsets and counts: the document's "Row offset" and "Row count" (``skip``,
#: ``take``) cannot be negative.
_ROW_PARAMS: Final = frozenset({"skip", "take"})

#: Caps the document states in an action's description rather than in its parameter
#: list: "The maximum limit of returned calls is 1000, after exceeding returns an error"
#: (GetAttempts, StatsCalls). The other ``take`` parameters have no documented cap.
_DESCRIBED_MAXIMUM: Final[Mapping[tuple[str, str], int]] = types.MappingProxyType(
    {("GetAttempts", "take"): 1000, ("StatsCalls", "take"): 1000}
)

#: How each ``bool_format`` spells ``True`` and ``False``.
_BOOL_WORDS: Final[Mapping[str, tuple[str, str]]] = types.MappingProxyType(
    {"truefalse": ("true", "false"), "yesno": ("yes", "no"), "10": ("1", "0")}
)

#: Parameters the document spells both ways, and the other spelling: LastCallNumber's
#: ``answered`` is listed as "(true | false)", while its example sends ``answered=yes``.
_ALSO_SPELT: Final[Mapping[tuple[str, str], str]] = types.MappingProxyType(
    {("LastCallNumber", "answered"): "truefalse"}
)

#: Longest value quoted back in an error message; a longer one is described instead. Never
#: cut short: a cut token would escape redaction, which looks for the whole token.
_SHOWN_CHARS: Final = 64

#: Each action's checks by parameter name, built on the first call of the action: the
#: catalogue is read once, not on every request. Keyed by the spec's identity (the spec
#: is kept with its checks, so the id stays its own): one name can have several specs,
#: a section's own form of an action (``_actions.SECTION_FORMS``) or a test's.
_PLANS: dict[int, tuple[ActionSpec, Mapping[str, _Check]]] = {}

#: More specs than the catalogue has forms means specs made on the fly: start afresh
#: rather than grow without end.
_MAX_PLANS: Final = 1024


def _refuse(action: str, name: str, problem: str) -> DaktelaUsageError:
    return DaktelaUsageError(
        f"{action}: parameter {name!r} {problem}", action=action, parameter=name
    )


def _shown(value: object) -> str:
    """*value* for an error message: short scalars whole, anything else by its type."""
    if isinstance(value, str | int | float | enum.Enum):
        text = repr(value)
        if len(text) <= _SHOWN_CHARS:
            return text
        return f"a {type(value).__name__} of {len(str(value))} characters"
    return f"a {type(value).__name__}"


def _plain(value: object) -> object:
    return value.value if isinstance(value, enum.Enum) else value


def _is_scalar(value: object) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def _bounds(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f"between {low} and {high}"
    return f"at least {low}" if low is not None else f"at most {high}"


def _check_choice(action: str, name: str, choices: tuple[str, ...], value: object) -> None:
    raw = _plain(value)
    if not _is_scalar(raw) or str(raw) not in choices:
        raise _refuse(
            action, name, f"must be one of {', '.join(map(repr, choices))}, not {_shown(value)}"
        )


def _str_check(action: str, p: ParamSpec) -> _Check:
    def check(value: object) -> object:
        if isinstance(value, Mapping | list | tuple):
            raise _refuse(action, p.name, f"takes one value, not {_shown(value)}")
        if p.choices:
            _check_choice(action, p.name, p.choices, value)
        return value

    return check


def _int_check(action: str, p: ParamSpec) -> _Check:
    low = p.minimum
    if p.name in _ROW_PARAMS and (low is None or low < 0):
        low = 0
    high = _DESCRIBED_MAXIMUM.get((action, p.name), p.maximum)

    def check(value: object) -> object:
        raw = _plain(value)
        if isinstance(raw, bool) or not (
            isinstance(raw, int) or (isinstance(raw, str) and _INTEGER.fullmatch(raw))
        ):
            raise _refuse(action, p.name, f"must be an integer, not {_shown(value)}")
        if low is not None or high is not None:
            try:
                number = int(raw)
            except ValueError:  # more digits than int() reads: far out of any range
                raise _refuse(action, p.name, f"must be {_bounds(low, high)}") from None
            if (low is not None and number < low) or (high is not None and number > high):
                raise _refuse(action, p.name, f"must be {_bounds(low, high)}, not {_shown(number)}")
        if p.choices:
            _check_choice(action, p.name, p.choices, value)
        return value

    return check


def _float_check(action: str, p: ParamSpec) -> _Check:
    def check(value: object) -> object:
        raw = _plain(value)
        if isinstance(raw, bool) or not (
            (isinstance(raw, int | float) and math.isfinite(raw))
            or (isinstance(raw, str) and _DECIMAL.fullmatch(raw))
        ):
            raise _refuse(action, p.name, f"must be a number, not {_shown(value)}")
        return value

    return check


def _bool_check(action: str, p: ParamSpec) -> _Check:
    words = _BOOL_WORDS[p.bool_format]
    other = _ALSO_SPELT.get((action, p.name))
    spellings = words + (_BOOL_WORDS[other] if other is not None else ())
    accepted = frozenset(spellings)
    spelling = "/".join(map(repr, spellings))

    def check(value: object) -> object:
        if isinstance(value, bool):
            return format_bool(value, p.bool_format)
        raw = _plain(value)
        if isinstance(raw, str) and raw in accepted:
            return value
        raise _refuse(
            action,
            p.name,
            f"must be True or False (sent as {words[0]!r}/{words[1]!r}), or the text "
            f"{spelling}, not {_shown(value)}",
        )

    return check


def _datetime_check(action: str, p: ParamSpec) -> _Check:
    def check(value: object) -> object:
        if isinstance(value, dt.datetime):
            return format_datetime(value)
        if isinstance(value, dt.date):
            # A date alone means its midnight, as the typed methods have always sent it.
            return format_datetime(dt.datetime.combine(value, dt.time()))
        if isinstance(value, str):
            found = _DATETIME_TEXT.fullmatch(value)
            if found is None:
                raise _refuse(
                    action,
                    p.name,
                    f"must be a datetime or text in the form YYYY-MM-DD HH:MM:SS, not "
                    f"{_shown(value)}",
                )
            year, month, day, hour, minute, second = map(int, found.groups())
            try:
                # The form is right (the pattern); the constructor knows the calendar, at a
                # tenth of strptime's cost.
                dt.datetime(year, month, day, hour, minute, second)
            except ValueError:
                raise _refuse(
                    action, p.name, f"is not a real date and time: {_shown(value)}"
                ) from None
            return value
        raise _refuse(
            action,
            p.name,
            f"must be a datetime or text in the form YYYY-MM-DD HH:MM:SS, not {_shown(value)}",
        )

    return check


def _date_check(action: str, p: ParamSpec) -> _Check:
    def check(value: object) -> object:
        if isinstance(value, dt.datetime):
            # Dropping the time without a word could select the wrong day's rows.
            raise _refuse(
                action, p.name, "is a date: pass a datetime.date (value.date()), not a datetime"
            )
        if isinstance(value, dt.date):
            return format_date(value)
        if isinstance(value, str):
            found = _DATE_TEXT.fullmatch(value)
            if found is None:
                raise _refuse(
                    action,
                    p.name,
                    f"must be a date or text in the form YYYY-MM-DD, not {_shown(value)}",
                )
            try:
                dt.date.fromisoformat(value)
            except ValueError:
                raise _refuse(action, p.name, f"is not a real date: {_shown(value)}") from None
            return value
        raise _refuse(
            action, p.name, f"must be a date or text in the form YYYY-MM-DD, not {_shown(value)}"
        )

    return check


def _list_check(action: str, p: ParamSpec) -> _Check:
    def check(value: object) -> object:
        # One value is a one-element array: checked here, sent as given.
        items = value if isinstance(value, list | tuple) else (value,)
        for item in items:
            if not _is_scalar(_plain(item)):
                raise _refuse(
                    action, p.name, f"items must be strings or numbers, not {_shown(item)}"
                )
            if p.choices:
                _check_choice(action, p.name, p.choices, item)
        return value

    return check


def _dict_check(action: str, p: ParamSpec) -> _Check:
    def check(value: object) -> object:
        if not isinstance(value, Mapping):
            raise _refuse(action, p.name, f"must be a mapping (a keyed array), not {_shown(value)}")
        return value

    return check


_CHECKS: Final[Mapping[str, Callable[[str, ParamSpec], _Check]]] = types.MappingProxyType(
    {
        "str": _str_check,
        "int": _int_check,
        "float": _float_check,
        "bool": _bool_check,
        "datetime": _datetime_check,
        "date": _date_check,
        "list": _list_check,
        "dict": _dict_check,
    }
)


def _plan(spec: ActionSpec) -> Mapping[str, _Check]:
    entry = _PLANS.get(id(spec))
    if entry is None:
        if len(_PLANS) >= _MAX_PLANS:
            _PLANS.clear()
        entry = (spec, {p.name: _CHECKS[p.type](spec.name, p) for p in spec.params})
        _PLANS[id(spec)] = entry
    return entry[1]


def check_params(
    spec: ActionSpec | None, params: Mapping[str, object], *, secret: SecretLike = None
) -> Mapping[str, object]:
    """Check *params* against the catalogue's *spec* and return what to send.

    Every documented parameter's value must be of its documented form (``None`` is
    "not given" and passes):

    - ``int``: an ``int`` or decimal-digit text, never a ``bool``; ``skip`` and ``take``
      at least 0; ``take`` at most 1000 where the document says so; the catalogue's
      ranges (``priority`` 0 to 2).
    - ``float``: a finite number or decimal text.
    - ``bool``: ``True``/``False``, sent in the parameter's spelling (``yes``/``no`` or
      ``true``/``false``), or that spelling as text.
    - ``datetime``: a :class:`datetime.datetime` (sent as ``YYYY-MM-DD HH:MM:SS``), a
      :class:`datetime.date` (its midnight), or text in that form naming a real moment.
    - ``date``: a :class:`datetime.date` or ``YYYY-MM-DD`` text; a datetime is refused.
    - ``list``: one value or a list/tuple of strings and numbers.
    - ``dict``: a mapping. ``str``: one value (not a list or mapping).
    - Enumerations: one of the documented choices (an :class:`enum.Enum` by its value).

    Parameters the catalogue does not list, and every parameter of an action it does
    not know (*spec* ``None``), are sent as given. Names, mandatory parameters and one-of
    groups are not checked here (see :func:`check_all_params`).

    The message quotes the value at fault; *secret* (the client's token holder) is
    blanked out of it, should a caller pass the token as a value.

    Returns:
        *params* itself when nothing needs rewriting, else a copy with the rewritten
        values (Python booleans and datetimes in the document's form).

    Raises:
        DaktelaUsageError: A value is not of its documented form; the message names the
            action and the parameter.
    """
    if spec is None:
        return params
    plan = _plan(spec)
    rewritten: dict[str, object] | None = None
    try:
        for name, value in params.items():
            check = plan.get(name)
            if check is None or value is None:
                continue
            sent = check(value)
            if sent is not value:
                if rewritten is None:
                    rewritten = dict(params)
                rewritten[name] = sent
    except DaktelaUsageError as exc:
        if secret is None:
            raise
        raise DaktelaUsageError(
            scrub(exc.message, secret), action=exc.action, parameter=exc.parameter
        ) from None
    return params if rewritten is None else rewritten


def check_presence(spec: ActionSpec, given: Collection[str]) -> None:
    """Every mandatory parameter of *spec* in *given*, and one member of each one-of group.

    Raises:
        DaktelaUsageError: The first one missing, or a group with more than one member.
    """
    for name in spec.required:
        if name not in given:
            raise DaktelaUsageError(
                f"{spec.name}: missing mandatory parameter {name!r}",
                action=spec.name,
                parameter=name,
            )
    for group in spec.one_of:
        present = [name for name in group if name in given]
        if not present:
            raise DaktelaUsageError(
                f"{spec.name}: needs one of {', '.join(map(repr, group))}",
                action=spec.name,
                parameter=group[0],
            )
        if len(present) > 1:
            raise DaktelaUsageError(
                f"{spec.name}: takes only one of {', '.join(map(repr, group))}, "
                f"got {' and '.join(map(repr, present))}",
                action=spec.name,
                parameter=present[1],
            )


def check_all_params(spec: ActionSpec, params: Mapping[str, object]) -> Mapping[str, object]:
    """:func:`check_params`, after the checks of names that the typed methods make.

    Every name must be one of the action's parameters (a close one is suggested), every
    mandatory parameter must be given, and exactly one member of each one-of group.

    Raises:
        DaktelaUsageError: The first problem found, naming the action and the parameter.
    """
    given = [name for name, value in params.items() if value is not None]
    known = [p.name for p in spec.params]
    for name in given:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise DaktelaUsageError(
                f"{spec.name}: unknown parameter {name!r}{hint}", action=spec.name, parameter=name
            )
    check_presence(spec, given)
    return check_params(spec, params)
