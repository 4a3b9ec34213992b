"""The webhook receiver: an ASGI application that answers the PBX's CRM hooks fast.

The PBX's dialplan calls ``notify_crm_api.agi`` with a URL; the script GETs it, and the
call waits until the answer comes. The answer, a flat JSON object, is read into
``HASH(CRMAPI, KEY)`` for the rest of the call flow. For every request
:class:`WebhookApp`:

1. checks the IP allow-list and the shared secret (``403 {"error": "forbidden"}``);
2. parses the hook into an event (:func:`parse_hook`; ``400 {"error": "..."}``);
3. publishes the event to the hub, *before* the lookup, so subscribers see every call
   even when the CRM is slow;
4. runs the lookup callback within the time budget and answers ``200`` with its result
   flattened to strings (:func:`flatten_answer`). A lookup that is too slow is
   cancelled, one that fails (whatever it raises, a ``CancelledError`` or an exception
   group too) or returns something that cannot be flattened is logged: in every such
   case the PBX gets ``200 {}``, never an error page. Only a real cancellation of the
   request (the server shutting down), ``KeyboardInterrupt`` and ``SystemExit`` go on.

The application answers on every path, so it can be served alone or put under any
path of a larger application: ``Route("/crm/hook", app)`` in Starlette (an ASGI app as a
route's endpoint takes every method), or ``Mount("/crm", app)`` /
``app.mount("/crm", app)`` in FastAPI for everything under ``/crm/``. Note that
Starlette answers a request for a mount's own path (``/crm``) with a redirect to
``/crm/``, which the AGI script may not follow.

Logs go to the ``daktela_async.webhooks`` logger: one INFO line per answered hook, a
WARNING per rejected request or slow lookup, an ERROR with traceback per failing
lookup. They never contain the shared secret, and values from the request (``idcall``,
``line``, the client's address) are written with control characters escaped as in
``repr``, so that a hook cannot forge log lines. Note that a server's access log
(uvicorn's ``access_log``) prints the whole query string, the secret included: turn it
off, as ``daktela-async webhooks serve`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import logging
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Final, TypeAlias, cast
from urllib.parse import parse_qsl

import anyio
import anyio.lowlevel
import attrs
import orjson
import sniffio

try:
    from starlette.requests import ClientDisconnect, Request
    from starlette.responses import Response
    from starlette.types import Receive, Scope, Send
except ModuleNotFoundError as exc:  # pragma: no cover - depends on the installed extras
    raise ModuleNotFoundError(
        "daktela_async.webhooks needs Starlette: pip install 'daktela-async[webhooks]'",
        name=exc.name,
    ) from exc

from .._config import LOOKUP_BUDGET, MAX_BODY
from .._errors import DaktelaUsageError
from .._hub import Hub
from ._events import IncomingCall, WebhookEvent
from ._hooks import SECRET_PARAM, flatten_answer, parse_hook

__all__ = [
    "LOOKUP_BUDGET",
    "MAX_BODY",
    "SECRET_HEADER",
    "SECRET_PARAM",
    "Lookup",
    "WebhookApp",
    "WebhookStats",
    "flatten_answer",
    "parse_hook",
]

_log = logging.getLogger("daktela_async.webhooks")

# LOOKUP_BUDGET and MAX_BODY are defaults, kept with the others in _config.py; SECRET_PARAM is
# defined with parse_hook (in _hooks), which drops it from events.
#: Proxies and other senders that can set headers keep the secret out of URLs and access logs.
SECRET_HEADER: Final = "X-Daktela-Secret"  # noqa: S105 - a header name

#: The lookup callback: the published (stamped) event in, the PBX's answer out.
Lookup: TypeAlias = Callable[[WebhookEvent], Awaitable[Mapping[str, object] | None]]

_JSON: Final = "application/json"
_FORM: Final = "application/x-www-form-urlencoded"
_EMPTY: Final = b"{}"

Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network


@attrs.frozen(slots=True)
class WebhookStats:
    """Counters of a :class:`WebhookApp` since it was created.

    Attributes:
        hooks: Valid hooks received (each one published one event).
        answered: Hooks whose lookup returned a mapping within the budget.
        timeouts: Lookups cancelled at the budget (answered ``{}``).
        failures: Lookups that raised or returned something other than a mapping or
            ``None`` (answered ``{}``).
        rejected: Requests answered ``400`` (bad parameters), ``405`` or ``413``.
        forbidden: Requests answered ``403`` (allow-list or secret).
    """

    hooks: int
    answered: int
    timeouts: int
    failures: int
    rejected: int
    forbidden: int


class _BadRequest(Exception):
    """A request that is not a hook; answered with its status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _networks(allow: Iterable[str] | None) -> tuple[Network, ...] | None:
    if allow is None:
        return None
    if isinstance(allow, str):
        allow = [allow]
    networks: list[Network] = []
    for entry in allow:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError as exc:
            raise DaktelaUsageError(
                f"allow: {entry!r} is not an IP address or network", parameter="allow"
            ) from exc
    return tuple(networks)


