"""The envelope: results come back, status 0 raises the server's words, garbage is typed."""

from __future__ import annotations

import contextlib

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from daktela_async import DaktelaAPIError, DaktelaDecodeError, DaktelaError
from daktela_async._envelope import decode_envelope, scrub


def test_success_returns_result() -> None:
    body = b'{"status":1,"error":null,"result":{"count_users":1,"online_presence":true}}'
    assert decode_envelope(body) == {"count_users": 1, "online_presence": True}


def test_success_without_result_key_is_none() -> None:
    assert decode_envelope(b'{"error":null,"status":1}') is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (rb'{"error":"Tato pauza nebyla nalezena","status":0}', "Tato pauza nebyla nalezena"),
        (
            rb'{"error":"Agent nen\u00ed p\u0159ihl\u00e1\u0161en do odchoz\u00ed kampan\u011b'
            rb'\/fronty","status":0}',
            "Agent není přihlášen do odchozí kampaně/fronty",
        ),
        ('{"error":"Uživatel neexistuje","status":0}'.encode(), "Uživatel neexistuje"),
    ],
)
def test_status_zero_raises_the_servers_exact_message(body: bytes, message: str) -> None:
    with pytest.raises(DaktelaAPIError) as info:
        decode_envelope(body, action="PauseOn")
    assert info.value.message == message
    assert info.value.action == "PauseOn"
    assert str(info.value) == f"PauseOn: {message} (English: {info.value.hint})"


def test_documented_stray_brace_is_accepted() -> None:
    # The document's CreateCall example ends with "}}}".
    body = b'{"error":null,"status":1,"result":{"id_call":"123456789.1234SJ"}}}'
    assert decode_envelope(body) == {"id_call": "123456789.1234SJ"}


@pytest.mark.parametrize(
    ("body", "hint"),
    [
        (b"<html><body>502 Bad Gateway</body></html>", "HTML"),
        (b'{"status":1,"error":null,"result":{"id_call":"1', "not valid JSON"),
        (b'["status", 1]', "not a status envelope"),
        (b'{"result": 1}', "not a status envelope"),
        (b'{"status": 7}', "unknown envelope status"),
        (b"", "not valid JSON"),
    ],
)
def test_malformed_bodies_raise_decode_error_with_snippet(body: bytes, hint: str) -> None:
    with pytest.raises(DaktelaDecodeError) as info:
        decode_envelope(body, action="GetQueues", status_code=200)
    assert hint in str(info.value)
    assert info.value.snippet == body[:200].decode()
    assert info.value.status_code == 200


def test_snippet_never_shows_the_token() -> None:
    token = "0123456789abcdef0123456789abcdef01234567"
    body = f"<html>bad request ?access_token={token}</html>".encode()
    with pytest.raises(DaktelaDecodeError) as info:
        decode_envelope(body, secret=token)
    assert token not in str(info.value)
    assert token not in info.value.snippet


@given(st.binary(max_size=200))
def test_any_body_gives_result_or_a_daktela_error(body: bytes) -> None:
    with contextlib.suppress(DaktelaError):
        decode_envelope(body)


# --- exact messages and attributes of every error ---------------------------------------------

TOKEN = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (b"\n <html>oops</html>", "an HTML page"),
        (b"oops <html>", "not valid JSON"),
        (b"1}", "not valid JSON"),  # nothing open: not an envelope with stray braces
        (b"[1]}}", "not valid JSON"),
    ],
)
@pytest.mark.parametrize("action", ["GetQueues", None])
def test_invalid_json_error_says_what_it_is(body: bytes, kind: str, action: str | None) -> None:
    with pytest.raises(DaktelaDecodeError) as info:
        decode_envelope(body, action=action, status_code=502)
    shown = body.decode()
    assert str(info.value) == f"{action or 'answer'}: the answer is {kind}: {shown!r}"
    assert (info.value.action, info.value.status_code) == (action, 502)
    assert info.value.snippet == shown
    # The cause keeps the scrubbed snippet, not the whole answer.
    assert info.value.__cause__.doc == shown  # type: ignore[union-attr]


@pytest.mark.parametrize("action", ["GetQueues", None])
def test_not_an_envelope_error(action: str | None) -> None:
    with pytest.raises(DaktelaDecodeError) as info:
        decode_envelope(b'{"result": 1}', action=action, status_code=200)
    assert str(info.value) == (
        f"{action or 'answer'}: the answer is not a status envelope: '{{\"result\": 1}}'"
    )
    assert (info.value.action, info.value.status_code) == (action, 200)
    assert info.value.snippet == '{"result": 1}'


