"""PHP-style encoding: what the server's PHP reads back is what the caller passed."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daktela_async._transport._query import (
    MAX_NESTING,
    EncodeError,
    encode_params,
    encode_query,
    format_bool,
    format_scalar,
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


# --- the parser's PHP rules, at the edges (PHP 8 php_register_variable_ex) -------------------


def test_parser_keys_that_are_not_names() -> None:
    # An empty name (also one that starts with "[") drops the pair, not the rest.
    assert parse_php_query("[a]=1&=2&b=3") == {"b": "3"}
    assert parse_php_query("&&a=1&&") == {"a": "1"}
    # Leading spaces are dropped (only spaces); inner ones (and dots) become "_".
    assert parse_php_query("+a=1&++b+c=2") == {"a": "1", "b_c": "2"}
    assert parse_php_query("%09a=1&Xb=2") == {"\ta": "1", "Xb": "2"}


def test_parser_value_is_everything_after_the_first_equals_sign() -> None:
    assert parse_php_query("a=b=c&d&e=") == {"a": "b=c", "d": "", "e": ""}


def test_parser_unclosed_bracket() -> None:
    # An unclosed first "[" makes no array: it, and every later "[", "." or space, is "_".
    assert parse_php_query("a[b=1") == {"a_b": "1"}
    assert parse_php_query("a[b[c.d+e=1") == {"a_b_c_d_e": "1"}
    # After a complete index, an unclosed "[" is dropped with the rest of the key.
    assert parse_php_query("a[b][c=1") == {"a": {"b": "1"}}
    assert parse_php_query("a[][x=1&a[][x=2") == {"a": ["1", "2"]}


def test_parser_odd_closed_brackets() -> None:
    # What follows the last "]" is ignored; "[ ]" (one white-space character) is "[]".
    assert parse_php_query("a[b]c=1&x[0]y[1]=2") == {"a": {"b": "1"}, "x": ["2"]}
    assert parse_php_query("a[+]=1&a[%09]=2&a[++]=3") == {"a": {"0": "1", "1": "2", "  ": "3"}}
    # Only the name is rewritten, not the indexes.
    assert parse_php_query("a.b[c.d+e]=1") == {"a_b": {"c.d e": "1"}}


def test_parser_next_index_follows_php_integer_keys() -> None:
    # PHP 8.3: after a negative key, [] appends that key + 1.
    assert parse_php_query("a[-5]=x&a[]=y") == {"a": {"-5": "x", "-4": "y"}}
    assert parse_php_query("a[3]=x&a[-1]=y&a[]=z") == {"a": {"3": "x", "-1": "y", "4": "z"}}
    # Keys that are not canonical integers are text and do not move the next index.
    assert parse_php_query("a[05]=x&a[]=y") == {"a": {"05": "x", "0": "y"}}
    assert parse_php_query("a[-0]=x&a[]=y") == {"a": {"-0": "x", "0": "y"}}
    assert parse_php_query("a[X1]=x&a[1X]=y&a[²]=z&a[]=w") == {
        "a": {"X1": "x", "1X": "y", "²": "z", "0": "w"}
    }
    assert parse_php_query("a[0]=x&a[]=y&a[]=z") == {"a": ["x", "y", "z"]}


# --- the send path -------------------------------------------------------------------------


def test_encode_query_keeps_brackets_colons_and_slashes_readable() -> None:
    assert encode_query([("a[b][]", "http://x/y?z=1 2&w")]) == "a[b][]=http://x/y%3Fz%3D1%202%26w"
    # In the key, "/" and ":" are encoded; only brackets stay readable.
    assert encode_query([("a/b:c[d]", "v")]) == "a%2Fb%3Ac[d]=v"


def test_nesting_limit_is_exact_for_lists_and_mappings() -> None:
    def lists(levels: int) -> object:
        value: object = "x"
        for _ in range(levels):
            value = [value]
        return value

    def mappings(levels: int) -> object:
        value: object = "x"
        for _ in range(levels):
            value = {"k": value}
        return value

    # MAX_NESTING containers deep is sent (the innermost list of scalars as x[]=...).
    assert encode_params({"v": lists(MAX_NESTING)}) == [
        ("v" + "[0]" * (MAX_NESTING - 1) + "[]", "x")
    ]
    assert encode_params({"v": mappings(MAX_NESTING)}) == [("v" + "[k]" * MAX_NESTING, "x")]
    for too_deep, key in [
        (lists(MAX_NESTING + 1), "v" + "[0]" * MAX_NESTING),
        (mappings(MAX_NESTING + 1), "v" + "[k]" * MAX_NESTING),
    ]:
        with pytest.raises(EncodeError) as caught:
            encode_params({"v": too_deep})
        assert caught.value.key == key
        assert caught.value.parameter == "v"
        assert str(caught.value) == (
            f"parameter {key!r}: nested more than {MAX_NESTING} levels deep (PHP's limit), "
            "or it contains itself"
        )


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ({"u": [object()]}, "u"),
        ({"u": {"k": object()}}, "u[k]"),
        ({"u": {(1, 2): "x"}}, "u"),
        ({"u": [{"k": [object()]}]}, "u[0][k]"),
    ],
)
def test_unsendable_value_names_its_key(params: dict[str, Any], key: str) -> None:
    bad = "tuple" if key == "u" and isinstance(params["u"], dict) else "object"
    with pytest.raises(EncodeError) as caught:
        encode_params(params)
    assert caught.value.key == key
    assert caught.value.parameter == "u"
    assert str(caught.value) == (
        f"parameter {key!r}: cannot send a value of type {bad} as a parameter"
    )


def test_error_messages() -> None:
    with pytest.raises(TypeError, match=r"^cannot send a value of type object as a parameter$"):
        format_scalar(object())
    with pytest.raises(EncodeError) as caught:
        encode_params({1: "x"})  # type: ignore[dict-item]
    assert caught.value.key == "1"
    assert str(caught.value) == "parameter '1': a parameter name must be a string, not int"
    with pytest.raises(EncodeError) as caught:
        encode_query([("a[b]", "\udcff")])
    assert (caught.value.key, caught.value.parameter) == ("a[b]", "a")
    assert str(caught.value) == "parameter 'a[b]': not valid Unicode (a lone surrogate)"


def test_bool_styles_exactly() -> None:
    assert [format_bool(v, "10") for v in (True, False)] == ["1", "0"]
    assert [format_bool(v, "yesno") for v in (True, False)] == ["yes", "no"]
    assert [format_bool(v) for v in (True, False)] == ["true", "false"]
    assert [format_bool(v, "other") for v in (True, False)] == ["true", "false"]


def test_number_subclasses_send_the_number_not_their_repr() -> None:
    class Price(float):
        def __repr__(self) -> str:
            return f"Price({float(self)})"

        __str__ = __repr__

    class Count(int):
        def __repr__(self) -> str:
            return f"Count({int(self)})"

        __str__ = __repr__

    assert encode_params({"p": Price(1.5), "c": Count(7), "i": 10**20, "f": -0.0}) == [
        ("p", "1.5"),
        ("c", "7"),
        ("i", "100000000000000000000"),
        ("f", "-0.0"),
    ]
