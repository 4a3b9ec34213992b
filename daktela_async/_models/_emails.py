"""E-mails and the activities (tickets) they create: ``EmailCreate``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import attrs

from ._scalars import EMPTY

__all__ = ["Activity", "Email", "EmailCreated"]


@attrs.frozen(slots=True, kw_only=True)
class Email:
    """A stored e-mail (``email`` of ``EmailCreate``).

    Attributes:
        email: E-mail ID.
        queue: Queue ID.
        user: Operator, as sent.
        contact: Contact, as sent.
        name: Unique e-mail name (``"email_530f2641060a1"``).
        title: Subject.
        address: The other party's address.
        direction: ``in`` or ``out``.
        wait_time: Seconds waiting, as sent.
        duration: Seconds of handling, as sent.
        answered: Whether it was answered.
        text: The body.
        options: Options, as sent.
        time: When it was stored.
        extra: Every key the server sent that this model does not know.
    """

    email: int
    queue: int | None = None
    user: str | None = None
    contact: str | None = None
    name: str | None = None
    title: str | None = None
    address: str | None = None
    direction: str | None = None
    wait_time: int | None = None
    duration: int | None = None
    answered: bool | None = None
    text: str | None = None
    options: Any = None
    time: dt.datetime | None = None
    extra: Mapping[str, Any] = EMPTY


@attrs.frozen(slots=True, kw_only=True)
class Activity:
    """An activity (ticket item) (``activity`` of ``EmailCreate``).

    Attributes:
        activity: Activity ID.
        ticket: Ticket ID.
        name: Unique activity name (``"ticket_530f264109f1c"``).
        title: Title.
        action: Action, as sent.
        type: Activity type (``"EMAIL"``).
        item: ID of the item (the e-mail) behind the activity.
        queue: Queue ID.
        user: Operator, as sent.
        contact: Contact, as sent.
        status: Status, as sent.
        priority: Priority.
        options: Options, as sent.
        time: When it was created.
        time_wait: As sent (undocumented).
        time_open: When it was opened.
        time_close: When it was closed.
        extra: Every key the server sent that this model does not know.
    """

    activity: int
    ticket: int | None = None
    name: str | None = None
    title: str | None = None
    action: str | None = None
    type: str | None = None
    item: int | None = None
    queue: int | None = None
    user: str | None = None
    contact: str | None = None
    status: str | None = None
    priority: int | None = None
    options: Any = None
    time: dt.datetime | None = None
    time_wait: Any = None
    time_open: dt.datetime | None = None
    time_close: dt.datetime | None = None
    extra: Mapping[str, Any] = EMPTY


@attrs.frozen(slots=True, kw_only=True)
class EmailCreated:
    """The answer of ``EmailCreate``.

    Attributes:
        email: The stored e-mail.
        activity: The activity created for it.
        extra: Every key the server sent that this model does not know.
    """

    email: Email | None = None
    activity: Activity | None = None
    extra: Mapping[str, Any] = EMPTY
