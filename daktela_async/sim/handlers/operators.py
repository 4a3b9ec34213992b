"""Handlers of the Operators section: login, users, call control and pauses."""

from __future__ import annotations

from .._render import Views, php_array
from ..state import (
    ERR_CALL_UNKNOWN,
    ERR_NO_CALL,
    ERR_NO_RINGING,
    ERR_USER_UNKNOWN,
    SimError,
    SimState,
)
from ._base import Answer, ApiRequest, _action, _agent, _bad, _call_of, _missing


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
