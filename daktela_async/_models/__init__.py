"""Result models of the legacy API and the converter that builds them (private).

Every model is a frozen, slotted attrs class whose field names are the server's JSON
keys; unknown keys are kept in ``extra``. :data:`RESULT_MODELS` says which type each
action's ``result`` structures into; :func:`structure` does it and raises
:class:`~daktela_async._errors.DaktelaDecodeError` on a wrong shape;
:func:`structure_agent_states` is the fast, reusing path for ``RTUsersState``.
"""

from __future__ import annotations

from daktela_async._models._agent_states import (
    AgentStates,
    structure_agent_states,
)
from daktela_async._models._calls import (
    Attempt,
    CDRRecord,
    DeviceState,
    DeviceStatus,
)
from daktela_async._models._common import (
    Page,
)
from daktela_async._models._converter import (
    EMPTY,
    QueueOptions,
    structure,
    unstructure,
)
from daktela_async._models._dialer import (
    DialerStatus,
    NumberCheck,
)
from daktela_async._models._emails import (
    Activity,
    Email,
    EmailCreated,
)
from daktela_async._models._keyed import (
    RTStatsSessions,
    Users,
)
from daktela_async._models._operators import (
    AnsweredCall,
    CreatedCall,
    MonitoringInfo,
    PlaybackStatus,
    User,
)
from daktela_async._models._pauses import (
    LegacyPause,
    Pause,
)
from daktela_async._models._queues import (
    LoginQueueState,
    Queue,
    QueuePresence,
)
from daktela_async._models._realtime import (
    AgentCall,
    AgentState,
    AgentStateName,
    CallStateName,
    RTStatsCall,
    RTStatsPause,
    RTStatsQueue,
    RTStatsQueuesSummary,
    RTStatsSession,
)
from daktela_async._models._records import (
    CallScriptClosed,
    CallScriptOpened,
    ContactMatch,
    ContactSysdata,
    ExportField,
    FormField,
    FormStatus,
    FormStructure,
    PauseSwitchResult,
    Record,
    RecordAttempts,
    RecordChanges,
    RecordSnapshot,
    RecordWriteResult,
)
from daktela_async._models._results import (
    RESULT_MODELS,
)
from daktela_async._models._sms import (
    GroupSMSRemoved,
    GroupSMSStatus,
    SentSMS,
    SMSConnectMessage,
    SMSConnectResult,
    SMSMessage,
    SMSSettings,
    SMSSettingsInfo,
    SMSStatus,
)
from daktela_async._models._statistics import (
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

__all__ = [
    "EMPTY",
    "RESULT_MODELS",
    "Activity",
    "AgentCall",
    "AgentState",
    "AgentStateName",
    "AgentStates",
    "AnsweredCall",
    "Attempt",
    "CDRBillingRecord",
    "CDRRecord",
    "CallScriptClosed",
    "CallScriptOpened",
    "CallStateName",
    "ContactMatch",
    "ContactSysdata",
    "CreatedCall",
    "DeviceState",
    "DeviceStatus",
    "DialerStatus",
    "Email",
    "EmailCreated",
    "ExportField",
    "FormField",
    "FormStatus",
    "FormStructure",
    "GroupSMSRemoved",
    "GroupSMSStatus",
    "LastCall",
    "LastCallNumber",
    "LegacyPause",
    "LoginQueueState",
    "MonitoringInfo",
    "NumberCheck",
    "Page",
    "Pause",
    "PauseSwitchResult",
    "PlaybackStatus",
    "Queue",
    "QueueOptions",
    "QueuePresence",
    "RTStatsCall",
    "RTStatsPause",
    "RTStatsQueue",
    "RTStatsQueuesSummary",
    "RTStatsSession",
    "RTStatsSessions",
    "Record",
    "RecordAttempts",
    "RecordChanges",
    "RecordSnapshot",
    "RecordWriteResult",
    "SMSConnectMessage",
    "SMSConnectResult",
    "SMSMessage",
    "SMSSettings",
    "SMSSettingsInfo",
    "SMSStatus",
    "SentSMS",
    "StatsCallRow",
    "StatsCallsRepeatedRow",
    "StatsTraceRow",
    "StatsUserPauseRow",
    "StatsUserQueueRow",
    "StatsUserSessionRow",
    "User",
    "Users",
    "structure",
    "structure_agent_states",
    "unstructure",
]
