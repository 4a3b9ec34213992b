"""Hostile answers: stray-brace stalls, token echoes, huge decode errors, paging loops, dot ids.

Each test here failed before the hardening of issue 14: the 40,000-brace body took 16 s,
a converter error showed 36 of the token's 40 characters, a list of bad rows made a
megabyte message, a server ignoring ``skip`` kept ``iter_*`` paging forever, and an id of
``..`` reached another URL.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Mapping
from typing import Any

import anyio
import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daktela_async import DaktelaAPIError, DaktelaClient, DaktelaDecodeError, DaktelaError
from daktela_async._envelope import decode_envelope, scrub, snippet
from daktela_async._models import RESULT_MODELS, structure
from tests.support import TOKEN, FakePBX

ECHO = 8  # a run of this many token characters counts as a leak


def leaks(text: str, token: str = TOKEN) -> bool:
    """Whether *text* shows any run of ECHO consecutive characters of *token*, in any case."""
    text = text.lower()
    return any(token[i : i + ECHO] in text for i in range(len(token) - ECHO + 1))


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    try:
        result: Any = fn(*args, **kwargs)
    except DaktelaError as exc:
        result = exc
    return result, time.perf_counter() - started


# Timing here guards against a stall, it is not a benchmark. These calls take milliseconds;
# the code they replaced took seconds (40,000 braces: 16 s) to hours (quadratic on the
# 200,000-character bodies), and a loaded CI runner or a mutmut worker can pause a process
# for a second or more. So a single bound is a generous backstop (STALL, ~1000 times the
# usual time; pytest-timeout stops a real hang at 60 s), and what the fix is about, linear
# growth, is checked by ordering: ten times the input costs well under thirty times the
# time, each size timed as the best of a few runs (a pause slows some runs, not all).
STALL = 10.0


def best_time(fn: Any, *args: Any, repeat: int = 3) -> tuple[Any, float]:
    """:func:`timed`, best of *repeat* runs (one run when it already took STALL)."""
    result, best = timed(fn, *args)
    for _ in range(repeat - 1):
        if best >= STALL:
            break
        best = min(best, timed(fn, *args)[1])
    return result, best


def assert_linear(fn: Any, make: Any, size: int) -> None:
    """``fn(make(10 * size))`` costs about ten times ``fn(make(size))``, not a hundred."""
    _, small = best_time(fn, make(size), repeat=5)
    _, big = best_time(fn, make(10 * size), repeat=5)
    # 30 leaves room for caches and fixed costs; the 0.25 s floor covers a small time of
    # microseconds, where the ratio is mostly timer noise. Quadratic growth gives 100.
    assert big < 30 * small + 0.25, (small, big)


# --- item 1: the stray-brace leniency in linear time ------------------------------------------


def test_forty_thousand_stray_braces_decode_in_well_under_a_second() -> None:
    def body(braces: int) -> bytes:
        return b'{"status":1,"error":null,"result":{"id_call":"1.2SJ"}}' + b"}" * braces

    result, elapsed = best_time(decode_envelope, body(40_000))
    assert result == {"id_call": "1.2SJ"}
    assert elapsed < STALL  # was 16 s: every brace re-parsed the whole prefix
    assert_linear(decode_envelope, body, 4_000)


def test_a_broken_envelope_followed_by_forty_thousand_braces_is_refused_fast() -> None:
    def body(braces: int) -> bytes:
        return b'{"status":1,"result":x' + b"}" * braces

    error, elapsed = best_time(decode_envelope, body(40_000))
    assert isinstance(error, DaktelaDecodeError)
    assert elapsed < STALL
    # Linear: ten times the braces costs nowhere near a hundred times the time.
    assert_linear(decode_envelope, body, 4_000)


@pytest.mark.parametrize(
    "body",
    [
        b'{"status":1,"result":"' + b'\\"' * 200_000 + b"}}",  # one unterminated string
        b'{"' + b'\\"' * 200_000 + b"}}",
        b'{"status":1,"result":' + b'"' * 200_001 + b"}}",
        b"{" * 200_000 + b"}" * 200_001,
    ],
)
def test_pathological_bodies_with_stray_braces_are_refused_fast(body: bytes) -> None:
    error, elapsed = best_time(decode_envelope, body)
    assert isinstance(error, DaktelaDecodeError)
    assert elapsed < STALL  # quadratic, these took minutes


@pytest.mark.parametrize(
    ("body", "result"),
    [
        (b'{"status":1,"result":"' + b"{" * 100_000 + b'"}' + b"}" * 100_000, "{" * 100_000),
        (b'{"status":1,"result":{"a":"}}{"}}}}', {"a": "}}{"}),
        (b'{"status":1,"result":"q\\"}{"}}', 'q"}{'),
        ('{"status":1,"result":"Uživatel {neexistuje"}}'.encode(), "Uživatel {neexistuje"),
        (b'{"status":1,"result":1} } \r\n}\n', 1),
        (b'{"status":1,"result":{"a":[{"b":{}}]}}}}}}', {"a": [{"b": {}}]}),
    ],
)
def test_stray_braces_after_a_complete_envelope_are_accepted(body: bytes, result: object) -> None:
    assert decode_envelope(body) == result


@pytest.mark.parametrize(
    "body",
    [
        b'{"status":1,"result":{"a":"x}}}',  # the closing braces are inside a string
        b'{"status":1,"result":{"a":1}',  # truncated: one brace short
        b'{"status":1,"result":[1}}',  # a bracket left open
        b"[1]}}",
        b"1}",
        b"}}}}",
        b'{"status":1,"result":1}}x',
    ],
)
def test_truncated_or_broken_bodies_stay_refused(body: bytes) -> None:
    with pytest.raises(DaktelaDecodeError):
        decode_envelope(body)


# --- item 7: no echo of the token, whole or partial -------------------------------------------


def test_a_partial_token_echo_is_scrubbed_from_typed_decode_errors() -> None:
    pbx = FakePBX()
    pbx.ok({"queue": TOKEN, "name": "x"})  # the server echoes the token where an int belongs

    async def run() -> DaktelaDecodeError:
        async with DaktelaClient(
            "https://pbx.example.com", TOKEN, transport_factory=pbx.factory
        ) as c:
            with pytest.raises(DaktelaDecodeError) as info:
                await c.queues.get_queues(id=3)
            return info.value

    error = anyio.run(run)
    assert "expected an integer" in str(error)
    assert not leaks(str(error)), str(error)  # showed 36 of the 40 characters
    assert "***" in str(error)


def test_structure_scrubs_with_the_secret_it_is_given() -> None:
    target: Any = RESULT_MODELS["GetQueues"]
    with pytest.raises(DaktelaDecodeError) as info:
        structure({"queue": "x" + TOKEN[:30]}, target, secret=TOKEN)
    assert not leaks(str(info.value))


@pytest.mark.parametrize("shown_chars", [15, 5])
def test_a_snippet_never_shows_a_token_cut_at_its_end(shown_chars: int) -> None:
    # The snippet is 200 characters; the token starts `shown_chars` before that cut.
    padding = "x" * (200 - shown_chars - len("<html>?access_token="))
    body = f"<html>{padding}?access_token={TOKEN}</html>".encode()
    shown = snippet(body, TOKEN)
    assert TOKEN[:shown_chars] not in shown, shown  # cut first, the scrub missed it
    assert "?access_token=***" in shown
    with pytest.raises(DaktelaDecodeError) as info:
        decode_envelope(body, secret=TOKEN)
    assert TOKEN[:shown_chars] not in str(info.value)
    assert TOKEN[:shown_chars] not in info.value.snippet


def test_a_partial_echo_in_the_servers_error_text_is_scrubbed() -> None:
    body = orjson.dumps({"status": 0, "error": f"Neplatny token {TOKEN[:36]}..."})
    with pytest.raises(DaktelaAPIError) as info:
        decode_envelope(body, action="GetQueues", secret=TOKEN)
    assert info.value.message == "Neplatny token ***..."


def test_an_unknown_status_is_shown_short_and_scrubbed() -> None:
    body = orjson.dumps({"status": TOKEN * 25_000})
    with pytest.raises(DaktelaDecodeError) as info:
        decode_envelope(body, secret=TOKEN)
    assert len(str(info.value)) < 400
    assert not leaks(str(info.value))


class _Holder:
    """Like the client's token holder: the repr is redacted, ``value`` is the token."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "***"


