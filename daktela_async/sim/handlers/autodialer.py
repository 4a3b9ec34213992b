"""Handlers of the Autodialer section."""

from __future__ import annotations

from .._clock import fmt
from .._render import Views
from ..state import SimState
from ._base import Answer, ApiRequest, _action


@_action("CheckNumber")
def check_number(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """The autodialer's check of a number."""
    number = req.need("number")
    when, status = state.check_number(number)
    return Answer({"number": number, "time": fmt(when), "status": status})
