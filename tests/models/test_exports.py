"""The package's surface: ``__all__``, and what every model promises."""

from __future__ import annotations

import typing
from collections.abc import Mapping

import attrs
import pytest

import daktela_async._models as models
from daktela_async._models import RESULT_MODELS
from daktela_async._models._keyed import ByAgentID


def _model_classes() -> list[type]:
    return [
        obj
        for name in models.__all__
        if isinstance(obj := getattr(models, name), type) and attrs.has(obj)
    ]


MODELS = _model_classes()


def _isort_key(name: str) -> tuple[int, str]:
    """Ruff's (RUF022) order: CONSTANTS, then Classes, then functions."""
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


def test_all_is_sorted_and_complete() -> None:
    assert models.__all__ == sorted(models.__all__, key=_isort_key)
    assert len(set(models.__all__)) == len(models.__all__)
    for name in models.__all__:
        assert hasattr(models, name), name


def test_there_are_models() -> None:
    assert len(MODELS) >= 50


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_model_is_frozen_slotted_and_keyword_only(cls: type) -> None:
    assert "__slots__" in cls.__dict__
    params = getattr(cls, "__attrs_attrs__")  # noqa: B009
    assert all(a.kw_only for a in params)
    assert getattr(cls, "__setattr__") is not object.__setattr__  # noqa: B009 - frozen


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_model_has_extra_defaulting_to_empty(cls: type) -> None:
    extra = attrs.fields_dict(cls)["extra"]
    assert extra.default == {}
    assert typing.get_type_hints(cls)["extra"] == Mapping[str, typing.Any]


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_every_attribute_is_documented(cls: type) -> None:
    doc = cls.__doc__ or ""
    assert "Attributes:" in doc
    documented = doc
    for base in cls.__mro__[1:]:
        if attrs.has(base):
            documented += base.__doc__ or ""
    for field in attrs.fields(cls):
        assert f"\n        {field.name}: " in documented, f"{cls.__name__}.{field.name}"


def test_every_model_is_reachable_from_result_models() -> None:
    reachable: set[type] = set()

    def walk(tp: object) -> None:
        for arg in typing.get_args(tp):
            walk(arg)
        cls = typing.get_origin(tp) or tp
        if isinstance(cls, type) and issubclass(cls, ByAgentID):
            # AgentStates, Users, RTStatsSessions: mappings of ByAgentID[Row].
            for base in cls.__orig_bases__:  # type: ignore[attr-defined]
                walk(base)
        if isinstance(cls, type) and attrs.has(cls) and cls not in reachable:
            reachable.add(cls)
            for hint in typing.get_type_hints(cls).values():
                walk(hint)

    for target in RESULT_MODELS.values():
        walk(target)
    assert set(MODELS) - reachable == set()
