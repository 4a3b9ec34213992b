"""Which type each action's ``result`` structures into: :data:`RESULT_MODELS`."""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any

from ._agent_states import AgentStates
from ._calls import Attempt, CDRRecord, DeviceState
from ._common import Page
from ._dialer import DialerStatus, NumberCheck
from ._emails import EmailCreated
from ._keyed import RTStatsSessions, Users
from ._operators import (
    AnsweredCall,
    CreatedCall,
    MonitoringInfo,
    PlaybackStatus,
    User,
)
from ._pauses import LegacyPause, Pause
from ._queues import Queue, QueuePresence
from ._realtime import (
    AgentState,
    RTStatsCall,
    RTStatsPause,
    RTStatsQueue,
    RTStatsQueuesSummary,
)
from ._records import (
    CallScriptClosed,
    CallScriptOpened,
    ContactMatch,
    ExportField,
    FormStatus,
    Record,
    RecordAttempts,
    RecordSnapshot,
    RecordWriteResult,
)
from ._sms import (
    GroupSMSRemoved,
    GroupSMSStatus,
    SentSMS,
    SMSConnectMessage,
    SMSMessage,
    SMSSettingsInfo,
    SMSStatus,
)
from ._statistics import (
    CDRBillingRecord,
    LastCall,
    LastCallNumber,
    StatsCallRow,
    StatsCallsRepeatedRow,
    StatsTraceRow,
    StatsUserPauseRow,
    StatsUserQueueRow,
    StatsUserSessionRow,
)

__all__ = ["RESULT_MODELS", "SECTION_RESULT_MODELS"]

#: For each action (named as in the API document), the type to pass to
#: :func:`~daktela_async._models.structure` for its ``result``:
#: ``structure(envelope["result"], RESULT_MODELS[action], action=action)``.
#:
#: ``None`` marks actions whose result carries nothing (``null``, ``""``, ``[]`` or
#: no ``result`` key at all); ``structure`` then returns ``None``. Unions list every
#: documented shape: ``GetQueues`` and ``GetUsers`` answer one object when given an
#: id and a dict keyed by id otherwise; ``GetPauses`` has a 3.0 and a 3.3 form; the
#: Forms and the Autodialer sections both define a ``GetStatuses``. ``GetRecording``
#: is absent: its answer is the recording's bytes, not the JSON envelope.
RESULT_MODELS: Mapping[str, object] = types.MappingProxyType(
    {
        # Queues
        "CreateQueue": None,
        "GetQueues": Queue | Mapping[str, Queue],
        "LoginQueue": None,
        "LogoutQueue": None,
        # Operators
        "Answer": AnsweredCall,
        "ControlPlayback": PlaybackStatus | None,
        "CreateCall": CreatedCall,
        "CreateUser": User,
        "DeleteUser": None,
        "GetUser": User | None,
        "GetUsers": User | Users,
        "Hangup": None,
        "Login": None,
        "Logout": None,
        "Monitoring": MonitoringInfo | None,
        "PauseOff": None,
        "PauseOn": None,
        "PickupFromQueue": None,
        "Transfer": None,
        "UpdateUser": User,
        # Calls
        "AboutCall": tuple[CDRRecord, ...],
        "ClickToCall": CreatedCall,
        "CreateRemoteCall": CreatedCall,
        "GetAttempts": Page[Attempt],
        # Extensions
        "DeviceStates": tuple[DeviceState, ...],
        "GetExtensionUsers": Page[User],
        # Pauses
        "CreatePause": None,
        "GetPauses": Mapping[str, Pause | LegacyPause],
        # Statistics
        "CDR": tuple[CDRBillingRecord, ...],
        "LastCall": LastCall | None,
        "LastCallNumber": LastCallNumber | None,
        "RTQueuePresence": QueuePresence,
        "RTStatsCalls": Mapping[str, RTStatsCall],
        "RTStatsPauses": Mapping[str, RTStatsPause],
        "RTStatsQueues": Mapping[str, RTStatsQueue],
        "RTStatsQueuesSummary": RTStatsQueuesSummary,
        "RTStatsSessions": RTStatsSessions,
        "RTUserState": AgentState,
        "RTUsersState": AgentStates,
        "StatsCalls": Page[StatsCallRow],
        "StatsCallsRepeated": tuple[StatsCallsRepeatedRow, ...],
        "StatsTrace": tuple[StatsTraceRow, ...],
        "StatsUsersPauses": Page[StatsUserPauseRow],
        "StatsUsersQueues": Page[StatsUserQueueRow],
        "StatsUsersSessions": Page[StatsUserSessionRow],
        # SMS
        "GetSMS": tuple[SMSMessage, ...],
        "GetSMSSettings": SMSSettingsInfo,
        "RemoveGroupSMS": GroupSMSRemoved,
        "SendGroupSMS": Mapping[str, SentSMS],
        "SendSMS": SentSMS,
        "SetSMSSettings": None,
        "StatusGroupSMS": Mapping[str, GroupSMSStatus],
        "StatusSMS": SMSStatus,
        # SMS Connect
        "GetSMSConnect": Mapping[str, SMSConnectMessage],
        "SendGroupSMSConnect": Mapping[str, SentSMS],
        "SendSMSConnect": SentSMS,
        "StatusSMSConnect": SMSStatus,
        # Forms
        "CallScriptClose": CallScriptClosed,
        "CallScriptOpened": CallScriptOpened,
        "CopyRecords": None,
        "CreateRecord": RecordWriteResult,
        "DeleteRecord": int,
        "ExportData": tuple[Mapping[str, ExportField], ...],
        "GetRecordAttempts": RecordAttempts,
        "GetRecordSnapshots": Page[RecordSnapshot],
        "GetRecords": Page[Record],
        "GetStatuses": Mapping[str, FormStatus] | tuple[DialerStatus, ...],
        "MoveRecords": None,
        "SimpleSearchContact": tuple[ContactMatch, ...],
        "UpdateRecord": RecordWriteResult,
        # Events: the event's parameters echoed back, keys chosen by the caller.
        "CreateEvent": tuple[Mapping[str, Any], ...],
        # Activities
        "ActivityClose": None,
        "ActivityUpdate": None,
        # Autodialer
        "CheckNumber": NumberCheck,
        # Emails
        "EmailCreate": EmailCreated,
    }
)

#: The result types of the section forms of :data:`~daktela_async._actions.SECTION_FORMS`,
#: by (section, action): each section's typed method decodes its own form's answer.
SECTION_RESULT_MODELS: Mapping[tuple[str, str], object] = types.MappingProxyType(
    {
        ("Forms", "GetStatuses"): Mapping[str, FormStatus],
        ("Autodialer", "GetStatuses"): tuple[DialerStatus, ...],
    }
)
