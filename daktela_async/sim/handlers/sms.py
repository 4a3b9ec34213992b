"""Handlers of the SMS section: settings, single and group messages and their status."""

from __future__ import annotations

from .._clock import fmt, fmt_opt
from .._render import Views, php_array
from ..state import SimState
from ._base import Answer, ApiRequest, _action, _bad, _group_answer, _group_messages, _missing


@_action("GetSMSSettings")
def get_sms_settings(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """The SMS callbacks, sending window and limits."""
    return Answer({"settings": dict(state.sms_settings), "sim": []})


@_action("SetSMSSettings")
def set_sms_settings(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Change SMS callbacks, sending window and limits."""
    for key in (
        "incoming_callback",
        "outgoing_callback",
        "incoming_email",
        "outgoing_email",
        "sending_rate_limit",
        "sending_rate_time",
        "allowed_hour_begin",
        "allowed_hour_end",
    ):
        value = req.get(key)
        if value is None:
            continue
        if key.startswith(("sending_", "allowed_")) and not value.isdigit():
            raise _bad(key)
        state.sms_settings[key] = value or None
    return Answer(style="bare")


@_action("SendSMS")
def send_sms(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Queue an SMS."""
    sms = state.send_sms(
        req.need("number"),
        req.need("message"),
        confirmation=req.flag("confirmation"),
        unicode=req.flag("unicode"),
        email=req.get("email"),
        accountcode=req.get("accountcode"),
        gw=req.get("gw"),
        slot=req.get("slot"),
        port=req.get("port"),
        priority=req.integer("priority", 10),
        scheduled=req.when("datetime_scheduled"),
    )
    return Answer({"count_sms": str(sms.count_sms), "id": str(sms.id)}, style="ok_er")


@_action("SendGroupSMS")
def send_group_sms(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Queue one SMS per number, as one group."""
    pairs = _group_messages(req)
    group = state.new_sms_group(req.get("accountcode"))
    counts = {}
    for number, message in pairs:
        sms = state.send_sms(
            number,
            message,
            confirmation=req.flag("confirmation"),
            unicode=req.flag("unicode"),
            email=req.get("email"),
            accountcode=req.get("accountcode"),
            gw=None,
            slot=None,
            port=None,
            priority=req.integer("priority", 10),
            scheduled=req.when("datetime_scheduled"),
            group=group,
        )
        counts[sms.id] = sms.count_sms
    return _group_answer(group, counts)


@_action("RemoveGroupSMS")
def remove_group_sms(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Cancel a group's waiting messages."""
    group_id = req.ident()
    if not group_id:
        raise _missing("id")
    if not group_id.isdigit():
        raise _bad("id")
    return Answer({"count_removed": state.remove_group_sms(int(group_id))})


@_action("GetSMS")
def get_sms(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """SMS messages, oldest first, filtered."""
    sms_id, direction = req.ident(), req.get("direction")
    keyword = (req.get("keyword") or "").casefold()
    codes = set(req.list("accountcode"))
    email, gw, slot, port = req.get("email"), req.get("gw"), req.get("slot"), req.get("port")
    start, end = req.when("datetime_from"), req.when("datetime_to")
    rows = []
    for sms in state.sms.values():
        if sms_id and str(sms.id) != sms_id:
            continue
        if direction and sms.direction != direction:
            continue
        if (
            keyword
            and keyword not in sms.number.casefold()
            and keyword not in sms.message.casefold()
        ):
            continue
        if codes and sms.accountcode not in codes:
            continue
        if (
            (email and sms.email != email)
            or (gw and sms.gw != gw)
            or (slot and sms.slot != slot)
            or (port and sms.port != port)
        ):
            continue
        if (start is not None and sms.datetime < start) or (end is not None and sms.datetime > end):
            continue
        rows.append(views.sms_row(sms))
    return Answer(rows)


@_action("StatusGroupSMS")
def status_group_sms(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Per group: total, sent, waiting and failed message counts."""
    group_id, waiting_only = req.ident(), req.flag("waiting")
    out = {}
    for group in state.sms_groups.values():
        if group_id and str(group.id) != group_id:
            continue
        results = [
            state.sms_connect[m].result if group.connect else state.sms[m].result
            for m in group.message_ids
        ]
        waiting = sum(1 for r in results if r in ("waiting", "NEW"))
        if waiting_only and not waiting:
            continue
        processed = [
            when
            for m in group.message_ids
            if not group.connect and (when := state.sms[m].processed) is not None
        ]
        out[str(group.id)] = {
            "group_id": str(group.id),
            "accountcode": group.accountcode,
            "datetime_processed": fmt_opt(max(processed)) if processed else None,
            "datetime": fmt(group.datetime),
            "count_total": str(len(results)),
            "count_ok": str(sum(1 for r in results if r in ("ok", "SENT", "DELIVERED"))),
            "count_waiting": str(waiting),
            "count_error": str(sum(1 for r in results if r in ("error", "ERROR", "NOTDELIVERED"))),
        }
    return Answer(php_array(out))


@_action("StatusSMS")
def status_sms(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """How many SMS wait, and when the last one was sent."""
    waiting = sum(1 for s in state.sms.values() if s.result == "waiting")
    processed = [s.processed for s in state.sms.values() if s.processed and s.result == "ok"]
    return Answer(
        {
            "count_waiting": str(waiting),
            "last_datetime_processed": fmt_opt(max(processed) if processed else None),
        }
    )
