"""The client: settings, the low-level ``call`` path, retries and the transport pool."""

from __future__ import annotations

import copy
import hashlib
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Iterable, Mapping
from contextlib import asynccontextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import attrs
import httpx

from . import _retry
from ._config import (
    DEFAULT_API_VERSION,
    ENV_API_VERSION,
    ENV_URL,
    MAX_ANSWER_BYTES,
    NOT_GIVEN,
    NotGiven,
    PoolLimits,
    RetryPolicy,
    Timeouts,
    TokenPlacement,
    VerifyTypes,
)
from ._env import EnvSettings
from ._envelope import decode_envelope
from ._errors import DaktelaError, DaktelaHTTPStatusError, DaktelaUsageError
from ._prepare import PREPARED_CACHE, Prepared, all_headers, cache_key, prepare_call
from ._transport._pool import (
    Answer,
    TransportFactory,
    TransportPool,
    default_transport_factory,
)
from ._transport._request import (
    REDACTED,
    check_base_url,
    check_version,
)
from ._transport._token import (
    Secret,
    check_headers,
    check_token,
    header_pairs,
)
from .endpoints import (
    SMS,
    Activities,
    Autodialer,
    Calls,
    Emails,
    Events,
    Extensions,
    Forms,
    Operators,
    Pauses,
    Queues,
    SMSConnect,
    Statistics,
)

if TYPE_CHECKING:
    from .realtime import Watcher

__all__ = ["DaktelaClient", "RawResponse"]

logger = logging.getLogger("daktela_async")


