"""Handlers of the SMSConnect section: group and single SMS Connect messages."""

from __future__ import annotations

from .._render import Views, php_array
from ..state import SimState
from ._base import Answer, ApiRequest, _action, _group_answer, _group_messages


@_action("SendGroupSMSConnect")
def send_group_sms_connect(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Queue one SMS Connect message per number, as one group."""
    pairs = _group_messages(req)
    group = state.new_sms_group(req.get("accountcode"), connect=True)
    counts = {}
    for number, message in pairs:
        sms = state.send_sms_connect(
            number,
            message,
            confirmation=req.flag("confirmation"),
            unicode=req.flag("unicode"),
            sender=req.get("sender"),
            accountcode=req.get("accountcode"),
            scheduled=req.when("datetime_scheduled"),
            group=group,
        )
        counts[sms.id] = sms.count_sms
    return _group_answer(group, counts)


@_action("GetSMSConnect")
def get_sms_connect(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """SMS Connect messages keyed by id, oldest first, filtered."""
    sms_id, direction = req.ident(), (req.get("direction") or "").upper()
    keyword = (req.get("keyword") or "").casefold()
    codes = set(req.list("accountcode"))
    start, end = req.when("datetime_from"), req.when("datetime_to")
    out = {}
    for sms in state.sms_connect.values():
        if sms_id and str(sms.id) != sms_id:
            continue
        if direction and direction != "OUT":
            continue
        if (
            keyword
            and keyword not in sms.recipient.casefold()
            and keyword not in sms.message.casefold()
        ):
            continue
        if codes and sms.accountcode not in codes:
            continue
        if (start is not None and sms.datetime < start) or (end is not None and sms.datetime > end):
            continue
        out[str(sms.id)] = views.sms_connect_row(sms)
    return Answer(php_array(out))


@_action("SendSMSConnect")
def send_sms_connect(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Queue an SMS Connect message."""
    sms = state.send_sms_connect(
        req.need("number"),
        req.need("message"),
        confirmation=req.flag("confirmation"),
        unicode=req.flag("unicode"),
        sender=req.get("sender"),
        accountcode=req.get("accountcode"),
        scheduled=req.when("datetime_scheduled"),
    )
    return Answer({"id": str(sms.id)}, style="ok_er")


@_action("StatusSMSConnect")
def status_sms_connect(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """How many SMS Connect messages wait."""
    return Answer(
        {"count_waiting": str(sum(1 for s in state.sms_connect.values() if s.result == "NEW"))}
    )
