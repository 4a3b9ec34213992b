"""Result models of the legacy API and the converter that builds them (private).

Every model is a frozen, slotted attrs class whose field names are the server's JSON
keys; unknown keys are kept in ``extra``. :data:`RESULT_MODELS` says which type each
action's ``result`` structures into; :func:`structure` does it and raises
:class:`~daktela_async._errors.DaktelaDecodeError` on a wrong shape;
:func:`structure_agent_states` is the fast, reusing path for ``RTUsersState``.
"""

from __future__ import annotations

from ._agent_states import (
    AgentStates,
    structure_agent_states,
)
from ._calls import (
    Attempt,
    CDRRecord,
    DeviceState,
    DeviceStatus,
)
from ._common import (
    Page,
)
from ._converter import (
    structure,
    unstructure,
)
from ._dialer import (
    DialerStatus,
    NumberCheck,
)
from ._emails import (
    Activity,
    Email,
    EmailCreated,
)
from ._keyed import (
    RTStatsSessions,
    Users,
)
from ._operators import (
    AnsweredCall,
    CreatedCall,
    MonitoringInfo,
    PlaybackStatus,
    User,
)
from ._pauses import (
    LegacyPause,
    Pause,
)
from ._queues import (
    LoginQueueState,
    Queue,
    QueuePresence,
)
from ._realtime import (
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
from ._records import (
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
from ._results import (
    RESULT_MODELS,
)
from ._scalars import (
    EMPTY,
    QueueOptions,
)
from ._sms import (
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
