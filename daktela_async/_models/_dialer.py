"""Autodialer number checks: ``CheckNumber`` and its ``GetStatuses``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import attrs

from ._scalars import EMPTY

__all__ = ["DialerStatus", "NumberCheck"]


@attrs.frozen(slots=True, kw_only=True)
class NumberCheck:
    """The check of one number (``CheckNumber``).

    Attributes:
        number: The number.
        time: When it was checked.
        status: ID of the resulting status (see :class:`DialerStatus`).
        extra: Every key the server sent that this model does not know.
    """

    number: str | None = None
    time: dt.datetime | None = None
    status: int | None = None
    extra: Mapping[str, Any] = EMPTY


@attrs.frozen(slots=True, kw_only=True)
class DialerStatus:
    """A status a number check can end in (items of ``GetStatuses``, 4.0 Autodialer).

    Attributes:
        status: Status ID.
        name: Its text.
        code: Its code.
        extra: Every key the server sent that this model does not know.
    """

    status: int
    name: str | None = None
    code: str | None = None
    extra: Mapping[str, Any] = EMPTY
