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
#: takes 40 minutes on two cores (measured); `nox -s mutants -- retry query` runs some.
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
        (
            "tests/test_caller_input.py",
            "tests/test_client.py",
            "tests/test_token_everywhere.py",
            # Not tests/endpoints/test_namespaces.py: it compares generated docs/ files,
            # which the mutants' copy does not hold.
            "tests/endpoints/test_call_options.py",
            "tests/endpoints/test_doc_examples.py",
            "tests/endpoints/test_paging_and_recordings.py",
            "tests/endpoints/test_section_forms.py",
            "tests/endpoints/test_validation.py",
            "tests/transport/test_request.py",
            "tests/transport/test_token.py",
        ),
    ),
    "client": (
        "daktela_async/_client.py daktela_async/_prepare.py daktela_async/_env.py",
        (
            "tests/test_client.py",
            "tests/test_retry.py",
            "tests/test_safety_classes.py",
            "tests/test_token_everywhere.py",
            "tests/test_caller_input.py",
            "tests/test_hostile_answers.py",
            "tests/endpoints/test_call_options.py",
            "tests/transport/test_pool.py",
            # The client over the aiohttp transport's fast path (header pairs, raw headers).
            "tests/transport/test_aiohttp_transport.py::test_the_client_takes_the_fast_path_without_httpx_objects",
            "tests/transport/test_aiohttp_transport.py::test_a_views_headers_take_the_fast_path_too",
            # These look for the token among the locals of every traceback frame, and the
            # frame of mutmut's trampoline around DaktelaClient.__init__ holds it.
            "--deselect",
            "tests/test_token_everywhere.py::test_settings_errors_do_not_show_the_token",
            "--deselect",
            "tests/test_token_everywhere.py::test_a_token_that_is_refused_is_not_shown",
        ),
    ),
    # The realtime package (and the hub it publishes on) in four parts, each with the tests
    # that cover it, on asyncio only (`-k not trio`: the logic is the same on both
    # backends, and the virtual-time tests run on trio's MockClock whatever the filter).
    # Not tests/realtime/test_outages.py: it waits out real outages of a live simulator
    # (48 s a run); test_virtual_time.py and test_failure_model.py cover the same paths.
    "realtime_watcher": (
        "daktela_async/realtime/_watcher.py daktela_async/realtime/_agents.py"
        " daktela_async/realtime/_core.py",
        # The virtual-time tests only: with the live-simulator and real-time ones
        # (test_watcher.py, test_failure_model.py) every mutant of the poll loop cost
        # about a minute, and the run did not fit in an hour on two cores.
        (
            "tests/realtime/test_agents.py",
            "tests/realtime/test_settings.py",
            "tests/realtime/test_watcher_table.py",
            "tests/realtime/test_survivors.py",
            "tests/realtime/test_unchanged_answers.py",
            "tests/realtime/test_virtual_time.py",
            "-k",
            "not trio",
        ),
    ),
    "realtime_health": (
        "daktela_async/realtime/__init__.py daktela_async/realtime/_health.py"
        " daktela_async/realtime/_diff.py daktela_async/realtime/_events.py"
        " daktela_async/realtime/_stats.py",
        (
            "tests/realtime/test_failure_model.py",
            "tests/realtime/test_survivors.py",
            "tests/realtime/test_watcher.py",
            "tests/realtime/test_watcher_table.py",
            "tests/realtime/test_virtual_time.py",
            "tests/realtime/test_events_json.py",
            "-k",
            "not trio",
        ),
    ),
    "realtime_today": (
        "daktela_async/realtime/_today.py",
        (
            "tests/realtime/test_today.py",
            "tests/realtime/test_today_tally.py",
            "tests/realtime/test_today_board.py",
            "tests/realtime/test_watcher_table.py",
            "tests/realtime/test_survivors.py",
            "tests/realtime/test_events_json.py",
            "-k",
            "not trio",
        ),
    ),
    "hub": (
        "daktela_async/_hub.py",
        ("tests/realtime/test_hub.py", "tests/realtime/test_survivors.py"),
    ),
    # Not _cli.py nor _server.py: the uvicorn glue is tested on live servers (threads and a
    # child process), which mutmut's synchronous trampoline on WebhookApp.__call__ breaks
    # (uvicorn then takes the app for ASGI2); those tests stay in the default run.
    "webhooks": (
        "daktela_async/webhooks/__init__.py daktela_async/webhooks/_app.py"
        " daktela_async/webhooks/_events.py daktela_async/webhooks/_hooks.py",
        (
            "tests/webhooks/test_webhook_app.py",
            "tests/webhooks/test_webhook_parse.py",
            "tests/webhooks/test_webhook_hardening.py",
        ),
    ),
}
#: Survivors judged equivalent (no behaviour can tell them apart), by mutmut's name.
EQUIVALENT_MUTANTS: dict[str, str] = {
    "daktela_async._prepare.x_cache_key__mutmut_4": (
        "only str, int and None ids are keyed, and no two of those are equal across types"
    ),
    **{
        f"daktela_async._prepare.x_prepare_call__mutmut_{n}": (
            "unreachable: the base URL was parsed when the client was made, and the path"
            " and query are percent-encoded and length-checked first; kept as a guard"
        )
        for n in (75, 76, 77, 78)
    },
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
    "daktela_async._transport._request.x__is_loopback__mutmut_10": (
        "httpx gives the host without brackets or white space: strip() changes nothing"
    ),
    "daktela_async._transport._request.x__is_loopback__mutmut_11": (
        "httpx gives the host without brackets and lower-cased: no 'X' to strip"
    ),
    "daktela_async._transport._request.x_build_path__mutmut_26": (
        "quote() never encodes letters, so an 'X' in safe= changes nothing"
    ),
    "daktela_async._transport._request.x__int_check__mutmut_6": (
        "low <= 0 differs from low < 0 only at 0, which the branch sets again"
    ),
    "daktela_async._transport._request.x__int_check__mutmut_7": (
        "an int below 1 and not below 0 is 0, which the branch sets again"
    ),
    "daktela_async._transport._request.x_check_all_params__mutmut_11": (
        "only close[0] is used: the best match, whatever n"
    ),
    "daktela_async._transport._request.x_check_all_params__mutmut_12": (
        "only close[0] is used: the best match, whatever n"
    ),
    "daktela_async._transport._request.x_pick_version__mutmut_15": (
        "low_param is unset at the mixing error only if an until is below the action's version"
    ),
    "daktela_async._transport._request.x_pick_version__mutmut_16": (
        "the mixing error needs low > high, so an until has set high_param"
    ),
    "daktela_async._env.xǁEnvSettingsǁread__mutmut_62": (
        "usedforsecurity only matters to a FIPS-restricted OpenSSL: the digest is the same"
    ),
    "daktela_async._env.xǁEnvSettingsǁread__mutmut_64": (
        "usedforsecurity only matters to a FIPS-restricted OpenSSL: the digest is the same"
    ),
    "daktela_async._env.xǁEnvSettingsǁread__mutmut_66": (
        "usedforsecurity only matters to a FIPS-restricted OpenSSL: the digest is the same"
    ),
    "daktela_async._client.xǁDaktelaClientǁfrom_credentials__mutmut_3": (
        "usedforsecurity only matters to a FIPS-restricted OpenSSL: the digest is the same"
    ),
    "daktela_async._client.xǁDaktelaClientǁfrom_credentials__mutmut_5": (
        "usedforsecurity only matters to a FIPS-restricted OpenSSL: the digest is the same"
    ),
    "daktela_async._client.xǁDaktelaClientǁfrom_credentials__mutmut_7": (
        "usedforsecurity only matters to a FIPS-restricted OpenSSL: the digest is the same"
    ),
    "daktela_async._env.xǁEnvSettingsǁread__mutmut_69": (
        "a SHA1 hex digest always passes check_token: no error names the token's variable"
    ),
    "daktela_async._client.xǁDaktelaClientǁfrom_env__mutmut_41": (
        "neither '' nor 'XXXX' is a key of variables: both re-raise the error as it is"
    ),
    "daktela_async._client.xǁDaktelaClientǁwith_options__mutmut_39": (
        "_owns_pool is only tested for truth: None is as false as False"
    ),
    "daktela_async._client.xǁDaktelaClientǁwith_options__mutmut_41": (
        "_closed is only tested for truth: None is as false as False"
    ),
    "daktela_async._client.xǁDaktelaClientǁ__init____mutmut_82": (
        "_closed is only tested for truth: None is as false as False"
    ),
    "daktela_async._client.xǁDaktelaClientǁ_checked__mutmut_19": (
        "header names are case-insensitive in httpx's and aiohttp's headers alike"
    ),
    "daktela_async.webhooks._app.x__cancellations__mutmut_6": (
        "inside a running asyncio task current_task() is never None"
    ),
    "daktela_async.webhooks._app.x__networks__mutmut_6": "strict=None is falsy, as strict=False",
    "daktela_async.webhooks._app.x__printable__mutmut_8": (
        "repr(ch)[1:-1] is ch for a printable character other than the backslash"
    ),
    "daktela_async.webhooks._app.xǁWebhookAppǁ__call____mutmut_30": (
        "Starlette's Response.__call__ never calls receive"
    ),
    "daktela_async.webhooks._app.xǁWebhookAppǁ_answer__mutmut_5": (
        "done is only tested for truth: None is as false as False"
    ),
    "daktela_async.webhooks._app.xǁWebhookAppǁ_answer__mutmut_7": (
        "result is read only when the lookup returned, which sets it"
    ),
    "daktela_async.webhooks._app.xǁWebhookAppǁ_form__mutmut_27": (
        "Starlette's headers are case-insensitive"
    ),
    "daktela_async.webhooks._app.xǁWebhookAppǁ_form__mutmut_28": (
        "a missing content type is refused alike as '' or 'XXXX'"
    ),
    "daktela_async.webhooks._app.xǁWebhookAppǁ_form__mutmut_46": (
        "'UTF-8' names the same codec as 'utf-8'"
    ),
    "daktela_async.webhooks._app.xǁWebhookAppǁ_handle__mutmut_70": (
        "HTTP header names are case-insensitive (and sent lower-case)"
    ),
    "daktela_async.webhooks._app.xǁWebhookAppǁ_handle__mutmut_71": (
        "HTTP header names are case-insensitive (and sent lower-case)"
    ),
    "daktela_async.webhooks._app.xǁWebhookAppǁ_handle__mutmut_116": (
        "Response's status defaults to 200"
    ),
    "daktela_async.webhooks._app.xǁWebhookAppǁ_publish__mutmut_9": (
        "typing.cast() returns its value whatever the type named"
    ),
    "daktela_async.webhooks._app.xǁWebhookAppǁ_publish__mutmut_13": (
        "typing.cast() returns its value whatever the type named"
    ),
    "daktela_async.webhooks._app.xǁWebhookAppǁ_publish__mutmut_14": (
        "typing.cast() returns its value whatever the type named"
    ),
    "daktela_async.webhooks._app.xǁWebhookAppǁ_publish__mutmut_15": (
        "typing.cast() returns its value whatever the type named"
    ),
    "daktela_async.webhooks._app.xǁ_BadRequestǁ__init____mutmut_1": (
        "only .status and .message are read, never str() of it"
    ),
    "daktela_async.webhooks._hooks.x__flatten_into__mutmut_9": (
        "empty is only tested for truth: None is as false as False"
    ),
    "daktela_async.webhooks._hooks.x__scalar__mutmut_16": "'UTF-8' names the same codec as 'utf-8'",
    "daktela_async.webhooks._hooks.x_flatten_answer__mutmut_3": (
        "the prefix is only tested for truth: None is as false as ''"
    ),
    "daktela_async._hub.xǁSubscriptionǁ__init____mutmut_20": (
        "every offer to a block buffer at or under maxsize resets it to None first"
    ),
    "daktela_async._hub.xǁSubscriptionǁ__init____mutmut_23": (
        "_closed is only tested for truth: None is as false as False"
    ),
    "daktela_async._hub.xǁSubscriptionǁ_fail__mutmut_3": (
        "a block buffer drops nothing before it fails, and it fails once"
    ),
    "daktela_async._hub.xǁSubscriptionǁ_offer__mutmut_13": (
        "popitem(last=None): None is as false as False"
    ),
    "daktela_async._hub.xǁSubscriptionǁ_take__mutmut_29": (
        "popitem(last=None): None is as false as False"
    ),
    "daktela_async._hub.xǁSubscriptionǁ_take__mutmut_3": (
        "a block buffer never misses events, so _missed is 0 for it"
    ),
    "daktela_async._hub.xǁSubscriptionǁ_take__mutmut_4": (
        "a block buffer never misses events, so _missed is 0 for it"
    ),
    "daktela_async._hub.xǁSubscriptionǁ_take__mutmut_7": (
        "the latest-dict of the other policies is always empty: head is None"
    ),
    "daktela_async._hub.xǁSubscriptionǁ_take__mutmut_10": (
        "with events missed, the event that displaced the last one is still buffered"
    ),
    "daktela_async._hub.xǁSubscriptionǁ_take__mutmut_17": (
        "seqs are unique and a dropped event is no longer buffered: never equal"
    ),
    "daktela_async._hub.xǁSubscriptionǁ_wait__mutmut_2": (
        "the anyio.Event path wakes the reader on asyncio too (only slower)"
    ),
    "daktela_async._hub.xǁSubscriptionǁ_wait__mutmut_3": (
        "the anyio.Event path wakes the reader on asyncio too (only slower)"
    ),
    "daktela_async._hub.xǁSubscriptionǁ_wait__mutmut_5": (
        "a stale cancelled waiter is skipped by _wake and replaced by the next wait"
    ),
    "daktela_async.realtime._health.xǁSourceǁreset__mutmut_3": (
        "outage_started is only read through `or`: '' is as false as None"
    ),
    "daktela_async.realtime._today.x__unstructure_queue_day__mutmut_3": (
        "recurse=None is as false as False"
    ),
    "daktela_async.realtime._today.x__unstructure_queue_day__mutmut_5": (
        "QueueDay holds no attrs instance or collection to recurse into"
    ),
    "daktela_async.realtime._today.x__unstructure_queue_day__mutmut_6": (
        "QueueDay holds no attrs instance or collection to recurse into"
    ),
    "daktela_async.realtime._today.xǁDayTallyǁadd__mutmut_8": (
        "on equal times newest gets the value it already has"
    ),
    "daktela_async.realtime._today.xǁDayTallyǁadd__mutmut_33": (
        "on equal waits longest gets the value it already has"
    ),
    "daktela_async.realtime._today.x_check_threshold__mutmut_1": (
        "every caller names the parameter: the default is never used"
    ),
    "daktela_async.realtime._today.x_check_threshold__mutmut_2": (
        "every caller names the parameter: the default is never used"
    ),
    "daktela_async.realtime._agents.xǁAgentsǁ__init____mutmut_30": (
        "only tested for truth: None is as false as False"
    ),
    "daktela_async.realtime._agents.xǁAgentsǁ__init____mutmut_39": (
        "add() and outage() run only once the watcher started, after start() set it"
    ),
    "daktela_async.realtime._agents.xǁAgentsǁ__init____mutmut_41": (
        "read only as `in self._scopes`, and no login is '' (check_logins refuses it)"
    ),
    "daktela_async.realtime._agents.xǁAgentsǁ__init____mutmut_42": (
        "the first outage sets it to 0 before reading it (_recovered_at is still None)"
    ),
    "daktela_async.realtime._agents.xǁAgentsǁ__init____mutmut_43": (
        "the first outage sets it to 0 before reading it (_recovered_at is still None)"
    ),
    "daktela_async.realtime._agents.xǁAgentsǁ__init____mutmut_45": (
        "_check() sets it before its only read, after that check failed"
    ),
    "daktela_async.realtime._agents.xǁAgentsǁ__init____mutmut_46": (
        "_check() sets it before its only read, after that check failed"
    ),
    "daktela_async.realtime._agents.xǁAgentsǁ_poll__mutmut_6": (
        "a poll's first answer is to a request without a hash, which sets it to 0 unread"
    ),
    "daktela_async.realtime._agents.xǁAgentsǁ_poll__mutmut_7": (
        "a poll's first answer is to a request without a hash, which sets it to 0 unread"
    ),
    "daktela_async.realtime._agents.xǁAgentsǁ_poll__mutmut_54": (
        "None comes only from a request an outage cancelled, after gate.close() moved the "
        "epoch; an answer completed after that is cancelled at the client's next "
        "checkpoint"
    ),
    "daktela_async.realtime._agents.xǁAgentsǁ_poll__mutmut_107": (
        "at elapsed == gap the sleep it adds lasts 0 s"
    ),
    "daktela_async.realtime._agents.xǁAgentsǁ_publish__mutmut_3": (
        "remove() cancelled that poll: whatever gap it picks, its next await raises"
    ),
    "daktela_async.realtime._agents.xǁAgentsǁ_publish__mutmut_18": (
        "reached only by the re-arm after a resync, a request without a hash, for which "
        "`published` chooses no gap"
    ),
    "daktela_async.realtime._agents.xǁAgentsǁ_publish__mutmut_22": (
        "only tested for truth: None is as false as False"
    ),
    "daktela_async.realtime._agents.xǁAgentsǁ_request__mutmut_3": (
        "read only after the call returned and assigned it"
    ),
    "daktela_async.realtime._agents.xǁAgentsǁ_request__mutmut_50": (
        "the hash a poll sends is its stored state's (stored before the hash advances), "
        "and a short bulk row is always followed by a request without a hash"
    ),
    "daktela_async.realtime._agents.xǁAgentsǁ_request__mutmut_51": (
        "the hash a poll sends is its stored state's (stored before the hash advances), "
        "and a short bulk row is always followed by a request without a hash"
    ),
    "daktela_async.realtime._watcher.xǁWatcherǁ__init____mutmut_53": (
        "only tested for truth: None is as false as False"
    ),
    "daktela_async.realtime._watcher.xǁWatcherǁ__init____mutmut_61": (
        "only tested for truth: None is as false as False"
    ),
    "daktela_async.realtime._watcher.xǁWatcherǁ_resume_stats__mutmut_1": (
        "only tested for truth: None is as false as False"
    ),
    "daktela_async.realtime._watcher.xǁWatcherǁ__init____mutmut_64": (
        "the seed is only tested for truth (`if seed:`): '' is as false as None"
    ),
    "daktela_async.realtime._watcher.xǁWatcherǁ_pause_stats__mutmut_3": (
        "the seed is only tested for truth (`if seed:`): '' is as false as None"
    ),
    "daktela_async.realtime._watcher.xǁWatcherǁ_resume_stats__mutmut_9": (
        "set after the start, when the seed is never read again"
    ),
    "daktela_async.realtime._watcher.xǁWatcherǁ_token_ok__mutmut_29": (
        "the stop cancelled the inner task group first: the polls then started end at "
        "their first checkpoint, before any request"
    ),
    "daktela_async.realtime._watcher.xǁWatcherǁ_token_ok__mutmut_5": (
        "the auth source is created right there, with no requests: += 1 is = 1"
    ),
    "daktela_async.realtime._agents.xǁAgentsǁ_probe__mutmut_17": (
        "only a run's first failure is published, and outage() recorded it"
    ),
    "daktela_async.realtime._health.xǁBackoffǁdelay__mutmut_20": (
        "maximum (finite) is below initial * 2**30 long before the exponent cap matters"
    ),
    "daktela_async.realtime._health.xǁBackoffǁdelay__mutmut_29": (
        "Retry-After 0 gives max(0, jitter): the jitter, as without it"
    ),
    "daktela_async.realtime._health.xǁTokenCheckǁcheck__mutmut_14": (
        "on_refused stops the watcher, which cancels the canary's task"
    ),
    "daktela_async.realtime._health.xǁSourceǁsucceeded__mutmut_17": (
        "outage_started is only read through `or`: '' is as false as None"
    ),
    "daktela_async.realtime._health.xǁSourceǁsucceeded__mutmut_18": (
        "last_failure is read only while failing, and a source that answered is not"
    ),
    "daktela_async.realtime._stats.xǁStatsTablesǁ__init____mutmut_4": (
        "a 'summary' entry in tables stays empty: the summary has its own branch everywhere"
    ),
    "daktela_async.realtime._stats.xǁStatsTablesǁ__init____mutmut_5": (
        "a 'summary' entry in tables stays empty: the summary has its own branch everywhere"
    ),
    "daktela_async.realtime._health.xǁSourceǁ__init____mutmut_10": (
        "outage_started is only read through `or`: '' is as false as None"
    ),
    "daktela_async.realtime._health.xǁSourceǁ__init____mutmut_13": (
        "last_failure is read only while failing, which sets it (or stops the watcher)"
    ),
    "daktela_async.realtime._health.xǁTokenCheckǁ__init____mutmut_3": (
        "anyio.move_on_after(None) never times out, as math.inf"
    ),
    "daktela_async.realtime._health.xǁTokenCheckǁrun__mutmut_2": (
        "suspected is only tested for truth: None is as false as False"
    ),
}
_MUTATION_DOC = Path("docs/mutation.md")
_TABLE_HEAD = "| Target | Mutated | Mutants | Killed | Survived | Timeout | Survived % |"


