"""Fixtures of the webhook tests: the app promises anyio, so both backends."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from daktela_async.webhooks import _cli as cli


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(autouse=True)
def restore_log_filters(monkeypatch: pytest.MonkeyPatch) -> None:
    """Undo the rate limits ``webhooks serve`` puts on process-wide loggers."""
    for name in ("asyncio", "uvicorn.error", "daktela_async.webhooks.server"):
        logger = logging.getLogger(name)
        monkeypatch.setattr(logger, "filters", list(logger.filters))


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Capture the uvicorn config ``serve`` would run, instead of running it."""
    configs: list[Any] = []
    monkeypatch.setattr(cli, "_run", configs.append)
    monkeypatch.setattr(logging, "basicConfig", lambda **kwargs: None)
    monkeypatch.delenv(cli.SECRET_ENV, raising=False)
    return configs
