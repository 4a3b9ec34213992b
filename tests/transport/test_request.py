"""Building requests: the form a call goes to, and the per-action checks kept between calls.

The checks themselves, and the URLs, are tested through the client in
``tests/test_caller_input.py`` and ``tests/test_client.py``.
"""

from __future__ import annotations

import pytest

from daktela_async import DaktelaUsageError
from daktela_async._spec import ActionSpec, ParamSpec
from daktela_async._transport import _request
from daktela_async._transport._request import check_params, pick_version


def test_the_first_of_the_parameters_a_newer_form_dropped_is_named() -> None:
    """No action of today's document has two dropped parameters; a regenerated one may."""
    spec = ActionSpec(
        name="Dial",
        version="3.0",
        sections=("X",),
        params=(
            ParamSpec("extension", until="3.0"),
            ParamSpec("line", until="3.0"),
            ParamSpec("user", since="3.1"),
        ),
    )
    assert pick_version(spec, ["extension", "line"], "4.1") == "3.0"
    with pytest.raises(DaktelaUsageError) as info:
        pick_version(spec, ["user", "extension", "line"], "4.1")
    assert str(info.value) == (
        "Dial: parameters 'user' and 'extension' belong to different forms of the action "
        "and cannot be combined"
    )
    assert info.value.parameter == "extension"


def _spec(number: int) -> ActionSpec:
    return ActionSpec(
        name=f"Made{number}", version="3.0", sections=("X",), params=(ParamSpec("n", type="int"),)
    )


def test_the_checks_of_an_action_are_built_once_and_kept_bounded() -> None:
    """The catalogue is read on an action's first call, not on every one; specs made on the
    fly (more than the catalogue's forms) start the store afresh instead of growing it."""
    spec = _spec(0)
    first = _request._plan(spec)
    assert _request._plan(spec) is first
    with pytest.raises(DaktelaUsageError):
        check_params(spec, {"n": "many"})
    assert _request._plan(spec) is first
    made = [_spec(number) for number in range(1, _request._MAX_PLANS + 1)]
    for other in made:
        check_params(other, {"n": 1})
        assert len(_request._PLANS) <= _request._MAX_PLANS
    assert len(_request._PLANS) < _request._MAX_PLANS