def test_the_secret_may_be_the_clients_redacting_holder() -> None:
    body = f'{{"status":0,"error":"token {TOKEN} refused"}}'.encode()
    with pytest.raises(DaktelaAPIError) as info:
        decode_envelope(body, secret=_Holder(TOKEN))
    assert info.value.message == "token *** refused"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"a{TOKEN}b", "a***b"),
        (f"{TOKEN[:8]} {TOKEN[5:20]} {TOKEN[:7]}", f"*** *** {TOKEN[:7]}"),
        (f"{TOKEN[30:]}{TOKEN}", "******"),
        (f"<{TOKEN.upper()}>", "<***>"),
        ("nothing here", "nothing here"),
    ],
)
def test_scrub_blanks_every_run_of_eight_token_characters(text: str, expected: str) -> None:
    assert scrub(text, TOKEN) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("error: pass-word&Secret:99 refused", "error: *** refused"),
        ("error: 'PASS-WORD&secr' refused", "error: '***' refused"),
        ("error: password refused", "error: password refused"),
    ],
)
def test_a_token_that_is_not_hex_is_scrubbed_too(text: str, expected: str) -> None:
    assert scrub(text, "pass-word&Secret:99") == expected


def test_scrubbing_leaves_no_piece_of_the_token_in_the_regex_cache() -> None:
    token = "fedcba9876543210fedcba9876543210fedcba98"
    scrub(f"echo {token[:20]} and {token}", token)
    scrub(f"echo {token[:20]}", "not-hex-" + token)
    cached = [repr(key) for name in ("_cache", "_cache2") for key in getattr(re, name, {})]
    assert not any(leaks(key, token) for key in cached)


