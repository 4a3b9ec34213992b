"""Helpers of the webhook tests: an in-memory client for the app, a recording lookup."""

from __future__ import annotations

from collections.abc import AsyncIterator, ItemsView, Iterator, Mapping
from contextlib import asynccontextmanager

import httpx

from daktela_async.webhooks import WebhookApp, WebhookEvent

#: The line hooks' parameters as the PBX sends them, minus ``action``.
LINE = {
    "callerId": "+420777123456",
    "calleeId": "+420222333444",
    "line": "201",
    "idcall": "1474900000.12",
}

#: The incoming hook's parameters.
INCOMING = {"callid": "+420777123456", "dnd": "+420222333444"}


@asynccontextmanager
async def client_for(app: WebhookApp, ip: str = "192.0.2.10") -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client calling *app* in memory, as if from *ip*."""
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://crm.test") as client:
        yield client


class Recorder:
    """A lookup that records the events it gets and answers *answer*."""

    def __init__(self, answer: Mapping[str, object] | None = None) -> None:
        self.answer = answer
        self.events: list[WebhookEvent] = []

    async def __call__(self, event: WebhookEvent) -> Mapping[str, object] | None:
        self.events.append(event)
        return self.answer


class ItemsRaise(Mapping[str, object]):
    """A mapping whose ``items()`` raises *exc* (the CRM's own code failing to flatten)."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def __getitem__(self, key: str) -> object:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(["NAME"])

    def __len__(self) -> int:
        return 1

    def items(self) -> ItemsView[str, object]:
        raise self.exc
