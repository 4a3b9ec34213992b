"""The web dashboard in a real headless browser: Debian's Chromium, driven by Playwright.

The dashboard runs as the real command (``python -m daktela_async dashboard``) against
the simulator; the page must show the simulator's agents, follow their changes, and
come back by itself after its server went away. As a wallboard it must fit a TV at
1920x1080 and a phone 360-390 px wide without sideways scrolling, order the agents
by state, colour alarms, and say plainly when the PBX is unreachable.

Screenshots go to ``artifacts/browser/`` in the checkout (``$DAKTELA_BROWSER_ARTIFACTS``
elsewhere; git-ignored), which CI keeps as artifacts.

Skipped, not failed, without the Playwright package or a Chromium binary: ``nox -s
browser`` installs both (Debian's ``chromium``; Playwright never downloads a browser
here, it is pointed at the system one) and sets ``DAKTELA_REQUIRE_BROWSER=1``, which
turns those skips into failures. ``DAKTELA_TEST_BROWSER`` names another binary.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import urllib.request
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

#: Where the screenshots go (kept by CI as artifacts).
ARTIFACTS = Path(os.environ.get("DAKTELA_BROWSER_ARTIFACTS") or ROOT / "artifacts" / "browser")

#: The alarm red of the page (``--alarm``), as computed styles spell it.
ALARM_RED = "rgb(229, 72, 77)"

#: Phones (the narrowest in use), and a TV.
PHONE = {"width": 390, "height": 844}
SMALL_PHONE = {"width": 360, "height": 740}
TV = {"width": 1920, "height": 1080}

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


@pytest.fixture(autouse=True)
def idle_agents(sim: Simulator) -> None:
    """Every agent idle before each test (pytest may run them in another order)."""
    for user in logged_in(sim):
        sim.set_state(user, "Idle")


@pytest.fixture
def page() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=BROWSER, args=CHROMIUM_ARGS, headless=True
        )
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.set_default_timeout(15_000)
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


# --- the wallboard ----------------------------------------------------------------------------


def screenshot(page: Any, name: str) -> Path:
    """Save the page as ``artifacts/browser/<name>.png``."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def page_width(page: Any) -> dict[str, int]:
    """The document's scroll width and height against the viewport's."""
    result: dict[str, int] = page.evaluate(
        """() => ({scrollWidth: document.documentElement.scrollWidth,
                   scrollHeight: document.documentElement.scrollHeight,
                   innerWidth: window.innerWidth, innerHeight: window.innerHeight})"""
    )
    return result


def font_px(locator: Any) -> float:
    return float(locator.evaluate("el => parseFloat(getComputedStyle(el).fontSize)"))


def answer_a_call(sim: Simulator) -> None:
    """An agent answers a call and hangs up: the day's figures have a call to count."""
    user = logged_in(sim)[0]
    sim.set_state(user, "Speaking")
    sim.set_state(user, "Idle")


@pytest.fixture(scope="module")
def dashboard(sim: Simulator) -> Iterator[DashboardProcess]:
    """One dashboard for the wallboard tests (each reloads the page).

    A call answered and ended first, so that the day's figures have something to show.
    """
    answer_a_call(sim)
    process = DashboardProcess(sim, free_port())
    try:
        yield process
    finally:
        err = process.stop()
        assert "Traceback" not in err, err


def loaded(page: Any, dashboard: DashboardProcess, sim: Simulator, query: str = "") -> None:
    """Open the page (with *query*) and wait for every agent and queue row."""
    page.goto(dashboard.url + query)
    expect = sync_api.expect
    expect(page.locator(".agent")).to_have_count(len(logged_in(sim)), timeout=10_000)
    expect(page.locator("#queues tbody tr")).to_have_count(2, timeout=10_000)
    expect(page.locator("#status")).to_have_attribute("data-state", "live")


@pytest.mark.parametrize(
    ("name", "viewport"), [("phone-390", PHONE), ("phone-360", SMALL_PHONE), ("desktop", TV)]
)
def test_no_sideways_scrolling(
    sim: Simulator, dashboard: DashboardProcess, page: Any, name: str, viewport: dict[str, int]
) -> None:
    """The page is no wider than the screen, and the queue table shows Waiting and Longest."""
    page.set_viewport_size(viewport)
    loaded(page, dashboard, sim)
    size = page_width(page)
    screenshot(page, f"dashboard-{name}")
    assert size["scrollWidth"] <= size["innerWidth"], size
    for column in ("Waiting", "Longest", "SL"):
        header = page.locator("#queues th").filter(has_text=re.compile(f"^{column}$"))
        assert header.is_visible(), column
        box = header.bounding_box()
        assert box is not None, column
        assert box["x"] >= 0, (column, box)
        assert box["x"] + box["width"] <= viewport["width"], (column, box)


