"""The error tree: every failure a caller can see is a :class:`DaktelaError`.

```
DaktelaError
├── DaktelaTransportError        the request got no HTTP answer
│   ├── DaktelaConnectError      could not connect (refused, DNS, TLS, reset before sending)
│   └── DaktelaTimeoutError      connect, read, write, pool or overall deadline passed
│       └── DaktelaPoolTimeoutError  no pooled connection came free: the client is full
├── DaktelaHTTPStatusError       an HTTP answer with a non-2xx status (.status_code)
├── DaktelaAPIError              the envelope said {"status": 0} (.message is the server's text)
├── DaktelaAuthError             the PBX refuses the access token (a watcher's final failure)
├── DaktelaDecodeError           the body is not the envelope: HTML, truncated JSON, wrong shape
│   └── DaktelaAnswerTooLargeError   the answer outgrew max_answer_bytes (decoded), reading stopped
└── DaktelaUsageError            bad input, found before anything was sent (also a ValueError)
    └── DaktelaVersionError      the action (or a parameter) is newer than the client's api_version
```

A :class:`DaktelaAPIError` keeps the server's (mostly Czech) text verbatim as ``.message``
and adds its English explanation as ``.hint`` when the text is a known one; ``str(error)``
shows both. Usage errors are worded in English and name the parameter at fault.

httpx exceptions become these at one boundary (:func:`daktela_async._transport._pool`),
always chained with ``raise ... from exc`` so the cause stays in the traceback.
Messages and attributes never contain the access token: URLs are kept only in their
redacted form (``access_token=***``).
"""

from __future__ import annotations

from ._hints import hint_for

__all__ = [
    "DaktelaAPIError",
    "DaktelaAnswerTooLargeError",
    "DaktelaAuthError",
    "DaktelaConnectError",
    "DaktelaDecodeError",
    "DaktelaError",
    "DaktelaHTTPStatusError",
    "DaktelaPoolTimeoutError",
    "DaktelaTimeoutError",
    "DaktelaTransportError",
    "DaktelaUsageError",
    "DaktelaVersionError",
]


class DaktelaError(Exception):
    """Base class of every error raised by daktela-async.

    Attributes:
        action: The API action the error belongs to (``"CreateCall"``), if any.
    """

    def __init__(self, message: str, *, action: str | None = None) -> None:
        super().__init__(message)
        self.action = action

    @property
    def message(self) -> str:
        """The error text (for :class:`DaktelaAPIError`, the server's exact words)."""
        return str(self.args[0]) if self.args else ""


class DaktelaTransportError(DaktelaError):
    """The request did not get an HTTP answer.

    Attributes:
        url: The request URL with the token redacted.
        sent: ``False`` when the request certainly never reached the server (the
            connection was never made); ``True`` when it may have.
    """

    def __init__(
        self, message: str, *, action: str | None = None, url: str = "", sent: bool = True
    ) -> None:
        super().__init__(message, action=action)
        self.url = url
        self.sent = sent


class DaktelaConnectError(DaktelaTransportError):
    """The connection could not be made, or broke before an answer came."""


class DaktelaTimeoutError(DaktelaTransportError):
    """A timeout passed: connect, pool, write, read, or the overall deadline."""


class DaktelaPoolTimeoutError(DaktelaTimeoutError):
    """No connection of the client's pool came free within ``Timeouts.pool``.

    Nothing was sent: the client itself is oversubscribed (more requests in flight than
    ``PoolLimits`` allows, e.g. a watcher's held polls filling every connection), which
    says nothing about the PBX.
    """


class DaktelaHTTPStatusError(DaktelaError):
    """The server answered with a non-2xx HTTP status.

    Attributes:
        status_code: The HTTP status (``503``).
        url: The request URL with the token redacted.
        retry_after: Seconds from a ``Retry-After`` header, when there was one.
    """

    def __init__(
        self,
        message: str,
        *,
        action: str | None = None,
        status_code: int,
        url: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, action=action)
        self.status_code = status_code
        self.url = url
        self.retry_after = retry_after


