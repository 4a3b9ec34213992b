"""A small scripted PBX behind ``httpx.MockTransport``: held polls, outages, per-agent faults.

Independent of the simulator, it answers just what the watcher asks (``RTUserState`` with
and without ``hash``, ``RTUsersState``, ``GetUser``, ``RTStatsQueuesSummary``) and counts
what matters to the failure model: requests by kind, un-held ``RTUserState`` requests in
flight and their peak. It runs on either backend and under trio's ``MockClock``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal

import anyio
import httpx

from daktela_async import DaktelaClient, Timeouts, TransportOptions
from daktela_async._transport._query import parse_php_query
from tests.support import TOKEN

Outage = Literal["refuse", "503", "hang"]
AgentFault = Literal["500", "garbage", "nohash", "flap"]

#: Requests at one virtual instant beyond which the client is spinning (no real watcher
#: sends this many without a clock tick: 200 agents' first and held polls are 400).
SPIN_LIMIT = 5000

BAD_TOKEN = "Uživatel neexistuje"
NOT_LOGGED = "Agent není přihlášen do Call Centra"


def _envelope(result: Any) -> httpx.Response:
    return httpx.Response(200, json={"status": 1, "error": None, "result": result})


def _error(message: str) -> httpx.Response:
    return httpx.Response(200, json={"status": 0, "error": message})


class Spinning(BaseException):
    """The client sent :data:`SPIN_LIMIT` requests without letting the clock move.

    A ``BaseException``, as ``KeyboardInterrupt`` is: no ``except Exception`` in the
    client turns it into a transport error, so it ends the test at once instead of
    letting a busy loop run until the test's wall-clock timeout (under trio's
    ``MockClock`` a loop that never sleeps also stops virtual time).
    """


class ScriptedPBX:
    """The PBX: agents with versions, a hold, and switches for every kind of failure.

    Args:
        agents: Logins of the agents (all logged in and Idle at first).
        hold: Seconds a poll whose ``hash`` is current is held.
        latency: Seconds every answer takes (so that requests overlap).
    """

    def __init__(self, agents: list[str], hold: float = 60.0, latency: float = 0.0) -> None:
        self.hold = hold
        self.latency = latency
        self.versions = dict.fromkeys(agents, 1)
        self.states = dict.fromkeys(agents, "Idle")
        self.logged = dict.fromkeys(agents, True)
        self._changed = {login: anyio.Event() for login in agents}
        self.outage: Outage | None = None
        self._outage_over = anyio.Event()
        self._went_down = anyio.Event()
        self.agent_faults: dict[str, AgentFault] = {}
        self.token_ok = True
        #: Sent as ``Retry-After`` with every 500 and 503 (``None``: no header).
        self.retry_after: str | None = None
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.unheld_in_flight = 0
        self.unheld_peak = 0
        self.on_request: Callable[[str, dict[str, Any]], None] | None = None
        self._instant = -1.0
        self._at_instant = 0

    # --- what tests change ----------------------------------------------------------------

    def change(self, login: str, state: str) -> None:
        """Put an agent in *state*; its held poll answers at once."""
        self.versions[login] += 1
        self.states[login] = state
        self._changed[login].set()
        self._changed[login] = anyio.Event()

    def logout(self, login: str) -> None:
        """Sign an agent out: its polls answer status 0 (not logged in)."""
        self.logged[login] = False
        self.change(login, "Logged out")

    def go_down(self, kind: Outage) -> None:
        """Stop answering (refuse, 503 or hang) every request from now on.

        Held polls die with the server: reset (refuse, 503), or silent forever (hang, a
        dead connection); requests sent during a hang are answered when it ends.
        """
        self.outage = kind
        self._outage_over = anyio.Event()
        # Held requests die with the server (refused, 503) or stay silent (hang).
        self._went_down.set()
        self._went_down = anyio.Event()

    def come_back(self) -> None:
        """Answer again; hung requests then get their normal answer."""
        self.outage = None
        self._outage_over.set()

    def count(self, action: str, *, held: bool | None = None) -> int:
        """Requests for *action* so far (``held``: only with/without ``hash``)."""
        return sum(
            1
            for name, params in self.requests
            if name == action and (held is None or ("hash" in params) == held)
        )

    def client(self, **options: Any) -> DaktelaClient:
        """A client talking to this PBX (through one MockTransport per shard)."""
        options.setdefault("timeout", Timeouts(connect=1, read=5, write=1, pool=5, deadline=10))
        return DaktelaClient(
            "https://pbx.example.com", TOKEN, transport_factory=self._factory, **options
        )

    # --- the server -----------------------------------------------------------------------

    def _factory(self, _options: TransportOptions) -> httpx.AsyncBaseTransport:
        return httpx.MockTransport(self._handle)

    def _state(self, login: str) -> dict[str, Any]:
        result: dict[str, Any] = {
            "agent_name": login,
            "id_agent": str(list(self.versions).index(login) + 1),
            "agent_state": self.states[login],
            "calls": [],
            "login_oqueues": [
                {"queue": "1", "name": "2000", "title": "In", "type": "in", "rt_logged": True}
            ],
        }
        if self.agent_faults.get(login) != "nohash":
            result["hash"] = f"{login}-{self.versions[login]}"
        return result

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        action = request.url.path.split("/")[3]
        params = parse_php_query(request.url.query.decode())
        params.pop("access_token", None)
        self.requests.append((action, params))
        now = anyio.current_time()
        if now != self._instant:
            self._instant, self._at_instant = now, 0
        self._at_instant += 1
        if self._at_instant > SPIN_LIMIT:
            raise Spinning(f"{SPIN_LIMIT} requests at t={now}, the last {action} {params}")
        if self.on_request is not None:
            self.on_request(action, params)
        unheld = action == "RTUserState" and "hash" not in params
        if unheld:
            self.unheld_in_flight += 1
            self.unheld_peak = max(self.unheld_peak, self.unheld_in_flight)
        # As a real transport does: no first byte within the read timeout is a ReadTimeout.
        read = request.extensions.get("timeout", {}).get("read")
        try:
            with anyio.fail_after(read):
                if self.latency:
                    await anyio.sleep(self.latency)
                return await self._answer(action, params)
        except TimeoutError:
            raise httpx.ReadTimeout("timed out", request=request) from None
        finally:
            if unheld:
                self.unheld_in_flight -= 1

    async def _answer(self, action: str, params: dict[str, Any]) -> httpx.Response:
        if self.outage == "refuse":
            raise httpx.ConnectError("connection refused")
        if self.outage == "503":
            return httpx.Response(
                503, text="<html>503 Service Unavailable</html>", headers=self._retry_headers()
            )
        if self.outage == "hang":
            await self._outage_over.wait()
        if not self.token_ok:
            return _error(BAD_TOKEN)
        if action == "GetUser":
            return _envelope({"name": "admin", "title": "Admin"})
        if action == "RTStatsQueuesSummary":
            return _envelope({"users_total": "1"})
        if action == "RTUsersState":
            return _envelope(
                {
                    str(i + 1): self._state(login)
                    for i, login in enumerate(self.versions)
                    if self.logged[login]
                }
            )
        if action == "RTUserState":
            return await self._user_state(str(params["user"]), params.get("hash"))
        return _error(f"unknown action {action}")

    def _retry_headers(self) -> dict[str, str]:
        return {} if self.retry_after is None else {"Retry-After": self.retry_after}

    async def _user_state(self, login: str, client_hash: Any) -> httpx.Response:
        if login not in self.versions:
            return _error(BAD_TOKEN)
        fault = self.agent_faults.get(login)
        if fault == "500":
            return httpx.Response(
                500, text="<html>Internal Server Error</html>", headers=self._retry_headers()
            )
        if fault == "flap":
            # Ignores the hash and "changes" at every answer.
            self.versions[login] += 1
            self.states[login] = "Paused" if self.states[login] == "Idle" else "Idle"
            return _envelope(self._state(login))
        if fault == "garbage":
            return httpx.Response(200, text=json.dumps({"status": 1, "result": {"agent": 5}}))
        if client_hash is not None and client_hash == f"{login}-{self.versions[login]}":
            changed, went_down = self._changed[login], self._went_down
            with anyio.move_on_after(self.hold):
                async with anyio.create_task_group() as tg:

                    async def wait(event: anyio.Event) -> None:
                        await event.wait()
                        tg.cancel_scope.cancel()

                    tg.start_soon(wait, changed)
                    tg.start_soon(wait, went_down)
            if went_down.is_set() and self.outage == "hang":
                # Its connection died silently: nothing will ever come back on it.
                await anyio.sleep_forever()
            if self.outage is not None:
                raise httpx.ReadError("connection reset by peer")
        if not self.token_ok:
            return _error(BAD_TOKEN)
        if not self.logged[login]:
            return _error(NOT_LOGGED)
        return _envelope(self._state(login))
