"""The access token: checked once, held masked, and added to a request as late as possible.

Where the token may be, and nowhere else (``docs/concepts/token.md``):

- on the wire, as the ``access_token`` query parameter or in the ``Cookie`` header;
- in a :class:`Secret`, masked, for the client's lifetime;
- in the one :class:`SecretRequest` being sent, whose ``repr``, ``url`` repr and
  ``headers`` repr all show it redacted, so a traceback's locals, a debugger's variable
  view or a crash reporter's capture of the sending frames show ``access_token=***``.

The token-bearing request is built in :class:`SecretRequest` from a token-free URL and
headers that the client prepared (and validated) beforehand, so nothing that handles the
caller's input ever holds the token: an error raised there cannot show it.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from typing import Any, Final, Literal
from urllib.parse import quote

import attrs
import httpx

from .._errors import DaktelaUsageError
from ._request import REDACTED

__all__ = [
    "MAX_URL_LENGTH",
    "Outgoing",
    "Secret",
    "SecretRequest",
    "check_headers",
    "check_token",
    "header_pairs",
]

#: The longest URL httpx accepts (``httpx._urlparse.MAX_URL_LENGTH``); checked before
#: sending, so a longer one is a usage error instead of httpx's raw ``InvalidURL``.
MAX_URL_LENGTH: Final = 65536

#: An HTTP field name (RFC 9110 ``token``).
_HEADER_NAME: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
#: An HTTP field value as h11 accepts it: visible ASCII, inner spaces and tabs.
_HEADER_VALUE: Final = re.compile(r"[\x21-\x7e]+(?:[ \t]+[\x21-\x7e]+)*\Z|\Z")


def _xor(data: bytes, key: bytes) -> bytes:
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(len(data), "big")


class Secret:
    """Holds the access token so that no repr, str, log line or traceback can show it.

    The token is kept masked (XOR with a random key of the same length): code that walks
    an object's attributes (a debugger's variable view, a crash reporter serialising
    locals, a heap inspector) finds no token string in it. :attr:`value` unmasks it for
    the moment a request is built or a text is scrubbed.

    Attributes:
        quoted_length: The length of :attr:`quoted`, for URL length checks.
    """

    __slots__ = ("_key", "_masked", "_quoted_key", "_quoted_masked", "quoted_length")

    def __init__(self, value: str) -> None:
        data = value.encode()
        self._key = secrets.token_bytes(len(data))
        self._masked = _xor(data, self._key)
        # PHP url-decodes both query parameters and cookie values; a SHA1 hex token is
        # unchanged, any other keeps its "&", "#", ";" or spaces as data. Encoded once
        # here: every request needs this form.
        quoted = quote(value, safe="").encode()
        self._quoted_key = secrets.token_bytes(len(quoted))
        self._quoted_masked = _xor(quoted, self._quoted_key)
        self.quoted_length = len(quoted)

    @property
    def value(self) -> str:
        """The token itself."""
        return _xor(self._masked, self._key).decode()

    @property
    def quoted(self) -> str:
        """The token percent-encoded, as it travels in the query or the cookie."""
        return _xor(self._quoted_masked, self._quoted_key).decode()

    def redact(self, text: str) -> str:
        """*text* with the token, plain or percent-encoded, replaced by ``***``."""
        for form in (self.value, self.quoted):
            if form in text:
                text = text.replace(form, REDACTED)
        return text

    def __repr__(self) -> str:
        return REDACTED

    __str__ = __repr__


def check_token(token: object) -> Secret:
    """Return *token* stripped of surrounding white space, held in a :class:`Secret`.

    The error never repeats the value, and this frame no longer holds it when the error
    is raised (a traceback with locals would show it).

    Raises:
        DaktelaUsageError: Not a string, empty, or with a control (non-printable)
            character inside, such as a line break left over from reading a file.
    """
    if not isinstance(token, str):
        problem = f"token must be a string, not {type(token).__name__}"
    else:
        # A token read from a file or an environment variable often ends with "\n".
        token = token.strip()
        if not token:
            problem = "token must be a non-empty string"
        elif not token.isprintable():
            problem = (
                "token contains a control or other non-printable character (it is not "
                "shown here); an access token is 40 hexadecimal digits"
            )
        else:
            return Secret(token)
    del token
    raise DaktelaUsageError(problem, parameter="token")


def check_headers(headers: object) -> dict[str, str]:
    """Validate the client's extra *headers*; surrounding white space is dropped.

    Checked once, when the client is made, so a header h11 or httpx would refuse (or
    worse, a line break that would split it) is a usage error instead of a raw exception
    or a "connection error" on every call.

    Raises:
        DaktelaUsageError: Not a mapping of strings, a name that is not an HTTP token, or
            a value with non-ASCII or control characters.
    """
    if not isinstance(headers, Mapping):
        raise DaktelaUsageError(
            f"headers must be a mapping of names to values, not {type(headers).__name__}",
            parameter="headers",
        )
    checked: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not _HEADER_NAME.match(name):
            raise DaktelaUsageError(
                f"header name {name!r} is not a valid HTTP field name", parameter="headers"
            )
        if not isinstance(value, str):
            raise DaktelaUsageError(
                f"header {name}: the value must be a string, not {type(value).__name__}",
                parameter="headers",
            )
        value = value.strip(" \t")
        if not _HEADER_VALUE.match(value):
            raise DaktelaUsageError(
                f"header {name}: the value may hold only printable ASCII characters "
                "(no line breaks or other control characters)",
                parameter="headers",
            )
        checked[name] = value
    return checked


class _SecretURL(httpx.URL):
    """A URL that carries the token in its query; its repr shows the redacted form.

    ``str()`` stays the URL as sent: transports need it.
    """

    _shown: str

    def __repr__(self) -> str:
        return f"URL({self._shown!r})"


class _SecretHeaders(httpx.Headers):
    """Headers that carry the token in ``Cookie``; their repr does not show its value."""

    def __repr__(self) -> str:
        items = [(k, REDACTED if k.lower() == "cookie" else v) for k, v in self.multi_items()]
        return f"Headers({items!r})"


def _parsed(url: httpx.URL) -> Any | None:
    """The parsed form httpx 0.2x keeps of *url* (a NamedTuple), or ``None`` for another."""
    ref = getattr(url, "_uri_reference", None)
    if isinstance(ref, tuple) and hasattr(ref, "_replace") and hasattr(ref, "query"):
        return ref
    return None


def _with_query(url: httpx.URL, pair: str, shown: str) -> _SecretURL:
    """*url* with *pair* (already percent-encoded) appended to its query."""
    secret_url = _SecretURL.__new__(_SecretURL)
    ref = _parsed(url)
    if ref is not None:
        # The token-free URL was parsed (and cached) already and *pair* is
        # percent-encoded, so appending it to the parsed query is what parsing the whole
        # URL again would produce, without the 14 µs that parse costs per request (the
        # largest single cost of an idle long poll). Tests compare both paths.
        query = ref.query
        secret_url._uri_reference = ref._replace(query=f"{query}&{pair}" if query else pair)
    else:
        sep = "&" if url.query else "?"
        httpx.URL.__init__(secret_url, f"{url}{sep}{pair}")
    secret_url._shown = shown
    return secret_url


class SecretRequest(httpx.Request):
    """The GET request of one attempt, carrying the token; no repr of it shows the token.

    Args:
        url: The token-free URL (parsed, and checked by the client).
        headers: The token-free headers.
        secret: The token.
        placement: Where the token goes: the ``access_token`` query parameter or cookie.
        shown_url: The URL with the token redacted, for the repr.

    Attributes:
        secret: The token's holder (the pool redacts the transport's messages with it).
        shown_url: The URL with the token redacted.
    """

    def __init__(
        self,
        url: httpx.URL,
        headers: httpx.Headers,
        *,
        secret: Secret,
        placement: Literal["query", "cookie"],
        shown_url: str,
    ) -> None:
        self.secret = secret
        self.shown_url = shown_url
        token = secret.quoted
        try:
            if placement == "query":
                url = _with_query(url, f"access_token={token}", shown_url)
            super().__init__("GET", url, headers=headers)
            # httpx copied the URL and the headers into plain objects, whose reprs would
            # show the token: keep ours.
            self.url = url
            if placement == "cookie":
                self.headers = _SecretHeaders(self.headers)
                self.headers["Cookie"] = f"access_token={token}"
        finally:
            # Should anything above raise, this frame must not show the token.
            del token

    def __repr__(self) -> str:
        return f"<Request({self.method!r}, {self.shown_url!r})>"


def header_pairs(headers: httpx.Headers) -> tuple[tuple[str, str], ...]:
    """*headers* as (name, value) pairs, names in their case, repeated ones kept.

    What a transport that does not take :class:`httpx.Headers` sends (computed once per
    client, not per request).
    """
    return tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in headers.raw)


@attrs.frozen(slots=True)
class Outgoing:
    """One GET request as the client prepared it: everything but the token itself.

    A transport adds the token when it sends (:meth:`request` for httpx transports; the
    aiohttp transport builds its own, lighter request from :attr:`text` and
    :attr:`pairs`), so nothing that prepares, retries or reports a call holds it.

    Attributes:
        url: The token-free URL, parsed (shared by every request to the same URL).
        text: The same URL as a string.
        headers: The token-free headers.
        pairs: The same headers as (name, value) pairs.
        secret: The token's holder.
        placement: Where the token goes: the ``access_token`` query parameter or cookie.
        shown_url: The URL with the token redacted, for messages and reprs.
    """

    url: httpx.URL = attrs.field(repr=False)
    text: str = attrs.field(repr=False)
    headers: httpx.Headers = attrs.field(repr=False)
    pairs: tuple[tuple[str, str], ...] = attrs.field(repr=False)
    secret: Secret = attrs.field(repr=False)
    placement: Literal["query", "cookie"]
    shown_url: str

    def request(self) -> SecretRequest:
        """The httpx request of one attempt, the token added last (see :class:`SecretRequest`)."""
        return SecretRequest(
            self.url,
            self.headers,
            secret=self.secret,
            placement=self.placement,
            shown_url=self.shown_url,
        )

    def with_token(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        """The URL and headers as sent, the token in the one its placement says.

        For a transport's own frame only: the result is the token. Whoever calls it must
        not let it reach a message, a repr or an exception it raises.
        """
        token = self.secret.quoted
        try:
            if self.placement == "query":
                sep = "&" if self.url.query else "?"
                return f"{self.text}{sep}access_token={token}", self.pairs
            return self.text, (*self.pairs, ("Cookie", f"access_token={token}"))
        finally:
            del token
