"""Shared fixtures: a fake PBX answering through httpx.MockTransport, both anyio backends."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from daktela_async import DaktelaClient, RetryPolicy
from tests.support import TOKEN, FakePBX, SleepRecorder

MakeClient = Callable[..., DaktelaClient]


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def pbx() -> FakePBX:
    return FakePBX()


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def make_client(pbx: FakePBX, sleeps: SleepRecorder) -> MakeClient:
    def make(**kwargs: Any) -> DaktelaClient:
        kwargs.setdefault("transport_factory", pbx.factory)
        kwargs.setdefault("retries", RetryPolicy(sleep=sleeps))
        return DaktelaClient("https://pbx.example.com", TOKEN, **kwargs)

    return make
