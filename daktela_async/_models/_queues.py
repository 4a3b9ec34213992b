"""Queues: ``GetQueues``, the queue objects inside realtime answers, ``RTQueuePresence``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from ._scalars import EMPTY, QueueOptions

__all__ = ["LoginQueueState", "Queue", "QueuePresence"]

_NO_OPTIONS = QueueOptions(EMPTY)


@attrs.frozen(slots=True, kw_only=True)
class Queue:
    """A queue or campaign (``GetQueues``; ``oqueue`` of a call in ``RTUserState``).

    Attributes:
        queue: Queue ID.
        name: The unique queue number (``"2000"``), kept as text.
        title: Queue name.
        description: Free description.
        type: Queue type: ``in``, ``out``, ``outbounder``, ``ctc``, ``dialer``,
            ``chat``, ``email`` (others are kept as sent).
        direction: ``in`` or ``out``.
        outboundcid: Outbound caller ID.
        wrapuptime: Wrap-up time in seconds.
        outbounder: Whether the queue is an outbounder campaign.
        form: Whether the queue has a form.
        missed: The ``missed`` setting of the queue (``null`` when unset).
        options: Every setting of the queue, decoded whether the server sent an object
            or a JSON-encoded string (``GetQueues``); values are as sent.
        deleted: Whether the queue is deleted.
        user: A user ID, as ``GetQueues`` sends it (undocumented).
        penalty: The user's penalty (priority) in the queue.
        login: How the user logs into the queue (``"manual"``).
        extra: Every key the server sent that this model does not know.
    """

    queue: int
    name: str | None = None
    title: str | None = None
    description: str | None = None
    type: str | None = None
    direction: str | None = None
    outboundcid: str | None = None
    wrapuptime: int | None = None
    outbounder: bool | None = None
    form: bool | None = None
    missed: int | None = None
    options: QueueOptions = _NO_OPTIONS
    deleted: bool | None = None
    user: int | None = None
    penalty: int | None = None
    login: str | None = None
    extra: Mapping[str, Any] = EMPTY


@attrs.frozen(slots=True, kw_only=True)
class LoginQueueState(Queue):
    """A queue the operator can log into (``login_oqueues`` of ``RTUserState``).

    Has every attribute of :class:`Queue`, and:

    Attributes:
        rt_logged: Whether the operator is logged into this queue right now.
    """

    rt_logged: bool | None = None


@attrs.frozen(slots=True, kw_only=True)
class QueuePresence:
    """Whether a queue has operators online (``RTQueuePresence``).

    Attributes:
        count_users: How many operators are logged into the queue.
        online_presence: ``True`` when at least one operator is logged in.
        extra: Every key the server sent that this model does not know.
    """

    count_users: int | None = None
    online_presence: bool | None = None
    extra: Mapping[str, Any] = EMPTY
