"""Handlers of the Events section."""

from __future__ import annotations

from .._render import Views
from ..state import SimState
from ._base import Answer, ApiRequest, _action


@_action("CreateEvent")
def create_event(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Create a Notification-centre event (name must start with ``Custom_``)."""
    params = req.params.get("params")
    if params is None or isinstance(params, str):
        params = {} if not params else {"0": params}
    state.create_event(req.need("event"), params, req.get("time"))
    return Answer([params if params else []])
