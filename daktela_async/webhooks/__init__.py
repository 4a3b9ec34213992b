"""CRM webhooks: receive the PBX's call hooks, answer within a time budget, publish events.

The PBX's dialplan calls the CRM when a call comes in, when a line rings, when it is
answered and when the call hangs up (the API document's "Webhooks" section). Serve a
:class:`WebhookApp` at the hook's URL and share the realtime watcher's hub::

    async def lookup(event: WebhookEvent) -> dict[str, str] | None:
        if isinstance(event, IncomingCall):
            return {"NAME": "Daktela s.r.o.", "ADDRESS": "Pod Krejcarkem 975"}
        return None

    async with client.watch(users=["hajek"]) as watcher:
        app = WebhookApp(lookup, hub=watcher.hub, secret="s3cret")
        ...  # serve or mount `app`; subscribers of watcher see IncomingCall & co.

``daktela-async webhooks agi --url https://crm.example/hook --secret s3cret`` prints the
dialplan lines to paste into the PBX; ``daktela-async webhooks serve`` serves the app.
"""

from ._app import (
    LOOKUP_BUDGET,
    SECRET_HEADER,
    SECRET_PARAM,
    Lookup,
    WebhookApp,
    WebhookStats,
    flatten_answer,
    parse_hook,
)
from ._cli import agi_lines
from ._events import (
    WEBHOOK_EVENTS,
    CallHungUp,
    IncomingCall,
    LineAnswered,
    LineRinging,
    WebhookEvent,
)

__all__ = [
    "LOOKUP_BUDGET",
    "SECRET_HEADER",
    "SECRET_PARAM",
    "WEBHOOK_EVENTS",
    "CallHungUp",
    "IncomingCall",
    "LineAnswered",
    "LineRinging",
    "Lookup",
    "WebhookApp",
    "WebhookEvent",
    "WebhookStats",
    "agi_lines",
    "flatten_answer",
    "parse_hook",
]
