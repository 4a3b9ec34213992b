"""The envelope: results come back, status 0 raises the server's words, garbage is typed."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daktela_async import DaktelaAPIError, DaktelaDecodeError, DaktelaError
from daktela_async._envelope import decode_envelope


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
