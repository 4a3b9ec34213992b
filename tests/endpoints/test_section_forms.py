"""One name, two actions: each section's method sends its own form of ``GetStatuses``."""

from __future__ import annotations

import pytest

from daktela_async import DaktelaUsageError, DaktelaVersionError
from daktela_async._actions import ACTIONS, SECTION_FORMS, section_spec
from daktela_async.models import DialerStatus, FormStatus
from tests.conftest import MakeClient
from tests.support import FakePBX
from tools.generate_endpoints import SECTIONS

pytestmark = pytest.mark.anyio

#: The document's answers of the two forms.
DIALER = [
    {"status": "1", "name": "Volany ucastnik je docasne nedostupny", "code": "2"},
    {"status": "2", "name": "Schranka", "code": "2"},
]
FORMS = {
    "4": {"code": "nechce_nabidku", "id": "4", "description": "Nechce", "deleted": "0"},
    "5": {"code": "nebere", "id": "5", "description": "Nebere", "deleted": "0"},
}


def test_section_forms_are_forms_of_catalogued_actions() -> None:
    for (section, name), form in SECTION_FORMS.items():
        assert section in SECTIONS
        assert form.name == name
        assert form.sections == (section,)
        assert section in ACTIONS[name].sections
        assert section_spec(section, name) is form
    assert section_spec("Queues", "GetQueues") is ACTIONS["GetQueues"]


async def test_autodialer_sends_the_autodialer_form(pbx: FakePBX, make_client: MakeClient) -> None:
    pbx.ok(DIALER)
    async with make_client() as client:
        statuses = await client.autodialer.get_statuses()
    assert pbx.last.url.path == "/api/4.0/GetStatuses/json"
    assert set(pbx.last_query()) == {"access_token"}
    assert statuses == (
        DialerStatus(status=1, name="Volany ucastnik je docasne nedostupny", code="2"),
        DialerStatus(status=2, name="Schranka", code="2"),
    )


async def test_forms_send_the_forms_form(pbx: FakePBX, make_client: MakeClient) -> None:
    pbx.ok(FORMS)
    async with make_client() as client:
        statuses = await client.forms.get_statuses(queue="1000")
        await client.forms.get_statuses(4)
    first, by_id = pbx.requests
    assert first.url.path == "/api/3.8/GetStatuses/json"
    assert first.url.params["queue"] == "1000"
    assert by_id.url.path == "/api/3.8/GetStatuses/4/json"
    assert sorted(statuses) == ["4", "5"]
    assert all(isinstance(s, FormStatus) for s in statuses.values())


async def test_autodialer_form_needs_api_4_0(pbx: FakePBX, make_client: MakeClient) -> None:
    async with make_client(api_version="3.9") as client:
        with pytest.raises(DaktelaVersionError) as info:
            await client.autodialer.get_statuses()
        assert info.value.required == "4.0"
        # The Forms form is older: it still works at 3.9.
        await client.forms.get_statuses()
    assert [r.url.path for r in pbx.requests] == ["/api/3.8/GetStatuses/json"]


async def test_autodialer_form_takes_no_forms_parameters(
    pbx: FakePBX, make_client: MakeClient
) -> None:
    async with make_client() as client:
        with pytest.raises(DaktelaUsageError, match="unknown parameter 'queue'"):
            await client.autodialer.get_statuses(queue="1000")  # type: ignore[call-arg]
    assert pbx.requests == []


async def test_call_keeps_the_merged_entry(pbx: FakePBX, make_client: MakeClient) -> None:
    async with make_client() as client:
        await client.call("GetStatuses")
        await client.call("GetStatuses", version="4.0")
    assert [r.url.path for r in pbx.requests] == [
        "/api/3.8/GetStatuses/json",
        "/api/4.0/GetStatuses/json",
    ]
