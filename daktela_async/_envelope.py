"""Decoding the ``{"status", "error", "result"}`` envelope of every JSON answer.

- ``status`` 1 (the server also sends ``"1"`` and ``true``): the ``result`` is returned
  (``None`` when the key is absent, as in ``{"error":null,"status":1}``).
- ``status`` 0: :class:`DaktelaAPIError` with the server's ``error`` text, unchanged.
- Anything else (an HTML error page, truncated JSON, a JSON value that is not the
  envelope): :class:`DaktelaDecodeError` with a short snippet of the body.

One leniency, recorded in ``docs/api-document-notes.md``: the document's own CreateCall
example ends with a stray ``}``; a complete envelope followed only by closing braces and
white space is accepted. Finding where the envelope ends takes linear time however many
braces follow (one scan and one more parse), so a hostile body cannot stall the loop.

Every text taken from an answer (snippets, the server's error text) goes through
:func:`scrub` before it reaches an error: the access token, and any run of eight or more
of its characters (a server echoing a truncated token), becomes ``***``.
"""

from __future__ import annotations

import re
from typing import Any, Final, Protocol

import orjson

from ._errors import DaktelaAPIError, DaktelaDecodeError

__all__ = ["REDACTED", "SecretLike", "decode_envelope", "scrub", "snippet"]

#: What the access token is replaced with wherever a URL or a text is shown.
REDACTED: Final = "***"

_SNIPPET_CHARS: Final = 200
#: An unknown ``status`` value is shown up to this many characters.
_STATUS_CHARS: Final = 40
#: What may follow the envelope's own closing brace: more braces and white space.
_TRAILING: Final = b"} \t\r\n"
#: A JSON string, escapes included, or an unterminated one up to the end. Possessive
#: quantifiers never backtrack, and a match that starts always succeeds, so no text is
#: scanned twice: were an unterminated string a failed match, the search would retry
#: from every quote inside it (quadratic on a body of escaped quotes).
_JSON_STRING: Final = re.compile(rb'"(?:[^"\\]++|\\.)*+(?:"|\\?\Z)', re.DOTALL)
#: Deeper than this orjson refuses anyway (its recursion limit).
_MAX_DEPTH: Final = 1024
#: Case folding that keeps every index in place (``str.lower`` may not, for some letters).
_ASCII_FOLD: Final = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
#: The token as the API defines it: SHA1 in hex.
_HEX: Final = re.compile(r"[0-9A-Fa-f]+")
#: Runs of 8+ hex digits; for any other token, runs of 8+ characters that are not white
#: space, quotes or angle brackets (what error texts put around a value).
_HEX_RUNS: Final = re.compile(r"[0-9A-Fa-f]{8,}")
_WORD_RUNS: Final = re.compile(r"[^\s'\"<>]{8,}")
#: Up to this length a run is checked window by window, beyond it piece by piece (in C).
_SHORT_RUN: Final = 64
#: A run of this many characters of the token is treated as an echo of it: eight hex
#: digits are far too specific to occur by chance in an error text.
_MIN_ECHO: Final = 8


class _Revealable(Protocol):
    """The client's token holder (its repr is redacted); ``value`` is the token."""

    @property
    def value(self) -> str: ...


#: The token as the client holds it (its redacting holder), a plain string, or none.
SecretLike = _Revealable | str | None


def _reveal(secret: SecretLike) -> str:
    if secret is None or isinstance(secret, str):
        return secret or ""
    return secret.value


def scrub(text: str, secret: SecretLike) -> str:
    """Return *text* with the token, and any 8+ consecutive token characters, as ``***``.

    A partial echo matters: an error message that cuts a value at 40 characters would
    otherwise show 36 of the token's 40. The whole run of hex digits (or, for a token
    that is not hex, of non-space characters) holding such a piece is blanked. Case is
    ignored (a hex token in capitals is the same secret). Tokens shorter than eight
    characters are only blanked out whole.

    Args:
        text: A message or snippet built from an answer.
        secret: The token (the client's holder or a string); ``None`` returns *text*.
    """
    if secret is None or not text:
        return text
    return _scrub_text(text, _reveal(secret))


def _scrub_text(text: str, token: str) -> str:
    if not token:
        return text
    folded_token = token.translate(_ASCII_FOLD)
    text = _blank_whole(text, folded_token)
    if len(token) < _MIN_ECHO:
        # A short token is only blanked whole (see scrub): its only piece would be the
        # token itself, which _blank_whole has just taken out.
        return text
    pieces = {folded_token[i : i + _MIN_ECHO] for i in range(len(token) - _MIN_ECHO + 1)}
    # Runs of characters a token is made of are found in C by a pattern that holds no
    # part of the token (the regex module caches compiled patterns for the process's
    # life); a run holding any _MIN_ECHO consecutive token characters is blanked whole.
    # Each run is looked at once, so the scan is linear in the text.
    runs = _HEX_RUNS if _HEX.fullmatch(token) else _WORD_RUNS

    def blank(match: re.Match[str]) -> str:
        run = match.group().translate(_ASCII_FOLD)
        if len(run) <= _SHORT_RUN:
            hit = any(run[i : i + _MIN_ECHO] in pieces for i in range(len(run) - _MIN_ECHO + 1))
        else:
            hit = any(piece in run for piece in pieces)
        return REDACTED if hit else match.group()

    return runs.sub(blank, text)


