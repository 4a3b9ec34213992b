"""Building request URLs: base URL checks, the API version of a call, token redaction."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import Final
from urllib.parse import quote

import httpx

from .._config import API_VERSIONS
from .._errors import DaktelaUsageError, DaktelaVersionError
from .._spec import ActionSpec

__all__ = [
    "REDACTED",
    "build_path",
    "check_base_url",
    "check_version",
    "pick_version",
    "version_key",
]

#: What the access token is replaced with wherever a URL is shown.
REDACTED: Final = "***"

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
