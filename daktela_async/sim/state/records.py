"""Forms and records: campaign contacts, their snapshots, closing a call script."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from .._model import Queue, Record, Snapshot
from .errors import ERR_RECORD_UNKNOWN, ERR_STATUS_UNKNOWN, SimError
from .lookups import StateLookups

__all__ = ["RecordsMixin"]


class RecordsMixin(StateLookups):
    """The records transitions of :class:`~.SimState`."""

    def field_id(self, key: str) -> str | None:
        """A form field's id from its id or unique name (``3``, ``field_poznamka``)."""
        if key in self.fields:
            return key
        return next((f.id for f in self.fields.values() if f.name == key), None)

    def _new_record(
        self,
        queue: Queue,
        number: str,
        fields: dict[str, list[str]],
        *,
        user: str | None = None,
        nextcall: float | None = None,
        record_id: int | None = None,
    ) -> Record:
        rid = record_id if record_id is not None else next(self._record_ids)
        while record_id is None and rid in self.records:
            rid = next(self._record_ids)
        now = self.now()
        name = "record_" + hashlib.sha1(f"{self.seed}:{rid}".encode()).hexdigest()[:13]  # noqa: S324
        record = Record(rid, queue.id, number, number, name, now, user=user, nextcall=nextcall)
        given = {fid: v for k, v in fields.items() if (fid := self.field_id(k)) is not None}
        for field_id in self.fields:
            record.fields[field_id] = list(given.get(field_id, []))
            record.field_times[field_id] = (now, user, 1)
        self.records[rid] = record
        self._snapshot(record, user)
        return record

    def _snapshot(self, record: Record, user: str | None) -> None:
        copy = Record(
            record.id,
            record.queue_id,
            record.number,
            record.title,
            record.name,
            record.created,
            record.user,
            record.nextcall,
            record.status,
            record.action,
            record.call_id,
            record.edited,
            record.deleted,
            {k: list(v) for k, v in record.fields.items()},
        )
        self.snapshots.append(Snapshot(next(self._snapshot_ids), copy, self.now(), user))

    def create_record(
        self,
        queue_ref: str,
        number: str,
        fields: dict[str, list[str]],
        *,
        user: str | None = None,
        nextcall: float | None = None,
        record_id: int | None = None,
    ) -> Record:
        """``CreateRecord``: import a contact into a campaign (queue id or number)."""
        queue = self.queue_by_ref(queue_ref)
        if user is not None:
            self.user_by_id(user)
        return self._new_record(
            queue, number, fields, user=user, nextcall=nextcall, record_id=record_id
        )

    def record(self, record_id: str | int) -> Record:
        """A live record by id."""
        try:
            record = self.records[int(record_id)]
        except (KeyError, ValueError):
            raise SimError(ERR_RECORD_UNKNOWN) from None
        if record.deleted != "0":
            raise SimError(ERR_RECORD_UNKNOWN)
        return record

    def update_record(self, record: Record, changes: dict[str, Any]) -> Record:
        """``UpdateRecord``/``CallScriptClose``: change a record and snapshot it."""
        now = self.now()
        if "queue" in changes:
            record.queue_id = self.queue_by_ref(changes["queue"]).id
        if "number" in changes:
            record.number = changes["number"]
        if "user" in changes:
            record.user = changes["user"] or None
        if "status" in changes:
            record.status = changes["status"] or None
        if "action" in changes:
            record.action = changes["action"]
        if "nextcall" in changes:
            record.nextcall = changes["nextcall"]
        for key, values in changes.get("fields", {}).items():
            field_id = self.field_id(key)
            if field_id is None:
                continue
            record.fields[field_id] = list(values)
            _, _, version = record.field_times.get(field_id, (now, None, 0))
            record.field_times[field_id] = (now, record.user, version + 1)
        record.edited = now
        self._snapshot(record, record.user)
        return record

    def move_records(
        self,
        records: Iterable[Record],
        queue: Queue,
        *,
        copy: bool,
        updates: dict[str, Any],
        touch: bool = True,
    ) -> int:
        """``CopyRecords``/``MoveRecords``: put *records* into *queue*."""
        count = 0
        for record in list(records):
            target = record
            if copy:
                target = self._new_record(
                    queue, record.number, record.fields, user=record.user, nextcall=record.nextcall
                )
                target.status = record.status
                target.action = record.action
                target.title = record.title
            else:
                target.queue_id = queue.id
            for key, value in updates.items():
                setattr(target, key, value)
            if touch:
                target.edited = self.now()
            count += 1
        return count

    def delete_record(self, record: Record) -> None:
        """``DeleteRecord``."""
        record.deleted = "1"
        record.edited = self.now()

    def close_callscript(
        self,
        record: Record,
        *,
        status: str | None,
        number: str | None,
        nextcall: float | None,
        user: str | None,
        has_user: bool,
        fields: dict[str, list[str]],
        pause: str | None,
    ) -> tuple[bool, str | None]:
        """``CallScriptClose``: save and close the record, then leave (or switch) the pause.

        Returns ``(result, error)`` of the pause switch, as ``cc`` in the answer.
        """
        changes: dict[str, Any] = {"fields": fields, "action": "6" if nextcall else "5"}
        queue = self.queues.get(record.queue_id)
        if status is not None:
            changes["status"] = self.status_by_code(status, queue).id
        elif record.status is None:
            raise SimError(ERR_STATUS_UNKNOWN)
        if number is not None:
            changes["number"] = number
        if nextcall is not None:
            changes["nextcall"] = nextcall
        operator = next(
            (a for a in self.agents.values() if a.callscript_opened == str(record.id)), None
        )
        if operator is None and record.user is not None:
            operator = self.agents.get(record.user)
        if has_user:
            changes["user"] = user
        self.update_record(record, changes)
        if operator is None:
            return True, None
        if operator.callscript_opened == str(record.id):
            operator.callscript_opened = None
            self.touch(operator)
        try:
            if pause is not None:
                self.pause_on(operator, self.pause_by_name(pause).id, force=True)
            elif operator.pause_id is not None and self.pauses[operator.pause_id].type == "wrap":
                self.pause_off(operator)
        except SimError as exc:
            return False, str(exc)
        return True, None
