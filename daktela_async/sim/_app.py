"""The simulator's ASGI application: the legacy API, the long poll, faults, control.

Routes:

- ``/api/{version}/{Action}/{format}`` and ``/api/{version}/{Action}/{id}/{format}``
  (GET, or POST with a form body): the API. The token is read from the
  ``access_token`` query parameter or cookie; a wrong one gets the document's
  ``{"error":"Uživatel neexistuje","status":0}``. ``GetRecording`` needs no token (the
  recording hash is the credential, as in the document's example).
- ``GET /_sim/state``, ``GET|POST|DELETE /_sim/faults``, ``POST /_sim/advance``: control
  endpoints (token required; never faulted). ``POST /_sim/faults`` takes one fault or a
  list of them as JSON objects keyed like :class:`Fault`'s attributes (``kind``,
  ``seconds``, ``status``, ``retry_after``, ``garbage``, ``probability``, ``duration``,
  ``count``, ``actions``, ``users``; see :meth:`Fault.from_json`), for example
  ``{"kind": "status", "status": 503, "users": ["hajek"]}`` (only ``hajek``'s
  ``RTUserState`` and other requests with ``user=hajek`` fail); ``DELETE`` removes the
  fault ``?id=N``, or all of them. ``POST /_sim/advance?seconds=S`` moves the clock
  forward by 0 to 86400 simulated seconds. Bad input gets 400 with ``{"error": ...}``.

The application is backend-agnostic (anyio): the threaded :class:`Simulator` serves it
with uvicorn on asyncio, and tests may call it in memory through ``httpx.ASGITransport``
on either backend. Its lifespan runs the :class:`~daktela_async.sim._dynamics.Driver`
(timers in real time) and, when enabled, the call-centre model; in memory without a
lifespan, due timers still run at the start of every request.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final

import anyio
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .._transport._query import parse_php_query
from ._dynamics import CallCentre, Driver
from ._faults import Fault, FaultPlan
from ._holds import HoldEnds, Traffic, Waiters, hold_deadline
from ._render import Views, php_json, to_xml
from .handlers import HANDLERS, Answer, ApiRequest, rt_user_state_agent
from .state import ERR_NOT_LOGGED, ERR_USER_UNKNOWN, SimError, SimState

__all__ = ["SimContext", "create_app"]

_log = logging.getLogger("daktela_async.sim")

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_JSON: Final = b"application/json; charset=utf-8"
_XML: Final = b"application/xml; charset=utf-8"
_HTML: Final = b"text/html; charset=utf-8"
_NO_TOKEN_ACTIONS: Final = frozenset({"GetRecording"})
#: The longest step of ``POST /_sim/advance``, in simulated seconds (a day): every timer
#: due in between runs, so a longer step could keep the server busy for minutes.
_MAX_ADVANCE: Final = 86_400.0
_GARBAGE_HTML: Final = (
    b"<!DOCTYPE html><html><head><title>Daktela</title></head><body>"
    b"<h1>Omlouvame se, probiha udrzba</h1><p>Server is under maintenance.</p></body></html>"
)
_HANG_POLL: Final = 0.25


class SimContext:
    """What the application serves: state, views, faults and the long-poll plumbing.

    Attributes:
        state: The PBX.
        views: Answer rendering (with the realtime caches).
        faults: The fault plan.
        hold: Seconds ``RTUserState`` with an unchanged ``hash`` is held.
        hold_ends: When an unchanged held poll ends: ``"arrival"`` (a whole hold after
            it arrived), ``"spread"`` or ``"together"`` (see :func:`hold_deadline`).
        dynamics: The call-centre model to run during the lifespan, if any.
        aborter: Set by the server: aborts the connection of an ASGI scope (for the
            ``reset`` fault); returns ``False`` when it cannot.
        held: How many ``RTUserState`` requests are being held right now.
    """

    def __init__(
        self, state: SimState, faults: FaultPlan, hold: float, dynamics: CallCentre | None
    ) -> None:
        self.state = state
        self.views = Views(state)
        self.faults = faults
        self.hold = hold
        self.hold_ends: HoldEnds = "arrival"
        self.dynamics = dynamics
        self.aborter: Callable[[Scope], bool] | None = None
        self.held = 0
        self.traffic = Traffic()
        self.closing = False
        self.driver = Driver(state)
        self._closed: anyio.Event | None = None
        self._waiters = Waiters()
        state.subscribe(self._on_change)

    def _on_change(self, kind: str, subject: Any) -> None:
        if kind == "agent":
            self._waiters.wake(subject.user_id)
        elif kind == "catalog":
            self._waiters.wake_all()
        elif kind == "timers":
            self.driver.poke()

    def close(self) -> None:
        """Release every held request now (shutdown); run in the serving loop."""
        self.closing = True
        if self._closed is not None:
            self._closed.set()
        self._waiters.wake_all()
        self.driver.stop()

    def closed_event(self) -> anyio.Event:
        """An event set when the application shuts down (create in async code)."""
        if self._closed is None or (self._closed.is_set() and not self.closing):
            self._closed = anyio.Event()
        return self._closed

    def authorised(self, scope: Scope, params: dict[str, Any]) -> bool:
        """Whether the request carries a valid token (query or cookie)."""
        token = params.get("access_token")
        if not isinstance(token, str) or not token:
            token = _cookie(scope, "access_token")
        return bool(token) and token in self.state.tokens

    async def held_user_state(self, req: ApiRequest, client_hash: str) -> str:
        """``RTUserState`` with ``hash``: held until the state changes or the hold ends.

        Answers as soon as the agent's hash differs from *client_hash*, or after
        :attr:`hold` seconds with the unchanged state (and hash).
        """
        login = str(req.get("user"))
        deadline = hold_deadline(anyio.current_time(), self.hold, login, self.hold_ends)
        self.held += 1
        self.traffic.hold(login)
        try:
            while True:
                self.state.sync()
                user_id, agent = rt_user_state_agent(self.state, req)
                user = self.state.users[user_id]
                body: str | None = None
                if agent.logged:
                    body, digest = self.views.user_state_with_hash(user, agent)
                    if digest != client_hash:
                        return body
                remaining = deadline - anyio.current_time()
                if remaining <= 0 or self.closing:
                    if body is None:
                        raise SimError(ERR_NOT_LOGGED)
                    return body
                # Nothing can change between the check above and this wait: the state
                # only changes on this event loop, and there is no await in between.
                event = self._waiters.event(user_id)
                with anyio.move_on_after(remaining):
                    await event.wait()
        finally:
            self.held -= 1
            self.traffic.release(login)


def _cookie(scope: Scope, name: str) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == b"cookie":
            for part in value.decode("latin-1").split(";"):
                k, _, v = part.strip().partition("=")
                if k == name:
                    return str(v)
    return None


def _version(text: str) -> tuple[int, int] | None:
    major, _, minor = text.partition(".")
    if major.isdigit() and (minor.isdigit() or minor == ""):
        return int(major), int(minor or 0)
    return None


def _envelope(answer: Answer) -> str:
    result = answer.raw if answer.raw is not None else php_json(answer.result)
    if answer.style == "bare":
        return '{"error":null,"status":1}'
    if answer.style == "ok_er":
        return '{"error":null,"status":1,"result":' + result + "}"
    return '{"status":1,"error":null,"result":' + result + "}"


def _error_envelope(message: str) -> str:
    return '{"error":' + php_json(message) + ',"status":0}'


def _xml_body(answer: Answer | None, error: str | None) -> bytes:
    if error is not None:
        return to_xml({"error": error, "status": 0}).encode()
    if answer is None:
        raise TypeError("an XML answer needs an answer or an error")
    result = json.loads(answer.raw) if answer.raw is not None else answer.result
    envelope: dict[str, Any] = {"status": 1, "error": None}
    if answer.style != "bare":
        envelope["result"] = result
    return to_xml(envelope).encode()


async def _send(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _Api:
    """The ``/api/...`` endpoint as a raw ASGI app (it is the benchmarks' hot path)."""

    def __init__(self, ctx: SimContext) -> None:
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ctx = self.ctx
        parts = scope["path"].split("/")[2:]
        if parts and parts[-1] == "":
            parts.pop()
        version = _version(parts[0]) if parts else None
        if version is None or not 2 <= len(parts) <= 4:
            await _send(send, 404, b"Not Found", b"text/plain")
            return
        action = parts[1]
        fmt = parts[-1].lower() if len(parts) >= 3 else "json"
        record_id = parts[2] if len(parts) == 4 else None
        params = parse_php_query(scope.get("query_string", b"").decode("latin-1"))
        if scope.get("method") == "POST":
            body = await _read_body(receive)
            if body:
                params.update(parse_php_query(body.decode("utf-8", "replace")))
        req = ApiRequest(version, action, record_id, fmt, params)
        ctx.traffic.request(action, params.get("user"))

        # The agent login a fault may be limited to: RTUserState?user=..., PauseOn, ...
        faults = ctx.faults.pick(action, user=req.get("user"))
        terminal: Fault | None = None
        for fault in faults:
            if fault.kind == "latency":
                await anyio.sleep(fault.seconds)
            elif terminal is None:
                terminal = fault
        if terminal is not None:
            if terminal.kind == "hang":
                if not await self._hang(terminal, receive):
                    return
            elif terminal.kind == "status":
                headers = (
                    []
                    if terminal.retry_after is None
                    else [(b"retry-after", str(int(terminal.retry_after)).encode())]
                )
                body_text = (
                    f"<html><body><h1>{terminal.status} Error</h1>"
                    "<p>simulated fault</p></body></html>"
                ).encode()
                await _send(send, terminal.status, body_text, _HTML, headers)
                return
            elif terminal.kind == "reset":
                await self._reset(scope, receive)
                return
            elif terminal.kind == "garbage" and terminal.garbage == "html":
                await _send(send, 200, _GARBAGE_HTML, _HTML)
                return
            elif terminal.kind == "garbage" and terminal.garbage == "wrong_shape":
                await _send(send, 200, b'{"success":true,"data":[]}', _JSON)
                return

        answered = await self._answer(scope, req, receive)
        if answered is None:
            return
        status, body_bytes, content_type, headers = answered
        if terminal is not None and terminal.kind == "garbage":  # truncated
            body_bytes = body_bytes[: max(1, len(body_bytes) // 2)]
        await _send(send, status, body_bytes, content_type, headers)

    async def _answer(
        self,
        scope: Scope,
        req: ApiRequest,
        receive: Receive,
    ) -> tuple[int, bytes, bytes, list[tuple[bytes, bytes]]] | None:
        ctx = self.ctx
        xml = req.format == "xml"
        try:
            if req.action not in _NO_TOKEN_ACTIONS and not ctx.authorised(scope, req.params):
                raise SimError(ERR_USER_UNKNOWN)
            handler = HANDLERS.get(req.action)
            if handler is None:
                raise SimError(f"Neznámá akce {req.action}")
            ctx.state.sync()
            client_hash = req.get("hash")
            if req.action == "RTUserState" and client_hash and req.version >= (4, 0):
                raw = await self._held(req, client_hash, receive)
                if raw is None:
                    return None  # the client left: nobody to answer
                answer = Answer(raw=raw)
            else:
                answer = handler(ctx.state, ctx.views, req)
        except SimError as exc:
            if xml:
                return 200, _xml_body(None, str(exc)), _XML, []
            return 200, _error_envelope(str(exc)).encode(), _JSON, []
        except Exception:
            _log.exception("simulator bug answering %s", req.action)
            return 500, _error_envelope("Interní chyba simulátoru").encode(), _JSON, []
        if answer.body is not None:
            content_type = (answer.content_type or "application/octet-stream").encode()
            return (
                200,
                answer.body,
                content_type,
                [(b"content-disposition", b'attachment; filename="recording.wav"')],
            )
        if xml:
            return 200, _xml_body(answer, None), _XML, []
        return 200, _envelope(answer).encode(), _JSON, []

    async def _held(self, req: ApiRequest, client_hash: str, receive: Receive) -> str | None:
        """A held ``RTUserState``; ``None`` when the client hung up first.

        A client that cancels its poll closes the connection: the hold ends with it, so
        that :class:`Traffic` counts only the polls a client is really waiting on.
        """
        answer: list[str] = []
        failure: list[Exception] = []
        async with anyio.create_task_group() as tg:

            async def hold() -> None:
                try:
                    answer.append(await self.ctx.held_user_state(req, client_hash))
                except Exception as exc:
                    failure.append(exc)
                tg.cancel_scope.cancel()

            tg.start_soon(hold)
            while (await receive())["type"] != "http.disconnect":
                pass
            tg.cancel_scope.cancel()
        if failure:
            raise failure[0]
        return answer[0] if answer else None

    async def _hang(self, fault: Fault, receive: Receive) -> bool:
        """Hold the request; ``True`` when it may be answered (the fault ended)."""
        ctx = self.ctx
        gone = False
        async with anyio.create_task_group() as tg:

            async def watch_disconnect() -> None:
                nonlocal gone
                while (await receive())["type"] != "http.disconnect":
                    pass
                gone = True
                tg.cancel_scope.cancel()

            tg.start_soon(watch_disconnect)
            closed = ctx.closed_event()
            # Removal through the control API sets no event, so re-check now and then.
            while not (ctx.faults.hang_over(fault) or ctx.closing):
                with anyio.move_on_after(_HANG_POLL):
                    await closed.wait()
            tg.cancel_scope.cancel()
        return not gone and not ctx.closing

    async def _reset(self, scope: Scope, receive: Receive) -> None:
        if self.ctx.aborter is not None and self.ctx.aborter(scope):
            # Let the server notice the dead connection, so it does not answer 500.
            with anyio.move_on_after(1.0):
                while (await receive())["type"] != "http.disconnect":
                    pass
            return
        # No socket (in memory): fail the exchange the way a reset fails it for httpx.
        raise httpx.ReadError("connection reset by the simulator (fault injection)")


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _control(ctx: SimContext) -> list[Route]:
    def denied(request: Request) -> bool:
        token = request.query_params.get("access_token") or request.cookies.get("access_token")
        return not token or token not in ctx.state.tokens

    async def state(request: Request) -> Response:
        if denied(request):
            return JSONResponse({"error": ERR_USER_UNKNOWN}, status_code=401)
        ctx.state.sync()
        snapshot = ctx.state.snapshot()
        snapshot["held_requests"] = ctx.held
        snapshot["faults"] = [f.to_json() for f in ctx.faults.active()]
        return JSONResponse(snapshot)

    async def faults(request: Request) -> Response:
        if denied(request):
            return JSONResponse({"error": ERR_USER_UNKNOWN}, status_code=401)
        if request.method == "GET":
            return JSONResponse([f.to_json() for f in ctx.faults.active()])
        if request.method == "DELETE":
            fault_id = request.query_params.get("id")
            removed = ctx.faults.remove(int(fault_id) if fault_id and fault_id.isdigit() else None)
            return JSONResponse({"removed": removed})
        try:
            data = await request.json()
        except (ValueError, RecursionError):  # not JSON, not UTF-8, nested too deep
            return JSONResponse(
                {"error": "the body must be a JSON object or list"}, status_code=400
            )
        items = data if isinstance(data, list) else [data]
        try:
            # Every fault is checked before any is added: a list is all or nothing.
            built = [Fault.from_json(item) for item in items]
        except (ValueError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        added = [ctx.faults.add(fault).to_json() for fault in built]
        return JSONResponse(added if isinstance(data, list) else added[0], status_code=201)

    async def advance(request: Request) -> Response:
        if denied(request):
            return JSONResponse({"error": ERR_USER_UNKNOWN}, status_code=401)
        text = request.query_params.get("seconds", "0")
        try:
            seconds = float(text)
        except ValueError:
            seconds = math.nan
        # NaN would poison the clock for good, infinity or a huge step would run
        # timers without end: both are refused before the clock is touched.
        if not (math.isfinite(seconds) and 0 <= seconds <= _MAX_ADVANCE):
            return JSONResponse(
                {"error": f"seconds must be a number from 0 to {_MAX_ADVANCE:g}, not {text!r}"},
                status_code=400,
            )
        try:
            ran = ctx.state.advance(seconds)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        ctx.driver.poke()
        return JSONResponse({"time": ctx.state.snapshot()["time"], "timers_run": ran})

    return [
        Route("/_sim/state", state, methods=["GET"]),
        Route("/_sim/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route("/_sim/advance", advance, methods=["POST"]),
    ]


def create_app(
    state: SimState | None = None,
    *,
    faults: FaultPlan | None = None,
    hold: float = 60.0,
    hold_ends: HoldEnds = "arrival",
    dynamics: bool | CallCentre = False,
) -> Starlette:
    """Build the simulator's ASGI application.

    Args:
        state: The PBX to serve (a default 50-agent, frozen-clock state when ``None``).
        faults: The fault plan (an empty one, seeded with the state's seed, when
            ``None``).
        hold: Seconds ``RTUserState`` with an unchanged ``hash`` is held (the
            document's 60).
        hold_ends: When an unchanged held poll ends (see :func:`hold_deadline`).
        dynamics: ``True`` (or a configured :class:`CallCentre`) runs the call-centre
            model during the application's lifespan.

    Returns:
        A Starlette application; its :class:`SimContext` is ``app.state.sim``.
    """
    sim_state = state if state is not None else SimState()
    plan = faults if faults is not None else FaultPlan(sim_state.seed)
    model = (
        dynamics
        if isinstance(dynamics, CallCentre)
        else (CallCentre(sim_state, seed=sim_state.seed) if dynamics else None)
    )
    ctx = SimContext(sim_state, plan, hold, model)
    ctx.hold_ends = hold_ends

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # A simulator's server may stop and start again (outage tests): fresh driver.
        ctx.closing = False
        ctx.driver = Driver(ctx.state)
        async with anyio.create_task_group() as tg:
            if ctx.dynamics is not None:
                ctx.dynamics.start()
            tg.start_soon(ctx.driver.run)
            try:
                yield
            finally:
                if ctx.dynamics is not None:
                    ctx.dynamics.stop()
                ctx.close()

    api = _Api(ctx)
    app = Starlette(
        routes=[*_control(ctx), Route("/api/{rest:path}", api, methods=["GET", "POST"])],
        lifespan=lifespan,
    )
    app.state.sim = ctx
    return app