def _printable(value: object) -> str:
    r"""*value* for a log line: non-printable characters and backslashes escaped as in repr.

    Hook parameters are the caller's to choose; a ``\r\n`` in ``idcall`` must not
    start a forged line in the log, nor an escape sequence repaint the operator's terminal.
    """
    text = str(value)
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(ch if ch.isprintable() and ch != "\\" else repr(ch)[1:-1] for ch in text)


def _describe(event: WebhookEvent) -> str:
    if isinstance(event, IncomingCall):
        return f"{event.kind} seq={event.seq}"
    return (
        f"{event.kind} seq={event.seq} call={_printable(event.call_id)} "
        f"line={_printable(event.line)}"
    )


def _fatal(exc: BaseException) -> bool:
    """Whether *exc* asks the process to stop, which no lookup failure may hide."""
    fatal = (KeyboardInterrupt, SystemExit)
    if isinstance(exc, BaseExceptionGroup):
        return exc.subgroup(fatal) is not None
    return isinstance(exc, fatal)


def _cancellations() -> int | None:
    """The current asyncio task's pending cancellation requests (``None`` off asyncio)."""
    if sniffio.current_async_library() != "asyncio":
        return None
    task = asyncio.current_task()
    return task.cancelling() if task is not None else None


def _cancelled_since(before: int | None) -> bool:
    """Whether the asyncio task got a cancellation request since it had *before* of them.

    A ``CancelledError`` (or a group of them) raised *by a lookup* is not necessarily a
    cancellation of the request: a lookup may re-raise one from a future that something
    else cancelled. A real one (the server's shutdown) is visible on the task, here;
    or, on either backend, as a cancelled enclosing cancel scope, which
    ``anyio.lowlevel.checkpoint_if_cancelled()`` raises.
    """
    now = _cancellations()
    return before is not None and now is not None and now > before


