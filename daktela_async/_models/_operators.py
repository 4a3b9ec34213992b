"""Operators and calls they make: users, ``Answer``, ``Monitoring``, ``CreateCall``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from ._scalars import EMPTY

__all__ = ["AnsweredCall", "CreatedCall", "MonitoringInfo", "PlaybackStatus", "User"]


@attrs.frozen(slots=True, kw_only=True)
class User:
    """A user (``GetUsers``, ``GetUser``, ``CreateUser``, ``UpdateUser``, ``GetExtensionUsers``).

    Attributes:
        user: User ID (a string in ``GetUsers``, a number in ``CreateUser``).
        role: Unique role id (``"role_52f22ad1ba23e"``).
        profile: Unique profile id (``"profile_530ca64179669"``).
        name: Login name.
        title: Full name.
        description: Free description.
        password: The password, as the server returns it.
        email: E-mail address.
        deleted: Whether the user is deleted.
        extra: Every key the server sent that this model does not know.
    """

    user: int
    role: str | None = None
    profile: str | None = None
    name: str | None = None
    title: str | None = None
    description: str | None = None
    password: str | None = None
    email: str | None = None
    deleted: bool | None = None
    extra: Mapping[str, Any] = EMPTY


@attrs.frozen(slots=True, kw_only=True)
class AnsweredCall:
    """The call an ``Answer`` picked up.

    Attributes:
        calling_number: The customer's number.
        calling_queue: Number of the queue the call came through (``"2000"``).
        calling_queue_name: Name of that queue.
        id_call: Unique call ID.
        extra: Every key the server sent that this model does not know.
    """

    calling_number: str | None = None
    calling_queue: str | None = None
    calling_queue_name: str | None = None
    id_call: str | None = None
    extra: Mapping[str, Any] = EMPTY


@attrs.frozen(slots=True, kw_only=True)
class MonitoringInfo:
    """The call being listened to (``Monitoring`` through the call centre, 3.1).

    Attributes:
        calling_direction: ``in`` or ``out``.
        calling_number: The customer's number.
        calling_queue: Queue number.
        calling_queue_name: Queue name.
        ringing: Seconds the call rang.
        billsec: Seconds of the call so far.
        extra: Every key the server sent that this model does not know.
    """

    calling_direction: str | None = None
    calling_number: str | None = None
    calling_queue: str | None = None
    calling_queue_name: str | None = None
    ringing: int | None = None
    billsec: int | None = None
    extra: Mapping[str, Any] = EMPTY


@attrs.frozen(slots=True, kw_only=True)
class PlaybackStatus:
    """The answer of ``ControlPlayback`` with ``command=status``.

    Attributes:
        playing: Whether the message is still playing.
        extra: Every key the server sent that this model does not know.
    """

    playing: bool | None = None
    extra: Mapping[str, Any] = EMPTY


@attrs.frozen(slots=True, kw_only=True)
class CreatedCall:
    """A call that was started (``CreateCall``, ``ClickToCall``, ``CreateRemoteCall``).

    Attributes:
        id_call: Unique call ID (``"1346154802.5542WS"``).
        extra: Every key the server sent that this model does not know.
    """

    id_call: str
    extra: Mapping[str, Any] = EMPTY
