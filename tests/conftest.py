"""Shared fixtures: a fake PBX answering through httpx.MockTransport, both anyio backends."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from daktela_async import DaktelaClient, RetryPolicy
from daktela_async._transport import _request
from tests.support import TOKEN, FakePBX, SleepRecorder

MakeClient = Callable[..., DaktelaClient]


@pytest.fixture(autouse=True)
def _fresh_parameter_checks() -> None:
    """Each test builds the parameter checks of the actions it calls afresh.

    The checks are kept per action once built; kept from an earlier test, they would be
    built by code that test ran, not this one's (mutation testing runs the tests in a
    process that has run them all once, with the unmutated code).
    """
    _request._PLANS.clear()


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
