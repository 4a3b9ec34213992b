"""Handlers of the Extensions section: device states and the users of an extension."""

from __future__ import annotations

from .._render import Views
from ..state import SimState
from ._base import Answer, ApiRequest, _action


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
