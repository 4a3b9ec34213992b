"""The public surface: one curated, sorted `__all__`, every name importable and documented."""

from __future__ import annotations

import inspect

import daktela_async


def test_all_is_sorted_and_complete() -> None:
    names = daktela_async.__all__

    def isort_style(name: str) -> tuple[int, str]:
        # CONSTANTS, then Classes, then functions: the order ruff's RUF022 keeps.
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert list(names) == sorted(names, key=isort_style)
    assert len(set(names)) == len(names)
    for name in names:
        assert hasattr(daktela_async, name), name
    public = {
        n
        for n in dir(daktela_async)
        if not n.startswith("_") and not inspect.ismodule(getattr(daktela_async, n))
    }
    assert public <= set(names) | {"annotations"}


def test_public_objects_have_docstrings() -> None:
    for name in daktela_async.__all__:
        obj = getattr(daktela_async, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__doc__, name


def test_every_error_is_a_daktela_error() -> None:
    errors = [getattr(daktela_async, n) for n in daktela_async.__all__ if n.endswith("Error")]
    assert len(errors) == 12
    for error in errors:
        assert issubclass(error, daktela_async.DaktelaError)


def test_models_module_is_the_public_home_of_the_result_models() -> None:
    import daktela_async.models as models
    from daktela_async import _models

    assert set(models.__all__) <= set(_models.__all__)
    for name in models.__all__:
        assert getattr(models, name) is getattr(_models, name)
    assert "AgentState" in models.__all__
    assert "structure" in models.__all__