def _blank_whole(text: str, folded_token: str) -> str:
    """Blank every whole echo, whatever characters the token holds (no regex: see above)."""
    folded = text.translate(_ASCII_FOLD)  # ASCII folding keeps every index in place
    at = folded.find(folded_token)
    if at < 0:
        return text
    out: list[str] = []
    last = 0
    while at >= 0:
        out.append(text[last:at])
        out.append(REDACTED)
        last = at + len(folded_token)
        at = folded.find(folded_token, last)
    out.append(text[last:])
    return "".join(out)


def snippet(body: bytes, secret: SecretLike = None) -> str:
    """The first characters of *body* for an error message, with the token blanked out.

    The token is blanked before cutting, so a token across the cut is not half shown.
    """
    head = body[: (_SNIPPET_CHARS + 64) * 4].decode("utf-8", errors="replace")
    return scrub(head, secret)[:_SNIPPET_CHARS]


def _loads(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        # Accept a whole envelope followed by stray closing braces (the document's own
        # CreateCall example), never a truncated one.
        prefix = _complete_prefix(body)
        if prefix is None:
            raise
        try:
            return orjson.loads(prefix)
        except orjson.JSONDecodeError:
            pass
        raise


def _complete_prefix(body: bytes) -> bytes | None:
    """The body cut after the brace that closes the top-level object, or ``None``.

    The body ends with a run of braces and white space. The braces still open where
    that run starts (counted outside strings) say how many of its braces belong to the
    envelope; the rest are stray. Counting once is linear; trying every brace as the
    end, as this once did, re-parsed the body for each of them (quadratic: 40,000 stray
    braces took 16 s). The caller parses the cut once more, so a miscount (a truncated
    string, brackets) can only lead to a rejection, never to a wrong accept.
    """
    head = body.rstrip(_TRAILING)
    tail = body[len(head) :]
    if b"}" not in tail:
        return None
    outside = _JSON_STRING.sub(b'""', head)
    depth = outside.count(b"{") - outside.count(b"}")
    if not 1 <= depth <= _MAX_DEPTH or tail.count(b"}") <= depth:
        return None
    end = -1
    for _ in range(depth):
        end = tail.find(b"}", end + 1)
    return head + tail[: end + 1]


def decode_envelope(
    body: bytes,
    *,
    action: str | None = None,
    status_code: int | None = None,
    secret: SecretLike = None,
) -> Any:
    """Return the ``result`` of an envelope, or raise the error it carries.

    Args:
        body: The raw answer.
        action: The action, for error messages.
        status_code: The HTTP status, kept on decode errors.
        secret: The token to blank out of snippets and messages; pass the client's
            holder (its repr is redacted) so the plain token is never a local here.

    Raises:
        DaktelaAPIError: The envelope's ``status`` is 0.
        DaktelaDecodeError: The body is not an envelope.
    """
    try:
        data = _loads(body)
    except orjson.JSONDecodeError as exc:
        kind = "an HTML page" if body.lstrip()[:1] == b"<" else "not valid JSON"
        shown = snippet(body, secret)
        # The cause keeps the whole answer in `doc`, where a token the server echoed would
        # outlive the scrubbed message (crash reporters show a cause's attributes).
        exc.doc = shown
        raise DaktelaDecodeError(
            f"{action or 'answer'}: the answer is {kind}: {shown!r}",
            action=action,
            snippet=shown,
            status_code=status_code,
        ) from exc
    if not isinstance(data, dict) or "status" not in data:
        shown = snippet(body, secret)
        raise DaktelaDecodeError(
            f"{action or 'answer'}: the answer is not a status envelope: {shown!r}",
            action=action,
            snippet=shown,
            status_code=status_code,
        )
    status = data["status"]
    if status in (1, "1", True):
        return data.get("result")
    if status in (0, "0", False):
        error = data.get("error")
        message = error if isinstance(error, str) else "the server reported a failure"
        raise DaktelaAPIError(scrub(message, secret), action=action)
    # The status is the server's value: shown short (it may be megabytes) and scrubbed.
    shown_status = repr(status)
    if len(shown_status) > _STATUS_CHARS:
        shown_status = shown_status[: _STATUS_CHARS - 3] + "..."
    raise DaktelaDecodeError(
        f"{action or 'answer'}: unknown envelope status {scrub(shown_status, secret)}",
        action=action,
        snippet=snippet(body, secret),
        status_code=status_code,
    )