@attrs.frozen(slots=True)
class RawResponse:
    """An answer as it came: for XML, binary recordings, or your own decoding.

    Attributes:
        status_code: The HTTP status.
        headers: The response headers.
        content: The whole body.
    """

    status_code: int
    headers: httpx.Headers = attrs.field(repr=False)
    content: bytes = attrs.field(repr=False)

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (invalid bytes replaced)."""
        return self.content.decode("utf-8", errors="replace")

    @property
    def content_type(self) -> str:
        """The ``Content-Type`` header, or an empty string."""
        return str(self.headers.get("content-type", ""))


class DaktelaClient:
    """Asynchronous client for the Daktela legacy API (versions 3.0 to 4.1).

    Use it as an async context manager so its connections are closed::

        async with DaktelaClient("https://pbx.example.com", token=token) as client:
            queues = await client.queues.get_queues()
            call = await client.calls.create_call(user="hajek", number="800123456")

    Every action of the document is a typed method of the namespace named after its
    section (``client.queues``, ``client.operators``, ``client.calls``,
    ``client.extensions``, ``client.pauses``, ``client.statistics``, ``client.sms``,
    ``client.sms_connect``, ``client.forms``, ``client.events``, ``client.activities``,
    ``client.autodialer``, ``client.emails``); :meth:`call` reaches any action by name.

    Args:
        base_url: The PBX address, ``https://pbx.example.com`` (a trailing ``/api`` is
            accepted). Plain ``http://`` is refused for non-loopback hosts.
        token: The access token, ``SHA1(login + password)`` (see :meth:`from_credentials`).
            Surrounding white space is dropped; control characters are refused. It is
            percent-encoded where it travels and shown nowhere (``docs/concepts/token.md``).
        api_version: The newest API version the PBX speaks; newer actions are refused
            before any request is sent.
        token_in: Send the token as the ``access_token`` query parameter (``"query"``) or
            as a cookie (``"cookie"``, which keeps it out of server access logs).
        timeout: Default timeouts: a :class:`Timeouts`, or one number for all of them.
        retries: Default retry policy for reads: a :class:`RetryPolicy`, or the number of
            retries.
        limits: Size of the transport pool.
        transport_factory: Builds each shard's httpx transport (tests pass one returning
            :class:`httpx.MockTransport`).
        allow_insecure_http: Allow ``http://`` to a non-loopback host.
        headers: Extra headers sent with every request: names are HTTP tokens, values
            printable ASCII (surrounding white space dropped). No ``Accept-Encoding`` is sent
            unless given here (``{"Accept-Encoding": "gzip"}``); an answer in a coding
            that was not offered raises :class:`DaktelaDecodeError`.
        max_answer_bytes: Largest answer read into memory, counted after decompression
            while it arrives (64 MiB); a larger one raises
            :class:`DaktelaAnswerTooLargeError`. ``None`` removes the limit. It covers
            :meth:`call`, :meth:`call_raw` and ``get_recording``; :meth:`stream_raw`
            (``stream_recording``, ``save_recording``) is not limited.
        verify: How the PBX's TLS certificate is checked: ``True`` (certifi's CAs, as
            httpx does), the path of a CA bundle (a PEM file or a hashed directory, for a
            PBX behind an internal CA), an :class:`ssl.SSLContext` (client certificates,
            pinning, ...) or ``False`` (no check at all: anyone on the path can read the
            token). Every transport of the pool gets the one context, the aiohttp one
            included.

    Raises:
        DaktelaUsageError: A setting is invalid.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        api_version: str = DEFAULT_API_VERSION,
        token_in: TokenPlacement = "query",  # noqa: S107 - a placement, not a password
        timeout: float | Timeouts | None = None,
        retries: int | RetryPolicy | None = None,
        limits: PoolLimits | None = None,
        transport_factory: TransportFactory | None = None,
        allow_insecure_http: bool = False,
        headers: Mapping[str, str] | None = None,
        max_answer_bytes: int | None = MAX_ANSWER_BYTES,
        verify: VerifyTypes = True,
    ) -> None:
        try:
            self._token: Secret = check_token(token)
        finally:
            # From here on the token lives only in its holder: a settings error below
            # must not show it among this frame's locals in a traceback.
            del token
        if token_in not in ("query", "cookie"):
            raise DaktelaUsageError(
                f"token_in must be 'query' or 'cookie', not {token_in!r}", parameter="token_in"
            )
        self._base_url = check_base_url(base_url, allow_insecure_http=allow_insecure_http)
        self._api_version = check_version(api_version)
        self._token_in: TokenPlacement = token_in
        self._timeouts = Timeouts() if timeout is None else Timeouts.of(timeout)
        self._retry = RetryPolicy() if retries is None else RetryPolicy.of(retries)
        if limits is not None and not isinstance(limits, PoolLimits):
            raise DaktelaUsageError(
                f"limits must be a PoolLimits, not {type(limits).__name__}", parameter="limits"
            )
        if transport_factory is not None and not callable(transport_factory):
            raise DaktelaUsageError(
                "transport_factory must be a callable", parameter="transport_factory"
            )
        self._extra_headers = httpx.Headers(check_headers(headers) if headers is not None else {})
        # Built once: every request shares these headers. They never carry the token,
        # not even as a cookie: SecretRequest adds it to each request's own copy.
        self._headers = all_headers(self._extra_headers)
        self._header_pairs = header_pairs(self._headers)
        self._prepared: dict[tuple[object, ...], Prepared] = {}
        self._bind_namespaces()
        self._pool = TransportPool(
            limits or PoolLimits(),
            transport_factory or default_transport_factory,
            max_answer_bytes=max_answer_bytes,
            verify=verify,
        )
        # A view made by with_options() shares this pool and never closes it.
        self._owns_pool = True
        self._closed = False

    def _bind_namespaces(self) -> None:
        self.queues = Queues(self)
        self.operators = Operators(self)
        self.calls = Calls(self)
        self.extensions = Extensions(self)
        self.pauses = Pauses(self)
        self.statistics = Statistics(self)
        self.sms = SMS(self)
        self.sms_connect = SMSConnect(self)
        self.forms = Forms(self)
        self.events = Events(self)
        self.activities = Activities(self)
        self.autodialer = Autodialer(self)
        self.emails = Emails(self)

    @classmethod
    def from_credentials(cls, base_url: str, login: str, password: str, **kwargs: Any) -> Self:
        """Create a client whose token is ``SHA1(login + password)``, as the API defines it.

        Args:
            base_url: The PBX address.
            login: The user's login name.
            password: The user's password.
            **kwargs: Any other :class:`DaktelaClient` argument.
        """
        digest = hashlib.sha1((login + password).encode(), usedforsecurity=False).hexdigest()
        # Should the constructor refuse a setting, this frame is in the traceback: its
        # locals must not show the password or the token.
        del login, password
        try:
            return cls(base_url, digest, **kwargs)
        finally:
            del digest

    @classmethod
    def from_env(cls, *, environ: Mapping[str, str] | None = None, **kwargs: Any) -> Self:
        """Create a client from environment variables, for services configured that way.

        ``DAKTELA_URL`` is the PBX address. The token is ``DAKTELA_TOKEN``, or else
        ``SHA1(DAKTELA_LOGIN + DAKTELA_PASSWORD)`` (as :meth:`from_credentials`); giving
        both is refused. ``DAKTELA_API_VERSION`` is optional (``api_version``). An empty
        variable counts as unset. ::

            # DAKTELA_URL=https://pbx.example.com DAKTELA_TOKEN=... python service.py
            async with DaktelaClient.from_env(timeout=10) as client:
                queues = await client.queues.get_queues()

        Args:
            environ: Where to read the variables (``os.environ`` by default).
            **kwargs: Any other :class:`DaktelaClient` argument; an explicit
                ``api_version`` wins over ``DAKTELA_API_VERSION``.

        Raises:
            DaktelaUsageError: A variable is missing or invalid: ``parameter`` and the
                message name it. The message never shows a token or a password.
        """
        try:
            found = EnvSettings.read(os.environ if environ is None else environ)
        finally:
            # The variables (the password among them) leave this frame's locals.
            del environ
        for name in ("base_url", "token"):
            if name in kwargs:
                raise DaktelaUsageError(
                    f"from_env reads {name} from the environment; pass it to DaktelaClient() "
                    "instead",
                    parameter=name,
                )
        variables = {"base_url": ENV_URL, "token": found.token_variable}
        if "api_version" not in kwargs and found.api_version is not None:
            kwargs["api_version"] = found.api_version
            variables["api_version"] = ENV_API_VERSION
        try:
            return cls(found.url, found.token.value, **kwargs)
        except DaktelaUsageError as exc:
            variable = variables.get(exc.parameter or "")
            if variable is None:
                raise
            # The messages of the checks never repeat a token (check_token's says
            # what is wrong, not what it is): naming the variable is all that is added.
            raise DaktelaUsageError(f"{variable}: {exc}", parameter=variable) from None
        finally:
            del found

    def with_options(
        self,
        *,
        timeout: float | Timeouts | NotGiven | None = NOT_GIVEN,
        retries: int | RetryPolicy | NotGiven = NOT_GIVEN,
        api_version: str | NotGiven = NOT_GIVEN,
        token_in: TokenPlacement | NotGiven = NOT_GIVEN,
        headers: Mapping[str, str] | NotGiven = NOT_GIVEN,
    ) -> Self:
        """A view of this client with other defaults, sharing its connections.

        The view sends through this client's transport pool (its connections, limits,
        ``verify`` and ``max_answer_bytes``) with the same address and token; only the
        options given here differ::

            patient = client.with_options(timeout=120, retries=0)
            rows = await patient.statistics.stats_calls(...)

        Closing the view (``aclose()`` or ``async with``) only makes the view refuse
        further calls: the pool stays open for this client and its other views. Closing
        this client closes the pool under every view.

        Args:
            timeout: Default timeouts of the view: a :class:`Timeouts`, one number for
                all of them, or ``None`` for none (as ``call(timeout=...)``).
            retries: Default retry policy: a :class:`RetryPolicy`, or the number of
                retries on top of this client's policy (as ``call(retries=...)``).
            api_version: The newest API version the view uses.
            token_in: Where the view sends the token (``"query"`` or ``"cookie"``).
            headers: Extra headers, added to (and replacing same-named) ones of this
                client.

        Raises:
            DaktelaUsageError: An option is invalid.
        """
        view = copy.copy(self)
        if not isinstance(timeout, NotGiven):
            view._timeouts = Timeouts.of(timeout)
        if not isinstance(retries, NotGiven):
            view._retry = RetryPolicy.of(retries, self._retry)
        if not isinstance(api_version, NotGiven):
            view._api_version = check_version(api_version)
        if not isinstance(token_in, NotGiven):
            if token_in not in ("query", "cookie"):
                raise DaktelaUsageError(
                    f"token_in must be 'query' or 'cookie', not {token_in!r}",
                    parameter="token_in",
                )
            view._token_in = token_in
        if not isinstance(headers, NotGiven):
            extra = httpx.Headers(self._extra_headers)
            extra.update(check_headers(headers))  # names compare case-insensitively
            view._extra_headers = extra
            view._headers = all_headers(extra)
            view._header_pairs = header_pairs(view._headers)
        # Its own prepared calls: they depend on the settings changed above.
        view._prepared = {}
        view._owns_pool = False
        view._closed = False
        view._bind_namespaces()
        return view

    def __repr__(self) -> str:
        # getattr: a traceback with locals shows `self` of an __init__ that refused a
        # setting, before every attribute was set (Python 3.11's traceback module does
        # not guard against a repr that raises).
        base_url = getattr(self, "_base_url", None)
        api_version = getattr(self, "_api_version", None)
        token_in = getattr(self, "_token_in", None)
        return (
            f"DaktelaClient(base_url={base_url!r}, api_version={api_version!r}, "
            f"token={REDACTED}, token_in={token_in!r})"
        )

    @property
    def base_url(self) -> str:
        """The normalised PBX address (without ``/api``)."""
        return self._base_url

    @property
    def api_version(self) -> str:
        """The newest API version this client uses."""
        return self._api_version

    @property
    def timeouts(self) -> Timeouts:
        """The client's default timeouts (a watcher raises only read and deadline for holds)."""
        return self._timeouts

    @property
    def pool(self) -> TransportPool:
        """The transport pool (for its ``shard_count`` and ``in_flight``)."""
        return self._pool

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every connection. Calls made afterwards raise :class:`DaktelaUsageError`.

        A view made by :meth:`with_options` closes nothing: it only refuses further calls.
        """
        self._closed = True
        if self._owns_pool:
            await self._pool.aclose()

    # --- request preparation ------------------------------------------------------------

    def _prepare(
        self,
        action: str,
        id: object,
        *,
        version: str | NotGiven,
        format: str,
        timeout: float | Timeouts | NotGiven | None,
        retries: int | RetryPolicy | NotGiven,
        params: Mapping[str, object],
    ) -> Prepared:
        if self._closed:
            raise DaktelaUsageError("the client is closed; open a new one", action=action)
        key = cache_key(action, id, version, format, timeout, retries, params)
        if key is not None:
            try:
                found = self._prepared.get(key)
            except TypeError:  # a caller's unhashable Timeouts or RetryPolicy subclass
                key = found = None
            if found is not None:
                return found
        prepared = prepare_call(
            self,
            action,
            id,
            version=version,
            format=format,
            timeout=timeout,
            retries=retries,
            params=params,
        )
        if key is not None:
            if len(self._prepared) >= PREPARED_CACHE:
                self._prepared.clear()
            self._prepared[key] = prepared
        return prepared

    def _prepare_anew(
        self,
        action: str,
        id: object,
        *,
        version: str | NotGiven,
        format: str,
        timeout: float | Timeouts | NotGiven | None,
        retries: int | RetryPolicy | NotGiven,
        params: Mapping[str, object],
    ) -> Prepared:
        """*action* prepared with this client's settings, not through its cache.

        Raises:
            DaktelaUsageError: Bad input (nothing is sent).
        """
        return prepare_call(
            self,
            action,
            id,
            version=version,
            format=format,
            timeout=timeout,
            retries=retries,
            params=params,
        )

    def _send_once(self, prepared: Prepared, attempt: int) -> Awaitable[Answer]:
        """One attempt, its status unchecked (:meth:`_checked`).

        The pool's coroutine itself, not awaited here: one frame fewer on every resume
        of the request (an idle long poll resumes several times), unless someone reads
        the debug log, which times the attempt.
        """
        sending = self._pool.send(
            prepared.outgoing, prepared.timeouts, action=prepared.action, url=prepared.shown_url
        )
        if logger.isEnabledFor(logging.DEBUG):
            return self._send_logged(prepared, attempt, sending)
        return sending

    async def _send_logged(
        self, prepared: Prepared, attempt: int, sending: Awaitable[Answer]
    ) -> Answer:
        """Await *sending* and log the attempt's status and time (debug logging only)."""
        started = time.perf_counter()
        status: int | str = "error"
        try:
            response = await sending
            status = response.status_code
        finally:
            logger.debug(
                "%s -> %s in %.1f ms (attempt %d)",
                prepared.action,
                status,
                (time.perf_counter() - started) * 1000,
                attempt,
            )
        return response

    def _checked(self, prepared: Prepared, response: Answer) -> Answer:
        """*response*, unless its HTTP status is not 2xx.

        Raises:
            DaktelaHTTPStatusError: A non-2xx answer.
        """
        if not 200 <= response.status_code < 300:
            raise DaktelaHTTPStatusError(
                f"{prepared.action}: HTTP {response.status_code} {response.reason_phrase} "
                f"({prepared.shown_url})",
                action=prepared.action,
                status_code=response.status_code,
                url=prepared.shown_url,
                retry_after=_retry.parse_retry_after(response.headers.get("retry-after")),
            )
        return response

    async def _send(self, prepared: Prepared) -> Answer:
        attempt = 1
        while True:
            try:
                return self._checked(prepared, await self._send_once(prepared, attempt))
            except DaktelaError as exc:
                delay = _retry.next_delay(exc, prepared.policy, attempt, prepared.idempotent)
                if delay is None:
                    raise
                logger.debug(
                    "%s: retry %d in %.2f s after %s",
                    prepared.action,
                    attempt,
                    delay,
                    type(exc).__name__,
                )
            await prepared.policy.sleep(delay)
            attempt += 1

    # --- public low-level path ----------------------------------------------------------

    async def call(
        self,
        action: str,
        /,
        id: object = None,
        *,
        version: str | NotGiven = NOT_GIVEN,
        format: str = "json",
        timeout: float | Timeouts | NotGiven | None = NOT_GIVEN,
        retries: int | RetryPolicy | NotGiven = NOT_GIVEN,
        query: Mapping[str, object] | None = None,
        **params: object,
    ) -> Any:
        """Call any action and return the envelope's ``result``.

        Parameters are encoded the way PHP reads them: lists as ``x[]=a&x[]=b``, dicts as
        ``x[k]=v`` (nested dicts nest), ``None`` omitted, datetimes as ``YYYY-MM-DD
        HH:MM:SS``, a ``str`` exactly as given.

        Args:
            action: The action name, ``"GetQueues"``.
            id: The record id for the URL path (``/api/4.1/GetUsers/3/json``).
            version: Force the URL's API version; by default the highest documented form
                of the action that fits the parameters and ``api_version``.
            format: Only ``"json"``; use :meth:`call_raw` for ``"xml"``.
            timeout: Override the client's timeouts for this call.
            retries: Override the retry policy (an int is the number of retries).
            query: Parameters whose names clash with this method's own (``id`` in the
                query, as ``MoveRecords`` wants it).
            **params: The action's parameters.

        Raises:
            DaktelaAPIError: The server answered ``status: 0``.
            DaktelaHTTPStatusError: A non-2xx answer.
            DaktelaDecodeError: The answer is not a JSON envelope.
            DaktelaAnswerTooLargeError: The answer passed ``max_answer_bytes``.
            DaktelaTransportError: No answer (connect error, timeout).
            DaktelaUsageError: Bad input; nothing was sent.
        """
        if format != "json":
            raise DaktelaUsageError(
                f"{action}: call() decodes JSON envelopes; use call_raw() for format={format!r}",
                action=action,
                parameter="format",
            )
        merged = {**params, **query} if query else params
        prepared = self._prepare(
            action,
            id,
            version=version,
            format=format,
            timeout=timeout,
            retries=retries,
            params=merged,
        )
        response = await self._attempts(prepared)
        return self._result(prepared, response)

    def _attempts(self, prepared: Prepared) -> Awaitable[Answer]:
        """The attempts of *prepared*; without a retry, the one attempt, without the loop.

        Returned, not awaited here: a frame fewer on every resume of the request. The
        answer's status is checked by :meth:`_result`.
        """
        if prepared.policy.max_attempts > 1:
            return self._send(prepared)
        return self._send_once(prepared, 1)

    def _result(self, prepared: Prepared, response: Answer) -> Any:
        """The envelope's ``result`` (a non-2xx status and the envelope's errors raised)."""
        return decode_envelope(
            self._checked(prepared, response).content,
            action=prepared.action,
            status_code=response.status_code,
            # The holder, not its value: the plain token stays out of this frame's locals.
            secret=self._token,
        )

    async def call_raw(
        self,
        action: str,
        /,
        id: object = None,
        *,
        version: str | NotGiven = NOT_GIVEN,
        format: str = "json",
        timeout: float | Timeouts | NotGiven | None = NOT_GIVEN,
        retries: int | RetryPolicy | NotGiven = NOT_GIVEN,
        query: Mapping[str, object] | None = None,
        **params: object,
    ) -> RawResponse:
        """Call any action and return the answer undecoded (XML, recordings).

        Takes the same arguments as :meth:`call`, and ``format="xml"``. Non-2xx answers
        still raise :class:`DaktelaHTTPStatusError`; the body is not checked.
        """
        merged = {**params, **query} if query else params
        prepared = self._prepare(
            action,
            id,
            version=version,
            format=format,
            timeout=timeout,
            retries=retries,
            params=merged,
        )
        response = await self._send(prepared)
        headers = response.headers
        if not isinstance(headers, httpx.Headers):
            headers = httpx.Headers(list(headers.items()))
        return RawResponse(response.status_code, headers, response.content)

    def watch(
        self,
        users: Iterable[str] = (),
        *,
        stats: Iterable[str] = (),
        **options: Any,
    ) -> Watcher:
        """Watch agents (``RTUserState`` long polls) and realtime statistics.

        Use the result as an async context manager, then subscribe::

            async with client.watch(users=["hajek"], stats=("queues",)) as watcher:
                async with watcher.subscribe() as events:
                    async for event in events:
                        ...

        Args:
            users: Agent logins to long-poll.
            stats: Any of ``"queues"``, ``"sessions"``, ``"calls"``, ``"pauses"``,
                ``"summary"`` (the ``RTStats*`` endpoints) and ``"today"`` (the day's
                figures per queue from ``StatsCalls``, API 4.1).
            **options: Further :class:`~daktela_async.realtime.Watcher` options
                (``stats_interval``, ``service_level_threshold``, ``long_poll_timeout``,
                ``backoff``, ...).
        """
        from .realtime import Watcher

        return Watcher(self, users, stats=stats, **options)

    @asynccontextmanager
    async def stream_raw(
        self,
        action: str,
        /,
        id: object = None,
        *,
        version: str | NotGiven = NOT_GIVEN,
        format: str = "json",
        timeout: float | Timeouts | NotGiven | None = NOT_GIVEN,
        query: Mapping[str, object] | None = None,
        **params: object,
    ) -> AsyncIterator[httpx.Response]:
        """Call an action and yield the response with its body unread, for large answers.

        Read it with ``async for chunk in response.aiter_bytes()``; it is closed when the
        block exits. Streams are never retried (part of the body may have been consumed).

        Raises:
            DaktelaHTTPStatusError: A non-2xx answer (raised before yielding).
        """
        merged = {**params, **query} if query else params
        prepared = self._prepare(
            action, id, version=version, format=format, timeout=timeout, retries=0, params=merged
        )
        request = prepared.outgoing.request()
        async with self._pool.stream(
            request, prepared.timeouts, action=action, url=prepared.shown_url
        ) as response:
            if not 200 <= response.status_code < 300:
                raise DaktelaHTTPStatusError(
                    f"{action}: HTTP {response.status_code} ({prepared.shown_url})",
                    action=action,
                    status_code=response.status_code,
                    url=prepared.shown_url,
                )
            yield response
