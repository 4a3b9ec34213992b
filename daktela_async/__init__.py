"""daktela-async: asyncio client and realtime engine for the Daktela legacy API (v3.0-4.1).

The public surface is re-exported here; every other module is private.
"""

from ._client import DaktelaClient, RawResponse
from ._config import (
    API_VERSIONS,
    DEFAULT_API_VERSION,
    NOT_GIVEN,
    NotGiven,
    PoolLimits,
    RetryPolicy,
    Timeouts,
)
from ._errors import (
    DaktelaAnswerTooLargeError,
    DaktelaAPIError,
    DaktelaAuthError,
    DaktelaConnectError,
    DaktelaDecodeError,
    DaktelaError,
    DaktelaHTTPStatusError,
    DaktelaTimeoutError,
    DaktelaTransportError,
    DaktelaUsageError,
    DaktelaVersionError,
)
from ._transport._pool import TransportFactory, TransportOptions, default_transport_factory
from .realtime import (
    AgentCallEnded,
    AgentCallStarted,
    AgentStateChanged,
    Backoff,
    CallChanged,
    Event,
    EventsDropped,
    PauseStatsChanged,
    QueueLoginChanged,
    QueuesSummaryChanged,
    QueueStatsChanged,
    SessionChanged,
    SourceFailed,
    SourceRecovered,
    SubscriberTooSlow,
    Subscription,
    Watcher,
)

__version__ = "0.1.0"

__all__ = [
    "API_VERSIONS",
    "DEFAULT_API_VERSION",
    "NOT_GIVEN",
    "AgentCallEnded",
    "AgentCallStarted",
    "AgentStateChanged",
    "Backoff",
    "CallChanged",
    "DaktelaAPIError",
    "DaktelaAnswerTooLargeError",
    "DaktelaAuthError",
    "DaktelaClient",
    "DaktelaConnectError",
    "DaktelaDecodeError",
    "DaktelaError",
    "DaktelaHTTPStatusError",
    "DaktelaTimeoutError",
    "DaktelaTransportError",
    "DaktelaUsageError",
    "DaktelaVersionError",
    "Event",
    "EventsDropped",
    "NotGiven",
    "PauseStatsChanged",
    "PoolLimits",
    "QueueLoginChanged",
    "QueueStatsChanged",
    "QueuesSummaryChanged",
    "RawResponse",
    "RetryPolicy",
    "SessionChanged",
    "SourceFailed",
    "SourceRecovered",
    "SubscriberTooSlow",
    "Subscription",
    "Timeouts",
    "TransportFactory",
    "TransportOptions",
    "Watcher",
    "__version__",
    "default_transport_factory",
]
