"""Handlers of the Forms section: call scripts, records, statuses and contact search."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from .._clock import fmt, fmt_opt
from .._model import Record
from .._render import Views, php_array, php_json
from ..state import CHECK_STATUSES, SimError, SimState
from ._base import Answer, ApiRequest, _action, _bad, _missing, _paged


def _fields(req: ApiRequest) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in req.mapping("fields").items():
        if isinstance(value, str):
            out[str(key)] = [value]
        elif isinstance(value, list):
            out[str(key)] = [str(v) for v in value if isinstance(v, str)]
        elif isinstance(value, dict):
            out[str(key)] = [str(v) for v in value.values() if isinstance(v, str)]
    return out


def _record_saved(views: Views, record: Record) -> dict[str, Any]:
    """The record as ``CallScriptClose`` answers it (integer ``record`` and ``action``)."""
    core = views.record_core(record)
    core["record"] = record.id
    core["action"] = int(record.action) if record.action.isdigit() else record.action
    core["changes"] = views.changes()
    return core


@_action("CallScriptClose")
def call_script_close(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Save and close an open call script, then leave the Wrap pause (or switch pause)."""
    record_id, call_id = req.get("record"), req.get("call_id")
    record: Record | None = None
    if record_id:
        record = state.record(record_id)
    elif call_id:
        record = next(
            (r for r in state.records.values() if r.call_id == call_id and r.deleted == "0"), None
        )
        if record is None:
            raise SimError("Záznam neexistuje")
    else:
        raise _missing("record")
    user = req.get("user")
    user_id = state.user(user).id if user else None
    ok, error = state.close_callscript(
        record,
        status=req.get("status") or None,
        number=req.get("number") or None,
        nextcall=req.when("nextcall"),
        user=user_id,
        has_user=user is not None,
        fields=_fields(req),
        pause=req.get("pause") or None,
    )
    return Answer({"record": _record_saved(views, record), "cc": {"result": ok, "error": error}})


