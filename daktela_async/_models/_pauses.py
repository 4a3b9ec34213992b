"""Pauses: the two documented answers of ``GetPauses``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import attrs

from ._scalars import EMPTY

__all__ = ["LegacyPause", "Pause"]


@attrs.frozen(slots=True, kw_only=True)
class Pause:
    """A pause, as ``GetPauses`` describes it since API 3.3.

    Attributes:
        pause: Pause ID.
        name: The pause's code (``"666"``).
        title: Its name (``"Lajdak"``).
        type: ``wrap``, ``lajdak`` (the system pauses) or empty for a normal pause.
        paid: Whether the pause is paid.
        deleted: Whether the pause is deleted (3.3 lists deleted pauses too).
        extra: Every key the server sent that this model does not know.
    """

    pause: int
    name: str | None = None
    title: str | None = None
    type: str | None = None
    paid: bool | None = None
    deleted: bool | None = None
    extra: Mapping[str, Any] = EMPTY


@attrs.frozen(slots=True, kw_only=True)
class LegacyPause:
    """A pause, as ``GetPauses`` describes it in API 3.0 (``pcode_*`` keys).

    Attributes:
        pcode_id: Pause ID.
        pcode: The pause's code (``"666"``).
        pcode_desc: Its name (``"Lajdak"``).
        read_key: Key that selects the pause on a phone.
        isBillable: Whether the pause is billable.
        isPayable: Whether the pause is paid.
        pauseType: ``"w"`` for the wrap-type pauses, ``"-"`` otherwise.
        sys_dt_creazione: When it was created (``None`` for ``0000-00-00 00:00:00``).
        sys_user_creazione: Who created it.
        sys_dt_modifica: When it was last changed.
        sys_user_modifica: Who changed it last.
        sys_optilock: Optimistic-lock counter.
        extra: Every key the server sent that this model does not know.
    """

    pcode_id: int
    pcode: str | None = None
    pcode_desc: str | None = None
    read_key: str | None = None
    isBillable: bool | None = None  # the server's key
    isPayable: bool | None = None  # the server's key
    pauseType: str | None = None  # the server's key
    sys_dt_creazione: dt.datetime | None = None
    sys_user_creazione: int | None = None
    sys_dt_modifica: dt.datetime | None = None
    sys_user_modifica: int | None = None
    sys_optilock: int | None = None
    extra: Mapping[str, Any] = EMPTY
