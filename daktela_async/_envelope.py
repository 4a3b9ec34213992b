"""Decoding the ``{"status", "error", "result"}`` envelope of every JSON answer.

- ``status`` 1 (the server also sends ``"1"`` and ``true``): the ``result`` is returned
  (``None`` when the key is absent, as in ``{"error":null,"status":1}``).
- ``status`` 0: :class:`DaktelaAPIError` with the server's ``error`` text, unchanged.
- Anything else (an HTML error page, truncated JSON, a JSON value that is not the
  envelope): :class:`DaktelaDecodeError` with a short snippet of the body.

One leniency, recorded in ``docs/api-document-notes.md``: the document's own CreateCall
example ends with a stray ``}``; a complete envelope followed only by closing braces and
white space is accepted.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from ._errors import DaktelaAPIError, DaktelaDecodeError

__all__ = ["decode_envelope", "snippet"]

_SNIPPET_CHARS: Final = 200
_TRAILING_OK: Final = frozenset(b"} \t\r\n")


def snippet(body: bytes, secret: str | None = None) -> str:
    """The first characters of *body* for an error message, with *secret* blanked out."""
    text = body[: _SNIPPET_CHARS * 4].decode("utf-8", errors="replace")[:_SNIPPET_CHARS]
    if secret:
        text = text.replace(secret, "***")
    return text


def _loads(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        # Accept a whole envelope followed by stray closing braces (the document's own
        # CreateCall example), never a truncated one.
        end = body.rfind(b"}")
        while end > 0:
            if all(b in _TRAILING_OK for b in body[end + 1 :]):
                try:
                    return orjson.loads(body[: end + 1])
                except orjson.JSONDecodeError:
                    end = body.rfind(b"}", 0, end)
                    continue
            break
        raise


def decode_envelope(
    body: bytes,
    *,
    action: str | None = None,
    status_code: int | None = None,
    secret: str | None = None,
) -> Any:
    """Return the ``result`` of an envelope, or raise the error it carries.

    Args:
        body: The raw answer.
        action: The action, for error messages.
        status_code: The HTTP status, kept on decode errors.
        secret: Text to blank out of snippets (the access token).

    Raises:
        DaktelaAPIError: The envelope's ``status`` is 0.
        DaktelaDecodeError: The body is not an envelope.
    """
    try:
        data = _loads(body)
    except orjson.JSONDecodeError as exc:
        kind = "an HTML page" if body.lstrip()[:1] == b"<" else "not valid JSON"
        raise DaktelaDecodeError(
            f"{action or 'answer'}: the answer is {kind}: {snippet(body, secret)!r}",
            action=action,
            snippet=snippet(body, secret),
            status_code=status_code,
        ) from exc
    if not isinstance(data, dict) or "status" not in data:
        raise DaktelaDecodeError(
            f"{action or 'answer'}: the answer is not a status envelope: {snippet(body, secret)!r}",
            action=action,
            snippet=snippet(body, secret),
            status_code=status_code,
        )
    status = data["status"]
    if status in (1, "1", True):
        return data.get("result")
    if status in (0, "0", False):
        error = data.get("error")
        message = error if isinstance(error, str) else "the server reported a failure"
        if secret:
            message = message.replace(secret, "***")
        raise DaktelaAPIError(message, action=action)
    raise DaktelaDecodeError(
        f"{action or 'answer'}: unknown envelope status {status!r}",
        action=action,
        snippet=snippet(body, secret),
        status_code=status_code,
    )