class WebhookApp:
    """ASGI application receiving the PBX's CRM hooks (see the module docstring).

    Example::

        async def lookup(event: WebhookEvent) -> dict[str, str] | None:
            if isinstance(event, IncomingCall):
                contact = await crm.find(event.caller)
                return {"NAME": contact.name, "ADDRESS": contact.address}
            return None

        async with client.watch(users=["hajek"]) as watcher:
            app = WebhookApp(lookup, hub=watcher.hub, secret="s3cret")
            # serve `app`, or route to it: Route("/crm/hook", app)

    Args:
        lookup: ``async def lookup(event) -> Mapping[str, object] | None``, called with
            the published event for every hook; what it returns is the PBX's answer
            (flattened by :func:`flatten_answer`; ``None`` answers ``{}``). Without a
            lookup every hook is answered ``{}`` (events are still published). It is
            cancelled when the budget passes; one that swallows the cancellation
            delays the answer.
        hub: Where events are published: a watcher's ``watcher.hub``, so one
            subscriber sees realtime and webhook events together, or any
            :class:`~daktela_async.realtime.Hub`. By default a new hub, as :attr:`hub`.
        budget: Seconds from the request's arrival to the answer: past it the lookup is
            cancelled and the PBX gets ``{}``.
        secret: A shared secret the hook must carry exactly once, as the *secret_param*
            query (or form) parameter or the *secret_header* header; compared in
            constant time. A request carrying several values is refused, even when one
            of them is right: one request must not carry many guesses.
        secret_header: The header that may carry the secret.
        secret_param: The query parameter that may carry the secret (never kept in
            events, whether or not a secret is set).
        allow: IP addresses and networks (``"10.0.0.0/8"``) allowed to call; the client
            address is the ASGI scope's ``client`` (what the server saw, or what its
            proxy-header handling put there: let the server believe ``X-Forwarded-For``
            from your proxy only, never from just any local client). A single string is
            one entry. ``None`` allows everybody.

    Attributes:
        hub: The hub events are published to (subscribe to it for webhook events).
        budget: The time budget in seconds.

    Raises:
        DaktelaUsageError: Bad settings: a lookup that is not callable, a budget that is
            not a positive number, an empty secret, or an allow-list entry that is not
            an address or network.
    """

    def __init__(
        self,
        lookup: Lookup | None = None,
        *,
        hub: Hub | None = None,
        budget: float = LOOKUP_BUDGET,
        secret: str | None = None,
        secret_header: str = SECRET_HEADER,
        secret_param: str = SECRET_PARAM,
        allow: Iterable[str] | None = None,
    ) -> None:
        if lookup is not None and not callable(lookup):
            raise DaktelaUsageError("lookup must be an async callable", parameter="lookup")
        if not (isinstance(budget, int | float) and math.isfinite(budget) and budget > 0):
            raise DaktelaUsageError(
                f"budget must be a positive number of seconds, not {budget!r}", parameter="budget"
            )
        if secret is not None and not secret:
            raise DaktelaUsageError("secret must not be empty", parameter="secret")
        self._lookup = lookup
        self.hub = hub if hub is not None else Hub()
        self.budget = float(budget)
        self._secret = secret.encode() if secret is not None else None
        self._secret_header = secret_header
        self._secret_param = secret_param
        self._allow = _networks(allow)
        self._hooks = 0
        self._answered = 0
        self._timeouts = 0
        self._failures = 0
        self._rejected = 0
        self._forbidden = 0

    def __repr__(self) -> str:
        protected = [
            *(["secret"] if self._secret is not None else []),
            *(["allow-list"] if self._allow is not None else []),
        ]
        return f"<WebhookApp budget={self.budget:g}s protected={','.join(protected) or 'no'}>"

    @property
    def stats(self) -> WebhookStats:
        """The counters so far."""
        return WebhookStats(
            hooks=self._hooks,
            answered=self._answered,
            timeouts=self._timeouts,
            failures=self._failures,
            rejected=self._rejected,
            forbidden=self._forbidden,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1008})
            return
        response = await self._handle(Request(scope, receive))
        await response(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _handle(self, request: Request) -> Response:
        start = anyio.current_time()
        address = request.client.host if request.client is not None else None
        # Escaped for the log: behind a trusted proxy it comes from X-Forwarded-For.
        client = _printable(address)
        if not self._allowed(address):
            return self._forbid(client, "address not in the allow-list")
        try:
            if request.method not in ("GET", "POST"):
                raise _BadRequest(405, f"method {request.method} not allowed (GET or POST)")
            params = list(request.query_params.multi_items())
            if request.method == "POST":
                params.extend(await self._form(request))
            refusal = self._check_secret(request, params)
            if refusal is not None:
                return self._forbid(client, refusal)
            event = parse_hook(params, secret_param=self._secret_param)
        except (_BadRequest, DaktelaUsageError) as exc:
            status = exc.status if isinstance(exc, _BadRequest) else 400
            self._rejected += 1
            _log.warning(
                "bad hook from %s: %s (answered %d)", client, _printable(exc.message), status
            )
            headers = {"Allow": "GET, POST"} if status == 405 else None
            return _json({"error": exc.message}, status, headers)
        self._hooks += 1
        published = self._publish(event)
        body, outcome = await self._answer(published, start + self.budget)
        elapsed = (anyio.current_time() - start) * 1000
        _log.info("%s from %s: %s in %.1f ms", _describe(published), client, outcome, elapsed)
        return Response(body, 200, media_type=_JSON)

    def _allowed(self, client: str | None) -> bool:
        if self._allow is None:
            return True
        if client is None:
            return False
        try:
            address = ipaddress.ip_address(client)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self._allow)

    def _check_secret(self, request: Request, params: Sequence[tuple[str, str]]) -> str | None:
        """Why the request's secret is refused, or ``None`` when it is the one expected."""
        if self._secret is None:
            return None
        given = [value for name, value in params if name == self._secret_param]
        given += request.headers.getlist(self._secret_header)
        if not given:
            return "missing or wrong secret"
        if len(given) > 1:
            # One request carrying many guesses must not pass because one of them is right.
            return f"more than one secret given ({len(given)})"
        if not hmac.compare_digest(given[0].encode(), self._secret):
            return "missing or wrong secret"
        return None

    def _forbid(self, client: str, reason: str) -> Response:
        self._forbidden += 1
        _log.warning("hook from %s refused: %s (answered 403)", client, reason)
        return _json({"error": "forbidden"}, 403)

    async def _form(self, request: Request) -> list[tuple[str, str]]:
        body = bytearray()
        try:
            async with contextlib.aclosing(request.stream()) as chunks:
                async for chunk in chunks:
                    body += chunk
                    if len(body) > MAX_BODY:
                        raise _BadRequest(413, f"body larger than {MAX_BODY} bytes")
        except ClientDisconnect as exc:
            # The sender left (or the server closed a body that came too slowly): log a
            # line, not an "Exception in ASGI application" traceback.
            raise _BadRequest(400, "the client disconnected before the body ended") from exc
        if not body:
            return []
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != _FORM:
            raise _BadRequest(400, f"a POST body must be {_FORM}")
        return parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)

    def _publish(self, event: WebhookEvent) -> WebhookEvent:
        try:
            published = self.hub.publish(event)
        except Exception:
            # The hub never raises by design; if it did, the PBX must still get its answer.
            _log.exception("publishing %s failed", event.kind)
            return event
        # attrs.evolve keeps the class: the stamped event is the same kind of event.
        return cast("WebhookEvent", published)

    async def _answer(self, event: WebhookEvent, deadline: float) -> tuple[bytes, str]:
        if self._lookup is None:
            return _EMPTY, "no lookup, answered {}"
        cancellations = _cancellations()
        done = False
        result: object = None
        try:
            with anyio.CancelScope(deadline=deadline):
                result = await self._lookup(event)
                done = True
        except Exception:
            return self._failed(event, "lookup failed")
        except BaseException as exc:
            # A CancelledError or a BaseExceptionGroup the lookup raised itself is still a
            # failing lookup, answered {}; a real cancellation of the request (server
            # shutdown) and Ctrl-C go on.
            if _fatal(exc) or _cancelled_since(cancellations):
                raise
            await anyio.lowlevel.checkpoint_if_cancelled()
            return self._failed(event, "lookup failed")
        if not done:
            self._timeouts += 1
            _log.warning(
                "lookup for %s took longer than %g s; cancelled, answered {}",
                _describe(event),
                self.budget,
            )
            return _EMPTY, "lookup timed out, answered {}"
        try:
            return self._flat(event, result)
        except Exception:
            # The answer's own code (__str__, items(), __iter__) raised while flattening.
            return self._failed(event, "lookup answer unusable")
        except BaseException as exc:
            if _fatal(exc):
                raise
            return self._failed(event, "lookup answer unusable")

    def _failed(self, event: WebhookEvent, what: str) -> tuple[bytes, str]:
        """Count and log a lookup failure (with its traceback); the answer is ``{}``."""
        self._failures += 1
        _log.error("%s for %s; answered {}", what, _describe(event), exc_info=True)
        return _EMPTY, f"{what}, answered {{}}"

    def _flat(self, event: WebhookEvent, result: object) -> tuple[bytes, str]:
        if result is None:
            self._answered += 1
            return _EMPTY, "lookup returned None, answered {}"
        if not isinstance(result, Mapping):
            self._failures += 1
            _log.error(
                "lookup for %s returned %s, not a mapping; answered {}",
                _describe(event),
                _printable(type(result).__name__),
            )
            return _EMPTY, "lookup answer unusable, answered {}"
        try:
            flat = flatten_answer(result)
        except (ValueError, RecursionError) as exc:
            self._failures += 1
            _log.error("lookup answer for %s unusable (%s); answered {}", _describe(event), exc)
            return _EMPTY, "lookup answer unusable, answered {}"
        self._answered += 1
        return orjson.dumps(flat), f"answered {len(flat)} keys"


def _json(
    body: Mapping[str, str], status: int, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(dict(body)), status, headers=headers, media_type=_JSON)