@nox.session(python=PYTHON)
def mutants(session: nox.Session) -> None:
    """Mutation testing with mutmut; writes the table of docs/mutation.md (not in CI).

    Each target runs in its own copy of the package (so the working tree never holds a
    mutant), with the tests that cover it; `-- NAME ...` runs only those targets;
    `-- --report NAME ...` rewrites their rows from the results of their last run.
    """
    session.install("-e", ".[dev]")
    args = list(session.posargs)
    report_only = "--report" in args
    names = [a for a in args if a != "--report"] or list(MUTANT_TARGETS)
    unknown = sorted(set(names) - set(MUTANT_TARGETS))
    if unknown:
        session.error(f"unknown targets {unknown}; choose from {sorted(MUTANT_TARGETS)}")
    root = Path.cwd()
    # Only this run's rows: the document is read again just before writing, so two
    # sessions running different targets at once do not drop each other's results.
    rows: dict[str, str] = {}
    details: dict[str, list[str]] = {}
    for name in names:
        pattern, tests = MUTANT_TARGETS[name]
        work = Path(session.create_tmp()) / f"mutants-{name}"
        if report_only:
            if not (work / "mutants").is_dir():
                session.error(f"{name}: no results in {work}; run `nox -s mutants -- {name}`")
        else:
            _prepare_mutants(root, work, pattern, tests)
        with session.chdir(work):
            if not report_only:
                session.run("mutmut", "run", "--max-children", str(os.cpu_count() or 2))
            listing = session.run("mutmut", "results", "--all", "true", silent=True) or ""
            statuses = {
                m: st.strip()
                for m, st in re.findall(r"^\s+(\S+__mutmut_\d+): (.+)$", str(listing), re.M)
            }
            # A mutant no selected test runs is a survivor too: nothing would notice it.
            survivors = sorted(m for m, st in statuses.items() if st in ("survived", "no tests"))
            diffs = {
                m: _mutant_line(str(session.run("mutmut", "show", m, silent=True) or ""))
                for m in survivors
            }
        counts = {
            st: sum(1 for v in statuses.values() if v == st)
            for st in ("killed", "survived", "timeout", "no tests", "segfault")
        }
        counts["survived"] += counts.pop("no tests")
        # mutmut says "segfault" for SIGKILL too: the hard stop one second after its CPU
        # limit's SIGXCPU, so a mutant that ran too long either way.
        counts["timeout"] += counts.pop("segfault")
        total = len(statuses)
        rate = f"{counts['survived'] / total:.0%}" if total else "-"
        rows[name] = (
            f"| `{name}` | `{pattern}` | {total} | {counts['killed']} | {counts['survived']} "
            f"| {counts['timeout']} | {rate} |"
        )
        details[name] = [
            f"- `{m}`: `{diffs[m]}`"
            + (" - no selected test runs it" if statuses[m] == "no tests" else "")
            + (f" - equivalent: {EQUIVALENT_MUTANTS[m]}" if m in EQUIVALENT_MUTANTS else "")
            for m in survivors
        ]
        session.log(f"{name}: {total} mutants, {counts['survived']} survived ({rate})")
    doc = _MUTATION_DOC.read_text(encoding="utf-8")
    _MUTATION_DOC.write_text(
        _mutation_doc(doc, {**_mutation_rows(doc), **rows}, details), encoding="utf-8"
    )


def _prepare_mutants(root: Path, work: Path, pattern: str, tests: tuple[str, ...]) -> None:
    """A fresh copy of the package and the tests in *work*, with mutmut's settings."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for folder in ("daktela_async", "tests"):
        shutil.copytree(root / folder, work / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for file in ("pyproject.toml", "README.md"):
        shutil.copy(root / file, work / file)
    selection = "".join(f"\n    {t}" for t in tests)
    (work / "setup.cfg").write_text(
        "[mutmut]\nsource_paths = daktela_async\n"
        # One glob, or several separated by spaces.
        "only_mutate =" + "".join(f"\n    {p}" for p in pattern.split()) + "\n"
        f"pytest_add_cli_args_test_selection ={selection}\n"
        # The mutants run in a fixed order; the randomised order is the tests' own job.
        "pytest_add_cli_args = -p no:randomly -p no:cacheprovider -q\n",
        encoding="utf-8",
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
