"""Notification-centre events (``CreateEvent``)."""

from __future__ import annotations

from typing import Any

from .._clock import fmt
from .errors import ERR_EVENT_PREFIX, SimError
from .lookups import StateLookups

__all__ = ["EventsMixin"]


class EventsMixin(StateLookups):
    """The events transitions of :class:`~.SimState`."""

    def create_event(self, name: str, params: Any, when: str | None) -> None:
        """``CreateEvent``: store a Notification-centre event."""
        if not name.startswith("Custom_"):
            raise SimError(ERR_EVENT_PREFIX)
        self.events.append(
            {
                "event": name,
                "params": params,
                "time": when or fmt(self.now()),
                "created": fmt(self.now()),
            }
        )
