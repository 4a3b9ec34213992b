"""``daktela-async webhooks agi`` and ``serve``: the dialplan lines and the server settings."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from daktela_async import DaktelaUsageError
from daktela_async.webhooks import WebhookApp, WebhookEvent, agi_lines
from daktela_async.webhooks import _cli as cli
from tests.webhooks.support import INCOMING, client_for

DOC_URL = "https://VasCRMsystem.domain:port/path/script"

#: The four lines of the API document's "Webhooks" section, character for character.
DOC_LINES = [
    'AGI(notify_crm_api.agi,"https://VasCRMsystem.domain:port/path/script?callid=${CALLERID(num)}'
    '&dnd=${FROM_DID}","CRMAPI")',
    'AGI(notify_crm_api.agi,"https://VasCRMsystem.domain:port/path/script?callerId=${CALLERID(num)}'
    '&calleeId=${FROM_DID}&line=${REAL_EXTEN}&idcall=${ID_CALL}&action=ringing","CRMAPI")',
    'AGI(notify_crm_api.agi,"https://VasCRMsystem.domain:port/path/script?callerId=${CALLERID(num)}'
    '&calleeId=${FROM_DID}&line=${REAL_EXTEN}&idcall=${ID_CALL}&action=answer","CRMAPI")',
    'AGI(notify_crm_api.agi,"https://VasCRMsystem.domain:port/path/script?callerId=${CALLERID(num)}'
    '&calleeId=${FROM_DID}&line=${REAL_EXTEN}&idcall=${ID_CALL}&action=hangup","CRMAPI")',
]


def test_agi_lines_are_the_documents_lines() -> None:
    assert agi_lines(DOC_URL) == DOC_LINES


def test_agi_command_prints_the_four_lines(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["webhooks", "agi", "--url", DOC_URL]) == 0
    assert capsys.readouterr().out.splitlines() == DOC_LINES


def test_agi_secret_is_appended_url_encoded(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["agi", "--url", "https://crm.example/hook", "--secret", "a&b c/"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    assert lines[0] == (
        'AGI(notify_crm_api.agi,"https://crm.example/hook?callid=${CALLERID(num)}'
        '&dnd=${FROM_DID}&secret=a%26b%20c%2F","CRMAPI")'
    )
    assert all(line.endswith('&secret=a%26b%20c%2F","CRMAPI")') for line in lines)


def test_agi_keeps_the_urls_own_query_and_a_custom_hash_name() -> None:
    lines = agi_lines("http://crm.example/hook?tenant=a", hash_name="CRM_2")
    assert lines[0].startswith('AGI(notify_crm_api.agi,"http://crm.example/hook?tenant=a&callid=')
    assert all(line.endswith('","CRM_2")') for line in lines)
    assert agi_lines("http://crm.example/hook?")[1].startswith(
        'AGI(notify_crm_api.agi,"http://crm.example/hook?callerId='
    )


@pytest.mark.parametrize(
    ("url", "kwargs", "parameter"),
    [
        ("crm.example/hook", {}, "url"),
        ("ftp://crm.example/hook", {}, "url"),
        ("https:///hook", {}, "url"),
        ('https://crm.example/"hook', {}, "url"),
        ("https://crm.example/ho ok", {}, "url"),
        ("https://crm.example/hook#top", {}, "url"),
        ("https://crm.example/hook", {"hash_name": "CRM API"}, "hash_name"),
        ("https://crm.example/hook", {"secret": ""}, "secret"),
    ],
)
def test_agi_refuses_what_would_break_the_dialplan(
    url: str, kwargs: dict[str, Any], parameter: str
) -> None:
    with pytest.raises(DaktelaUsageError) as caught:
        agi_lines(url, **kwargs)
    assert caught.value.parameter == parameter


def test_agi_command_reports_bad_urls(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["agi", "--url", "crm.example"]) == 2
    assert "error: the URL must be absolute" in capsys.readouterr().err


def test_a_subcommand_is_required() -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main([])
    assert exited.value.code == 2


def test_serve_builds_a_protected_app_without_access_log(
    served: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["webhooks", "serve", "--port", "9099", "--secret", "s3", "--budget", "0.5"]
    argv += ["--allow", "10.0.0.0/8,192.0.2.1", "--allow", "2001:db8::/32"]
    assert cli.main(argv) == 0
    [config] = served
    assert (config.host, config.port, config.access_log) == ("127.0.0.1", 9099, False)
    app = config.app
    assert isinstance(app, WebhookApp)
    assert app.budget == 0.5
    assert repr(app) == "<WebhookApp budget=0.5s protected=secret,allow-list>"
    assert "no --lookup" in capsys.readouterr().err


def test_serve_reads_the_secret_from_the_environment(
    served: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(cli.SECRET_ENV, "from-env")
    assert cli.main(["serve"]) == 0
    assert "protected=secret" in repr(served[0].app)


def test_serve_warns_when_exposed_without_protection(
    served: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["serve", "--host", "0.0.0.0"]) == 0  # noqa: S104 - not bound, only built
    assert "without --secret or --allow" in capsys.readouterr().err
    assert cli.main(["serve", "--host", "::1"]) == 0
    assert "without --secret" not in capsys.readouterr().err


def test_serve_answers_hooks_over_http_on_loopback(served: list[Any]) -> None:
    assert cli.main(["serve", "--port", "0", "--secret", "s3"]) == 0
    server = uvicorn.Server(served[0])
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while not server.started:
            assert thread.is_alive()
            assert time.monotonic() < deadline
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        url = f"http://127.0.0.1:{port}/crm/hook"
        answered = httpx.get(url, params={**INCOMING, "secret": "s3"}, timeout=5)
        refused = httpx.get(url, params=INCOMING, timeout=5)
        bad = httpx.get(url, params={"secret": "s3"}, timeout=5)
    finally:
        server.should_exit = True
        thread.join(5)
    assert (answered.status_code, answered.json()) == (200, {})
    assert (refused.status_code, refused.json()) == (403, {"error": "forbidden"})
    assert bad.status_code == 400
    assert not thread.is_alive()


@pytest.mark.anyio
async def test_serve_imports_the_lookup(
    served: list[Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "crm_lookup_for_test.py").write_text(
        "class CRM:\n"
        "    @staticmethod\n"
        "    async def lookup(event):\n"
        "        return {'NAME': 'Daktela s.r.o.', 'CALLER': event.caller}\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    monkeypatch.delitem(sys.modules, "crm_lookup_for_test", raising=False)
    assert cli.main(["serve", "--lookup", "crm_lookup_for_test:CRM.lookup"]) == 0
    async with client_for(served[0].app) as client:
        response = await client.get("/", params=INCOMING)
    assert response.json() == {"NAME": "Daktela s.r.o.", "CALLER": "+420777123456"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--lookup", "no_colon"], "must be MODULE:FUNCTION"),
        (["--lookup", "no_such_module_xyz:f"], "No module named"),
        (["--lookup", "json:no_such_function"], "no_such_function"),
        (["--lookup", "json:__doc__"], "is not callable"),
        (["--allow", "10.0.0.300"], "not an IP address"),
        (["--budget", "0"], "budget must be a positive"),
        (["--request-timeout", "0"], "--request-timeout must be a positive"),
        (["--request-timeout", "inf"], "--request-timeout must be a positive"),
        (["--max-connections", "0"], "--max-connections must be at least 1"),
    ],
)
def test_serve_reports_bad_settings(
    served: list[Any], capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert cli.main(["serve", *argv]) == 2
    assert message in capsys.readouterr().err
    assert served == []


def test_lookup_type_is_the_event_union() -> None:
    async def lookup(event: WebhookEvent) -> dict[str, str]:
        return {}

    WebhookApp(lookup)  # type-checks: a lookup takes any webhook event
