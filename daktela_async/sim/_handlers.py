"""One function per action: a parsed request in, an :class:`Answer` (or a refusal) out.

Handlers are synchronous and pure with respect to I/O: they read and change the
:class:`~daktela_async.sim._state.SimState` and build the documented answer shape
(through :class:`~daktela_async.sim._render.Views`). Refusals are
:class:`~daktela_async.sim._state.SimError` exceptions carrying the server's text.

The only action with waiting in it, ``RTUserState`` with ``hash``, is split: the
handler here answers at once, and the ASGI app holds the request first
(:mod:`daktela_async.sim._app`).

Where the document shows two answer shapes for one action name, the URL version picks:
``GetPauses`` below 3.3 answers the old ``pcode`` rows; ``GetStatuses`` from 4.0 answers
the autodialer's list; ``RTUserState`` from 4.0 adds ``login_oqueues`` and ``hash``.
``CreateCall`` and ``Monitoring`` pick by parameters (``user`` versus ``extension``/
``exten``), as the document's two entries for each do.
"""

from __future__ import annotations

import io
import math
import struct
import wave
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final, Literal

from daktela_async.sim._clock import fmt, fmt_opt, parse_dt
from daktela_async.sim._model import Agent, Call, Record, SmsGroup
from daktela_async.sim._render import Views, php_array, php_json
from daktela_async.sim._state import (
    CHECK_STATUSES,
    ERR_CALL_UNKNOWN,
    ERR_LIMIT,
    ERR_NO_CALL,
    ERR_NO_RINGING,
    ERR_NOT_LOGGED,
    ERR_RECORDING_UNKNOWN,
    ERR_TOO_MANY_SMS,
    ERR_USER_UNKNOWN,
    MAX_TAKE,
    SimError,
    SimState,
)

__all__ = ["HANDLERS", "Answer", "ApiRequest", "Handler", "rt_user_state_agent"]

#: How the success envelope is written; the document records all three forms:
#: ``ok`` ``{"status":1,"error":null,"result":...}``, ``ok_er``
#: ``{"error":null,"status":1,"result":...}``, ``bare`` ``{"error":null,"status":1}``.
Style = Literal["ok", "ok_er", "bare"]

_TRUE: Final = frozenset({"1", "true", "yes", "on", "y"})


def _missing(name: str) -> SimError:
    # Not recorded in the document; worded in the server's style.
    return SimError(f"Chybí povinný parametr {name}")


def _bad(name: str) -> SimError:
    return SimError(f"Neplatná hodnota parametru {name}")


@dataclass(slots=True)
class ApiRequest:
    """One parsed API request.

    Attributes:
        version: The URL version as ``(major, minor)`` (``(3, 9)``).
        action: The action name from the URL.
        id: The ``{ID}`` path segment, if present.
        format: ``json`` or ``xml``.
        params: The query (and form body) read with PHP's rules.
    """

    version: tuple[int, int]
    action: str
    id: str | None
    format: str
    params: dict[str, Any]

    def get(self, name: str) -> str | None:
        """A scalar parameter, or ``None`` when absent (arrays read as absent)."""
        value = self.params.get(name)
        return value if isinstance(value, str) else None

    def need(self, name: str) -> str:
        """A mandatory, non-empty scalar parameter.

        Raises:
            SimError: It is missing.
        """
        value = self.get(name)
        if value is None or value == "":
            raise _missing(name)
        return value

    def ident(self, name: str = "id") -> str | None:
        """The record id: the ``{ID}`` path segment, else the *name* parameter."""
        return self.id if self.id else self.get(name)

    def flag(self, name: str, default: bool = False) -> bool:
        """A boolean parameter (``true``/``yes``/``1``)."""
        value = self.get(name)
        return default if value is None or value == "" else value.lower() in _TRUE

    def tri(self, name: str) -> bool | None:
        """A boolean filter that may be absent."""
        value = self.get(name)
        return None if value is None or value == "" else value.lower() in _TRUE

    def list(self, name: str) -> list[str]:
        """An array parameter (``x[]=a&x[]=b``; a scalar counts as one item)."""
        value = self.params.get(name)
        if value is None or value == "":
            return []
        if isinstance(value, str):
            return [value]
        if isinstance(value, dict):
            return [str(v) for v in value.values() if isinstance(v, str)]
        return [str(v) for v in value if isinstance(v, str)]

    def mapping(self, name: str) -> dict[str, Any]:
        """A keyed-array parameter (``fields[3]=x``)."""
        value = self.params.get(name)
        if isinstance(value, dict):
            return value
        if isinstance(value, list):
            return {str(i): v for i, v in enumerate(value)}
        return {}

    def integer(self, name: str, default: int) -> int:
        """An integer parameter.

        Raises:
            SimError: It is not an integer.
        """
        value = self.get(name)
        if value is None or value == "":
            return default
        try:
            return int(float(value))
        except ValueError:
            raise _bad(name) from None

    def when(self, name: str) -> float | None:
        """A ``YYYY-MM-DD HH:MM:SS`` parameter as simulated seconds.

        Raises:
            SimError: It is not such a date.
        """
        value = self.get(name)
        if value is None or value == "":
            return None
        try:
            return parse_dt(value)
        except ValueError:
            raise _bad(name) from None

    def span(self) -> tuple[float, float]:
        """The mandatory ``datetime_from``/``datetime_to`` pair."""
        start, end = self.when("datetime_from"), self.when("datetime_to")
        if start is None:
            raise _missing("datetime_from")
        if end is None:
            raise _missing("datetime_to")
        return start, end

    def page(self) -> tuple[int, int]:
        """``skip``/``take`` (defaults 0/100; more than 1000 is refused)."""
        skip, take = self.integer("skip", 0), self.integer("take", 100)
        if take > MAX_TAKE:
            raise SimError(ERR_LIMIT)
        return max(0, skip), max(0, take)


@dataclass(slots=True)
class Answer:
    """A successful answer.

    Attributes:
        result: The ``result`` value (ignored when *raw* is set).
        style: Which success envelope to write (:data:`Style`).
        raw: ``result`` already encoded as JSON (cached realtime answers).
        body: A non-JSON answer (``GetRecording``) with its *content_type*.
        content_type: The ``Content-Type`` of *body*.
    """

    result: Any = None
    style: Style = "ok"
    raw: str | None = None
    body: bytes | None = None
    content_type: str | None = None


Handler = Callable[[SimState, Views, ApiRequest], Answer]

#: Action name (as in the URL) -> handler.
HANDLERS: dict[str, Handler] = {}


