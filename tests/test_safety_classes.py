"""The catalogue's safety classes, pinned: which actions are writes and which are reads.

A write (``idempotent=False``) is never resent once it may have reached the server; a
read may be. Marking a write as a read (``ClickToCall`` rings a customer) would resend
it after a timeout, so both sets are spelled out here as literal lists: any change to
either is a visible diff in review, never a side effect of an edit to the catalogue.
"""

from __future__ import annotations

import ast
from pathlib import Path

import httpx
import pytest

from daktela_async import DaktelaHTTPStatusError, _actions
from daktela_async._actions import ACTIONS, SECTION_FORMS
from daktela_async._spec import ActionSpec
from tests.conftest import MakeClient
from tests.support import FakePBX, SleepRecorder

pytestmark = pytest.mark.anyio

#: Every action that changes state: never resent once it may have arrived.
WRITES = [
    "ActivityClose",
    "ActivityUpdate",
    "Answer",
    "CallScriptClose",
    "ClickToCall",
    "ControlPlayback",
    "CopyRecords",
    "CreateCall",
    "CreateEvent",
    "CreatePause",
    "CreateQueue",
    "CreateRecord",
    "CreateRemoteCall",
    "CreateUser",
    "DeleteRecord",
    "DeleteUser",
    "EmailCreate",
    "Hangup",
    "Login",
    "LoginQueue",
    "Logout",
    "LogoutQueue",
    "Monitoring",
    "MoveRecords",
    "PauseOff",
    "PauseOn",
    "PickupFromQueue",
    "RemoveGroupSMS",
    "SendGroupSMS",
    "SendGroupSMSConnect",
    "SendSMS",
    "SendSMSConnect",
    "SetSMSSettings",
    "Transfer",
    "UpdateRecord",
    "UpdateUser",
]

#: Every action that only reads: retried on transient failures.
READS = [
    "AboutCall",
    "CDR",
    "CallScriptOpened",
    "CheckNumber",
    "DeviceStates",
    "ExportData",
    "GetAttempts",
    "GetExtensionUsers",
    "GetPauses",
    "GetQueues",
    "GetRecordAttempts",
    "GetRecordSnapshots",
    "GetRecording",
    "GetRecords",
    "GetSMS",
    "GetSMSConnect",
    "GetSMSSettings",
    "GetStatuses",
    "GetUser",
    "GetUsers",
    "LastCall",
    "LastCallNumber",
    "RTQueuePresence",
    "RTStatsCalls",
    "RTStatsPauses",
    "RTStatsQueues",
    "RTStatsQueuesSummary",
    "RTStatsSessions",
    "RTUserState",
    "RTUsersState",
    "SimpleSearchContact",
    "StatsCalls",
    "StatsCallsRepeated",
    "StatsTrace",
    "StatsUsersPauses",
    "StatsUsersQueues",
    "StatsUsersSessions",
    "StatusGroupSMS",
    "StatusSMS",
    "StatusSMSConnect",
]

#: The catalogue's source, wherever the package is imported from (mutmut copies it).
CATALOGUE = Path(_actions.__file__)


def test_the_writes_are_exactly_these() -> None:
    """The sorted set of writes is the literal list above (36 actions)."""
    assert sorted(n for n, s in ACTIONS.items() if not s.idempotent) == WRITES
    assert len(WRITES) == 36


def test_the_reads_are_exactly_these() -> None:
    """The sorted set of reads is the literal list above, and together they are everything."""
    assert sorted(n for n, s in ACTIONS.items() if s.idempotent) == READS
    assert sorted(WRITES + READS) == sorted(ACTIONS)


def test_click_to_call_is_a_write() -> None:
    """ClickToCall rings a customer: resending it could ring them twice."""
    assert ACTIONS["ClickToCall"].idempotent is False


def test_a_section_form_has_the_safety_class_of_its_action() -> None:
    """A section's own form of an action is read or write exactly as the action is."""
    for (_section, name), form in SECTION_FORMS.items():
        assert form.idempotent is ACTIONS[name].idempotent, name


def test_an_action_without_the_flag_is_a_write() -> None:
    """Unknown means "do not retry": the default is ``idempotent=False``."""
    assert ActionSpec(name="Future", version="4.1", sections=("X",)).idempotent is False


def test_every_action_in_the_catalogue_says_which_it_is() -> None:
    """Each ``ActionSpec(...)`` in ``_actions.py`` spells ``idempotent=`` out.

    So that no entry relies on the default, whatever it is: a read that forgot the flag
    would silently lose its retries, a write would be a write only by luck.
    """
    tree = ast.parse(CATALOGUE.read_text(encoding="utf-8"))
    missing = []
    calls = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "ActionSpec":
            calls += 1
            flags = [k for k in node.keywords if k.arg == "idempotent"]
            if len(flags) != 1 or not isinstance(flags[0].value, ast.Constant):
                missing.append(node.lineno)
    assert calls == len(ACTIONS) + 1  # the Autodialer form of GetStatuses
    assert missing == []


@pytest.mark.parametrize("action", WRITES)
async def test_the_client_never_resends_a_write_that_may_have_arrived(
    pbx: FakePBX, make_client: MakeClient, sleeps: SleepRecorder, action: str
) -> None:
    """A 503 on a write (the request reached a proxy) is raised after one request."""
    pbx.answer(httpx.Response(503))
    spec = ACTIONS[action]
    async with make_client() as client:
        with pytest.raises(DaktelaHTTPStatusError, match="HTTP 503"):
            await client.call_raw(action, 1 if spec.id == "path" else None)
    assert len(pbx.requests) == 1
    assert sleeps.delays == []


@pytest.mark.parametrize("action", READS)
async def test_the_client_retries_a_read(
    pbx: FakePBX, make_client: MakeClient, sleeps: SleepRecorder, action: str
) -> None:
    """A 503 on a read is retried up to the policy's attempts."""
    pbx.answer(httpx.Response(503))
    spec = ACTIONS[action]
    async with make_client() as client:
        with pytest.raises(DaktelaHTTPStatusError, match="HTTP 503"):
            await client.call_raw(action, 1 if spec.id == "path" else None)
    assert len(pbx.requests) == 4
    assert len(sleeps.delays) == 3
