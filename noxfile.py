"""Developer tasks: `nox` runs lint, typecheck and tests; `nox -s bench` and `-s docs` on demand."""

from __future__ import annotations

import os
import shutil

import nox

nox.options.sessions = ["lint", "typecheck", "tests", "browser"]
nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True

PYTHON = "3.11"


def _debian_package(session: nox.Session, binary: str, package: str, what: str) -> bool:
    """Make sure *binary* is installed, from Debian's *package* when run as root.

    Returns whether it is there. Under CI its absence is an error; elsewhere the tests
    that need it skip, saying why.
    """
    if shutil.which(binary) is not None:
        return True
    if shutil.which("apt-get") and os.geteuid() == 0:
        session.log(f"installing Debian's {package} for {what} (running as root)")
        env = {"DEBIAN_FRONTEND": "noninteractive"}
        session.run("apt-get", "update", "-qq", external=True, env=env)
        session.run("apt-get", "install", "-y", "-qq", package, external=True, env=env)
        return shutil.which(binary) is not None
    if os.environ.get("CI"):
        session.error(f"{what} need {binary}, and this machine cannot install {package}")
    session.warn(f"no {binary}: {what} skip (install Debian's {package} to run them)")
    return False


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the test suite with branch coverage (asyncio and trio)."""
    # A real redis-server for tests/redis (started on a free loopback port by a fixture).
    _debian_package(session, "redis-server", "redis-server", "the Redis tests")
    session.install("-e", ".[dev]")
    session.run("coverage", "erase")
    session.run(
        "pytest",
        "--cov=daktela_async",
        "--cov-report=term",
        "-p",
        "no:cacheprovider",
        *session.posargs,
    )


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Ruff lint and format check."""
    session.install("ruff>=0.5")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package, the tests, the benchmarks and this file."""
    session.install("-e", ".[dev]")
    session.run("mypy")


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the documentation site; any warning (griffe, broken link or anchor) fails it."""
    session.install("-e", ".[docs]")
    session.run("mkdocs", "build", "--strict", env={"NO_MKDOCS_2_WARNING": "1"})


@nox.session(python=PYTHON)
def browser(session: nox.Session) -> None:
    """The web dashboard in headless Chromium: Debian's package, driven by Playwright."""
    if shutil.which("chromium-browser") is None and not _debian_package(
        session, "chromium", "chromium", "the browser tests"
    ):
        session.skip("no Chromium: install Debian's chromium package to run this session")
    # Playwright drives the system Chromium: never `playwright install` (no downloads here).
    session.install("-e", ".[dev]", "playwright>=1.44")
    session.run(
        "pytest",
        "tests/browser",
        "-p",
        "no:cacheprovider",
        "-rs",
        *session.posargs,
        env={"DAKTELA_REQUIRE_BROWSER": "1", "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"},
    )


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Measure the benchmark table and write docs/benchmarks.md (`-- --quick` for a short run)."""
    session.install("-e", ".[dev]")
    session.run("python", "-m", "benchmarks", "--output", "docs/benchmarks.md", *session.posargs)