def test_tv_mode_is_legible_and_fits_the_screen(
    sim: Simulator, dashboard: DashboardProcess, page: Any
) -> None:
    """``?tv=1`` at 1920x1080: large type everywhere, nothing to scroll."""
    page.set_viewport_size(TV)
    loaded(page, dashboard, sim, "?tv=1")
    size = page_width(page)
    screenshot(page, "dashboard-tv-1920x1080")
    assert size["scrollWidth"] <= size["innerWidth"], size
    assert size["scrollHeight"] <= size["innerHeight"], size
    assert page.evaluate("getComputedStyle(document.body).overflow") == "hidden"
    assert font_px(page.locator("body")) >= 24
    assert font_px(page.locator(".agent .login").first) >= 24
    assert font_px(page.locator(".agent .time").first) >= 24
    assert font_px(page.locator("#queues td").first) >= 24
    assert font_px(page.locator("#status")) >= 24
    sync_api.expect(page.locator("#today .tile").first).to_be_visible(timeout=10_000)
    assert font_px(page.locator("#today .tile .big").first) >= 48
    assert font_px(page.locator("#today .tile dd").first) >= 24
    # The same page without ?tv=1 is ordinary desktop size.
    page.goto(dashboard.url)
    assert font_px(page.locator("body")) < 20


