"""The web dashboard in a real headless browser: Debian's Chromium, driven by Playwright.

The dashboard runs as the real command (``python -m daktela_async dashboard``) against
the simulator; the page must show the simulator's agents, follow their changes, and
come back by itself after its server went away.

Skipped, not failed, without the Playwright package or a Chromium binary: ``nox -s
browser`` installs both (Debian's ``chromium``; Playwright never downloads a browser
here, it is pointed at the system one) and sets ``DAKTELA_REQUIRE_BROWSER=1``, which
turns those skips into failures. ``DAKTELA_TEST_BROWSER`` names another binary.
"""

from __future__ import annotations

import importlib
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from daktela_async.sim import Simulator

#: Set by ``nox -s browser``: a missing browser is then a failure, not a skip.
REQUIRED = os.environ.get("DAKTELA_REQUIRE_BROWSER") == "1"

sync_api: Any = (
    importlib.import_module("playwright.sync_api")
    if REQUIRED
    else pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (nox -s browser installs it)"
    )
)

ROOT = Path(__file__).resolve().parents[2]

#: What a root, headless, offline Chromium needs: no sandbox (root), no GPU, and none of
#: the background connections that a closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def find_browser() -> str | None:
    """The Chromium binary to drive: ``$DAKTELA_TEST_BROWSER``, or one on the PATH."""
    explicit = os.environ.get("DAKTELA_TEST_BROWSER")
    if explicit:
        return explicit if Path(explicit).exists() else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


BROWSER = find_browser()
if REQUIRED and BROWSER is None:
    raise RuntimeError("DAKTELA_REQUIRE_BROWSER=1 but no Chromium binary was found")

pytestmark = pytest.mark.skipif(
    BROWSER is None, reason="no Chromium binary (nox -s browser installs Debian's chromium)"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class DashboardProcess:
    """``daktela-async dashboard`` in a child process, its URL read from its output."""

    def __init__(self, sim: Simulator, port: int) -> None:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DAKTELA_URL": sim.url,
            "DAKTELA_TOKEN": sim.token,
        }
        command = [sys.executable, "-m", "daktela_async", "dashboard"]
        command += ["--port", str(port), "--stats-interval", "0.5", "--duration", "120"]
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("Dashboard: "):
            self.stop()
            raise AssertionError(f"the dashboard did not start: {line!r}")
        self.url = line.split()[1]

    def stop(self) -> str:
        """End the process abruptly (its streams drop); return what it wrote to stderr."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            _, err = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return str(err)


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(agents=6, queues=2, seed=11, speed=0, hold=0.3) as simulator:
        yield simulator


@pytest.fixture
def page() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=BROWSER, args=CHROMIUM_ARGS, headless=True
        )
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            yield page
            assert errors == [], errors
        finally:
            browser.close()


def logged_in(sim: Simulator) -> list[str]:
    return sorted(login for login, a in sim.snapshot()["agents"].items() if a["logged"])


def test_the_page_shows_the_agents_and_follows_their_changes(sim: Simulator, page: Any) -> None:
    expect = sync_api.expect
    sim.set_state("hajek", "Idle")
    dashboard = DashboardProcess(sim, free_port())
    try:
        page.goto(dashboard.url)
        expect(page.locator(".agent")).to_have_count(len(logged_in(sim)), timeout=10_000)
        hajek = page.locator('.agent[data-user="hajek"]')
        expect(hajek).to_have_attribute("data-state", "Idle")
        expect(hajek.locator(".name")).to_have_text("Hajek 1")
        expect(page.locator("#status")).to_have_attribute("data-state", "live")
        expect(page.locator("#queues tbody tr")).to_have_count(2, timeout=10_000)

        sim.set_state("hajek", "Speaking")
        expect(hajek).to_have_attribute("data-state", "Speaking", timeout=10_000)
        expect(hajek.locator(".state")).to_have_text("Speaking")
        expect(hajek.locator(".caller")).to_contain_text("226211245")
        expect(page.locator('#counts .chip[data-state="Speaking"]')).to_have_text("Speaking 1")

        # Time in state ticks in the page, between messages.
        shown = hajek.locator(".time").text_content()
        expect(hajek.locator(".time")).not_to_have_text(shown, timeout=5_000)

        # The chart draws once two samples have come (one every two seconds).
        expect(page.locator("#line-ready")).not_to_have_attribute("points", "", timeout=10_000)
    finally:
        err = dashboard.stop()
    assert "Traceback" not in err


def test_the_page_reconnects_by_itself(sim: Simulator, page: Any) -> None:
    expect = sync_api.expect
    sim.set_state("hajekhu", "Idle")
    port = free_port()
    first = DashboardProcess(sim, port)
    second: DashboardProcess | None = None
    try:
        page.goto(first.url)
        card = page.locator('.agent[data-user="hajekhu"]')
        expect(card).to_have_attribute("data-state", "Idle", timeout=10_000)
        status = page.locator("#status")
        expect(status).to_have_attribute("data-state", "live")

        first.stop()  # the stream drops; the page notices
        expect(status).not_to_have_attribute("data-state", "live", timeout=10_000)
        sim.set_state("hajekhu", "Paused")

        second = DashboardProcess(sim, port)  # back, on the same address
        expect(status).to_have_attribute("data-state", "live", timeout=20_000)
        expect(card).to_have_attribute("data-state", "Paused", timeout=10_000)
    finally:
        first.stop()
        if second is not None:
            second.stop()
