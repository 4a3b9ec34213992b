"""PHP-style encoding: what the server's PHP reads back is what the caller passed."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daktela_async._transport._query import (
    encode_params,
    encode_query,
    format_bool,
    parse_php_query,
)


def roundtrip(params: dict[str, Any]) -> dict[str, Any]:
    return parse_php_query(encode_query(encode_params(params)))


def test_documented_arrays_and_keyed_arrays() -> None:
    # CDR example: real_extens[]=300&real_extens[]=500; CreateRemoteCall: variables[myid]=1234567
    assert encode_params({"real_extens": ["300", "500"]}) == [
        ("real_extens[]", "300"),
        ("real_extens[]", "500"),
    ]
    assert encode_params({"variables": {"myid": 1234567}}) == [("variables[myid]", "1234567")]
    assert encode_params({"fields": {"a": {"b": "c"}}}) == [("fields[a][b]", "c")]


def test_scalars_are_written_as_php_expects() -> None:
    class Direction(enum.Enum):
        OUT = "out"

    pairs = encode_params(
        {
            "datetime_from": dt.datetime(2012, 3, 1, 0, 0, 0),
            "day": dt.date(2012, 3, 1),
            "outbounder": True,
            "take": 100,
            "min_price_call": 1.2,
            "direction": Direction.OUT,
            "skip": None,
            "title": "Pepa Novák",
        }
    )
    assert pairs == [
        ("datetime_from", "2012-03-01 00:00:00"),
        ("day", "2012-03-01"),
        ("outbounder", "true"),
        ("take", "100"),
        ("min_price_call", "1.2"),
        ("direction", "out"),
        ("title", "Pepa Novák"),
    ]


def test_strings_are_sent_exactly_as_given() -> None:
    # "007" must not become 7, "yes" must not become True: a str passes untouched.
    for value in ["007", "yes", "2012-03-01 00:00:00", "a&b=c", "x[]", " spaced ", "ěščř"]:
        assert roundtrip({"v": value}) == {"v": value}


def test_list_of_mappings_is_indexed() -> None:
    assert roundtrip({"x": [{"a": "1"}, {"a": "2", "b": "3"}]}) == {
        "x": [{"a": "1"}, {"a": "2", "b": "3"}]
    }


def test_bool_styles() -> None:
    assert format_bool(True, "yesno") == "yes"
    assert format_bool(False, "10") == "0"
    assert format_bool(False) == "false"


def test_parser_follows_php_parse_str() -> None:
    # The document's own CDR and RTStatsQueuesSummary inputs.
    assert parse_php_query("dst_channels[]=SIP/proxy&dst_channels=SIP/gsm") == {
        "dst_channels": "SIP/gsm"
    }
    assert parse_php_query("users[0]=3&users[1]=1") == {"users": ["3", "1"]}
    assert parse_php_query("a.b=1&c+d=2") == {"a_b": "1", "c_d": "2"}
    assert parse_php_query("m[2]=x&m[5]=y") == {"m": {"2": "x", "5": "y"}}


scalars = st.one_of(
    st.text(max_size=12),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.booleans(),
)
# Key names avoid what PHP rewrites ("." and " ") and digit-only names (PHP list indices).
keys = st.text(alphabet="abcxyz_-:/?%+ěš", min_size=1, max_size=8)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=4),
        st.dictionaries(keys, children, min_size=1, max_size=4),
    ),
    max_leaves=12,
)


def normalise(value: Any) -> Any:
    """What PHP reads back: every scalar a string, lists stay lists, dicts stay dicts."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items()}
    return value


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(keys, values, max_size=5))
def test_roundtrip_through_php_parser(params: dict[str, Any]) -> None:
    assert roundtrip(params) == normalise(params)


def test_none_inside_a_list_or_mapping_is_skipped() -> None:
    """``None`` is "not given" at every depth, not only at the top level."""
    assert encode_params({"users": ["3", None, "1"]}) == [("users[]", "3"), ("users[]", "1")]
    assert encode_params({"users": [None]}) == []
    assert encode_params({"variables": {"a": None, "b": 2}}) == [("variables[b]", "2")]
    # In an indexed list the other elements keep their index.
    assert encode_params({"x": [{"a": "1"}, None, {"a": "2"}]}) == [
        ("x[0][a]", "1"),
        ("x[2][a]", "2"),
    ]


def test_floats_are_sent_with_full_precision() -> None:
    """No rounding to 6 significant digits (``%g``): a price or a coordinate stays exact."""
    assert encode_params({"v": 1234567.891}) == [("v", "1234567.891")]
    assert encode_params({"v": 0.1 + 0.2}) == [("v", "0.30000000000000004")]
    assert encode_params({"v": 49.19506123}) == [("v", "49.19506123")]
    assert encode_params({"v": [2.5, 1e16]}) == [("v[]", "2.5"), ("v[]", "1e+16")]


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_finite_float_reads_back_exactly(value: float) -> None:
    """The text sent parses back to the very same float."""
    ((_, sent),) = encode_params({"v": value})
    assert float(sent) == value
