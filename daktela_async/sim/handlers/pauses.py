"""Handlers of the Pauses section: creating and listing pause types."""

from __future__ import annotations

from .._render import Views, php_array
from ..state import SimState
from ._base import _TRUE, Answer, ApiRequest, _action, _missing


@_action("CreatePause")
def create_pause(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Create a pause, or edit one by id (``title``/``name``, ``paid``/``billable``)."""
    title = req.get("title") or req.get("name")
    if not title:
        raise _missing("title")
    paid = req.get("paid") if req.get("paid") is not None else req.get("billable")
    if paid is None:
        raise _missing("paid")
    state.create_pause(
        title, req.need("type"), paid.lower() in _TRUE, pause_id=req.ident(), code=req.get("code")
    )
    return Answer(None)


@_action("GetPauses")
def get_pauses(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """All pauses keyed by id (3.3 shape), or the 3.0 ``pcode`` rows (optionally one)."""
    if req.version >= (3, 3):
        return Answer(
            php_array(
                {
                    p.id: {
                        "pause": p.id,
                        "name": p.name,
                        "title": p.title,
                        "type": p.type,
                        "paid": p.paid,
                        "deleted": p.deleted,
                    }
                    for p in state.pauses.values()
                }
            )
        )
    pause_id = req.ident()
    pauses = (
        [state.pause(pause_id)]
        if pause_id
        else [p for p in state.pauses.values() if p.deleted == "0"]
    )
    return Answer(
        php_array(
            {
                p.id: {
                    "pcode_id": p.id,
                    "pcode": p.name,
                    "pcode_desc": p.title,
                    "read_key": "",
                    "isBillable": p.paid,
                    "isPayable": "0",
                    "pauseType": "w" if p.type in ("wrap", "lajdak") else "-",
                    "sys_dt_creazione": "0000-00-00 00:00:00",
                    "sys_user_creazione": "0",
                    "sys_dt_modifica": "0000-00-00 00:00:00",
                    "sys_user_modifica": "0",
                    "sys_optilock": "0",
                }
                for p in pauses
            }
        )
    )
