"""Handlers of the Emails section."""

from __future__ import annotations

from .._render import Views
from ..state import SimState
from ._base import Answer, ApiRequest, _action


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
