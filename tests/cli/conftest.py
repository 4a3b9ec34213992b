"""Fixtures of the command-line tests: one frozen simulator, a clean environment, a runner."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator

import pytest

from daktela_async.cli import main
from daktela_async.sim import Simulator
from tests.cli.support import HOLD, Result, Run
from tests.redis_server import redis_server

__all__ = ["redis_server"]


@pytest.fixture(params=["asyncio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    # The dashboard runs uvicorn, which needs asyncio; the commands run on asyncio too.
    return str(request.param)


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(agents=4, queues=2, seed=5, speed=0, hold=HOLD) as simulator:
        yield simulator


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DAKTELA_URL", "DAKTELA_TOKEN", "DAKTELA_LOGIN", "DAKTELA_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "120")


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    """Run ``daktela-async`` in-process; returns the exit status and what it printed."""

    def invoke(*argv: str, stdout: io.StringIO | None = None) -> Result:
        if stdout is None:
            code = main(list(argv))
            captured = capsys.readouterr()
            return Result(code, captured.out, captured.err)
        saved = sys.stdout
        sys.stdout = stdout
        try:
            code = main(list(argv))
        finally:
            sys.stdout = saved
        captured = capsys.readouterr()
        return Result(code, stdout.getvalue() + captured.out, captured.err)

    return invoke