class DaktelaAPIError(DaktelaError):
    """The server answered ``{"status": 0, "error": ...}``.

    ``.message`` is the server's text exactly (often Czech, e.g.
    ``"Tato pauza nebyla nalezena"``); ``.action`` is the action that failed; ``.hint`` is
    its English explanation when the message is a known one. ``str(error)`` shows both::

        PauseOn: Tato pauza nebyla nalezena (English: This pause was not found.)
    """

    def __init__(self, message: str, *, action: str | None = None) -> None:
        super().__init__(message, action=action)

    @property
    def hint(self) -> str | None:
        """An English explanation of :attr:`message`, or ``None`` for a message not known.

        Known are every message the API document shows and every message the simulator
        sends; a variable part (a parameter name, a number) is carried over
        (``"Chybí povinný parametr pause"`` gives ``"The mandatory parameter 'pause' is
        missing."``). An unknown message gets no hint rather than a guess.
        """
        return hint_for(self.message)

    @staticmethod
    def hint_for(message: str) -> str | None:
        """The English explanation of any server message, as :attr:`hint` gives it.

        For Czech texts that arrive inside a result instead of as an error (the ``cc``
        ``error`` of ``CallScriptClose``).
        """
        return hint_for(message)

    def __str__(self) -> str:
        text = f"{self.action}: {self.message}" if self.action else self.message
        hint = self.hint
        return f"{text} (English: {hint})" if hint is not None else text


class DaktelaAuthError(DaktelaError):
    """The PBX refuses the access token: HTTP 401/403, or a status-0 answer to a token check.

    A watcher stops every source when it meets this and its subscriptions raise it after
    their last event; the refusal it stems from is its ``__cause__``. Asking again with
    the same token cannot help: the token was revoked, or the password changed.
    """


class DaktelaDecodeError(DaktelaError):
    """The answer is not a valid envelope (HTML error page, truncated JSON, wrong shape).

    Attributes:
        snippet: The first bytes of the body, decoded leniently, for diagnosis.
        status_code: The HTTP status of the answer.
    """

    def __init__(
        self,
        message: str,
        *,
        action: str | None = None,
        snippet: str = "",
        status_code: int | None = None,
    ) -> None:
        super().__init__(message, action=action)
        self.snippet = snippet
        self.status_code = status_code


class DaktelaAnswerTooLargeError(DaktelaDecodeError):
    """The answer grew past the client's ``max_answer_bytes``; reading stopped there.

    Bytes are counted as decoded (after gzip or deflate), while they arrive, so a
    compressed bomb or an endless body is cut off at the limit, not buffered whole.
    Large downloads (recordings) belong in ``stream_raw``, which has no such limit.

    Attributes:
        limit: The limit in force, in bytes.
    """

    def __init__(
        self,
        message: str,
        *,
        action: str | None = None,
        limit: int,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message, action=action, status_code=status_code)
        self.limit = limit


class DaktelaUsageError(DaktelaError, ValueError):
    """Bad input, caught before any request was sent.

    Raised for a missing mandatory parameter, two members of a one-of group, an
    unknown parameter, a value outside a documented enumeration or range, a value not
    in the document's form (an integer that is not one, a datetime that is not
    ``YYYY-MM-DD HH:MM:SS``, a boolean spelt otherwise than the parameter's ``yes``/``no``
    or ``true``/``false``), or bad settings. The message is English and names the action
    and the parameter.

    Attributes:
        parameter: The parameter at fault, when there is one.
    """

    def __init__(
        self, message: str, *, action: str | None = None, parameter: str | None = None
    ) -> None:
        super().__init__(message, action=action)
        self.parameter = parameter


class DaktelaVersionError(DaktelaUsageError):
    """The action, or one of its parameters, needs a newer API than ``api_version``.

    Attributes:
        required: The version the action or parameter needs (``"4.1"``).
        configured: The client's ``api_version``.
    """

    def __init__(
        self,
        message: str,
        *,
        action: str | None = None,
        parameter: str | None = None,
        required: str,
        configured: str,
    ) -> None:
        super().__init__(message, action=action, parameter=parameter)
        self.required = required
        self.configured = configured