def agent_order(page: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = page.eval_on_selector_all(
        "#agents .agent",
        "els => els.map(el => ({user: el.dataset.user, state: el.dataset.state,"
        " since: Number(el.dataset.since)}))",
    )
    return rows


def test_agents_are_ordered_by_state_then_time_in_state(
    sim: Simulator, dashboard: DashboardProcess, page: Any
) -> None:
    """Ringing, on a call, ready, paused, not ready, offline; the longest in a state first."""
    expect = sync_api.expect
    users = logged_in(sim)
    assert len(users) >= 5
    # Changes one after another: each later one is shorter in its state.
    wanted = [
        (users[0], "Paused"),
        (users[1], "Idle"),
        (users[2], "Speaking"),
        (users[3], "Idle"),
        (users[4], "Ringing"),
    ]
    page.set_viewport_size({"width": 1280, "height": 900})
    loaded(page, dashboard, sim)
    for user, _ in wanted:  # a state none of them keeps, so that each next one is a change
        sim.set_state(user, "On Hold")
        expect(page.locator(f'.agent[data-user="{user}"]')).to_have_attribute(
            "data-state", "On Hold", timeout=10_000
        )
    for user, state in wanted:
        sim.set_state(user, state)
        card = page.locator(f'.agent[data-user="{user}"]')
        expect(card).to_have_attribute("data-state", state, timeout=10_000)
        page.wait_for_timeout(50)  # distinct start times
    rank = {"Ringing": 0, "Calling": 1, "Speaking": 1, "On Hold": 1, "Idle": 2, "Paused": 3}
    expect(page.locator("#agents .agent").first).to_have_attribute("data-user", users[4])
    rows = agent_order(page)
    keys = [(rank.get(r["state"], 4 if r["state"] != "Offline" else 5), r["since"]) for r in rows]
    assert keys == sorted(keys), rows
    by_user = [r["user"] for r in rows]
    # Ringing, then speaking, then the two idle ones (the earlier first), then the paused one.
    assert by_user.index(users[4]) < by_user.index(users[2]) < by_user.index(users[1])
    assert by_user.index(users[1]) < by_user.index(users[3]) < by_user.index(users[0])
    screenshot(page, "dashboard-sorted-by-state")

    # The selector re-sorts at once and puts the choice in the URL.
    page.select_option("#sort", "login")
    assert [r["user"] for r in agent_order(page)] == sorted(by_user)
    assert "sort=login" in page.url
    # So does the URL parameter; by time: the longest in any state first.
    page.goto(dashboard.url + "?sort=time")
    expect(page.locator(".agent")).to_have_count(len(users), timeout=10_000)
    since = [r["since"] for r in agent_order(page)]
    assert since == sorted(since)
    assert page.locator("#sort").input_value() == "time"


def test_long_pauses_are_red_and_speaking_is_not(
    sim: Simulator, dashboard: DashboardProcess, page: Any
) -> None:
    """A pause longer than ``pause_alarm`` minutes turns red; Speaking keeps a neutral colour."""
    expect = sync_api.expect
    users = logged_in(sim)
    sim.set_state(users[0], "Speaking")
    sim.set_state(users[1], "Idle")
    loaded(page, dashboard, sim, "?pause_alarm=0.05")  # 3 seconds
    speaking = page.locator(f'.agent[data-user="{users[0]}"]')
    expect(speaking).to_have_attribute("data-state", "Speaking")
    sim.set_state(users[1], "Paused")
    paused = page.locator(f'.agent[data-user="{users[1]}"]')
    expect(paused).to_have_attribute("data-state", "Paused", timeout=10_000)
    expect(paused).not_to_have_class(re.compile(r"\balarm\b"))
    expect(paused).to_have_class(re.compile(r"\balarm\b"), timeout=10_000)
    assert paused.locator(".state").evaluate("el => getComputedStyle(el).color") == ALARM_RED
    colour = speaking.locator(".state").evaluate("el => getComputedStyle(el).color")
    border = speaking.evaluate("el => getComputedStyle(el).borderLeftColor")
    assert ALARM_RED not in (colour, border)
    expect(speaking).not_to_have_class(re.compile(r"\balarm\b"))


def test_the_queue_filter(sim: Simulator, dashboard: DashboardProcess, page: Any) -> None:
    """``?queue=`` (or the selector) keeps the rows of the chosen queues only."""
    expect = sync_api.expect
    loaded(page, dashboard, sim)
    ids = page.eval_on_selector_all("#queues tbody tr", "els => els.map(el => el.dataset.queue)")
    assert len(ids) == 2
    page.goto(f"{dashboard.url}?queue={ids[1]}")
    rows = page.locator("#queues tbody tr")
    expect(rows).to_have_count(1, timeout=10_000)
    expect(rows.first).to_have_attribute("data-queue", ids[1])
    assert page.locator("#queue-filter").input_value() == ids[1]
    page.select_option("#queue-filter", "")
    expect(rows).to_have_count(2)
    assert "queue=" not in page.url


def test_an_outage_is_told_plainly_and_ends(sim: Simulator, page: Any) -> None:
    """PBX gone: a human banner, an amber then red pill, greyed parts with their age; back: live."""
    expect = sync_api.expect
    answer_a_call(sim)
    process = DashboardProcess(sim, free_port())
    try:
        page.set_viewport_size(PHONE)
        loaded(page, process, sim, "?down_after=6")
        banner = page.locator("#banner")
        status = page.locator("#status")
        expect(banner).to_be_hidden()
        expect(status).to_have_attribute("data-level", "ok")
        tile = page.locator("#today .tile").first
        expect(tile).to_be_visible(timeout=10_000)
        sim.stop_server()
        try:
            expect(banner).to_be_visible(timeout=10_000)
            expect(banner).to_have_text(
                re.compile(r"^PBX unreachable since \d\d:\d\d:\d\d, figures may be stale\.$")
            )
            expect(status).to_have_attribute("data-level", "warn")
            expect(status).to_have_attribute("data-state", "stale")
            # Every part is greyed with its age, the day's figures too (polled seldom).
            for part in ("#agents-section", "#queues-section", "#chart-section", "#today-section"):
                section = page.locator(part)
                expect(section).to_have_class(re.compile(r"\bstale\b"))
                expect(section.locator("h2 .age")).to_have_text(re.compile(r"^updated \d+ s ago$"))
            expect(tile.locator(".age")).to_have_text(re.compile(r"^updated \d+ s ago$"))
            assert float(tile.evaluate("el => getComputedStyle(el).opacity")) < 1
            assert float(page.locator("#agents").evaluate("el => getComputedStyle(el).opacity")) < 1
            # The outage is dated from when it began, not from when the page heard of it.
            assert page.evaluate("[...S.outages.values()].every((o) => o.exact)")
            screenshot(page, "dashboard-outage-phone")
            # After a while (down_after seconds) the pill turns red.
            expect(status).to_have_attribute("data-level", "alarm", timeout=10_000)
            expect(status).to_have_text("PBX down")
            age = page.locator("#queues-section h2 .age").text_content() or ""
            assert int(re.sub(r"\D", "", age)) >= 5, age
            text = banner.text_content() or ""
            for developer in ("http", "://", "Error", "Daktela", "Exception", "127.0.0.1"):
                assert developer not in text, text
        finally:
            sim.start_server()
        expect(banner).to_be_hidden(timeout=20_000)
        expect(status).to_have_attribute("data-state", "live")
        expect(status).to_have_attribute("data-level", "ok")
        expect(page.locator("#agents-section")).not_to_have_class(re.compile(r"\bstale\b"))
        expect(page.locator("#agents-section h2 .age")).to_have_text("")
        screenshot(page, "dashboard-recovered-phone")
    finally:
        err = process.stop()
    assert "Traceback" not in err


def test_today_figures_per_queue(sim: Simulator, dashboard: DashboardProcess, page: Any) -> None:
    """Each queue's day (``queue_day`` events): a tile and the SL column say what the server has."""
    expect = sync_api.expect
    loaded(page, dashboard, sim)
    expect(page.locator("#today-section")).to_be_visible(timeout=10_000)
    days = {}
    with urllib.request.urlopen(dashboard.url + "snapshot", timeout=10) as answer:  # noqa: S310
        days = {d["queue"]: d for d in json.load(answer)["today"]}
    assert days
    expect(page.locator("#today .tile")).to_have_count(len(days), timeout=10_000)
    for queue, day in days.items():
        tile = page.locator(f'#today .tile[data-queue="{queue}"]')
        level = day["service_level"]
        shown = "\u2013" if level is None else f"{round(level * 100)}%"
        expect(tile.locator(".big")).to_have_text(shown)
        expect(tile.locator(".sl-note")).to_have_text(f"SL \u2264 {day['threshold']:g} s")
        expect(tile.locator("dd").nth(0)).to_have_text(str(day["answered"]))
        expect(tile.locator("dd").nth(1)).to_have_text(str(day["abandoned"]))
        row = page.locator(f'#queues tr[data-queue="{queue}"] td[data-col="sl"]')
        expect(row).to_have_text(shown)
