"""Test doubles shared by the test modules: a fake PBX and an instant sleep."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from daktela_async import TransportOptions
from daktela_async._transport._query import parse_php_query

TOKEN = "0123456789abcdef0123456789abcdef01234567"

Answer = Callable[[httpx.Request], httpx.Response]


def _constant(response: httpx.Response) -> Answer:
    def answer(_request: httpx.Request) -> httpx.Response:
        return response

    return answer


class FakePBX:
    """Records every request and answers from a queue of handlers (the last one repeats)."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.answers: list[Answer] = []

    def answer(self, *answers: Answer | httpx.Response) -> None:
        for a in answers:
            self.answers.append(_constant(a) if isinstance(a, httpx.Response) else a)

    def ok(self, result: Any = None) -> None:
        self.answer(httpx.Response(200, json={"status": 1, "error": None, "result": result}))

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if not self.answers:
            return httpx.Response(200, json={"status": 1, "error": None, "result": None})
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return answer(request)

    def factory(self, _options: TransportOptions) -> httpx.AsyncBaseTransport:
        return httpx.MockTransport(self.handler)

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]

    def last_query(self) -> dict[str, Any]:
        return parse_php_query(self.last.url.query.decode())


class SleepRecorder:
    """An instant replacement for anyio.sleep that remembers the delays asked for."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
