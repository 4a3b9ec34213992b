"""Forms and campaign records: ``GetRecords``, ``CallScript*``, ``ExportData``..."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import attrs

from ._scalars import EMPTY

__all__ = [
    "CallScriptClosed",
    "CallScriptOpened",
    "ContactMatch",
    "ContactSysdata",
    "ExportField",
    "FormField",
    "FormStatus",
    "FormStructure",
    "PauseSwitchResult",
    "Record",
    "RecordAttempts",
    "RecordChanges",
    "RecordSnapshot",
    "RecordWriteResult",
]


@attrs.frozen(slots=True, kw_only=True)
class RecordChanges:
    """What a write changed besides the record itself (``changes`` of a record).

    Attributes:
        fields: Whether form fields changed.
        record_snapshots: Whether a snapshot was taken.
        extra: Every key the server sent that this model does not know.
    """

    fields: bool | None = None
    record_snapshots: bool | None = None
    extra: Mapping[str, Any] = EMPTY


@attrs.frozen(slots=True, kw_only=True)
class Record:
    """A campaign record (a call script or form item).

    Returned by ``GetRecords``, ``CreateRecord``, ``UpdateRecord``,
    ``CallScriptOpened`` and ``CallScriptClose``.

    Attributes:
        record: Record ID.
        user: ID of the operator the record is assigned to.
        queue: Queue (campaign) ID.
        name: Unique record name (``"record_53eb81ff2bf56"``).
        title: Title (often the number).
        number: Phone number.
        nextcall: When the record is scheduled to be called.
        status: ID of the record's status.
        action: What happens with the record: ``0`` free, ``1``-``3`` loaded by an
            operator, ``4`` before save, ``5`` done, ``6`` scheduled; a text when the
            server writes one (``"UpdateRecord"``).
        call_id: Unique ID of the call bound to the record.
        edited: When it was last changed.
        created: When it was created.
        deleted: Whether it is deleted.
        changes: What the write changed (``CreateRecord``, ``CallScript*``).
        fields: Form values by field ID; each a list of texts.
        extra: Every key the server sent that this model does not know.
    """

    record: int
    user: int | None = None
    queue: int | None = None
    name: str | None = None
    title: str | None = None
    number: str | None = None
    nextcall: dt.datetime | None = None
    status: int | None = None
    action: int | str | None = None
    call_id: str | None = None
    edited: dt.datetime | None = None
    created: dt.datetime | None = None
    deleted: bool | None = None
    changes: RecordChanges | None = None
    fields: Mapping[str, tuple[str, ...]] = EMPTY
    extra: Mapping[str, Any] = EMPTY


@attrs.frozen(slots=True, kw_only=True)
class RecordSnapshot:
    """A saved version of a record (``GetRecordSnapshots``).

    Attributes:
        record_snapshot: Snapshot ID.
        record: Record ID.
        user: Operator (user) ID.
        queue: Queue (campaign) ID.
        name: Unique record name.
        title: Title.
        number: Phone number.
        nextcall: Scheduled call time.
        status: Status ID.
        action: Record action (see :attr:`Record.action`).
        call_id: Unique call ID.
        created: When the snapshot was taken.
        created_by: ID of the user who took it.
        fields: Form values by field ID.
        extra: Every key the server sent that this model does not know.
    """

    record_snapshot: int
    record: int | None = None
    user: int | None = None
    queue: int | None = None
    name: str | None = None
    title: str | None = None
    number: str | None = None
    nextcall: dt.datetime | None = None
    status: int | None = None
    action: int | str | None = None
    call_id: str | None = None
    created: dt.datetime | None = None
    created_by: int | None = None
    fields: Mapping[str, tuple[str, ...]] = EMPTY
    extra: Mapping[str, Any] = EMPTY


@attrs.frozen(slots=True, kw_only=True)
class RecordWriteResult:
    """The answer of ``CreateRecord`` and ``UpdateRecord``.

    Attributes:
        count: How many records were written.
        record: The record as stored.
        extra: Every key the server sent that this model does not know.
    """

    count: int | None = None
    record: Record | None = None
    extra: Mapping[str, Any] = EMPTY


@attrs.frozen(slots=True, kw_only=True)
class PauseSwitchResult:
    """How the operator's pause changed after a call script was saved (``cc``).

    Attributes:
        result: Whether the pause switch (or leaving the pause) succeeded.
        error: Why it did not.
        extra: Every key the server sent that this model does not know.
    """

    result: bool | None = None
    error: str | None = None
    extra: Mapping[str, Any] = EMPTY


@attrs.frozen(slots=True, kw_only=True)
class CallScriptClosed:
    """The answer of ``CallScriptClose``.

    Attributes:
        record: The call script's record after closing (informative).
        cc: The operator's pause switch after saving.
        extra: Every key the server sent that this model does not know.
    """

    record: Record | None = None
    cc: PauseSwitchResult | None = None
    extra: Mapping[str, Any] = EMPTY


@attrs.frozen(slots=True, kw_only=True)
class FormField:
    """One field of an open call script, with its value (``CallScriptOpened``).

    Attributes:
        field: Field ID.
        type: Input type (``"text"``, ``"selectbox"``...).
        name: Unique field name (``"field_5283f87c364f0"``).
        title: Label.
        description: Help text.
        multiple: Whether it takes several values.
        fieldset: Field set it belongs to, as sent.
        pattern: Validation pattern.
        col: Layout column, as sent.
        deleted: Whether the field is deleted.
        required: Whether it must be filled.
        position: Order in the form.
        free: As sent (undocumented).
        object: Linked object, as sent (``{"field": null, "error": null}``).
        options: Choices, as sent.
        value: The values (texts).
        time: When the value was saved.
        user: ID of the user who saved it.
        version: Value version.
        extra: Every key the server sent that this model does not know.
    """

    field: int
    type: str | None = None
    name: str | None = None
    title: str | None = None
    description: str | None = None
    multiple: bool | None = None
    fieldset: Any = None
    pattern: str | None = None
    col: Any = None
    deleted: bool | None = None
    required: bool | None = None
    position: int | None = None
    free: Any = None
    object: Any = None
    options: Any = None
    value: tuple[str, ...] = ()
    time: dt.datetime | None = None
    user: int | None = None
    version: int | None = None
    extra: Mapping[str, Any] = EMPTY


@attrs.frozen(slots=True, kw_only=True)
class CallScriptOpened:
    """The answer of ``CallScriptOpened``.

    Attributes:
        record: The open call script's record; ``None`` when no form is open.
        fields: Its fields by field ID.
        extra: Every key the server sent that this model does not know.
    """

    record: Record | None = None
    fields: Mapping[str, FormField] = EMPTY
    extra: Mapping[str, Any] = EMPTY


@attrs.frozen(slots=True, kw_only=True)
class ExportField:
    """One exported form value (values of an ``ExportData`` row).

    Attributes:
        label: The field's label.
        value: Its value as text, formatted for display (dates ``"28.08.2012 16:20:17"``).
        id: The field's key (``"sysdata_number"``, ``"data_1"``).
        extra: Every key the server sent that this model does not know.
    """

    label: str | None = None
    value: str | None = None
    id: str | None = None
    extra: Mapping[str, Any] = EMPTY


@attrs.frozen(slots=True, kw_only=True)
class RecordAttempts:
    """Call counts of a record (``GetRecordAttempts``).

    Attributes:
        count_answered: Answered calls.
        count_unanswered: Unanswered calls.
        last_datetime: When the last call was made.
        extra: Every key the server sent that this model does not know.
    """

    count_answered: int | None = None
    count_unanswered: int | None = None
    last_datetime: dt.datetime | None = None
    extra: Mapping[str, Any] = EMPTY


@attrs.frozen(slots=True, kw_only=True)
class FormStatus:
    """A call status of the forms (values of ``GetStatuses``, 3.8).

    Attributes:
        code: Unique status name (``"objednavka"``).
        id: Status ID.
        description: Its text.
        deleted: Whether it is deleted.
        extra: Every key the server sent that this model does not know.
    """

    id: int
    code: str | None = None
    description: str | None = None
    deleted: bool | None = None
    extra: Mapping[str, Any] = EMPTY


@attrs.frozen(slots=True, kw_only=True)
class FormStructure:
    """The form of a found contact, one list per property (``array_struct``).

    The lists are parallel: index *i* of each describes field *i*.

    Attributes:
        id_field: Field IDs.
        type_field: Input types.
        label_field: Labels.
        default_value_field: Default values (for choices a JSON-encoded list).
        ro_field: Whether each field is read-only.
        order_field: Display order.
        value_data: The contact's values.
        extra: Every key the server sent that this model does not know.
    """

    id_field: tuple[int, ...] = ()
    type_field: tuple[str, ...] = ()
    label_field: tuple[str, ...] = ()
    default_value_field: tuple[str, ...] = ()
    ro_field: tuple[bool, ...] = ()
    order_field: tuple[int, ...] = ()
    value_data: tuple[str | None, ...] = ()
    extra: Mapping[str, Any] = EMPTY


@attrs.frozen(slots=True, kw_only=True)
class ContactSysdata:
    """The system data of a found contact (``sysdata_struct``).

    Attributes:
        id: Record ID.
        number: Phone number.
        date: When it was last changed.
        date_nextcall: Scheduled call time.
        callstatus: Status ID.
        action: Record action (see :attr:`Record.action`).
        asterisk_uniqueid: Unique ID of the last call.
        agent_id: Operator (user) ID.
        extra: Every key the server sent that this model does not know.
    """

    id: int | None = None
    number: str | None = None
    date: dt.datetime | None = None
    date_nextcall: dt.datetime | None = None
    callstatus: int | None = None
    action: int | None = None
    asterisk_uniqueid: str | None = None
    agent_id: int | None = None
    extra: Mapping[str, Any] = EMPTY


@attrs.frozen(slots=True, kw_only=True)
class ContactMatch:
    """One contact found by ``SimpleSearchContact``.

    Attributes:
        id_list: Record ID.
        name_campaign: Campaign (queue) name.
        id_code_possibili: Campaign (queue) ID.
        number_campaign: Campaign (queue) number.
        array_struct: The form with the contact's values.
        sysdata_struct: The system data.
        status_error: Error text, if the contact could not be read.
        extra: Every key the server sent that this model does not know.
    """

    id_list: int | None = None
    name_campaign: str | None = None
    id_code_possibili: int | None = None
    number_campaign: str | None = None
    array_struct: FormStructure | None = None
    sysdata_struct: ContactSysdata | None = None
    status_error: str | None = None
    extra: Mapping[str, Any] = EMPTY