def test_a_short_token_is_only_blanked_whole() -> None:
    assert scrub("abc abcdef abcdefg", "abcdefg") == "abc abcdef ***"


def test_scrub_is_linear_on_a_hostile_text() -> None:
    text = (TOKEN[:8] + "-") * 100_000
    result, elapsed = best_time(scrub, text, TOKEN)
    assert not leaks(result)
    assert elapsed < STALL
    assert_linear(lambda text: scrub(text, TOKEN), lambda n: (TOKEN[:8] + "-") * n, 2_000)


# --- item 6: bounded decode errors ------------------------------------------------------------


def test_a_decode_error_names_a_few_paths_and_counts_the_rest() -> None:
    target: Any = tuple[int, ...]
    started = time.perf_counter()
    with pytest.raises(DaktelaDecodeError) as info:
        structure(["bad"] * 20_000, target, action="StatsCalls")
    assert time.perf_counter() - started < 10.0
    message = str(info.value)
    assert len(message) < 2_000, len(message)  # was about 1.4 MB
    assert message.count(" @ $") == 5
    assert message.endswith("and 19995 more")


def test_a_huge_key_does_not_make_a_huge_message() -> None:
    target: Any = Mapping[str, int]
    with pytest.raises(DaktelaDecodeError) as info:
        structure({"k" * 1_000_000: "not a number"}, target)
    assert len(str(info.value)) < 2_000


# --- item 6: paging stops when the server ignores skip ----------------------------------------


def _same_page(total: object) -> FakePBX:
    rows = [
        {"id": i, "id_call": f"{i}.0", "name": "ATTEMPT", "start_time": "2015-09-23 13:30:25"}
        for i in range(10)
    ]
    pbx = FakePBX()
    pbx.answer(
        httpx.Response(
            200, json={"status": 1, "error": None, "result": {"data": rows, "total": total}}
        )
    )
    return pbx


