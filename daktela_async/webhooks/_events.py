"""Events of the PBX's CRM webhooks: one class per hook, published to the realtime hub.

The PBX's dialplan calls the CRM at four points of a call (the API document's "Webhooks"
section); each call of a hook becomes one event:

============================  ==========================================================
Hook (query parameters)       Event
============================  ==========================================================
``callid``, ``dnd``           :class:`IncomingCall` (``kind="incoming_call"``)
``action=ringing``            :class:`LineRinging` (``kind="line_ringing"``)
``action=answer``             :class:`LineAnswered` (``kind="line_answered"``)
``action=hangup``             :class:`CallHungUp` (``kind="call_hung_up"``)
============================  ==========================================================

The line hooks also carry ``callerId``, ``calleeId``, ``line`` and ``idcall``. Like every
event, they are stamped with ``seq`` and ``time`` by the hub that publishes them. None of
them has a ``user`` (the PBX sends an extension, not a login), so a subscription's
``users=`` filter lets them all through; filter them with ``kinds=WEBHOOK_EVENTS``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Final, TypeAlias

import attrs

from .._event import Event

__all__ = [
    "WEBHOOK_EVENTS",
    "CallHungUp",
    "IncomingCall",
    "LineAnswered",
    "LineRinging",
    "WebhookEvent",
]


@attrs.frozen(slots=True, kw_only=True)
class IncomingCall(Event):
    """A call came into the PBX (the "system hook on arrival", before any line rings).

    The hook is ``?callid=${CALLERID(num)}&dnd=${FROM_DID}``: despite its name,
    ``callid`` is the caller's number, and there is no call id yet.

    Attributes:
        caller: The caller's number (the ``callid`` parameter); ``""`` for an anonymous
            caller.
        did: The number that was dialled (the ``dnd`` parameter, ``${FROM_DID}``);
            may be ``""``.
        extra: Every other query or form parameter the hook carried, by name (the
            shared secret is never kept).
    """

    kind: ClassVar[str] = "incoming_call"

    caller: str
    did: str
    extra: Mapping[str, str] = attrs.field(factory=dict)

    @property
    def key(self) -> tuple[Any, ...]:
        """Coalesces per caller and dialled number (the hook has no call id)."""
        return (self.kind, self.caller, self.did)


@attrs.frozen(slots=True, kw_only=True)
class _LineHook(Event):
    """The fields every line hook (``action=ringing|answer|hangup``) carries.

    Attributes:
        call_id: The PBX's call id (the ``idcall`` parameter, ``${ID_CALL}``); never empty.
        line: The extension the hook is about (the ``line`` parameter,
            ``${REAL_EXTEN}``); may be ``""``.
        caller: The caller's number (``callerId``); ``""`` for an anonymous caller.
        callee: The number that was dialled (``calleeId``, ``${FROM_DID}``); may be ``""``.
        extra: Every other query or form parameter the hook carried, by name (the
            shared secret is never kept).
    """

    #: The hook's ``action`` parameter.
    action: ClassVar[str] = ""

    call_id: str
    line: str
    caller: str
    callee: str
    extra: Mapping[str, str] = attrs.field(factory=dict)

    @property
    def key(self) -> tuple[Any, ...]:
        """Coalesces per call and line (with ``ringall`` one call rings several lines)."""
        return (self.kind, self.call_id, self.line)


@attrs.frozen(slots=True, kw_only=True)
class LineRinging(_LineHook):
    """A call started ringing on a line (``action=ringing``).

    Attributes:
        call_id: The PBX's call id (``idcall``, ``${ID_CALL}``); never empty.
        line: The ringing extension (``line``, ``${REAL_EXTEN}``); may be ``""``.
        caller: The caller's number (``callerId``); ``""`` for an anonymous caller.
        callee: The number that was dialled (``calleeId``, ``${FROM_DID}``).
        extra: Every other parameter the hook carried (never the shared secret).
    """

    kind: ClassVar[str] = "line_ringing"
    action: ClassVar[str] = "ringing"


@attrs.frozen(slots=True, kw_only=True)
class LineAnswered(_LineHook):
    """A call was answered on a line (``action=answer``).

    Attributes:
        call_id: The PBX's call id (``idcall``, ``${ID_CALL}``); never empty.
        line: The answering extension (``line``, ``${REAL_EXTEN}``); may be ``""``.
        caller: The caller's number (``callerId``); ``""`` for an anonymous caller.
        callee: The number that was dialled (``calleeId``, ``${FROM_DID}``).
        extra: Every other parameter the hook carried (never the shared secret).
    """

    kind: ClassVar[str] = "line_answered"
    action: ClassVar[str] = "answer"


@attrs.frozen(slots=True, kw_only=True)
class CallHungUp(_LineHook):
    """A call was hung up (``action=hangup``).

    Attributes:
        call_id: The PBX's call id (``idcall``, ``${ID_CALL}``); never empty.
        line: The extension the call was on (``line``, ``${REAL_EXTEN}``); ``""`` when
            it never reached one.
        caller: The caller's number (``callerId``); ``""`` for an anonymous caller.
        callee: The number that was dialled (``calleeId``, ``${FROM_DID}``).
        extra: Every other parameter the hook carried (never the shared secret).
    """

    kind: ClassVar[str] = "call_hung_up"
    action: ClassVar[str] = "hangup"


#: Any webhook event: what the lookup callback receives.
WebhookEvent: TypeAlias = IncomingCall | LineRinging | LineAnswered | CallHungUp

#: The four webhook event classes, for ``hub.subscribe(kinds=WEBHOOK_EVENTS)``.
WEBHOOK_EVENTS: Final[tuple[type[WebhookEvent], ...]] = (
    IncomingCall,
    LineRinging,
    LineAnswered,
    CallHungUp,
)