@_action("CallScriptOpened")
def call_script_opened(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """The call script (record and filled fields) an operator has open."""
    agent = state.agent(req.need("user"))
    if agent.callscript_opened is None or int(agent.callscript_opened) not in state.records:
        return Answer({"record": None})
    record = state.records[int(agent.callscript_opened)]
    core = views.record_core(record)
    core["changes"] = views.changes()
    fields = {fid: views.form_field(record, fid) for fid, values in record.fields.items() if values}
    return Answer({"record": core, "fields": php_array(fields)})


_RECORD_TIMES: Final = (
    "modify_from",
    "modify_to",
    "nextcall_from",
    "nextcall_to",
    "created_from",
    "created_to",
)


def _record_time_bounds(req: ApiRequest, prefix: str) -> dict[str, float | None]:
    """The records' time filters (``<prefix>modify_from`` ...) as timestamps or ``None``."""
    return {name: req.when(f"{prefix}{name}") for name in _RECORD_TIMES}


def _inside(ts: float | None, low: float | None, high: float | None) -> bool:
    """Whether *ts* is within the optional bounds (no bounds: always)."""
    if low is None and high is None:
        return True
    return ts is not None and (low is None or ts >= low) and (high is None or ts <= high)


def _in_bounds(record: Record, bounds: dict[str, float | None]) -> bool:
    """Whether *record* passes the modify / nextcall / created time filters."""
    return (
        _inside(record.edited or record.created, bounds["modify_from"], bounds["modify_to"])
        and _inside(record.nextcall, bounds["nextcall_from"], bounds["nextcall_to"])
        and _inside(record.created, bounds["created_from"], bounds["created_to"])
    )


def _search_records(state: SimState, req: ApiRequest, prefix: str) -> list[Record]:
    """Records selected by ``id`` or by ``src_queue`` and the ``search_*`` filters."""
    record_id = req.ident()
    if record_id:
        return [state.record(record_id)]
    source = req.get("src_queue")
    if not source:
        raise _missing("src_queue")
    queue = state.queue(source)
    bounds = _record_time_bounds(req, prefix)

    return [
        r
        for r in state.records.values()
        if r.queue_id == queue.id and r.deleted == "0" and _in_bounds(r, bounds)
    ]


def _record_updates(state: SimState, req: ApiRequest) -> dict[str, Any]:
    updates: dict[str, Any] = {}
    action = req.get("update_action")
    if action is not None:
        if action not in ("0", "5", "6"):
            raise _bad("update_action")
        updates["action"] = action
    if "update_callstatus" in req.params:
        status = req.get("update_callstatus")
        updates["status"] = state.status_by_code(status).id if status else None
    if "update_agent" in req.params:
        agent = req.get("update_agent")
        updates["user"] = state.user_by_id(agent).id if agent else None
    nextcall = req.when("update_datetime_nextcall")
    if nextcall is not None:
        updates["nextcall"] = nextcall
    if req.get("update_datetime_modify") is not None:
        updates["_touch"] = req.flag("update_datetime_modify")
    return updates


def _move(state: SimState, req: ApiRequest, *, copy: bool) -> Answer:
    target = state.queue(req.need("dst_queue"))
    records = _search_records(state, req, "search_datetime_")
    updates = _record_updates(state, req)
    touch = bool(updates.pop("_touch", True))
    state.move_records(records, target, copy=copy, updates=updates, touch=touch)
    return Answer(None)


@_action("CopyRecords")
def copy_records(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Copy records (one by id, or a campaign's by filter) into another campaign."""
    return _move(state, req, copy=True)


@_action("MoveRecords")
def move_records(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Move records (one by id, or a campaign's by filter) into another campaign."""
    return _move(state, req, copy=False)


@_action("CreateRecord")
def create_record(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Import one contact into a campaign."""
    record = state.create_record(
        req.need("queue"),
        req.need("phonenumber"),
        _fields(req),
        user=req.get("user") or None,
        nextcall=req.when("nextcall"),
    )
    core = views.record_core(record)
    core.update(
        record=record.id,
        action=int(record.action),
        call_id=record.call_id or None,
        deleted=int(record.deleted),
        changes=views.changes(),
    )
    return Answer({"count": 1, "record": core})


@_action("UpdateRecord")
def update_record(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Change a record's queue, number, fields, user, status, action or next call."""
    record = state.record(req.need("record"))
    changes: dict[str, Any] = {"fields": _fields(req)}
    if req.get("queue"):
        changes["queue"] = req.need("queue")
    if req.get("phonenumber"):
        changes["number"] = req.need("phonenumber")
    if "user" in req.params:
        user = req.get("user")
        changes["user"] = state.user_by_id(user).id if user else None
    if "status" in req.params:
        status = req.get("status")
        changes["status"] = state.status_by_code(status).id if status else None
    if req.get("action") is not None:
        if req.get("action") not in ("0", "5", "6"):
            raise _bad("action")
        changes["action"] = req.get("action")
    if req.when("nextcall") is not None:
        changes["nextcall"] = req.when("nextcall")
    state.update_record(record, changes)
    core = views.record_core(record)
    core["record"] = record.id
    core["fields"] = views.record_fields(record)
    return Answer({"count": 1, "record": core})


@_action("DeleteRecord")
def delete_record(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Delete a record."""
    state.delete_record(state.record(req.need("record")))
    return Answer(1)


@_action("ExportData")
def export_data(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """A campaign's form data, filtered by dates, actions, statuses, agents and number."""
    queue = state.queue(req.need("queue"))
    actions, statuses = set(req.list("actions")), set(req.list("callstatuses"))
    agents, number = set(req.list("agents")), req.get("phonenumber")
    bounds = _record_time_bounds(req, "datetime_")

    rows = [
        views.export_row(r)
        for r in state.records.values()
        if r.queue_id == queue.id
        and r.deleted == "0"
        and (not actions or r.action in actions)
        and (not statuses or r.status in statuses)
        and (not agents or r.user in agents)
        and (not number or r.number == number)
        and _in_bounds(r, bounds)
    ]
    return Answer(rows)


@_action("GetRecordAttempts")
def get_record_attempts(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """How many calls of a record were answered and not, and when the last one was."""
    record = state.record(req.need("record"))
    rows = [r for r in state.queue_calls if r.record_id == record.id]
    answered = sum(1 for r in rows if r.answered)
    return Answer(
        {
            "count_answered": str(answered),
            "count_unanswered": str(len(rows) - answered),
            "last_datetime": fmt(max(r.call_time for r in rows)) if rows else None,
        }
    )


@_action("GetRecordSnapshots")
def get_record_snapshots(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Saved versions of a record."""
    record = state.record(req.need("record"))
    rows = []
    for snap in state.snapshots:
        if snap.record.id != record.id:
            continue
        core = views.record_core(snap.record)
        core.pop("edited")
        core.pop("deleted")
        rows.append(
            {
                "record_snapshot": str(snap.id),
                **core,
                "created": fmt(snap.created),
                "created_by": snap.created_by,
                "fields": views.record_fields(snap.record),
            }
        )
    return Answer({"data": rows, "total": len(rows)})


def _record_filter(filters: Any) -> list[tuple[str, str, str]]:
    """Read ``filter`` as ``[(field, operator, value)]``.

    Accepts ``filter[number]=x``, or the REST style
    ``filter[field]=number&filter[operator]=eq&filter[value]=x`` (or a list of those).
    """
    if isinstance(filters, str) or not filters:
        return []
    items = filters if isinstance(filters, list) else [filters]
    out: list[tuple[str, str, str]] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        if "field" in item and "value" in item:
            out.append((str(item["field"]), str(item.get("operator", "eq")), str(item["value"])))
        else:
            out.extend((str(k), "eq", str(v)) for k, v in item.items() if isinstance(v, str))
    return out


def _matches(core: dict[str, Any], rule: tuple[str, str, str]) -> bool:
    field, operator, value = rule
    have = core.get(field)
    text = "" if have is None else str(have)
    if operator in ("eq", "="):
        return text == value
    if operator in ("neq", "!="):
        return text != value
    if operator == "like":
        return value.strip("%").casefold() in text.casefold()
    if operator in ("gt", "gte", "lt", "lte"):
        if not text:
            return False
        try:
            left: Any = float(text)
            right: Any = float(value)
        except ValueError:
            left, right = text, value
        outcome: bool = {
            "gt": left > right,
            "gte": left >= right,
            "lt": left < right,
            "lte": left <= right,
        }[operator]
        return outcome
    raise _bad("filter")


def _sort_key(field: str) -> Callable[[dict[str, Any]], tuple[bool, str]]:
    def key(row: dict[str, Any]) -> tuple[bool, str]:
        text = str(row.get(field) or "")
        # Numeric ids sort as numbers ("9" before "10").
        return row.get(field) is None, text.zfill(20) if text.isdigit() else text

    return key


@_action("GetRecords")
def get_records(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Records, with full-text ``q``, ``filter``, ``sort``, ``skip`` and ``take``."""
    page = req.page()
    query = (req.get("q") or "").casefold()
    rules = _record_filter(req.params.get("filter"))
    rows = []
    for record in state.records.values():
        if record.deleted != "0":
            continue
        core = views.record_core(record)
        if query and not any(query in str(core[k]).casefold() for k in ("title", "number", "name")):
            continue
        if not all(_matches(core, rule) for rule in rules):
            continue
        core["fields"] = views.record_fields(record)
        rows.append(core)
    sort = req.params.get("sort")
    if sort:
        keys = sort if isinstance(sort, list) else [sort]
        for key in reversed(keys):
            field = key.get("field") if isinstance(key, dict) else key
            descending = isinstance(key, dict) and str(key.get("dir", "")).lower() == "desc"
            if not isinstance(field, str):
                continue
            if field.startswith("-"):
                field, descending = field[1:], True
            rows.sort(key=_sort_key(field), reverse=descending)
    return Answer({"data": _paged(rows, page), "total": str(len(rows))})


@_action("GetStatuses")
def get_statuses(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Record statuses keyed by id (3.8); from 4.0 the autodialer's number statuses."""
    if req.version >= (4, 0):
        return Answer([{"status": s, "name": n, "code": c} for s, n, c in CHECK_STATUSES])
    status_id, queue_ref = req.ident(), req.get("queue")
    allowed: set[str] | None = None
    if queue_ref:
        queue = state.queue(queue_ref)
        allowed = set(queue.statuses) if queue.statuses else None
    return Answer(
        php_array(
            {
                s.id: {
                    "code": s.code,
                    "id": s.id,
                    "description": s.description,
                    "deleted": s.deleted,
                }
                for s in state.statuses.values()
                if (not status_id or s.id == status_id) and (allowed is None or s.id in allowed)
            }
        )
    )


@_action("SimpleSearchContact")
def simple_search_contact(state: SimState, views: Views, req: ApiRequest) -> Answer:
    """Contacts (with their form structure) by phone number, optionally in some queues."""
    number = req.need("phonenumber")
    queue_numbers = set(req.list("queues"))
    form = list(state.fields.values())
    rows = []
    for record in state.records.values():
        queue = state.queues[record.queue_id]
        if record.deleted != "0" or record.number != number:
            continue
        if queue_numbers and queue.number not in queue_numbers:
            continue
        rows.append(
            {
                "id_list": queue.id,
                "name_campaign": queue.title,
                "id_code_possibili": queue.id,
                "number_campaign": queue.number,
                "array_struct": {
                    "id_field": [f.id for f in form],
                    "type_field": [f.type for f in form],
                    "label_field": [f.title for f in form],
                    "default_value_field": [php_json(f.options) if f.options else "" for f in form],
                    "ro_field": [False for _ in form],
                    "order_field": [str(i + 1) for i in range(len(form))],
                    "value_data": [(record.fields.get(f.id) or [""])[0] for f in form],
                },
                "sysdata_struct": {
                    "id": str(record.id),
                    "number": record.number,
                    "date": fmt(record.edited or record.created),
                    "date_nextcall": fmt_opt(record.nextcall),
                    "callstatus": record.status,
                    "action": record.action,
                    "asterisk_uniqueid": record.call_id or None,
                    "agent_id": record.user,
                },
                "status_error": None,
            }
        )
    return Answer(rows)