@pytest.mark.parametrize("total", [None, "100000"])
def test_paging_stops_with_a_typed_error_when_a_page_repeats(total: object) -> None:
    pbx = _same_page(total)
    seen: list[int] = []

    async def run() -> None:
        async with DaktelaClient(
            "https://pbx.example.com", TOKEN, transport_factory=pbx.factory
        ) as c:
            async for row in c.calls.iter_attempts(
                datetime_from=dt.datetime(2015, 1, 1),
                datetime_to=dt.datetime(2015, 12, 31),
                page_size=10,
            ):
                seen.append(row.id)
                if len(seen) > 1_000:
                    break  # the mock never waits, so a timeout could not end a loop

    with pytest.raises(DaktelaDecodeError, match="ignore 'skip'") as info:
        anyio.run(run)
    assert info.value.action == "GetAttempts"
    assert seen == list(range(10))  # the first page, once
    assert len(pbx.requests) == 2


# --- item 6: dot-segment ids --------------------------------------------------------------------


@pytest.mark.parametrize(("id", "segment"), [(".", b"%2E"), ("..", b"%2E%2E")])
def test_dot_ids_are_sent_percent_encoded(id: str, segment: bytes) -> None:
    pbx = FakePBX()
    pbx.ok({"queue": "3"})

    async def run() -> None:
        async with DaktelaClient(
            "https://pbx.example.com", TOKEN, transport_factory=pbx.factory
        ) as c:
            await c.call("GetQueues", id)
            await c.queues.get_queues(id=id)

    anyio.run(run)
    assert len(pbx.requests) == 2
    for request in pbx.requests:
        # Not /api/4.1/json (".." climbing out of the action) nor /api/4.1/GetQueues/json.
        assert request.url.raw_path.split(b"?")[0].endswith(b"/GetQueues/" + segment + b"/json")


# --- any bytes, any JSON: only typed errors, in bounded time ----------------------------------

FUZZ = settings(
    max_examples=300,
    deadline=dt.timedelta(seconds=2),
    suppress_health_check=[HealthCheck.too_slow],
)

echoes = st.sampled_from([TOKEN, TOKEN[:36], "x" + TOKEN[2:30], TOKEN.upper()])
scalars: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=50),
    echoes,
    st.sampled_from(["1", "0", "", "2014-08-11 16:12:42", "0000-00-00 00:00:00", "{}", "[]"]),
)
json_values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(
            st.one_of(
                st.sampled_from(["id", "queue", "user", "data", "total", "name", "options"]),
                st.text(max_size=6),
                echoes,
            ),
            children,
            max_size=6,
        ),
    ),
    max_leaves=25,
)
bodies: st.SearchStrategy[bytes] = st.one_of(
    st.binary(max_size=2_000),
    st.builds(
        lambda value, cut, braces: orjson.dumps(value)[:cut] + b"}" * braces,
        st.fixed_dictionaries({"status": scalars}, optional={"result": json_values}),
        st.integers(0, 500),
        st.integers(0, 3_000),
    ),
)


@FUZZ
@given(bodies)
def test_any_bytes_give_a_result_or_a_typed_error(body: bytes) -> None:
    error: DaktelaError | None = None
    try:
        decode_envelope(body, action="GetQueues", secret=TOKEN)
    except DaktelaError as exc:
        error = exc
    if error is not None:
        assert not leaks(str(error))
        assert not leaks(getattr(error, "snippet", ""))


@FUZZ
@given(st.sampled_from(sorted(RESULT_MODELS)), json_values)
def test_any_json_for_any_typed_result_gives_a_model_or_a_typed_error(
    action: str, value: Any
) -> None:
    body = orjson.dumps({"status": 1, "error": None, "result": value})
    target: Any = RESULT_MODELS[action]
    error: DaktelaError | None = None
    try:
        result = decode_envelope(body, action=action, secret=TOKEN)
        structure(result, target, action=action, secret=TOKEN)
    except DaktelaError as exc:
        error = exc
    if error is not None:
        assert error.action == action
        assert not leaks(str(error)), str(error)
