"""The action catalogue against the API document and its examples.

The examples are checked from ``tests/data/doc_examples.json`` (always present); the tests
that need the document itself skip when ``shared/daktela-api-v3-v4.txt`` is not there.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from daktela_async._actions import ACTIONS
from daktela_async._spec import ActionSpec

DATA = Path(__file__).parent / "data"
EXAMPLES_JSON = DATA / "doc_examples.json"
DOCUMENT = Path(__file__).parents[2] / "shared" / "daktela-api-v3-v4.txt"

VERSIONS = ("3.0", "3.1", "3.2", "3.3", "3.4", "3.5", "3.6", "3.7", "3.8", "3.9", "4.0", "4.1")

#: Query names in example URLs that are not parameters, because of a defect of the document.
#: SetSMSSettings: the callback URL in ``incoming_callback`` is not percent-encoded, so its
#: own query (``?own_number=$number&own_text=...``) splits into extra names.
NOT_PARAMETERS: dict[str, frozenset[str]] = {
    "SetSMSSettings": frozenset({"own_text", "own_id", "own_direction"}),
}

#: ``/api/VERSION/ACTION[/ID]/FORMAT?QUERY``
_PATH = re.compile(r"^/api/(?P<version>[^/]+)/(?P<action>[^/]+)(?:/(?P<id>[^/]+))?/(?P<fmt>[^/]+)$")

#: Enumerated parameters that must carry their choices.
ENUMERATIONS = (
    ("CreateQueue", "direction"),
    ("CDR", "direction"),
    ("GetSMS", "direction"),
    ("GetSMSConnect", "direction"),
    ("ControlPlayback", "command"),
    ("Transfer", "type"),
    ("Monitoring", "mode"),
    ("StatsTrace", "trace"),
    ("CreatePause", "type"),
    ("CopyRecords", "update_action"),
    ("MoveRecords", "update_action"),
    ("UpdateRecord", "action"),
    ("ExportData", "actions"),
)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def _load_examples() -> list[dict[str, Any]]:
    examples: list[dict[str, Any]] = json.loads(EXAMPLES_JSON.read_text(encoding="utf-8"))
    return examples


EXAMPLES = _load_examples()


def _example_id(example: dict[str, Any]) -> str:
    return f"{example['section']}-{example['action']}-{example['entry_version']}"


def _query_names(url: str) -> list[str]:
    """The parameter names of an example URL, without ``[]`` / ``[key]`` suffixes.

    The document renders ``&para`` as the HTML entity ``¶`` (CreateEvent's
    ``&params[...]``); that is undone before splitting.
    """
    query = urlsplit(url.replace("¶", "&para")).query
    names = []
    for part in query.split("&"):
        name = part.split("=", 1)[0]
        if name:
            names.append(name.split("[", 1)[0])
    return names


def _spec(name: str) -> ActionSpec:
    return ACTIONS[name]


def test_catalogue_has_76_actions_keyed_by_name() -> None:
    assert len(ACTIONS) == 76
    for name, spec in ACTIONS.items():
        assert spec.name == name


def test_actions_match_the_document() -> None:
    if not DOCUMENT.is_file():
        pytest.skip(f"{DOCUMENT} is not available")
    lines = DOCUMENT.read_text(encoding="utf-8").splitlines()
    names: list[str] = []
    for i, line in enumerate(lines[:-1]):
        if line == "Action:":
            name = lines[i + 1].removeprefix("- ").strip()
            if name not in names:
                names.append(name)
    assert names == list(ACTIONS)


def test_examples_json_is_up_to_date() -> None:
    if not DOCUMENT.is_file():
        pytest.skip(f"{DOCUMENT} is not available")
    spec = importlib.util.spec_from_file_location("extract_examples", DATA / "extract_examples.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.extract(DOCUMENT.read_text(encoding="utf-8")) == EXAMPLES


def test_examples_json_shape() -> None:
    assert len(EXAMPLES) == 133
    assert len({(e["section"], e["action"], e["entry_version"]) for e in EXAMPLES}) == 102
    keys = {"section", "action", "entry_version", "description", "input", "output"}
    for example in EXAMPLES:
        assert set(example) == keys | {"output_json_ok"}
        try:
            json.loads(example["output"])
        except ValueError:
            ok = False
        else:
            ok = True
        assert example["output_json_ok"] is ok


@pytest.mark.parametrize("example", EXAMPLES, ids=_example_id)
def test_example_action_is_catalogued(example: dict[str, Any]) -> None:
    spec = _spec(example["action"])
    assert example["section"] in spec.sections
    assert _version_key(spec.version) <= _version_key(example["entry_version"])


@pytest.mark.parametrize("example", EXAMPLES, ids=_example_id)
def test_example_query_parameters_are_parameters(example: dict[str, Any]) -> None:
    spec = _spec(example["action"])
    allowed = {p.name for p in spec.params} | NOT_PARAMETERS.get(spec.name, frozenset())
    if spec.id == "query":
        allowed.add("id")
    for name in _query_names(example["input"]):
        if name != "access_token":
            assert name in allowed, f"{spec.name}: {name!r} is not a parameter"


@pytest.mark.parametrize("example", EXAMPLES, ids=_example_id)
def test_example_path_id_only_for_path_actions(example: dict[str, Any]) -> None:
    match = _PATH.match(urlsplit(example["input"]).path)
    assert match is not None
    if match["id"] is not None:
        assert _spec(example["action"]).id == "path"


@pytest.mark.parametrize("spec", ACTIONS.values(), ids=lambda s: s.name)
def test_required_and_one_of_name_parameters(spec: ActionSpec) -> None:
    names = [p.name for p in spec.params]
    assert len(names) == len(set(names)), "duplicate parameter"
    grouped = [name for group in spec.one_of for name in group]
    assert len(grouped) == len(set(grouped)), "a name in two one_of groups"
    for name in (*spec.required, *grouped):
        assert name in names
    assert not set(spec.required) & set(grouped)
    for group in spec.one_of:
        assert len(group) >= 2


@pytest.mark.parametrize("spec", ACTIONS.values(), ids=lambda s: s.name)
def test_id_placement(spec: ActionSpec) -> None:
    has_id_param = spec.param("id") is not None
    assert has_id_param == (spec.id == "query")
    if spec.id_required:
        assert spec.id == "path"


@pytest.mark.parametrize("spec", ACTIONS.values(), ids=lambda s: s.name)
def test_versions(spec: ActionSpec) -> None:
    assert spec.version in VERSIONS
    for param in spec.params:
        if param.since is not None:
            assert param.since in VERSIONS
            assert _version_key(param.since) > _version_key(spec.version)
        if param.until is not None:
            assert param.until in VERSIONS
            assert _version_key(param.until) >= _version_key(spec.version)
            # A newer form of the action must exist for the parameter to be dropped from.
            assert any(
                p.since is not None and _version_key(p.since) > _version_key(param.until)
                for p in spec.params
            )


@pytest.mark.parametrize("spec", ACTIONS.values(), ids=lambda s: s.name)
def test_parameter_fields_are_consistent(spec: ActionSpec) -> None:
    assert spec.summary
    assert spec.sections
    for param in spec.params:
        assert param.doc
        assert len(param.doc) <= 120
        if param.type != "bool":
            assert param.bool_format == "truefalse"
        if param.minimum is not None or param.maximum is not None:
            assert param.type == "int"
        if param.minimum is not None and param.maximum is not None:
            assert param.minimum <= param.maximum


@pytest.mark.parametrize(("action", "param"), ENUMERATIONS)
def test_enumerations_have_choices(action: str, param: str) -> None:
    spec = _spec(action).param(param)
    assert spec is not None
    assert spec.choices


def test_overloads_and_special_cases() -> None:
    create_call = _spec("CreateCall")
    assert create_call.version == "3.0"
    assert create_call.one_of == (("user", "extension"),)
    for name in ("user", "queue", "dialingtime", "ticket"):
        param = create_call.param(name)
        assert param is not None
        assert param.since == "3.1"
    extension = create_call.param("extension")
    assert extension is not None
    assert extension.until == "3.0"
    monitoring = _spec("Monitoring")
    assert monitoring.one_of == (("user", "exten"),)
    user = monitoring.param("user")
    assert user is not None
    assert user.since == "3.1"
    exten = monitoring.param("exten")
    assert exten is not None
    assert exten.until == "3.0"
    rt_user_state = _spec("RTUserState")
    assert rt_user_state.version == "3.9"
    assert rt_user_state.long_poll
    hash_param = rt_user_state.param("hash")
    assert hash_param is not None
    assert hash_param.since == "4.0"
    assert _spec("Transfer").one_of == (("user", "extension"), ("number", "dst_queue", "dst_user"))
    assert _spec("Hangup").one_of == (("user", "extension", "call"),)
    assert _spec("PauseOn").required == ("pause",)
    assert _spec("GetRecording").binary
    assert _spec("DeleteUser").id_required
    priority = _spec("LoginQueue").param("priority")
    assert priority is not None
    assert (priority.minimum, priority.maximum) == (0, 2)
    pickup = _spec("PickupFromQueue")
    assert pickup.required == ("call_id", "user")
    assert all(not p.documented for p in pickup.params)
