"""Handlers of the Queues section: queues, and agents logging in and out of them."""

from __future__ import annotations

from .._render import Views, php_array
from ..state import SimError, SimState
from ._base import Answer, ApiRequest, _action, _bad


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
