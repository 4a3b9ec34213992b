"""A simulated Daktela PBX speaking the legacy URL API (v3.0-4.1), for demos and tests.

``daktela_async.sim`` answers every action of the API document with the document's
answer shapes and Czech error messages, keeps a consistent call-centre state (users,
queues, pauses, calls and their CDR, records, SMS, activities, emails), runs a seeded
call-centre process at any speed, holds ``RTUserState`` long polls as documented, and
injects faults on demand.

Start it in-process::

    async with Simulator(agents=50, queues=3, seed=1, speed=1.0) as sim:
        url, token = sim.url, sim.token  # http://127.0.0.1:PORT, SHA1(login+password)

or serve the ASGI application in memory (``httpx.ASGITransport(app=create_app(...))``),
or run ``python -m daktela_async.sim --port 8765 --agents 50 --speed 10``.
"""

from __future__ import annotations

from ._app import SimContext, create_app
from ._clock import SimClock
from ._dynamics import CallCentre, Traffic
from ._faults import Fault, FaultKind, FaultPlan, GarbageKind
from ._holds import HoldEnds
from ._simulator import Simulator
from .state import SimError, SimState, token_for

__all__ = [
    "CallCentre",
    "Fault",
    "FaultKind",
    "FaultPlan",
    "GarbageKind",
    "HoldEnds",
    "SimClock",
    "SimContext",
    "SimError",
    "SimState",
    "Simulator",
    "Traffic",
    "create_app",
    "token_for",
]
