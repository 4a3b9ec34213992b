"""How the PBX writes things: the answer shapes of the document, JSON and XML.

Every ``*_row``/``*_dict`` function returns exactly the keys, order and JSON types that
the document's recorded answer for that action shows (strings where the PHP server
sends strings, integers where it sends integers, ``null`` where it sends ``null``).

:class:`Views` caches the expensive realtime answers: each agent's ``RTUserState``
payload and hash are kept per agent version, and the whole ``RTUsersState`` body per
state version, so a thousand pollers cost one serialisation per change.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Final
from xml.sax.saxutils import escape, quoteattr

from ._clock import fmt, fmt_opt
from ._model import (
    Activity,
    Agent,
    Call,
    Email,
    Leg,
    Queue,
    QueueCall,
    Record,
    Sms,
    SmsConnect,
    User,
)
from .state import ERR_NOT_LOGGED, SimError, SimState, destination_of

__all__ = ["Views", "php_array", "php_json", "to_xml"]

_ACTION_TITLES: Final = {
    "0": "volná",
    "1": "otevřená",
    "2": "otevřená",
    "3": "otevřená",
    "4": "před uložením",
    "5": "hotová",
    "6": "odložená na později",
}


def php_json(value: Any) -> str:
    r"""JSON as PHP's ``json_encode`` writes it: compact, with ``\/`` and ``\u00e1`` escapes."""
    # "/" only ever occurs inside JSON strings, so replacing it everywhere is exact.
    return json.dumps(value, ensure_ascii=True, separators=(",", ":")).replace("/", "\\/")


def php_array(mapping: dict[str, Any]) -> dict[str, Any] | list[Any]:
    """An id-keyed collection as PHP encodes it: an empty PHP array is ``[]``, not ``{}``."""
    return mapping if mapping else []


def _xml_name(key: str) -> str:
    return key if key[:1].isalpha() and all(ch.isalnum() or ch in "_-" for ch in key) else ""


def _xml_value(value: Any, out: list[str]) -> None:
    if value is None:
        return
    if isinstance(value, bool):
        out.append("true" if value else "false")
    elif isinstance(value, dict):
        for key, item in value.items():
            name = _xml_name(str(key))
            if name:
                out.append(f"<{name}>")
                _xml_value(item, out)
                out.append(f"</{name}>")
            else:
                out.append(f"<item key={quoteattr(str(key))}>")
                _xml_value(item, out)
                out.append("</item>")
    elif isinstance(value, list):
        for item in value:
            out.append("<item>")
            _xml_value(item, out)
            out.append("</item>")
    else:
        out.append(escape(str(value)))


def to_xml(envelope: dict[str, Any]) -> str:
    """A simple XML rendering of an answer envelope (``<response><status>1</status>...``).

    Keys that are not XML names (ids) become ``<item key="3">``; list members
    ``<item>``; ``null`` an empty element; booleans ``true``/``false``.
    """
    out = ['<?xml version="1.0" encoding="UTF-8"?>', "<response>"]
    _xml_value(envelope, out)
    out.append("</response>")
    return "".join(out)


def _s(value: float | None) -> str:
    return "0" if value is None else str(int(value))


