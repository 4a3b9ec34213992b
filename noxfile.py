"""Developer tasks: `nox` runs lint, typecheck and tests; bench, profile, docs on demand."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

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
    # The screenshots (TV, phones, an outage): git-ignored, kept by CI as artifacts.
    artifacts = os.path.join(os.getcwd(), "artifacts", "browser")
    session.run(
        "pytest",
        "tests/browser",
        "-p",
        "no:cacheprovider",
        "-rs",
        *session.posargs,
        env={
            "DAKTELA_REQUIRE_BROWSER": "1",
            "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1",
            "DAKTELA_BROWSER_ARTIFACTS": artifacts,
        },
    )
    session.log(f"screenshots in {artifacts}")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Measure the benchmark table and write docs/benchmarks.md (`-- --quick` for a short run)."""
    session.install("-e", ".[dev]")
    session.run("python", "-m", "benchmarks", "--output", "docs/benchmarks.md", *session.posargs)


@nox.session(python=PYTHON)
def profile(session: nox.Session) -> None:
    """Profile benchmark rows (quick) with cProfile: `nox -s profile -- 3` (rows, default 3).

    Each row runs in its own process, as in `nox -s bench`; there cProfile wraps the whole
    row and writes `profiles/row<N>-quick.pstats` and `.txt` (the top 40 by cumulative and
    by own time). cProfile, not py-spy: py-spy needs ptrace, which CI containers often
    deny. The table this prints is measured under the profiler: not for comparing.
    """
    session.install("-e", ".[dev]")
    rows = ",".join(session.posargs) or "3"
    folder = Path.cwd() / "profiles"
    session.run(
        "python",
        "-m",
        "benchmarks",
        "--quick",
        "--only",
        rows,
        env={"DAKTELA_BENCH_PROFILE": str(folder)},
    )
    session.log(f"profiles in {folder} (python -m pstats {folder}/row<N>-quick.pstats)")


#: What `nox -s mutants` mutates, and the tests that must kill it: name -> (the module or
#: package, the test files). Each selection is what covers the code, so the whole run
#: fits in about 30 minutes on two cores; `nox -s mutants -- retry query` runs some.
MUTANT_TARGETS: dict[str, tuple[str, tuple[str, ...]]] = {
    "retry": ("daktela_async/_retry.py", ("tests/test_retry.py", "tests/test_safety_classes.py")),
    "query": (
        "daktela_async/_transport/_query.py",
        ("tests/transport/test_query.py", "tests/test_caller_input.py"),
    ),
    "envelope": (
        "daktela_async/_envelope.py",
        (
            "tests/test_envelope.py",
            "tests/test_hostile_answers.py",
            "tests/test_token_everywhere.py",
        ),
    ),
    "request": (
        "daktela_async/_transport/_request.py",
        ("tests/test_caller_input.py", "tests/test_client.py", "tests/test_token_everywhere.py"),
    ),
    "client": (
        "daktela_async/_client.py",
        (
            "tests/test_client.py",
            "tests/test_retry.py",
            "tests/test_safety_classes.py",
            "tests/test_token_everywhere.py",
        ),
    ),
    "realtime": ("daktela_async/realtime/*", ("tests/realtime",)),
    "webhooks": ("daktela_async/webhooks/*", ("tests/webhooks",)),
}
#: Survivors judged equivalent (no behaviour can tell them apart), by mutmut's name.
EQUIVALENT_MUTANTS: dict[str, str] = {
    "daktela_async._transport._query.x__split_key__mutmut_24": (
        "rest starts with '[', so find(']') is -1 or at least 1: never 0"
    ),
    "daktela_async._transport._query.x__split_key__mutmut_25": (
        "rest starts with '[', so find(']') is -1 or at least 1: never 0"
    ),
    "daktela_async._transport._query.x_encode_query__mutmut_7": (
        "quote() never encodes letters, so an 'X' in safe= changes nothing"
    ),
    "daktela_async._transport._query.x_encode_query__mutmut_12": (
        "quote() never encodes letters, so an 'X' in safe= changes nothing"
    ),
    "daktela_async._transport._query.x_format_bool__mutmut_1": (
        "any default other than 'yesno' or '10' gives true/false"
    ),
    "daktela_async._transport._query.x_format_bool__mutmut_2": (
        "any default other than 'yesno' or '10' gives true/false"
    ),
    "daktela_async._envelope.x__blank_whole__mutmut_9": (
        "text[None:at] is text[0:at], and last is set before any other use"
    ),
    "daktela_async._envelope.x__complete_prefix__mutmut_12": (
        "the filler holds no brace, and only the braces of `outside` are counted"
    ),
    "daktela_async._envelope.x__complete_prefix__mutmut_26": (
        "no stray brace: the cut is the body less white space, already refused"
    ),
    "daktela_async._envelope.x__scrub_text__mutmut_9": (
        "an 8-character token's only piece is itself, already blanked whole"
    ),
    "daktela_async._envelope.x__scrub_text__mutmut_22": (
        "both branches compute the same test; the split at 64 is for speed"
    ),
    "daktela_async._envelope.x__scrub_text__mutmut_29": (
        "the extra windows are shorter than 8 and every piece is 8 long"
    ),
    "daktela_async._envelope.x__scrub_text__mutmut_30": (
        "the extra window is shorter than 8 and every piece is 8 long"
    ),
    "daktela_async._envelope.x_decode_envelope__mutmut_58": (
        "1 == True, so status 1 (and 1.0) still matches True"
    ),
    "daktela_async._envelope.x_decode_envelope__mutmut_65": (
        "0 == False, so status 0 still matches; status 1 returned above"
    ),
    "daktela_async._envelope.x_decode_envelope__mutmut_67": (
        "False == 0, so status false still matches; true returned above"
    ),
    "daktela_async._envelope.x_scrub__mutmut_1": (
        "no secret reveals '', which _scrub_text returns unchanged; an empty text stays empty"
    ),
    "daktela_async._envelope.x_snippet__mutmut_4": "decode() defaults to UTF-8",
    "daktela_async._envelope.x_snippet__mutmut_11": "'UTF-8' names the same codec as 'utf-8'",
    "daktela_async._envelope.x_snippet__mutmut_8": (
        "extra bytes only add text past character 264, out of a 40-char token's reach"
    ),
    "daktela_async._envelope.x_snippet__mutmut_9": (
        "extra bytes only add text past character 264, out of a 40-char token's reach"
    ),
}
_MUTATION_DOC = Path("docs/mutation.md")
_TABLE_HEAD = "| Target | Mutated | Mutants | Killed | Survived | Timeout | Survived % |"


