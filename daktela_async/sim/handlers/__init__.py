"""One function per action: a parsed request in, an :class:`Answer` (or a refusal) out.

Handlers are synchronous and pure with respect to I/O: they read and change the
:class:`~daktela_async.sim.state.SimState` and build the documented answer shape
(through :class:`~daktela_async.sim._render.Views`). Refusals are
:class:`~daktela_async.sim.state.SimError` exceptions carrying the server's text.

The only action with waiting in it, ``RTUserState`` with ``hash``, is split: the
handler here answers at once, and the ASGI app holds the request first
(:mod:`daktela_async.sim._app`).

Where the document shows two answer shapes for one action name, the URL version picks:
``GetPauses`` below 3.3 answers the old ``pcode`` rows; ``GetStatuses`` from 4.0 answers
the autodialer's list; ``RTUserState`` from 4.0 adds ``login_oqueues`` and ``hash``.
``CreateCall`` and ``Monitoring`` pick by parameters (``user`` versus ``extension``/
``exten``), as the document's two entries for each do.
"""

from __future__ import annotations

# Importing each section module registers its handlers in HANDLERS.
from . import (  # noqa: F401
    activities,
    autodialer,
    calls,
    emails,
    events,
    extensions,
    forms,
    operators,
    pauses,
    queues,
    sms,
    sms_connect,
    statistics,
)
from ._base import HANDLERS, Answer, ApiRequest, Handler
from .statistics import rt_user_state_agent

__all__ = ["HANDLERS", "Answer", "ApiRequest", "Handler", "rt_user_state_agent"]
