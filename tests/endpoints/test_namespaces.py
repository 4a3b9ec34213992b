"""Namespaces: every action reachable from each of its sections, one implementation each."""

from __future__ import annotations

import filecmp
import inspect
import shutil
from pathlib import Path

import pytest

from daktela_async import DaktelaClient
from daktela_async._actions import ACTIONS, SECTION_FORMS
from daktela_async.endpoints import NAMESPACES
from tests.support import TOKEN
from tools.generate_endpoints import SECTIONS, snake, write_all

ROOT = Path(__file__).resolve().parents[2]


def test_every_section_is_a_client_attribute() -> None:
    client = DaktelaClient("https://pbx.example.com", TOKEN)
    assert list(NAMESPACES) == [attr for attr, _, _ in SECTIONS.values()]
    for attr, cls in NAMESPACES.items():
        assert isinstance(getattr(client, attr), cls)


@pytest.mark.parametrize("spec", list(ACTIONS.values()), ids=lambda s: s.name)
def test_action_is_reachable_from_each_of_its_sections(spec: object) -> None:
    from daktela_async._spec import ActionSpec

    assert isinstance(spec, ActionSpec)
    shared = set()
    own = set()
    for section in spec.sections:
        cls = NAMESPACES[SECTIONS[section][0]]
        method = getattr(cls, snake(spec.name))
        assert inspect.iscoroutinefunction(method) or spec.binary
        assert method.__doc__
        assert spec.name in method.__doc__
        form = SECTION_FORMS.get((section, spec.name))
        if form is None:
            shared.add(method)
        else:
            # A section with its own form of the action has its own method, saying so.
            own.add(method)
            assert f"API {form.version}+ ({section})" in method.__doc__
    assert len(shared) <= 1, "one implementation shared by every section without its own form"
    assert len(shared) + len(own) == len({*shared, *own})


def test_snake_case_names() -> None:
    assert snake("RTStatsQueuesSummary") == "rt_stats_queues_summary"
    assert snake("GetSMSSettings") == "get_sms_settings"
    assert snake("SendSMSConnect") == "send_sms_connect"
    assert snake("CDR") == "cdr"
    assert snake("RTUsersState") == "rt_users_state"


def test_generated_files_are_up_to_date(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "daktela_async", tmp_path / "daktela_async")
    (tmp_path / "docs").mkdir()
    written = write_all(tmp_path)
    stale = [
        str(path.relative_to(tmp_path))
        for path in written
        if not filecmp.cmp(path, ROOT / path.relative_to(tmp_path), shallow=False)
    ]
    assert stale == [], "run: python tools/generate_endpoints.py"