class Views:
    """The documented answer shapes of *state*, with the realtime ones cached."""

    def __init__(self, state: SimState) -> None:
        self.state = state
        self._queue_cache: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
        self._user_cache: dict[str, tuple[tuple[int, int], str, str]] = {}
        self._users_cache: dict[str, tuple[tuple[int, int], str]] = {}
        self._users_body: tuple[int, str] | None = None

    # --- users ---------------------------------------------------------------------------

    @staticmethod
    def user_dict(user: User) -> dict[str, Any]:
        """A user as ``GetUsers`` shows it."""
        return {
            "user": user.id,
            "role": user.role,
            "profile": user.profile,
            "name": user.name,
            "title": user.title,
            "description": user.description,
            "password": user.password,
            "email": user.email,
            "deleted": user.deleted,
        }

    @staticmethod
    def user_created(user: User) -> dict[str, Any]:
        """A user as ``CreateUser``/``UpdateUser`` answer it (integer id, ``deleted`` null)."""
        return {
            **Views.user_dict(user),
            "user": int(user.id),
            "description": user.description or None,
            "email": user.email or None,
            "deleted": None if user.deleted == "0" else user.deleted,
        }

    @staticmethod
    def extension_user(user: User) -> dict[str, Any]:
        """A user as ``GetExtensionUsers`` shows it (no password)."""
        row = Views.user_dict(user)
        del row["password"]
        return {**row, "description": user.description or "", "email": user.email or ""}

    # --- queues --------------------------------------------------------------------------

    @staticmethod
    def queue_dict(queue: Queue) -> dict[str, Any]:
        """A queue as ``GetQueues`` shows it (``options`` as a JSON string)."""
        return {
            "queue": queue.id,
            "name": queue.number,
            "title": queue.title,
            "description": queue.description,
            "direction": queue.direction,
            "outboundcid": queue.outboundcid,
            "wrapuptime": queue.wrapuptime,
            "outbounder": queue.outbounder,
            "form": queue.form,
            "missed": queue.missed,
            "options": php_json(queue.options),
            "deleted": queue.deleted,
            "user": "1",
            "penalty": "0",
            "login": queue.login,
        }

    def oqueue(self, queue: Queue) -> dict[str, Any]:
        """The queue object of ``RTUserState``'s ``calls[].oqueue``.

        With ``rt_logged`` added, it is also the item of ``login_oqueues``.
        """
        key = (queue.id, "o")
        cached = self._queue_cache.get(key)
        if cached is not None and cached[0] == self.state.catalog_version:
            return cached[1]
        value = {
            "queue": queue.id,
            "name": queue.number,
            "title": queue.title,
            "description": queue.description,
            "outboundcid": queue.outboundcid,
            "type": queue.type,
            "direction": queue.direction,
            "wrapuptime": queue.wrapuptime,
            "outbounder": queue.outbounder,
            "form": queue.form,
            "missed": queue.missed,
            "options": queue.options,
            "deleted": queue.deleted,
            "penalty": "0",
            "login": queue.login,
        }
        self._queue_cache[key] = (self.state.catalog_version, value)
        return value

    @staticmethod
    def queue_short(queue: Queue, penalty: int | None) -> dict[str, Any]:
        """The queue object of ``RTUsersState``'s ``login_oqueues`` (fewer keys)."""
        return {
            "queue": queue.id,
            "name": queue.number,
            "title": queue.title,
            "description": queue.description,
            "type": queue.type,
            "direction": queue.direction,
            "options": queue.options,
            "deleted": queue.deleted,
            "penalty": str(penalty or 0),
            "login": queue.login,
            "rt_logged": penalty is not None,
        }

    # --- realtime ------------------------------------------------------------------------

    def call_entry(self, call: Call) -> dict[str, Any]:
        """One call of ``RTUserState``'s ``calls``."""
        queue = self.state.queues.get(call.queue_id or "")
        return {
            "id_call": call.id,
            "direction": call.direction,
            "clid": call.number,
            "clid_name": call.clid_name,
            "id_queue": call.queue_id,
            "oqueue": self.oqueue(queue) if queue is not None else None,
            "entered": fmt(call.entered),
            "ringed": fmt_opt(call.ringed),
            "answered": fmt_opt(call.leg_answered),
            "call_state": call.state,
            "onhold": fmt_opt(call.onhold),
        }

    def _user_head(self, user: User, agent: Agent) -> dict[str, Any]:
        return {
            "agent_name": user.name,
            "agent_title": user.title,
            "id_agent": user.id,
            "exten": agent.exten,
            "logintime": fmt_opt(agent.logintime),
            "agent_state": self.state.agent_state(agent),
            "state_time": fmt_opt(agent.state_time),
            "id_pause": agent.pause_id,
            "onpause": fmt_opt(agent.onpause),
        }

    def _login_oqueues(self, user: User, agent: Agent, short: bool) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for queue in self.state.queues.values():
            if not queue.allows(user.id):
                continue
            penalty = agent.queues.get(queue.id)
            if short:
                out.append(self.queue_short(queue, penalty))
            else:
                entry = dict(self.oqueue(queue))
                entry["penalty"] = str(penalty or 0)
                entry["rt_logged"] = penalty is not None
                out.append(entry)
        return out

    def user_state_v39(self, user: User, agent: Agent) -> dict[str, Any]:
        """``RTUserState`` as version 3.9 answers it (no ``login_oqueues``, no hash)."""
        if not agent.logged:
            raise SimError(ERR_NOT_LOGGED)
        result = self._user_head(user, agent)
        result["callscript_opened"] = agent.callscript_opened
        result["calls"] = [self.call_entry(c) for c in self.state.live_calls_of(agent)]
        return result

    def user_state(self, user: User, agent: Agent) -> tuple[str, str]:
        """``RTUserState`` (4.0+) of *agent* as JSON without ``hash``, and its hash.

        The hash is the SHA-1 of that JSON, so it changes exactly when the answer does.
        """
        if not agent.logged:
            raise SimError(ERR_NOT_LOGGED)
        key = (agent.version, self.state.catalog_version)
        cached = self._user_cache.get(user.id)
        if cached is not None and cached[0] == key:
            return cached[1], cached[2]
        result = self._user_head(user, agent)
        result["calls"] = [self.call_entry(c) for c in self.state.live_calls_of(agent)]
        result["callscript_opened"] = agent.callscript_opened
        result["login_oqueues"] = self._login_oqueues(user, agent, short=False)
        body = php_json(result)
        digest = hashlib.sha1(body.encode()).hexdigest()  # noqa: S324 (a change detector)
        self._user_cache[user.id] = (key, body, digest)
        return body, digest

    def user_state_with_hash(self, user: User, agent: Agent) -> tuple[str, str]:
        """The ``RTUserState`` result JSON including ``hash``, and the hash."""
        body, digest = self.user_state(user, agent)
        return f'{body[:-1]},"hash":"{digest}"}}', digest

    def users_state(self) -> str:
        """The ``RTUsersState`` result JSON: logged-in agents keyed by id."""
        version = self.state.rt_version
        if self._users_body is not None and self._users_body[0] == version:
            return self._users_body[1]
        parts: list[str] = []
        catalog = self.state.catalog_version
        for user, agent in self.state.iter_agents():
            if not agent.logged:
                continue
            key = (agent.version, catalog)
            cached = self._users_cache.get(user.id)
            if cached is None or cached[0] != key:
                entry = self._user_head(user, agent)
                entry["calls"] = [self.call_entry(c) for c in self.state.live_calls_of(agent)]
                entry["callscript_opened"] = agent.callscript_opened
                entry["login_oqueues"] = self._login_oqueues(user, agent, short=True)
                cached = (key, php_json(entry))
                self._users_cache[user.id] = cached
            parts.append(f'"{user.id}":{cached[1]}')
        body = "{" + ",".join(parts) + "}" if parts else "[]"
        self._users_body = (version, body)
        return body

    # --- call history -------------------------------------------------------------------

    @staticmethod
    def about_call_row(leg: Leg) -> dict[str, Any]:
        """One row of ``AboutCall`` (a CDR leg)."""
        billsec = leg.end - leg.answered if leg.answered is not None else 0
        userfield = ""
        if leg.recording_hash:
            stamp = fmt(leg.start)
            day = stamp[:10].replace("-", "/")
            compact = stamp.replace("-", "").replace(":", "").replace(" ", "-")
            prefix = "OUT" if leg.direction == "out" else "IN"
            userfield = (
                f"/RECORDINGS/{day}/{prefix}{leg.real_exten}-{leg.dst}-{compact}-{leg.uniqueid}.wav"
            )
        return {
            "calldate": fmt(leg.start),
            "clid": leg.clid,
            "src": leg.src,
            "dst": leg.dst,
            "dcontext": leg.dcontext,
            "channel": leg.channel,
            "dstchannel": leg.dstchannel,
            "lastapp": "Dial" if leg.answered is None else "ResetCDR",
            "lastdata": "w",
            "duration": _s(leg.end - leg.start),
            "billsec": _s(billsec),
            "disposition": leg.disposition,
            "amaflags": "3",
            "accountcode": leg.accountcode,
            "uniqueid": leg.uniqueid,
            "userfield": userfield,
            "real_exten": leg.real_exten,
            "direction": leg.direction,
            "from_did": leg.from_did,
            "id_call": leg.call_id,
            "id_queue": leg.id_queue,
            "id_agent": leg.id_agent,
            "waiting_time": str(leg.waiting_time),
            "ringing_time": str(leg.ringing_time),
            "hold_time": str(leg.hold_time),
            "orig_pos": str(leg.position),
            "position": str(leg.position),
            "disposition_cause": leg.disposition_cause,
            "disconnection_cause": leg.disconnection_cause,
            "recording_hash": leg.recording_hash,
        }

    @staticmethod
    def cdr_row(leg: Leg) -> dict[str, Any]:
        """One row of ``CDR`` (with the price of the call)."""
        billsec = int(leg.end - leg.answered) if leg.answered is not None else 0
        kind, description, per_minute = destination_of(leg.dst)
        price = float(per_minute) * billsec / 60 if leg.direction == "out" else 0.0
        return {
            "date": fmt(leg.start),
            "real_exten": leg.real_exten,
            "dst": leg.dst,
            "billsec": str(billsec),
            "duration": _s(leg.end - leg.start),
            "disposition": leg.disposition,
            "accountcode": leg.accountcode,
            "uniqueid": leg.uniqueid,
            "id_call": leg.call_id,
            "from_did": leg.from_did,
            "direction": leg.direction,
            "price": f"{price:.8f}",
            "destination_type": kind,
            "destination_type_description": kind,
            "destination": description,
            "destination_price": per_minute,
        }

    @staticmethod
    def stats_call_row(row: QueueCall) -> dict[str, Any]:
        """One row of ``StatsCalls``."""
        return {
            "call": str(row.seq),
            "name": row.call_id,
            "call_time": fmt(row.call_time),
            "direction": row.direction,
            "answered": "1" if row.answered else "0",
            "queue": row.queue_id,
            "user": row.user_id,
            "clid": row.clid,
            "contact": str(row.record_id) if row.record_id is not None else None,
            "did": row.did,
            "waiting_time": str(row.waiting_time),
            "ringing_time": str(row.ringing_time),
            "hold_time": str(row.hold_time),
            "duration": str(row.duration),
            "orig_pos": str(row.position),
            "position": str(row.position),
            "disposition_cause": row.disposition_cause,
            "disconnection_cause": row.disconnection_cause,
            "pressed_key": None,
            "score": None,
            "note": "",
            "attempts": "0",
            "qa_user_id": None,
        }

    # --- records ---------------------------------------------------------------------------

    def record_fields(self, record: Record) -> dict[str, list[str]] | list[Any]:
        """A record's form values keyed by field id (PHP's ``[]`` when none)."""
        return php_array({k: list(v) for k, v in record.fields.items() if v})

    @staticmethod
    def record_core(record: Record) -> dict[str, Any]:
        """The record object, all strings (``GetRecords``, ``CallScriptOpened``)."""
        return {
            "record": str(record.id),
            "user": record.user,
            "queue": record.queue_id,
            "name": record.name,
            "title": record.title,
            "number": record.number,
            "nextcall": fmt_opt(record.nextcall),
            "status": record.status,
            "action": record.action,
            "call_id": record.call_id,
            "edited": fmt_opt(record.edited),
            "created": fmt(record.created),
            "deleted": record.deleted,
        }

    @staticmethod
    def changes() -> dict[str, bool]:
        """The ``changes`` object the PBX attaches to a saved record."""
        return {"fields": False, "record_snapshots": False}

    def form_field(self, record: Record, field_id: str) -> dict[str, Any]:
        """One field of ``CallScriptOpened``'s ``fields``, with its value."""
        form_field = self.state.fields[field_id]
        when, who, version = record.field_times.get(field_id, (record.created, None, 1))
        return {
            "field": form_field.id,
            "type": form_field.type,
            "name": form_field.name,
            "title": form_field.title,
            "description": "",
            "multiple": "0",
            "fieldset": None,
            "pattern": "",
            "col": None,
            "deleted": "0",
            "required": None,
            "position": None,
            "free": None,
            "object": {"field": None, "error": None},
            "options": php_json(form_field.options) if form_field.options else None,
            "value": list(record.fields.get(field_id, [])),
            "time": fmt(when),
            "user": who or record.user,
            "version": str(version),
        }

    def export_row(self, record: Record) -> dict[str, dict[str, Any]]:
        """One row of ``ExportData`` (``sysdata_*`` and ``data_<field>`` items)."""
        state = self.state

        def item(key: str, label: str, value: Any) -> tuple[str, dict[str, Any]]:
            return key, {"label": label, "value": value, "id": key}

        def cz(ts: float | None) -> str | None:
            return (
                None
                if ts is None
                else f"{fmt(ts)[8:10]}.{fmt(ts)[5:7]}.{fmt(ts)[:4]} {fmt(ts)[11:]}"
            )

        user = state.users.get(record.user or "")
        rows = [
            item("sysdata_number", "Tel.číslo", record.number),
            item("sysdata_date", "Datum", cz(record.edited or record.created)),
            item("sysdata_date_nextcall", "Datum příštího volání", cz(record.nextcall)),
            item("sysdata_date_create", "Datum vytvoření", cz(record.created)),
            item(
                "sysdata_callstatus",
                "Stav hovoru",
                state.statuses[record.status].description
                if record.status in state.statuses
                else None,
            ),
            item("sysdata_action", "Akce s čísly", _ACTION_TITLES.get(record.action, "")),
            item("sysdata_action_number", "Akce s čísly číslo", record.action),
            item("sysdata_asterisk_uniqueid", "Unikátní číslo hovoru", record.call_id or None),
            item(
                "sysdata_asterisk_recording",
                "Nahrávka hovoru",
                next(
                    (
                        c.recording_hash
                        for c in state.ended_calls.values()
                        if c.id == record.call_id and c.answered is not None
                    ),
                    None,
                ),
            ),
            item("sysdata_agent_id", "Agent ID", record.user),
            item("sysdata_agent_login", "Agent login", user.name if user else None),
            item("sysdata_agent_name", "Jméno agenta", user.title if user else None),
            item("sysdata_id", "ID", str(record.id)),
        ]
        for field_id, values in record.fields.items():
            if values:
                rows.append(
                    item(
                        f"data_{field_id}",
                        state.fields[field_id].title,
                        values[0] if len(values) == 1 else php_json(values),
                    )
                )
        return dict(rows)

    # --- SMS -----------------------------------------------------------------------------

    @staticmethod
    def sms_row(sms: Sms) -> dict[str, Any]:
        """One SMS of ``GetSMS``."""
        return {
            "id": str(sms.id),
            "billing_id": "259",
            "direction": sms.direction,
            "datetime": fmt(sms.scheduled or sms.datetime),
            "datetime_processed": fmt_opt(sms.processed),
            "number": sms.number,
            "attempts": str(sms.attempts),
            "count_sms": str(sms.count_sms),
            "from_client": "",
            "message": sms.message,
            "result": sms.result,
            "confirmation_enable": "1" if sms.confirmation else "0",
            "confirmed": sms.confirmed,
            "price": sms.price,
            "gw_number": sms.gw,
            "slot_number": sms.slot,
            "port_number": sms.port,
            "accountcode": sms.accountcode,
            "email": sms.email,
        }

    @staticmethod
    def sms_connect_row(sms: SmsConnect) -> dict[str, Any]:
        """One SMS of ``GetSMSConnect``."""
        return {
            "id": str(sms.id),
            "message_id": sms.message_id,
            "billing_id": "987",
            "direction": "OUT",
            "result": sms.result,
            "datetime": fmt(sms.scheduled or sms.datetime),
            "datetime_sent": fmt_opt(sms.sent),
            "datetime_delivered": fmt_opt(sms.delivered),
            "datetime_billed": fmt_opt(sms.billed),
            "sender": sms.sender,
            "recipient": sms.recipient,
            "price": sms.price,
            "message": sms.message,
            "sms_encoding": sms.encoding,
            "count_sms": str(sms.count_sms),
            "request_dlr": "1" if sms.request_dlr else "0",
            "attempts": "0",
            "group_id": str(sms.group_id) if sms.group_id is not None else None,
        }

    # --- activities and emails -------------------------------------------------------------

    @staticmethod
    def email_dict(email: Email) -> dict[str, Any]:
        """The ``email`` object of ``EmailCreate``."""
        return {
            "email": email.id,
            "queue": email.queue_id,
            "user": email.user,
            "contact": None,
            "name": email.name,
            "title": email.title,
            "address": email.address,
            "direction": "in",
            "wait_time": None,
            "duration": None,
            "answered": None,
            "text": email.text,
            "options": None,
            "time": fmt(email.time),
        }

    @staticmethod
    def activity_dict(activity: Activity) -> dict[str, Any]:
        """The ``activity`` object of ``EmailCreate``."""
        return {
            "activity": activity.id,
            "ticket": activity.ticket,
            "name": activity.name,
            "title": activity.title,
            "action": activity.action,
            "type": activity.type,
            "item": activity.item,
            "queue": activity.queue_id,
            "user": activity.user,
            "contact": None,
            "status": activity.status,
            "priority": activity.priority,
            "options": None,
            "time": fmt(activity.time),
            "time_wait": None,
            "time_open": None,
            "time_close": fmt_opt(activity.time_close),
        }