@nox.session(python=PYTHON)
def mutants(session: nox.Session) -> None:
    """Mutation testing with mutmut; writes the table of docs/mutation.md (not in CI).

    Each target runs in its own copy of the package (so the working tree never holds a
    mutant), with the tests that cover it; `-- NAME ...` runs only those targets.
    """
    session.install("-e", ".[dev]")
    names = session.posargs or list(MUTANT_TARGETS)
    unknown = sorted(set(names) - set(MUTANT_TARGETS))
    if unknown:
        session.error(f"unknown targets {unknown}; choose from {sorted(MUTANT_TARGETS)}")
    root = Path.cwd()
    rows = _mutation_rows(_MUTATION_DOC.read_text(encoding="utf-8"))
    details: dict[str, list[str]] = {}
    for name in names:
        pattern, tests = MUTANT_TARGETS[name]
        work = Path(session.create_tmp()) / f"mutants-{name}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        for folder in ("daktela_async", "tests"):
            shutil.copytree(
                root / folder, work / folder, ignore=shutil.ignore_patterns("__pycache__")
            )
        for file in ("pyproject.toml", "README.md"):
            shutil.copy(root / file, work / file)
        selection = "".join(f"\n    {t}" for t in tests)
        (work / "setup.cfg").write_text(
            "[mutmut]\nsource_paths = daktela_async\n"
            f"only_mutate = {pattern}\n"
            f"pytest_add_cli_args_test_selection ={selection}\n"
            # The mutants run in a fixed order; the randomised order is the tests' own job.
            "pytest_add_cli_args = -p no:randomly -p no:cacheprovider -q\n",
            encoding="utf-8",
        )
        with session.chdir(work):
            session.run("mutmut", "run", "--max-children", str(os.cpu_count() or 2))
            listing = session.run("mutmut", "results", "--all", "true", silent=True) or ""
            statuses = dict(re.findall(r"^\s+(\S+__mutmut_\d+): (.+)$", str(listing), re.M))
            survivors = sorted(m for m, st in statuses.items() if st.strip() == "survived")
            diffs = {
                m: _mutant_line(str(session.run("mutmut", "show", m, silent=True) or ""))
                for m in survivors
            }
        counts = {
            st: sum(1 for v in statuses.values() if v.strip() == st)
            for st in ("killed", "survived", "timeout")
        }
        total = len(statuses)
        rate = f"{counts['survived'] / total:.0%}" if total else "-"
        rows[name] = (
            f"| `{name}` | `{pattern}` | {total} | {counts['killed']} | {counts['survived']} "
            f"| {counts['timeout']} | {rate} |"
        )
        details[name] = [
            f"- `{m}`: `{diffs[m]}`"
            + (f" - equivalent: {EQUIVALENT_MUTANTS[m]}" if m in EQUIVALENT_MUTANTS else "")
            for m in survivors
        ]
        session.log(f"{name}: {total} mutants, {counts['survived']} survived ({rate})")
    _MUTATION_DOC.write_text(
        _mutation_doc(_MUTATION_DOC.read_text(encoding="utf-8"), rows, details), encoding="utf-8"
    )


def _mutant_line(diff: str) -> str:
    """The mutated line of `mutmut show`'s diff, for the table."""
    added = [ln[1:].strip() for ln in diff.splitlines() if ln.startswith("+") and ln[1:2] != "+"]
    return (added[0] if added else "(line removed)").replace("|", "\\|")


def _mutation_rows(doc: str) -> dict[str, str]:
    """The table rows already in the document, by target (targets not rerun keep theirs)."""
    rows = {
        name: f"| `{name}` | `{spec[0]}` | not run | | | | |"
        for name, spec in MUTANT_TARGETS.items()
    }
    for line in doc.splitlines():
        found = re.match(r"\| `(\w+)` \|", line)
        if found and found.group(1) in rows:
            rows[found.group(1)] = line
    return rows


def _mutation_doc(doc: str, rows: dict[str, str], details: dict[str, list[str]]) -> str:
    """The document with the generated part (between the markers) rewritten."""
    head, _, rest = doc.partition("<!-- mutants:begin -->")
    _, _, tail = rest.partition("<!-- mutants:end -->")
    old_details = dict(re.findall(r"^### `(\w+)`\n\n((?:- .*\n)*)", rest, re.M))
    body = [_TABLE_HEAD, "|---|---|---|---|---|---|---|", *rows.values(), ""]
    for name in MUTANT_TARGETS:
        lines = details.get(name)
        kept = old_details.get(name)
        if lines is None and kept is None:
            continue
        body += [f"### `{name}`", ""]
        body += lines if lines is not None else (kept or "").rstrip("\n").splitlines()
        if not body[-1].startswith("- "):
            body.append("- no survivors")
        body.append("")
    return f"{head}<!-- mutants:begin -->\n{chr(10).join(body)}<!-- mutants:end -->{tail}"