def _action(*names: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for name in names:
            HANDLERS[name] = handler
        return handler

    return register


def _agent(state: SimState, req: ApiRequest) -> Agent:
    """The agent named by ``user``, else the one logged in at ``extension``."""
    login = req.get("user")
    if login:
        return state.agent(login)
    extension = req.get("extension")
    if extension:
        agent = state.agent_at(extension)
        if agent is None:
            raise SimError(ERR_NOT_LOGGED)
        return agent
    raise _missing("user")


def _call_of(state: SimState, req: ApiRequest) -> Call:
    """The call of ``user`` or, for plain lines, the live call on ``extension``."""
    if req.get("user"):
        return state.agent_call(state.agent(req.need("user")))
    extension = req.get("extension") or req.get("exten")
    if not extension:
        raise _missing("user")
    calls = state.calls_at(extension)
    if not calls:
        raise SimError(ERR_NO_CALL)
    return calls[-1]


def _within(ts: float, span: tuple[float, float]) -> bool:
    return span[0] <= ts <= span[1]


def _paged(rows: list[dict[str, Any]], page: tuple[int, int]) -> list[dict[str, Any]]:
    return rows[page[0] : page[0] + page[1]]


# --- Queues ------------------------------------------------------------------------------


@_action("CreateQueue")
def create_queue(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Create a queue, or update the queue with that number."""
    state.create_queue(
        req.need("number"),
        req.need("title"),
        req.need("direction"),
        queue_id=req.ident(),
        outboundcid=req.get("outboundcid"),
        description=req.get("description"),
        wrapuptime=req.get("wrapuptime"),
        outbounder=req.flag("outbounder"),
    )
    return Answer(None)


@_action("GetQueues")
def get_queues(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """One queue by id, or all queues keyed by id."""
    queue_id = req.ident()
    if queue_id:
        queue = state.queues.get(queue_id)
        if queue is None:
            raise SimError("Fronta neexistuje")
        return Answer(views.queue_dict(queue))
    return Answer(php_array({q.id: views.queue_dict(q) for q in state.queues.values()}))


@_action("LoginQueue")
def login_queue(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Sign a user into a queue (and the call centre when needed)."""
    priority = req.get("priority")
    if priority is not None and priority not in ("0", "1", "2"):
        raise _bad("priority")
    state.login_queue(
        req.need("user"),
        req.need("queue"),
        req.get("extension"),
        int(priority) if priority is not None else None,
    )
    return Answer(style="bare")


@_action("LogoutQueue")
def logout_queue(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Sign a user out of a queue (refused while a call of that queue goes on)."""
    state.logout_queue(req.need("user"), req.need("queue"))
    return Answer(style="bare")


# --- Operators ---------------------------------------------------------------------------


@_action("Login")
def login(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Sign an agent into the call centre at an extension."""
    state.login(req.need("user"), req.get("extension"))
    return Answer(None)


@_action("Logout")
def logout(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Sign an agent out of every queue and the call centre."""
    state.logout(req.need("user"))
    return Answer(None)


@_action("Answer")
def answer(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Answer the call ringing at a user or an extension."""
    if req.get("user"):
        call = state.answer(state.agent(req.need("user")))
    else:
        extension = req.get("extension")
        if not extension:
            raise _missing("extension")
        ringing = [c for c in state.calls_at(extension) if c.state == "Ringing"]
        if not ringing:
            raise SimError(ERR_NO_RINGING)
        call = ringing[0]
        state.answer_call(call)
    queue = state.queues.get(call.queue_id or "")
    return Answer(
        {
            "calling_number": call.number,
            "calling_queue": queue.number if queue else "",
            "calling_queue_name": queue.title if queue else "",
            "id_call": call.id,
        }
    )


@_action("ControlPlayback")
def control_playback(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Play, pause, rewind, forward or stop a message in a call; or ask its status."""
    command = req.need("command")
    if command not in ("play", "rewind", "pause", "forward", "stop", "status"):
        raise _bad("command")
    skiptime = req.get("skiptime")
    result = state.playback(
        _call_of(state, req),
        command,
        recording=req.get("recording"),
        begintime=req.integer("begintime", 0),
        skiptime=int(skiptime) if skiptime and skiptime.isdigit() else None,
    )
    return Answer(result)


@_action("CreateCall")
def create_call(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """A call-centre call for ``user`` (3.1), or a plain call from ``extension`` (3.0)."""
    number = req.need("number")
    call_id = req.get("idcall") or None
    if call_id is not None and (call_id in state.calls or call_id in state.ended_calls):
        call_id = None
    if req.get("user"):
        call = state.create_agent_call(
            req.need("user"),
            number,
            queue_number=req.get("queue") or None,
            autoanswer=req.flag("autoanswer"),
            accountcode=req.get("accountcode") or "",
            agenttext=req.get("agenttext"),
            waitingtime=req.integer("waitingtime", 30),
            dialingtime=req.integer("dialingtime", 120),
            call_id=call_id,
        )
    elif req.get("extension"):
        call = state.create_extension_call(
            req.need("extension"),
            number,
            autoanswer=req.flag("autoanswer"),
            accountcode=req.get("accountcode") or "",
            agenttext=req.get("agenttext"),
            waitingtime=req.integer("waitingtime", 30),
            call_id=call_id,
        )
    else:
        raise _missing("user")
    return Answer({"id_call": call.id}, style="ok_er")


@_action("CreateUser")
def create_user(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Create a user."""
    user = state.create_user(
        req.need("name"),
        req.need("title"),
        req.need("password"),
        req.need("role"),
        req.need("profile"),
        req.get("description"),
        req.get("email"),
    )
    return Answer(views.user_created(user))


@_action("UpdateUser")
def update_user(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Change a user's attributes."""
    changes = {
        k: v
        for k in ("role", "profile", "title", "description", "password", "email")
        if (v := req.get(k)) is not None
    }
    return Answer(views.user_created(state.update_user(req.need("name"), changes)))


@_action("DeleteUser")
def delete_user(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Delete a user by id."""
    user_id = req.ident()
    if not user_id:
        raise _missing("id")
    state.delete_user(user_id)
    return Answer(style="bare")


@_action("GetUser")
def get_user(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """The user of the token: the document records an empty string as the result."""
    return Answer("")


@_action("GetUsers")
def get_users(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """One user (by id or extension) or all users keyed by id."""
    user_id = req.ident()
    if user_id:
        return Answer(views.user_dict(state.user_by_id(user_id)))
    extension = req.get("extension")
    if extension:
        agent = state.agent_at(extension)
        user = (
            state.users[agent.user_id]
            if agent is not None
            else next(
                (u for u in state.users.values() if u.extension == extension and u.deleted == "0"),
                None,
            )
        )
        if user is None:
            raise SimError(ERR_USER_UNKNOWN)
        return Answer(views.user_dict(user))
    return Answer(php_array({u.id: views.user_dict(u) for u in state.users.values()}))


@_action("Hangup")
def hangup(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Hang up the call of a user, of an extension, or a call by id."""
    if req.get("user"):
        state.hangup_agent(state.agent(req.need("user")))
    elif req.get("extension"):
        state.hangup_extension(req.need("extension"))
    elif req.get("call"):
        call = state.calls.get(req.need("call"))
        if call is None:
            raise SimError(ERR_CALL_UNKNOWN)
        state.hangup(call, "agent")
    else:
        raise _missing("user")
    return Answer(style="bare")


@_action("Monitoring")
def monitoring(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Listen to an agent's call (3.1, ``user``) or to an extension's call (3.0, ``exten``)."""
    listener = req.need("listener")
    mode = req.get("mode") or "spy"
    if req.get("user"):
        call = state.agent_call(state.agent(req.need("user")))
        state.monitor(call, listener, mode)
        queue = state.queues.get(call.queue_id or "")
        now = state.now()
        ringing = (call.leg_answered or now) - (call.ringed or call.entered)
        return Answer(
            {
                "calling_direction": call.direction,
                "calling_number": call.number,
                "calling_queue": queue.number if queue else "",
                "calling_queue_name": queue.title if queue else "",
                "ringing": str(int(ringing)),
                "billsec": str(int(now - call.leg_answered)) if call.leg_answered else "0",
            }
        )
    exten = req.get("exten") or req.get("extension")
    if not exten:
        raise _missing("exten")
    calls = state.calls_at(exten)
    if not calls:
        raise SimError(ERR_NO_CALL)
    state.monitor(calls[-1], listener, mode)
    return Answer(style="bare")


@_action("PauseOn")
def pause_on(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Put a user on a pause."""
    agent = _agent(state, req)
    state.pause_on(agent, req.need("pause"), force=req.flag("force"))
    return Answer(style="bare")


@_action("PauseOff")
def pause_off(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """End a user's pause."""
    state.pause_off(_agent(state, req))
    return Answer(style="bare")


@_action("PickupFromQueue")
def pickup_from_queue(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Take a call waiting in a queue."""
    state.pickup(req.need("call_id"), req.need("user"))
    return Answer([])


@_action("Transfer")
def transfer(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Transfer a call to a number, a queue or a user (attended or blind)."""
    kind = req.get("type") or "attended"
    if kind not in ("attended", "blind"):
        raise _bad("type")
    state.transfer(
        _agent(state, req),
        number=req.get("number") or None,
        dst_queue=req.get("dst_queue") or None,
        dst_user=req.get("dst_user") or None,
        blind=kind == "blind",
    )
    return Answer(style="bare")


# --- Calls -------------------------------------------------------------------------------


@_action("AboutCall")
def about_call(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """The CDR rows of one call."""
    legs = state.legs_by_call.get(req.need("id_call"), [])
    return Answer([views.about_call_row(leg) for leg in legs])


@_action("ClickToCall")
def click_to_call(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """A Click-to-Call call: it waits for an operator, then the customer is dialled."""
    call_id = req.get("idcall") or None
    if call_id is not None and (call_id in state.calls or call_id in state.ended_calls):
        call_id = None
    call = state.click_to_call(
        req.need("queue"),
        req.need("number"),
        agenttext=req.get("agenttext"),
        waitingtime=req.integer("waitingtime", 7200),
        call_id=call_id,
    )
    return Answer({"id_call": call.id})


@_action("CreateRemoteCall")
def create_remote_call(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Call one external number; once answered, dial the second."""
    call_id = req.get("idcall") or None
    if call_id is not None and (call_id in state.calls or call_id in state.ended_calls):
        call_id = None
    call = state.create_remote_call(
        req.need("primarynumber"),
        req.need("secondarynumber"),
        accountcode=req.get("accountcode") or "",
        dialingtime=req.integer("dialingtime", 120),
        variables=req.mapping("variables"),
        call_id=call_id,
        directdid=req.flag("directdid"),
    )
    return Answer({"id_call": call.id})


@_action("GetAttempts")
def get_attempts(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Dial attempts of outgoing call-centre calls."""
    span, page = req.span(), req.page()
    queues, users, call_id = set(req.list("queues")), set(req.list("users")), req.get("id_call")
    rows = [
        {
            "id": a.id,
            "id_call": a.call_id,
            "name": "ATTEMPT",
            "start_time": fmt(a.start),
            "end_time": fmt(a.end),
            "duration": int(a.end - a.start),
            "id_agent": int(a.agent_id) if a.agent_id else None,
            "id_queue": int(a.queue_id) if a.queue_id else None,
            "data1": "",
            "data2": "",
            "data3": "",
            "data4": "",
        }
        for a in reversed(state.attempts)
        if _within(a.start, span)
        and (not queues or a.queue_id in queues)
        and (not users or a.agent_id in users)
        and (not call_id or a.call_id == call_id)
    ]
    return Answer({"data": _paged(rows, page), "total": str(len(rows))})


def _wav(seconds: float, seed: str) -> bytes:
    """A small 8 kHz mono WAV: a tone whose pitch depends on the call (not silence)."""
    frames = int(8000 * min(max(seconds, 0.5), 3.0))
    pitch = 300 + sum(seed.encode()) % 500
    samples = struct.pack(
        f"<{frames}h",
        *(int(8000 * math.sin(2 * math.pi * pitch * i / 8000)) for i in range(frames)),
    )
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(samples)
    return out.getvalue()


@_action("GetRecording")
def get_recording(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """The recording of an answered call as WAV bytes."""
    call = state.recordings.get(req.need("recording_hash"))
    if call is None:
        raise SimError(ERR_RECORDING_UNKNOWN)
    talk = (call.ended or state.now()) - (call.answered or state.now())
    content_type = "application/octet-stream" if req.flag("octetstream") else "audio/x-wav"
    return Answer(body=_wav(talk, call.id), content_type=content_type)


# --- Extensions --------------------------------------------------------------------------


@_action("DeviceStates")
def device_states(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Every extension's device state."""
    busy: dict[str, str] = {}
    for call in state.calls.values():
        if call.exten:
            status = {"Ringing": "RINGING", "On Hold": "ONHOLD"}.get(call.state, "INUSE")
            if busy.get(call.exten) != "INUSE":
                busy[call.exten] = status
    rows = []
    for number in sorted(state.extensions, key=lambda n: (len(n), n)):
        ext = state.extensions[number]
        rows.append(
            {
                "exten": number,
                "status": busy.get(number, "AVAILABLE") if ext.registered else "UNAVAILABLE",
                "ip": ext.ip if ext.registered else "-none-",
                "port": ext.port if ext.registered else "0",
            }
        )
    return Answer(rows)


@_action("GetExtensionUsers")
def get_extension_users(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Users bound to (or logged in at) an extension."""
    extension = req.need("extension")
    users = [
        u
        for u, a in state.iter_agents()
        if u.extension == extension or (a.logged and a.exten == extension)
    ]
    return Answer({"data": [views.extension_user(u) for u in users]})


# --- Pauses ------------------------------------------------------------------------------


@_action("CreatePause")
def create_pause(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Create a pause, or edit one by id (``title``/``name``, ``paid``/``billable``)."""
    title = req.get("title") or req.get("name")
    if not title:
        raise _missing("title")
    paid = req.get("paid") if req.get("paid") is not None else req.get("billable")
    if paid is None:
        raise _missing("paid")
    state.create_pause(
        title, req.need("type"), paid.lower() in _TRUE, pause_id=req.ident(), code=req.get("code")
    )
    return Answer(None)


@_action("GetPauses")
def get_pauses(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """All pauses keyed by id (3.3 shape), or the 3.0 ``pcode`` rows (optionally one)."""
    if req.version >= (3, 3):
        return Answer(
            php_array(
                {
                    p.id: {
                        "pause": p.id,
                        "name": p.name,
                        "title": p.title,
                        "type": p.type,
                        "paid": p.paid,
                        "deleted": p.deleted,
                    }
                    for p in state.pauses.values()
                }
            )
        )
    pause_id = req.ident()
    pauses = (
        [state.pause(pause_id)]
        if pause_id
        else [p for p in state.pauses.values() if p.deleted == "0"]
    )
    return Answer(
        php_array(
            {
                p.id: {
                    "pcode_id": p.id,
                    "pcode": p.name,
                    "pcode_desc": p.title,
                    "read_key": "",
                    "isBillable": p.paid,
                    "isPayable": "0",
                    "pauseType": "w" if p.type in ("wrap", "lajdak") else "-",
                    "sys_dt_creazione": "0000-00-00 00:00:00",
                    "sys_user_creazione": "0",
                    "sys_dt_modifica": "0000-00-00 00:00:00",
                    "sys_user_modifica": "0",
                    "sys_optilock": "0",
                }
                for p in pauses
            }
        )
    )


# --- Statistics --------------------------------------------------------------------------


@_action("CDR")
def cdr(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Call detail records in a time range, with prices and filters."""
    span = req.span()
    extens, codes = set(req.list("real_extens")), set(req.list("accountcodes"))
    destinations = set(req.list("destinations"))
    src_channels, dst_channels = req.list("src_channels"), req.list("dst_channels")
    direction, disposition = req.get("direction"), req.get("disposition")
    min_price = req.get("min_price_call")
    try:
        floor = float(min_price) if min_price else None
    except ValueError:
        raise _bad("min_price_call") from None
    rows = []
    for leg in state.legs:
        if not _within(leg.start, span):
            continue
        if extens and leg.real_exten not in extens:
            continue
        if codes and leg.accountcode not in codes:
            continue
        if direction and leg.direction != direction:
            continue
        if disposition and leg.disposition != disposition:
            continue
        if src_channels and not any(leg.channel.startswith(c) for c in src_channels):
            continue
        if dst_channels and not any(leg.dstchannel.startswith(c) for c in dst_channels):
            continue
        row = views.cdr_row(leg)
        if destinations and row["destination_type"] not in destinations:
            continue
        if floor is not None and float(row["price"]) <= floor:
            continue
        rows.append(row)
    return Answer(rows)


@_action("LastCallNumber")
def last_call_number(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """The last call-centre call with a number: agent, queue and timings."""
    number = req.need("phonenumber")
    since = state.now() - req.integer("interval", 86400)
    answered = req.tri("answered")
    queue_ids = set(req.list("queues"))
    for queue_number in req.list("queues_number"):
        queue = state.queues_by_number.get(queue_number)
        if queue is not None:
            queue_ids.add(queue.id)
    for row in reversed(state.queue_calls):
        if row.clid != number or row.call_time < since:
            continue
        if answered is not None and row.answered != answered:
            continue
        if queue_ids and row.queue_id not in queue_ids:
            continue
        queue = state.queues.get(row.queue_id or "")
        user = state.users.get(row.user_id or "")
        return Answer(
            {
                "call": row.call_id,
                "call_time": fmt(row.call_time),
                "direction": row.direction,
                "queue": row.queue_id,
                "user": row.user_id,
                "answered": row.answered,
                "clid": row.clid,
                "waiting_time": row.waiting_time,
                "ringing_time": row.ringing_time,
                "hold_time": row.hold_time,
                "duration": row.duration,
                "disposition": "user"
                if row.disposition_cause == "agent"
                else row.disposition_cause,
                "orig_posision": row.position,
                "attempts": 0,
                "queue_title": queue.title if queue else None,
                "queue_number": queue.number if queue else None,
                "queue_direction": queue.direction if queue else None,
                "user_title": user.title if user else None,
                "user_login": user.name if user else None,
            }
        )
    return Answer(None)


@_action("LastCall")
def last_call(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """The current call of an extension/user, else its last completed one."""
    if req.get("user"):
        agent = state.agent(req.need("user"))
        live = state.live_calls_of(agent)
        extension = agent.exten
        user_id: str | None = agent.user_id
    else:
        extension = req.get("extension")
        if not extension:
            raise _missing("extension")
        live = state.calls_at(extension)
        user_id = None
    call: Call | None = live[-1] if live else None
    realtime = call is not None
    if call is None:
        for leg in reversed(state.legs):
            if (user_id is not None and leg.id_agent == user_id) or (
                user_id is None and leg.real_exten == extension
            ):
                call = state.ended_calls.get(leg.call_id)
                break
    if call is None:
        return Answer(None)
    return Answer(
        {
            "exten": call.exten or extension,
            "user": call.agent_id or call.first_agent_id,
            "queue": call.queue_id,
            "id_call": call.id,
            "direction": call.direction,
            "clid": call.number,
            "time": fmt(call.entered),
            "_is_realtime": realtime,
        }
    )


@_action("RTQueuePresence")
def rt_queue_presence(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Whether any operator is logged into a queue."""
    queue = state.queue(req.need("queue"))
    count = sum(1 for _, a in state.iter_agents() if a.logged and queue.id in a.queues)
    return Answer({"count_users": count, "online_presence": count > 0})


@_action("RTStatsCalls")
def rt_stats_calls(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Ongoing call-centre calls keyed by call id."""
    now = state.now()
    out: dict[str, Any] = {}
    for call in state.calls.values():
        if call.kind != "queue":
            continue
        answered_at = call.leg_answered
        out[call.id] = {
            "id": call.id,
            "queue": call.queue_id,
            "agent": call.agent_id if answered_at is not None else None,
            "users": [call.agent_id] if call.agent_id else [],
            "clid": call.number,
            "direction": call.direction,
            "state": call.state,
            "enter_time_absolute": fmt(call.entered),
            "enter_time_relative": str(int(now - call.entered)),
            "wait_time_absolute": fmt(call.entered),
            "wait_time_relative": str(int((call.ringed or now) - call.entered)),
            "ring_time_absolute": fmt_opt(call.ringed),
            "ring_time_relative": str(int((answered_at or now) - call.ringed))
            if call.ringed is not None
            else "0",
            "answer_time_absolute": fmt_opt(answered_at),
            "answer_time_relative": str(int(now - answered_at)) if answered_at else "0",
            "hold_time_absolute": fmt_opt(call.onhold),
            "hold_time_relative": str(
                int(call.hold_total + (now - call.onhold if call.onhold else 0))
            ),
        }
    return Answer(php_array(out))


@_action("RTStatsPauses")
def rt_stats_pauses(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Pauses in use, with the agents on them."""
    users: dict[str, list[str]] = {}
    for user, agent in state.iter_agents():
        if agent.logged and agent.pause_id is not None:
            users.setdefault(agent.pause_id, []).append(user.id)
    return Answer(
        php_array(
            {
                pause_id: {"id": pause_id, "count": str(len(ids)), "users": ids}
                for pause_id, ids in sorted(users.items(), key=lambda kv: int(kv[0]))
            }
        )
    )


def _queue_counts(
    state: SimState,
    agents: Iterable[Agent],
    queue_ids: set[str] | None,
) -> dict[str, dict[str, Any]]:
    """Per queue id: agent counts by state and call counts (RTStatsQueues*)."""
    now = state.now()
    stats: dict[str, dict[str, Any]] = {}

    def entry(queue_id: str) -> dict[str, Any]:
        return stats.setdefault(
            queue_id,
            {
                "id": queue_id,
                "users_total": 0,
                "users_ready": 0,
                "users_busy": 0,
                "users_pause": 0,
                "calls_count": 0,
                "calls_in": 0,
                "calls_out": 0,
                "calls_wait": 0,
                "calls_time": 0,
            },
        )

    for agent in agents:
        shown = state.agent_state(agent)
        for queue_id in agent.queues:
            if queue_ids is not None and queue_id not in queue_ids:
                continue
            row = entry(queue_id)
            row["users_total"] += 1
            if shown == "Idle":
                row["users_ready"] += 1
            elif shown == "Paused":
                row["users_pause"] += 1
            elif shown in ("Ringing", "Speaking", "On Hold"):
                row["users_busy"] += 1
    for call in state.calls.values():
        if call.queue_id is None or (queue_ids is not None and call.queue_id not in queue_ids):
            continue
        row = entry(call.queue_id)
        row["calls_count"] += 1
        row["calls_in" if call.direction == "in" else "calls_out"] += 1
        if call.state in ("Waiting", "Ringing") and call.answered is None:
            row["calls_wait"] += 1
            row["calls_time"] = max(row["calls_time"], int(now - call.entered))
    return stats


@_action("RTStatsQueuesSummary")
def rt_stats_queues_summary(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Totals over the queues (optionally only some agents and queues)."""
    user_ids, queue_ids = set(req.list("users")), set(req.list("queues"))
    agents = [
        a for _, a in state.iter_agents() if a.logged and (not user_ids or a.user_id in user_ids)
    ]
    per_queue = _queue_counts(state, agents, queue_ids or None)
    total = {
        "users_total": len([a for a in agents if a.queues]),
        "users_ready": 0,
        "users_busy": 0,
        "users_pause": 0,
    }
    for agent in agents:
        if not agent.queues:
            continue
        shown = state.agent_state(agent)
        if shown == "Idle":
            total["users_ready"] += 1
        elif shown == "Paused":
            total["users_pause"] += 1
        elif shown in ("Ringing", "Speaking", "On Hold"):
            total["users_busy"] += 1
    calls = {
        k: sum(row[k] for row in per_queue.values())
        for k in ("calls_count", "calls_in", "calls_out", "calls_wait")
    }
    calls_time = max((row["calls_time"] for row in per_queue.values()), default=0)
    return Answer({**total, **calls, "calls_time": calls_time})


@_action("RTStatsQueues")
def rt_stats_queues(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Per-queue agent and call counts, keyed by queue id."""
    agents = [a for _, a in state.iter_agents() if a.logged]
    per_queue = _queue_counts(state, agents, None)
    out = {}
    for queue_id in sorted(per_queue, key=int):
        row = per_queue[queue_id]
        out[queue_id] = {
            k: row[k]
            for k in (
                "id",
                "users_total",
                "users_ready",
                "users_busy",
                "users_pause",
                "calls_count",
                "calls_wait",
            )
        }
        out[queue_id]["calls_time"] = (
            row["calls_time"] if row["calls_wait"] else (None if row["calls_count"] else 0)
        )
    return Answer(php_array(out))


@_action("RTStatsSessions")
def rt_stats_sessions(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Logged-in agents keyed by id (filter by agents and queues)."""
    now = state.now()
    user_ids, queue_ids = set(req.list("users")), set(req.list("queues"))
    out = {}
    for user, agent in state.iter_agents():
        if not agent.logged or (user_ids and user.id not in user_ids):
            continue
        if queue_ids and not queue_ids & agent.queues.keys():
            continue
        state_time = agent.state_time or now
        login_time = agent.logintime or now
        out[user.id] = {
            "id": user.id,
            "extension": agent.exten,
            "queues": sorted(agent.queues, key=int),
            "state": state.agent_state(agent),
            "pause": agent.pause_id,
            "state_time_absolute": fmt(state_time),
            "state_time_relative": str(int(now - state_time)),
            "login_time_absolute": fmt(login_time),
            "login_time_relative": str(int(now - login_time)),
        }
    return Answer(php_array(out))


def rt_user_state_agent(state: SimState, req: ApiRequest) -> tuple[str, Agent]:
    """The (user id, agent) ``RTUserState`` reports on (by ``user`` or ``extension``)."""
    login = req.get("user")
    if login:
        user = state.user(login)
        return user.id, state.agents[user.id]
    extension = req.get("extension")
    if not extension:
        raise _missing("user")
    agent = state.agent_at(extension)
    if agent is None:
        raise SimError(ERR_NOT_LOGGED)
    return agent.user_id, agent


@_action("RTUserState")
def rt_user_state(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """An agent's realtime state (with ``login_oqueues`` and ``hash`` from 4.0)."""
    user_id, agent = rt_user_state_agent(state, req)
    user = state.users[user_id]
    if req.version < (4, 0):
        return Answer(views.user_state_v39(user, agent))
    body, _ = views.user_state_with_hash(user, agent)
    return Answer(raw=body)


@_action("RTUsersState")
def rt_users_state(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Every logged-in agent's realtime state keyed by id."""
    return Answer(raw=views.users_state())


@_action("StatsCallsRepeated")
def stats_calls_repeated(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Per number: how often it called, answered and not, average wait and talk."""
    span = req.span()
    queues, number = set(req.list("queues")), req.get("phonenumber")
    minimum = req.integer("count", 0)
    groups: dict[str, list[Any]] = {}
    for row in state.queue_calls:
        if not _within(row.call_time, span) or (queues and row.queue_id not in queues):
            continue
        if number and row.clid != number:
            continue
        groups.setdefault(row.clid, []).append(row)
    out = []
    for clid, rows in groups.items():
        if len(rows) <= minimum:
            continue
        answered = [r for r in rows if r.answered]
        out.append(
            {
                "clid": clid,
                "call_total": len(rows),
                "call_answered": len(answered),
                "call_unanswered": len(rows) - len(answered),
                "waiting_avg": round(sum(r.waiting_time for r in rows) / len(rows)),
                "duration_avg": round(sum(r.duration for r in answered) / len(answered))
                if answered
                else 0,
            }
        )
    return Answer(out)


@_action("StatsCalls")
def stats_calls(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Call-centre calls in a time range (newest first), filtered and paged."""
    span, page = req.span(), req.page()
    number, did, call_id = req.get("phonenumber"), req.get("did"), req.get("id_call")
    queues, users = set(req.list("queues")), set(req.list("users"))
    answered, callstatus = req.tri("answered"), req.get("callstatus")
    rows = [
        views.stats_call_row(r)
        for r in reversed(state.queue_calls)
        if _within(r.call_time, span)
        and (not number or r.clid == number)
        and (not did or r.did == did)
        and (not call_id or r.call_id == call_id)
        and (not queues or r.queue_id in queues)
        and (not users or r.user_id in users)
        and (answered is None or r.answered == answered)
        and (not callstatus or r.callstatus == callstatus)
    ]
    return Answer({"data": _paged(rows, page), "total": str(len(rows))})


_TRACE_GROUPS: Final = {
    "call": {"call", "ring_in", "ring_out"},
    "pause": {"pause"},
    "queue": {"queue"},
    "login": {"login"},
}


@_action("StatsTrace")
def stats_trace(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """One agent's logins, queue logins, pauses, ringing and calls, in order."""
    span = req.span()
    user = state.user(req.need("user"))
    trace = req.get("trace") or "all"
    if trace != "all" and trace not in _TRACE_GROUPS:
        raise _bad("trace")
    wanted = _TRACE_GROUPS.get(trace)
    return Answer(
        [
            {
                "time": fmt(t.time),
                "duration": t.duration,
                "action_name": t.action_name,
                "action_start": t.action_start,
                "action_title": t.action_title,
                "event_id": t.event_id,
                "event_title": t.event_title,
            }
            for t in state.trace
            if t.user_id == user.id
            and _within(t.time, span)
            and (wanted is None or t.action_name in wanted)
        ]
    )


@_action("StatsUsersPauses")
def stats_users_pauses(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Pause intervals of users in a time range."""
    span, page = req.span(), req.page()
    users, pauses = set(req.list("users")), set(req.list("pauses"))
    now = state.now()
    rows = [
        {
            "id": str(i.id),
            "user": i.user_id,
            "start_time": fmt(i.start),
            "end_time": fmt_opt(i.end),
            "duration": int((i.end or now) - i.start),
            "pause": int(i.ref),
        }
        for i in state.pause_log
        if _within(i.start, span)
        and (not users or i.user_id in users)
        and (not pauses or i.ref in pauses)
    ]
    return Answer({"data": _paged(rows, page), "total": str(len(rows))})


@_action("StatsUsersQueues")
def stats_users_queues(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Queue-login intervals of users in a time range."""
    span, page = req.span(), req.page()
    users = set(req.list("users"))
    now = state.now()
    rows = [
        {
            "user": i.user_id,
            "start_time": fmt(i.start),
            "end_time": fmt_opt(i.end),
            "duration": int((i.end or now) - i.start),
            "queue": int(i.ref),
        }
        for i in state.queue_log
        if _within(i.start, span) and (not users or i.user_id in users)
    ]
    return Answer({"data": _paged(rows, page), "total": len(rows)})


@_action("StatsUsersSessions")
def stats_users_sessions(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Call-centre sessions of users in a time range."""
    span, page = req.span(), req.page()
    users = set(req.list("users"))
    now = state.now()
    rows = [
        {
            "id": str(i.id),
            "user": i.user_id,
            "start_time": fmt(i.start),
            "end_time": fmt_opt(i.end),
            "duration": int((i.end or now) - i.start),
        }
        for i in state.sessions
        if _within(i.start, span) and (not users or i.user_id in users)
    ]
    return Answer({"data": _paged(rows, page), "total": str(len(rows))})


# --- SMS -----------------------------------------------------------------------------------


@_action("GetSMSSettings")
def get_sms_settings(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """The SMS callbacks, sending window and limits."""
    return Answer({"settings": dict(state.sms_settings), "sim": []})


@_action("SetSMSSettings")
def set_sms_settings(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Change SMS callbacks, sending window and limits."""
    for key in (
        "incoming_callback",
        "outgoing_callback",
        "incoming_email",
        "outgoing_email",
        "sending_rate_limit",
        "sending_rate_time",
        "allowed_hour_begin",
        "allowed_hour_end",
    ):
        value = req.get(key)
        if value is None:
            continue
        if key.startswith(("sending_", "allowed_")) and not value.isdigit():
            raise _bad(key)
        state.sms_settings[key] = value or None
    return Answer(style="bare")


@_action("SendSMS")
def send_sms(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Queue an SMS."""
    sms = state.send_sms(
        req.need("number"),
        req.need("message"),
        confirmation=req.flag("confirmation"),
        unicode=req.flag("unicode"),
        email=req.get("email"),
        accountcode=req.get("accountcode"),
        gw=req.get("gw"),
        slot=req.get("slot"),
        port=req.get("port"),
        priority=req.integer("priority", 10),
        scheduled=req.when("datetime_scheduled"),
    )
    return Answer({"count_sms": str(sms.count_sms), "id": str(sms.id)}, style="ok_er")


def _group_messages(req: ApiRequest) -> list[tuple[str, str]]:
    numbers = req.list("number")
    messages = req.list("message")
    if not numbers:
        raise _missing("number")
    if not messages:
        raise _missing("message")
    if len(numbers) > 20000:
        raise SimError(ERR_TOO_MANY_SMS)
    if len(messages) == 1:
        messages = messages * len(numbers)
    if len(messages) != len(numbers):
        raise _bad("message")
    return list(zip(numbers, messages, strict=True))


def _group_answer(group: SmsGroup, counts: dict[int, int]) -> Answer:
    out: dict[str, Any] = {str(group.id): {"count_sms": 0, "id": group.id, "group_id": group.id}}
    for message_id in group.message_ids:
        out[str(message_id)] = {
            "count_sms": counts[message_id],
            "id": message_id,
            "group_id": group.id,
        }
    return Answer(out)


@_action("SendGroupSMS")
def send_group_sms(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Queue one SMS per number, as one group."""
    pairs = _group_messages(req)
    group = state.new_sms_group(req.get("accountcode"))
    counts = {}
    for number, message in pairs:
        sms = state.send_sms(
            number,
            message,
            confirmation=req.flag("confirmation"),
            unicode=req.flag("unicode"),
            email=req.get("email"),
            accountcode=req.get("accountcode"),
            gw=None,
            slot=None,
            port=None,
            priority=req.integer("priority", 10),
            scheduled=req.when("datetime_scheduled"),
            group=group,
        )
        counts[sms.id] = sms.count_sms
    return _group_answer(group, counts)


@_action("SendGroupSMSConnect")
def send_group_sms_connect(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Queue one SMS Connect message per number, as one group."""
    pairs = _group_messages(req)
    group = state.new_sms_group(req.get("accountcode"), connect=True)
    counts = {}
    for number, message in pairs:
        sms = state.send_sms_connect(
            number,
            message,
            confirmation=req.flag("confirmation"),
            unicode=req.flag("unicode"),
            sender=req.get("sender"),
            accountcode=req.get("accountcode"),
            scheduled=req.when("datetime_scheduled"),
            group=group,
        )
        counts[sms.id] = sms.count_sms
    return _group_answer(group, counts)


@_action("RemoveGroupSMS")
def remove_group_sms(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Cancel a group's waiting messages."""
    group_id = req.ident()
    if not group_id:
        raise _missing("id")
    if not group_id.isdigit():
        raise _bad("id")
    return Answer({"count_removed": state.remove_group_sms(int(group_id))})


@_action("GetSMS")
def get_sms(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """SMS messages, oldest first, filtered."""
    sms_id, direction = req.ident(), req.get("direction")
    keyword = (req.get("keyword") or "").casefold()
    codes = set(req.list("accountcode"))
    email, gw, slot, port = req.get("email"), req.get("gw"), req.get("slot"), req.get("port")
    start, end = req.when("datetime_from"), req.when("datetime_to")
    rows = []
    for sms in state.sms.values():
        if sms_id and str(sms.id) != sms_id:
            continue
        if direction and sms.direction != direction:
            continue
        if (
            keyword
            and keyword not in sms.number.casefold()
            and keyword not in sms.message.casefold()
        ):
            continue
        if codes and sms.accountcode not in codes:
            continue
        if (
            (email and sms.email != email)
            or (gw and sms.gw != gw)
            or (slot and sms.slot != slot)
            or (port and sms.port != port)
        ):
            continue
        if (start is not None and sms.datetime < start) or (end is not None and sms.datetime > end):
            continue
        rows.append(views.sms_row(sms))
    return Answer(rows)


@_action("StatusGroupSMS")
def status_group_sms(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Per group: total, sent, waiting and failed message counts."""
    group_id, waiting_only = req.ident(), req.flag("waiting")
    out = {}
    for group in state.sms_groups.values():
        if group_id and str(group.id) != group_id:
            continue
        results = [
            state.sms_connect[m].result if group.connect else state.sms[m].result
            for m in group.message_ids
        ]
        waiting = sum(1 for r in results if r in ("waiting", "NEW"))
        if waiting_only and not waiting:
            continue
        processed = [
            when
            for m in group.message_ids
            if not group.connect and (when := state.sms[m].processed) is not None
        ]
        out[str(group.id)] = {
            "group_id": str(group.id),
            "accountcode": group.accountcode,
            "datetime_processed": fmt_opt(max(processed)) if processed else None,
            "datetime": fmt(group.datetime),
            "count_total": str(len(results)),
            "count_ok": str(sum(1 for r in results if r in ("ok", "SENT", "DELIVERED"))),
            "count_waiting": str(waiting),
            "count_error": str(sum(1 for r in results if r in ("error", "ERROR", "NOTDELIVERED"))),
        }
    return Answer(php_array(out))


@_action("StatusSMS")
def status_sms(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """How many SMS wait, and when the last one was sent."""
    waiting = sum(1 for s in state.sms.values() if s.result == "waiting")
    processed = [s.processed for s in state.sms.values() if s.processed and s.result == "ok"]
    return Answer(
        {
            "count_waiting": str(waiting),
            "last_datetime_processed": fmt_opt(max(processed) if processed else None),
        }
    )


@_action("GetSMSConnect")
def get_sms_connect(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """SMS Connect messages keyed by id, oldest first, filtered."""
    sms_id, direction = req.ident(), (req.get("direction") or "").upper()
    keyword = (req.get("keyword") or "").casefold()
    codes = set(req.list("accountcode"))
    start, end = req.when("datetime_from"), req.when("datetime_to")
    out = {}
    for sms in state.sms_connect.values():
        if sms_id and str(sms.id) != sms_id:
            continue
        if direction and direction != "OUT":
            continue
        if (
            keyword
            and keyword not in sms.recipient.casefold()
            and keyword not in sms.message.casefold()
        ):
            continue
        if codes and sms.accountcode not in codes:
            continue
        if (start is not None and sms.datetime < start) or (end is not None and sms.datetime > end):
            continue
        out[str(sms.id)] = views.sms_connect_row(sms)
    return Answer(php_array(out))


@_action("SendSMSConnect")
def send_sms_connect(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Queue an SMS Connect message."""
    sms = state.send_sms_connect(
        req.need("number"),
        req.need("message"),
        confirmation=req.flag("confirmation"),
        unicode=req.flag("unicode"),
        sender=req.get("sender"),
        accountcode=req.get("accountcode"),
        scheduled=req.when("datetime_scheduled"),
    )
    return Answer({"id": str(sms.id)}, style="ok_er")


@_action("StatusSMSConnect")
def status_sms_connect(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """How many SMS Connect messages wait."""
    return Answer(
        {"count_waiting": str(sum(1 for s in state.sms_connect.values() if s.result == "NEW"))}
    )


# --- Forms ---------------------------------------------------------------------------------


def _fields(req: ApiRequest) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in req.mapping("fields").items():
        if isinstance(value, str):
            out[str(key)] = [value]
        elif isinstance(value, list):
            out[str(key)] = [str(v) for v in value if isinstance(v, str)]
        elif isinstance(value, dict):
            out[str(key)] = [str(v) for v in value.values() if isinstance(v, str)]
    return out


def _record_saved(views: Views, record: Record) -> dict[str, Any]:
    """The record as ``CallScriptClose`` answers it (integer ``record`` and ``action``)."""
    core = views.record_core(record)
    core["record"] = record.id
    core["action"] = int(record.action) if record.action.isdigit() else record.action
    core["changes"] = views.changes()
    return core


@_action("CallScriptClose")
def call_script_close(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Save and close an open call script, then leave the Wrap pause (or switch pause)."""
    record_id, call_id = req.get("record"), req.get("call_id")
    record: Record | None = None
    if record_id:
        record = state.record(record_id)
    elif call_id:
        record = next(
            (r for r in state.records.values() if r.call_id == call_id and r.deleted == "0"), None
        )
        if record is None:
            raise SimError("Záznam neexistuje")
    else:
        raise _missing("record")
    user = req.get("user")
    user_id = state.user(user).id if user else None
    ok, error = state.close_callscript(
        record,
        status=req.get("status") or None,
        number=req.get("number") or None,
        nextcall=req.when("nextcall"),
        user=user_id,
        has_user=user is not None,
        fields=_fields(req),
        pause=req.get("pause") or None,
    )
    return Answer({"record": _record_saved(views, record), "cc": {"result": ok, "error": error}})


@_action("CallScriptOpened")
def call_script_opened(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """The call script (record and filled fields) an operator has open."""
    agent = state.agent(req.need("user"))
    if agent.callscript_opened is None or int(agent.callscript_opened) not in state.records:
        return Answer({"record": None})
    record = state.records[int(agent.callscript_opened)]
    core = views.record_core(record)
    core["changes"] = views.changes()
    fields = {fid: views.form_field(record, fid) for fid, values in record.fields.items() if values}
    return Answer({"record": core, "fields": php_array(fields)})


_RECORD_TIMES: Final = (
    "modify_from",
    "modify_to",
    "nextcall_from",
    "nextcall_to",
    "created_from",
    "created_to",
)


def _record_time_bounds(req: ApiRequest, prefix: str) -> dict[str, float | None]:
    """The records' time filters (``<prefix>modify_from`` ...) as timestamps or ``None``."""
    return {name: req.when(f"{prefix}{name}") for name in _RECORD_TIMES}


def _inside(ts: float | None, low: float | None, high: float | None) -> bool:
    """Whether *ts* is within the optional bounds (no bounds: always)."""
    if low is None and high is None:
        return True
    return ts is not None and (low is None or ts >= low) and (high is None or ts <= high)


def _in_bounds(record: Record, bounds: dict[str, float | None]) -> bool:
    """Whether *record* passes the modify / nextcall / created time filters."""
    return (
        _inside(record.edited or record.created, bounds["modify_from"], bounds["modify_to"])
        and _inside(record.nextcall, bounds["nextcall_from"], bounds["nextcall_to"])
        and _inside(record.created, bounds["created_from"], bounds["created_to"])
    )


def _search_records(state: SimState, req: ApiRequest, prefix: str) -> list[Record]:
    """Records selected by ``id`` or by ``src_queue`` and the ``search_*`` filters."""
    record_id = req.ident()
    if record_id:
        return [state.record(record_id)]
    source = req.get("src_queue")
    if not source:
        raise _missing("src_queue")
    queue = state.queue(source)
    bounds = _record_time_bounds(req, prefix)

    return [
        r
        for r in state.records.values()
        if r.queue_id == queue.id and r.deleted == "0" and _in_bounds(r, bounds)
    ]


def _record_updates(state: SimState, req: ApiRequest) -> dict[str, Any]:
    updates: dict[str, Any] = {}
    action = req.get("update_action")
    if action is not None:
        if action not in ("0", "5", "6"):
            raise _bad("update_action")
        updates["action"] = action
    if "update_callstatus" in req.params:
        status = req.get("update_callstatus")
        updates["status"] = state.status_by_code(status).id if status else None
    if "update_agent" in req.params:
        agent = req.get("update_agent")
        updates["user"] = state.user_by_id(agent).id if agent else None
    nextcall = req.when("update_datetime_nextcall")
    if nextcall is not None:
        updates["nextcall"] = nextcall
    if req.get("update_datetime_modify") is not None:
        updates["_touch"] = req.flag("update_datetime_modify")
    return updates


def _move(state: SimState, req: ApiRequest, *, copy: bool) -> Answer:
    target = state.queue(req.need("dst_queue"))
    records = _search_records(state, req, "search_datetime_")
    updates = _record_updates(state, req)
    touch = bool(updates.pop("_touch", True))
    state.move_records(records, target, copy=copy, updates=updates, touch=touch)
    return Answer(None)


@_action("CopyRecords")
def copy_records(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Copy records (one by id, or a campaign's by filter) into another campaign."""
    return _move(state, req, copy=True)


@_action("MoveRecords")
def move_records(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Move records (one by id, or a campaign's by filter) into another campaign."""
    return _move(state, req, copy=False)


@_action("CreateRecord")
def create_record(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Import one contact into a campaign."""
    record = state.create_record(
        req.need("queue"),
        req.need("phonenumber"),
        _fields(req),
        user=req.get("user") or None,
        nextcall=req.when("nextcall"),
    )
    core = views.record_core(record)
    core.update(
        record=record.id,
        action=int(record.action),
        call_id=record.call_id or None,
        deleted=int(record.deleted),
        changes=views.changes(),
    )
    return Answer({"count": 1, "record": core})


@_action("UpdateRecord")
def update_record(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Change a record's queue, number, fields, user, status, action or next call."""
    record = state.record(req.need("record"))
    changes: dict[str, Any] = {"fields": _fields(req)}
    if req.get("queue"):
        changes["queue"] = req.need("queue")
    if req.get("phonenumber"):
        changes["number"] = req.need("phonenumber")
    if "user" in req.params:
        user = req.get("user")
        changes["user"] = state.user_by_id(user).id if user else None
    if "status" in req.params:
        status = req.get("status")
        changes["status"] = state.status_by_code(status).id if status else None
    if req.get("action") is not None:
        if req.get("action") not in ("0", "5", "6"):
            raise _bad("action")
        changes["action"] = req.get("action")
    if req.when("nextcall") is not None:
        changes["nextcall"] = req.when("nextcall")
    state.update_record(record, changes)
    core = views.record_core(record)
    core["record"] = record.id
    core["fields"] = views.record_fields(record)
    return Answer({"count": 1, "record": core})


@_action("DeleteRecord")
def delete_record(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Delete a record."""
    state.delete_record(state.record(req.need("record")))
    return Answer(1)


@_action("ExportData")
def export_data(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """A campaign's form data, filtered by dates, actions, statuses, agents and number."""
    queue = state.queue(req.need("queue"))
    actions, statuses = set(req.list("actions")), set(req.list("callstatuses"))
    agents, number = set(req.list("agents")), req.get("phonenumber")
    bounds = _record_time_bounds(req, "datetime_")

    rows = [
        views.export_row(r)
        for r in state.records.values()
        if r.queue_id == queue.id
        and r.deleted == "0"
        and (not actions or r.action in actions)
        and (not statuses or r.status in statuses)
        and (not agents or r.user in agents)
        and (not number or r.number == number)
        and _in_bounds(r, bounds)
    ]
    return Answer(rows)


@_action("GetRecordAttempts")
def get_record_attempts(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """How many calls of a record were answered and not, and when the last one was."""
    record = state.record(req.need("record"))
    rows = [r for r in state.queue_calls if r.record_id == record.id]
    answered = sum(1 for r in rows if r.answered)
    return Answer(
        {
            "count_answered": str(answered),
            "count_unanswered": str(len(rows) - answered),
            "last_datetime": fmt(max(r.call_time for r in rows)) if rows else None,
        }
    )


@_action("GetRecordSnapshots")
def get_record_snapshots(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Saved versions of a record."""
    record = state.record(req.need("record"))
    rows = []
    for snap in state.snapshots:
        if snap.record.id != record.id:
            continue
        core = views.record_core(snap.record)
        core.pop("edited")
        core.pop("deleted")
        rows.append(
            {
                "record_snapshot": str(snap.id),
                **core,
                "created": fmt(snap.created),
                "created_by": snap.created_by,
                "fields": views.record_fields(snap.record),
            }
        )
    return Answer({"data": rows, "total": len(rows)})


def _record_filter(filters: Any) -> list[tuple[str, str, str]]:
    """Read ``filter`` as ``[(field, operator, value)]``.

    Accepts ``filter[number]=x``, or the REST style
    ``filter[field]=number&filter[operator]=eq&filter[value]=x`` (or a list of those).
    """
    if isinstance(filters, str) or not filters:
        return []
    items = filters if isinstance(filters, list) else [filters]
    out: list[tuple[str, str, str]] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        if "field" in item and "value" in item:
            out.append((str(item["field"]), str(item.get("operator", "eq")), str(item["value"])))
        else:
            out.extend((str(k), "eq", str(v)) for k, v in item.items() if isinstance(v, str))
    return out


def _matches(core: dict[str, Any], rule: tuple[str, str, str]) -> bool:
    field, operator, value = rule
    have = core.get(field)
    text = "" if have is None else str(have)
    if operator in ("eq", "="):
        return text == value
    if operator in ("neq", "!="):
        return text != value
    if operator == "like":
        return value.strip("%").casefold() in text.casefold()
    if operator in ("gt", "gte", "lt", "lte"):
        if not text:
            return False
        try:
            left: Any = float(text)
            right: Any = float(value)
        except ValueError:
            left, right = text, value
        outcome: bool = {
            "gt": left > right,
            "gte": left >= right,
            "lt": left < right,
            "lte": left <= right,
        }[operator]
        return outcome
    raise _bad("filter")


def _sort_key(field: str) -> Callable[[dict[str, Any]], tuple[bool, str]]:
    def key(row: dict[str, Any]) -> tuple[bool, str]:
        text = str(row.get(field) or "")
        # Numeric ids sort as numbers ("9" before "10").
        return row.get(field) is None, text.zfill(20) if text.isdigit() else text

    return key


@_action("GetRecords")
def get_records(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Records, with full-text ``q``, ``filter``, ``sort``, ``skip`` and ``take``."""
    page = req.page()
    query = (req.get("q") or "").casefold()
    rules = _record_filter(req.params.get("filter"))
    rows = []
    for record in state.records.values():
        if record.deleted != "0":
            continue
        core = views.record_core(record)
        if query and not any(query in str(core[k]).casefold() for k in ("title", "number", "name")):
            continue
        if not all(_matches(core, rule) for rule in rules):
            continue
        core["fields"] = views.record_fields(record)
        rows.append(core)
    sort = req.params.get("sort")
    if sort:
        keys = sort if isinstance(sort, list) else [sort]
        for key in reversed(keys):
            field = key.get("field") if isinstance(key, dict) else key
            descending = isinstance(key, dict) and str(key.get("dir", "")).lower() == "desc"
            if not isinstance(field, str):
                continue
            if field.startswith("-"):
                field, descending = field[1:], True
            rows.sort(key=_sort_key(field), reverse=descending)
    return Answer({"data": _paged(rows, page), "total": str(len(rows))})


@_action("GetStatuses")
def get_statuses(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Record statuses keyed by id (3.8); from 4.0 the autodialer's number statuses."""
    if req.version >= (4, 0):
        return Answer([{"status": s, "name": n, "code": c} for s, n, c in CHECK_STATUSES])
    status_id, queue_ref = req.ident(), req.get("queue")
    allowed: set[str] | None = None
    if queue_ref:
        queue = state.queue(queue_ref)
        allowed = set(queue.statuses) if queue.statuses else None
    return Answer(
        php_array(
            {
                s.id: {
                    "code": s.code,
                    "id": s.id,
                    "description": s.description,
                    "deleted": s.deleted,
                }
                for s in state.statuses.values()
                if (not status_id or s.id == status_id) and (allowed is None or s.id in allowed)
            }
        )
    )


@_action("SimpleSearchContact")
def simple_search_contact(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Contacts (with their form structure) by phone number, optionally in some queues."""
    number = req.need("phonenumber")
    queue_numbers = set(req.list("queues"))
    form = list(state.fields.values())
    rows = []
    for record in state.records.values():
        queue = state.queues[record.queue_id]
        if record.deleted != "0" or record.number != number:
            continue
        if queue_numbers and queue.number not in queue_numbers:
            continue
        rows.append(
            {
                "id_list": queue.id,
                "name_campaign": queue.title,
                "id_code_possibili": queue.id,
                "number_campaign": queue.number,
                "array_struct": {
                    "id_field": [f.id for f in form],
                    "type_field": [f.type for f in form],
                    "label_field": [f.title for f in form],
                    "default_value_field": [php_json(f.options) if f.options else "" for f in form],
                    "ro_field": [False for _ in form],
                    "order_field": [str(i + 1) for i in range(len(form))],
                    "value_data": [(record.fields.get(f.id) or [""])[0] for f in form],
                },
                "sysdata_struct": {
                    "id": str(record.id),
                    "number": record.number,
                    "date": fmt(record.edited or record.created),
                    "date_nextcall": fmt_opt(record.nextcall),
                    "callstatus": record.status,
                    "action": record.action,
                    "asterisk_uniqueid": record.call_id or None,
                    "agent_id": record.user,
                },
                "status_error": None,
            }
        )
    return Answer(rows)


# --- Events, activities, autodialer, emails ----------------------------------------------------


@_action("CreateEvent")
def create_event(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Create a Notification-centre event (name must start with ``Custom_``)."""
    params = req.params.get("params")
    if params is None or isinstance(params, str):
        params = {} if not params else {"0": params}
    state.create_event(req.need("event"), params, req.get("time"))
    return Answer([params if params else []])


@_action("ActivityClose")
def activity_close(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Close an activity with a status."""
    state.close_activity(req.need("activity"), req.need("status"))
    return Answer("")


@_action("ActivityUpdate", "TicketUpdate")
def activity_update(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Set the status of activities (the document's example calls it ``TicketUpdate``)."""
    names = req.list("activities")
    if not names:
        raise _missing("activities")
    state.update_activities(names, req.need("status"))
    return Answer("")


@_action("CheckNumber")
def check_number(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """The autodialer's check of a number."""
    number = req.need("number")
    when, status = state.check_number(number)
    return Answer({"number": number, "time": fmt(when), "status": status})


@_action("EmailCreate")
def email_create(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Create an email (and its activity) in an email queue."""
    email, activity = state.create_email(
        req.need("queue"),
        req.need("subject"),
        req.need("from"),
        req.need("body"),
        user=req.get("user") or None,
        name=req.get("name") or None,
    )
    return Answer({"email": views.email_dict(email), "activity": views.activity_dict(activity)})
