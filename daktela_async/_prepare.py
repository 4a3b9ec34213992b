"""Request preparation: a call's URL, headers, timeouts and retry policy, checked.

Everything a call needs before it is sent, checked before anything is sent (bad input
is a :class:`DaktelaUsageError`), and nothing that carries the token: the transport adds
it to each attempt's copy (:meth:`Outgoing.with_token`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING

import attrs
import httpx

from ._actions import ACTIONS
from ._config import NotGiven, RetryPolicy, Timeouts
from ._errors import DaktelaUsageError
from ._spec import ActionSpec
from ._transport._query import EncodeError, encode_params, encode_query
from ._transport._request import REDACTED, build_path, check_params, check_version, pick_version
from ._transport._token import MAX_URL_LENGTH, Outgoing

if TYPE_CHECKING:
    from ._client import DaktelaClient

__all__ = [
    "PREPARED_CACHE",
    "Prepared",
    "all_headers",
    "cache_key",
    "lookup",
    "parse_url",
    "prepare_call",
]


@functools.lru_cache(maxsize=4096)
def parse_url(url: str) -> httpx.URL:
    """*url* parsed, from a cache of the last 4096 (never a URL that carries the token)."""
    # An idle long poll repeats the same URL (same user, same hash) every hold; parsing it
    # was the largest single cost of such a poll. httpx.URL is immutable, so sharing is safe.
    # The URLs cached here never carry the token (SecretRequest adds it to a copy), so
    # nothing token-bearing outlives the request that sent it.
    return httpx.URL(url)


def lookup(action: str) -> ActionSpec | None:
    """The catalogue's entry for *action*, or ``None`` for an action it does not know."""
    # The catalogue is loaded when the package is imported (the typed section methods in
    # `endpoints` are built from it), not on first call.
    return ACTIONS.get(action)


@attrs.frozen(slots=True)
class Prepared:
    """One request ready to send, with everything needed to retry and report it.

    Nothing here carries the token: :class:`SecretRequest` adds it to each attempt's
    request, so the frames that validate and prepare a call cannot show it.
    """

    action: str
    outgoing: Outgoing
    timeouts: Timeouts
    policy: RetryPolicy
    idempotent: bool

    @property
    def shown_url(self) -> str:
        """The URL with the token redacted."""
        return self.outgoing.shown_url


#: Prepared calls a client keeps (an idle watch repeats one per agent every hold).
PREPARED_CACHE = 2048
#: Parameter value types a prepared call is cached for: compared by type and value, so
#: ``1`` and ``True`` (equal in Python) never share an entry.
_CACHEABLE = (str, int, type(None))


def cache_key(
    action: str,
    id: object,
    version: object,
    format: str,
    timeout: object,
    retries: object,
    params: Mapping[str, object],
) -> tuple[object, ...] | None:
    """The key under which a prepared call is kept, or ``None`` when it is not kept.

    Only plain values are keyed (lists, dicts, datetimes and floats are prepared every
    time): the key must hold exactly what preparing depends on.
    """
    if type(id) not in _CACHEABLE:
        return None
    items: list[object] = [action, type(id), id, version, format, timeout, retries]
    for name, value in params.items():
        kind = type(value)
        if kind not in _CACHEABLE:
            return None
        items += (name, kind, value)
    return tuple(items)


def all_headers(extra: httpx.Headers) -> httpx.Headers:
    """The headers of every request: ours, then the caller's *extra* (replacing ours)."""
    headers = httpx.Headers({"User-Agent": "daktela-async"})
    headers.update(extra)
    return headers


def prepare_call(
    client: DaktelaClient,
    action: str,
    id: object,
    *,
    version: str | NotGiven,
    format: str,
    timeout: float | Timeouts | NotGiven | None,
    retries: int | RetryPolicy | NotGiven,
    params: Mapping[str, object],
) -> Prepared:
    """*action* with *params*, checked and prepared with *client*'s settings.

    Raises:
        DaktelaUsageError: Bad input: a parameter, the id, the version or a URL too long.
    """
    spec = lookup(action)
    if spec is not None:
        # Values the document constrains (integers, take <= 1000, datetimes, booleans)
        # are checked and put in its form before anything is sent.
        params = check_params(spec, params, secret=client._token)
    if isinstance(version, NotGiven):
        url_version = (
            pick_version(spec, (k for k, v in params.items() if v is not None), client._api_version)
            if spec is not None
            else client._api_version
        )
    else:
        url_version = check_version(version)
    try:
        path = build_path(url_version, action, id, format)
    except UnicodeEncodeError:
        raise DaktelaUsageError(
            f"{action}: the id is not valid Unicode (a lone surrogate)",
            action=action,
            parameter="id",
        ) from None
    try:
        query = encode_query(encode_params(params))
    except EncodeError as exc:
        raise DaktelaUsageError(
            f"{action}: {exc}", action=action, parameter=exc.parameter
        ) from None
    url = f"{client._base_url}{path}" + (f"?{query}" if query else "")
    shown = url
    length = len(url)
    if client._token_in == "query":  # noqa: S105 - a placement, not a password
        shown = f"{url}{'&' if query else '?'}access_token={REDACTED}"
        length += len("?access_token=") + client._token.quoted_length
    if length > MAX_URL_LENGTH:
        # httpx would refuse it (InvalidURL); long before that, most servers answer
        # 414. Said here, before anything is sent, and never retried.
        raise DaktelaUsageError(
            f"{action}: the request URL would be {length} characters long, more than "
            f"{MAX_URL_LENGTH}; send fewer or shorter parameters",
            action=action,
        )
    try:
        parsed = parse_url(url)
    except httpx.InvalidURL as exc:
        raise DaktelaUsageError(f"{action}: invalid request URL: {exc}", action=action) from None

    long_poll = spec is not None and spec.long_poll and params.get("hash") is not None
    timeouts = client._timeouts if isinstance(timeout, NotGiven) else Timeouts.of(timeout)
    if long_poll and isinstance(timeout, NotGiven):
        # The server holds the request up to 60 s: a default shorter than that would
        # turn every quiet minute into a timeout. An explicit per-call value is kept.
        timeouts = timeouts.at_least_long_poll()
    policy = (
        client._retry if isinstance(retries, NotGiven) else RetryPolicy.of(retries, client._retry)
    )
    return Prepared(
        action=action,
        outgoing=Outgoing(
            url=parsed,
            text=str(parsed),
            headers=client._headers,
            pairs=client._header_pairs,
            secret=client._token,
            placement=client._token_in,
            shown_url=shown,
        ),
        timeouts=timeouts,
        policy=policy,
        # An action the catalogue does not know is treated as a write: never resent.
        idempotent=spec.idempotent if spec is not None else False,
    )