@pytest.mark.parametrize(
    ("status", "shown"),
    [
        (7, "7"),
        ("x" * 38, "'" + "x" * 38 + "'"),  # a repr of exactly 40 characters is shown whole
        ("x" * 39, "'" + "x" * 36 + "..."),
        ("y" * 1000, "'" + "y" * 36 + "..."),
    ],
)
@pytest.mark.parametrize("action", ["GetQueues", None])
def test_unknown_status_error(status: object, shown: str, action: str | None) -> None:
    body = b'{"status": %s}' % orjson.dumps(status)
    with pytest.raises(DaktelaDecodeError) as info:
        decode_envelope(body, action=action, status_code=200)
    assert str(info.value) == f"{action or 'answer'}: unknown envelope status {shown}"
    assert (info.value.action, info.value.status_code) == (action, 200)
    assert info.value.snippet == body.decode()[:200]


@pytest.mark.parametrize("body", [b'{"status":"1","result":5}', b'{"status":true,"result":5}'])
def test_status_one_in_any_of_its_forms(body: bytes) -> None:
    assert decode_envelope(body) == 5


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"status":"0","error":"Nope"}', "Nope"),
        (b'{"status":false,"error":"Nope"}', "Nope"),
        (b'{"status":0}', "the server reported a failure"),
        (b'{"status":0,"error":null}', "the server reported a failure"),
        (b'{"status":0,"error":["a"]}', "the server reported a failure"),
    ],
)
def test_status_zero_in_any_of_its_forms(body: bytes, message: str) -> None:
    with pytest.raises(DaktelaAPIError) as info:
        decode_envelope(body, action="PauseOn")
    assert info.value.message == message
    assert info.value.action == "PauseOn"


def test_stray_brace_after_the_deepest_envelope_orjson_reads() -> None:
    def body(levels: int) -> bytes:
        # `levels` objects deep in all, the envelope included, then one stray brace.
        inner = b'{"a":' * (levels - 1) + b"1" + b"}" * (levels - 1)
        return b'{"status":1,"result":' + inner + b"}}"

    result = decode_envelope(body(1024))
    depth = 1
    while isinstance(result, dict):
        result, depth = result["a"], depth + 1
    assert (result, depth) == (1, 1024)
    with pytest.raises(DaktelaDecodeError, match="not valid JSON"):
        decode_envelope(body(1025))


def test_snippet_counts_characters_not_bytes() -> None:
    body = "😀".encode() * 300
    with pytest.raises(DaktelaDecodeError) as info:
        decode_envelope(body)
    assert info.value.snippet == "😀" * 200


# --- scrub ------------------------------------------------------------------------------------


def test_scrub_blanks_every_whole_echo_wherever_it_is() -> None:
    # A token that is no run of any kind (spaces every two characters): only the whole
    # echo is blanked, at the start of the text, and every one of several.
    token = "ab cd ef gh"
    assert scrub("ab cd ef gh!", token) == "***!"
    assert scrub("AB CD EF GH", token) == "***"
    text = "1 ab cd ef gh 2 ab cd ef gh 3 ab cd ef gh 4"
    assert scrub(text, token) == "1 *** 2 *** 3 *** 4"


def test_scrub_with_no_token_changes_nothing() -> None:
    assert scrub("a XXXX b", "") == "a XXXX b"
    assert scrub("a XXXX b", None) == "a XXXX b"
    assert scrub("", TOKEN) == ""


def test_scrub_short_runs_holding_a_piece_of_the_token() -> None:
    # First and last eight characters, in runs shorter than 64.
    assert scrub(f"id {TOKEN[:36]} x", TOKEN) == "id *** x"
    assert scrub(f"id={TOKEN[:8]}, end={TOKEN[-8:]}.", TOKEN) == "id=***, end=***."
    assert scrub(f"x {TOKEN[-7:]} y", TOKEN) == f"x {TOKEN[-7:]} y"
    assert scrub(f"run {'f' * 50}{TOKEN[5:13]}ff", TOKEN) == "run ***"


def test_scrub_long_runs_only_when_they_hold_a_piece() -> None:
    # Runs longer than 64 characters are searched piece by piece.
    assert scrub("f" * 100, TOKEN) == "f" * 100
    assert scrub("e" * 90 + TOKEN[-7:], TOKEN) == "e" * 90 + TOKEN[-7:]
    assert scrub("e" * 90 + TOKEN[-8:], TOKEN) == "***"
    assert scrub("e" * 90 + TOKEN[:8] + "e", TOKEN) == "***"
    word_token = "pass-Word_secret.value"
    assert scrub("z" * 80, word_token) == "z" * 80
    assert scrub("z" * 80 + "Word_sec" + " ok", word_token) == "*** ok"


def test_a_short_token_is_blanked_whole_only() -> None:
    assert scrub("x abc12 y abc12abc12 z", "abc12") == "x *** y ****** z"
    assert scrub("abc1 abc12", "abc12") == "abc1 ***"


def test_scrub_knows_every_piece_of_a_token_with_no_repeats() -> None:
    # TOKEN above repeats itself; in this one each run of eight characters occurs once.
    token = "f3a9c27e5b8d40169e7c2a5f8b3d6e1a0c4f7b92"
    for at in range(len(token) - 7):
        piece = token[at : at + 8]
        assert scrub(f"id={piece}.", token) == "id=***.", piece
        assert scrub(f"id={'9' * 70}{piece.upper()}.", token) == "id=***.", piece
