"""Handlers of the Calls section: call details, new calls, attempts and recordings."""

from __future__ import annotations

import io
import math
import struct
import wave

from .._clock import fmt
from .._render import Views
from ..state import ERR_RECORDING_UNKNOWN, SimError, SimState
from ._base import Answer, ApiRequest, _action, _paged, _within


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
