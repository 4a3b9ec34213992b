"""Validation before anything is sent: mandatory, one-of, enumerations, ranges, unknowns.

Cases are built from the action catalogue, so every one-of group and every enumeration of
every action is exercised; each must fail with a DaktelaUsageError naming the action and
the parameter, and no request may reach the server.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import keyword
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from daktela_async import DaktelaClient, DaktelaDecodeError, DaktelaUsageError
from daktela_async._actions import ACTIONS
from daktela_async._spec import ActionSpec, ParamSpec
from tests.support import TOKEN, FakePBX
from tools.generate_endpoints import SECTIONS, snake

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # pure validation: one backend is enough


def sample(param: ParamSpec) -> Any:
    """A valid value for *param*."""
    if param.choices:
        return [param.choices[0]] if param.type == "list" else param.choices[0]
    return {
        "str": "1",
        "int": param.minimum if param.minimum is not None else 1,
        "float": 1.5,
        "bool": True,
        "datetime": dt.datetime(2024, 1, 2, 3, 4, 5),
        "date": dt.date(2024, 1, 2),
        "list": ["1"],
        "dict": {"k": "v"},
    }[param.type]


def kw(name: str) -> str:
    return f"{name}_" if keyword.iskeyword(name) else name


def minimal(spec: ActionSpec) -> dict[str, Any]:
    """The smallest valid keyword arguments: every mandatory and one of each group."""
    chosen = set(spec.required) | {group[0] for group in spec.one_of}
    # A group member may only exist in a newer form than another chosen one: pick members
    # that can go together (CreateCall's `user` with 3.1-only parameters, not `extension`).
    return {kw(p.name): sample(p) for p in spec.params if p.name in chosen}


def method_of(client: DaktelaClient, spec: ActionSpec) -> Callable[..., Awaitable[Any]]:
    namespace = getattr(client, SECTIONS[spec.sections[0]][0])
    method: Callable[..., Awaitable[Any]] = getattr(namespace, snake(spec.name))
    return method


async def call(spec: ActionSpec, kwargs: dict[str, Any], pbx: FakePBX) -> None:
    async with DaktelaClient("https://pbx.example.com", TOKEN, transport_factory=pbx.factory) as c:
        args = ("7",) if spec.id_required else ()
        await method_of(c, spec)(*args, **kwargs)


JSON_ACTIONS = [s for s in ACTIONS.values() if not s.binary]


@pytest.mark.parametrize("spec", JSON_ACTIONS, ids=lambda s: s.name)
async def test_minimal_call_is_sent(spec: ActionSpec) -> None:
    pbx = FakePBX()
    # A null result may not fit the model: only the request matters here.
    with contextlib.suppress(DaktelaDecodeError):
        await call(spec, minimal(spec), pbx)
    assert len(pbx.requests) == 1


MANDATORY = [(s, name) for s in JSON_ACTIONS for name in s.required]


@pytest.mark.parametrize(("spec", "name"), MANDATORY, ids=lambda v: getattr(v, "name", v))
async def test_missing_mandatory_parameter(spec: ActionSpec, name: str) -> None:
    pbx = FakePBX()
    kwargs = minimal(spec)
    del kwargs[kw(name)]
    with pytest.raises(DaktelaUsageError, match=f"{spec.name}: missing mandatory") as info:
        await call(spec, kwargs, pbx)
    assert info.value.parameter == kw(name)
    assert pbx.requests == []


GROUPS = [(s, group) for s in JSON_ACTIONS for group in s.one_of]


@pytest.mark.parametrize(("spec", "group"), GROUPS, ids=lambda v: getattr(v, "name", str(v)))
async def test_one_of_group_needs_exactly_one(spec: ActionSpec, group: tuple[str, ...]) -> None:
    pbx = FakePBX()
    none = {k: v for k, v in minimal(spec).items() if k not in {kw(g) for g in group}}
    with pytest.raises(DaktelaUsageError, match="needs one of") as info:
        await call(spec, none, pbx)
    assert info.value.action == spec.name
    assert info.value.parameter in group
    two = {**minimal(spec)}
    for member in group[:2]:
        param = spec.param(member)
        assert param is not None
        two[kw(member)] = sample(param)
    with pytest.raises(DaktelaUsageError, match="takes only one of") as info:
        await call(spec, two, pbx)
    assert info.value.parameter == group[1]
    assert pbx.requests == []


ENUMS = [(s, p) for s in JSON_ACTIONS for p in s.params if p.choices]


@pytest.mark.parametrize(("spec", "param"), ENUMS, ids=lambda v: getattr(v, "name", v))
async def test_enumerations_refuse_other_values(spec: ActionSpec, param: ParamSpec) -> None:
    pbx = FakePBX()
    bad = ["no-such-value"] if param.type == "list" else "no-such-value"
    with pytest.raises(DaktelaUsageError, match="must be one of") as info:
        await call(spec, {**minimal(spec), kw(param.name): bad}, pbx)
    assert info.value.parameter == param.name
    assert info.value.action == spec.name
    assert pbx.requests == []
    # Every documented value is accepted.
    for choice in param.choices:
        value = [choice] if param.type == "list" else choice
        with contextlib.suppress(DaktelaDecodeError):
            await call(spec, {**minimal(spec), kw(param.name): value}, pbx)
    assert len(pbx.requests) == len(param.choices)


RANGES = [(s, p) for s in JSON_ACTIONS for p in s.params if p.maximum is not None]


@pytest.mark.parametrize(("spec", "param"), RANGES, ids=lambda v: getattr(v, "name", v))
async def test_ranges(spec: ActionSpec, param: ParamSpec) -> None:
    pbx = FakePBX()
    assert param.maximum is not None
    for bad in (param.maximum + 1, str(param.maximum + 1), "high"):
        with pytest.raises(DaktelaUsageError) as info:
            await call(spec, {**minimal(spec), kw(param.name): bad}, pbx)
        assert info.value.parameter == param.name
    assert pbx.requests == []


async def test_unknown_parameter_suggests_the_right_name() -> None:
    pbx = FakePBX()
    spec = ACTIONS["CreateCall"]
    with pytest.raises(DaktelaUsageError, match="unknown parameter 'numbr'; did you mean 'number'"):
        await call(spec, {**minimal(spec), "numbr": "1"}, pbx)
    assert pbx.requests == []


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"real_extens": {"a": 1}}, "must be a list"),
        ({"real_extens": [None]}, "items must be"),
        ({"datetime_from": 5}, "must be a datetime"),
        ({"billing": 1}, "must be a bool"),
        ({"direction": ["in"]}, "must be a str"),
    ],
)
async def test_wrong_value_types(kwargs: dict[str, Any], fragment: str) -> None:
    pbx = FakePBX()
    spec = ACTIONS["CDR"]
    with pytest.raises(DaktelaUsageError, match=fragment):
        await call(spec, {**minimal(spec), **kwargs}, pbx)
    assert pbx.requests == []


async def test_strings_pass_untouched_and_natural_types_are_encoded() -> None:
    pbx = FakePBX()
    async with DaktelaClient("https://pbx.example.com", TOKEN, transport_factory=pbx.factory) as c:
        await c.statistics.cdr(
            datetime_from=dt.date(2012, 3, 1),
            datetime_to="2012-03-31 23:59:59",
            real_extens="300",
            billing=False,
            min_price_call="1.20",
        )
        await c.queues.login_queue(user="hajek", queue=5001, priority="0")
        pbx.ok({"id_call": "1359724851.1068"})
        created = await c.calls.create_call(user="hajek", number="800123456", autoanswer=True)
    assert created.id_call == "1359724851.1068"
    q = [dict(r.url.params) for r in pbx.requests]
    assert q[0]["datetime_from"] == "2012-03-01 00:00:00"
    assert q[0]["datetime_to"] == "2012-03-31 23:59:59"
    assert q[0]["real_extens[]"] == "300"
    assert q[0]["billing"] == "false"
    assert q[0]["min_price_call"] == "1.20"
    assert q[1]["queue"] == "5001"
    assert q[1]["priority"] == "0"
    assert q[2]["autoanswer"] == "yes"  # the document's spelling for this flag
