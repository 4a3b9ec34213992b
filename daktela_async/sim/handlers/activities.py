"""Handlers of the Activities section."""

from __future__ import annotations

from .._render import Views
from ..state import SimState
from ._base import Answer, ApiRequest, _action, _missing


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
