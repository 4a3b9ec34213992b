"""Connection settings: arguments over environment, token derivation, redaction."""

from __future__ import annotations

import argparse
import hashlib

import pytest

from daktela_async.cli._settings import (
    CLIError,
    Connection,
    Parser,
    add_connection_arguments,
    open_client,
    redact,
    resolve_connection,
    secrets_of,
    split_csv,
)


def parse(*argv: str) -> argparse.Namespace:
    parser = Parser(prog="test")
    add_connection_arguments(parser)
    return parser.parse_args(list(argv))


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


def test_arguments_win_over_the_environment() -> None:
    env = {"DAKTELA_URL": "https://env.example.com", "DAKTELA_TOKEN": "envtoken"}
    conn = resolve_connection(parse("--url", "https://arg.example.com", "--token", "argtok"), env)
    assert (conn.url, conn.token) == ("https://arg.example.com", "argtok")


def test_the_environment_fills_what_arguments_leave_out() -> None:
    env = {"DAKTELA_URL": "https://env.example.com", "DAKTELA_TOKEN": "envtoken"}
    conn = resolve_connection(parse(), env)
    assert (conn.url, conn.token) == ("https://env.example.com", "envtoken")


def test_login_and_password_make_the_documented_token() -> None:
    conn = resolve_connection(
        parse("--url", "https://x.example.com", "--login", "admin", "--password", "daktela"), {}
    )
    assert conn.token == sha1("admindaktela")
    env = {"DAKTELA_URL": "https://x", "DAKTELA_LOGIN": "novak", "DAKTELA_PASSWORD": "heslo"}
    assert resolve_connection(parse(), env).token == sha1("novakheslo")


def test_a_token_argument_beats_an_environment_login() -> None:
    env = {"DAKTELA_URL": "https://x", "DAKTELA_LOGIN": "novak", "DAKTELA_PASSWORD": "heslo"}
    assert resolve_connection(parse("--token", "given"), env).token == "given"


@pytest.mark.parametrize(
    ("argv", "env", "needle"),
    [
        ((), {"DAKTELA_TOKEN": "t0ken"}, "no PBX address"),
        (("--url", "https://x"), {}, "no credentials"),
        (("--url", "https://x", "--login", "admin"), {}, "--login and --password go together"),
        (("--url", "https://x", "--token", "t", "--timeout", "0"), {}, "--timeout"),
    ],
)
def test_missing_settings_are_usage_errors(
    argv: tuple[str, ...], env: dict[str, str], needle: str
) -> None:
    with pytest.raises(CLIError, match=needle) as info:
        resolve_connection(parse(*argv), env)
    assert info.value.exit_code == 2


def test_parser_errors_are_one_line_usage_errors() -> None:
    with pytest.raises(CLIError) as info:
        parse("--api-version", "9.9")
    assert info.value.exit_code == 2
    assert info.value.prog == "test"
    assert "\n" not in str(info.value)


def test_the_connection_repr_hides_the_token() -> None:
    conn = Connection(url="https://x.example.com", token="s3cr3t-token")
    assert "s3cr3t" not in repr(conn)
    assert "***" in repr(conn)


def test_redact_blanks_every_secret_longest_first() -> None:
    text = "token abcdef and abcdefgh and abc"
    assert redact(text, ["abcdef", "abcdefgh", "abc"]) == "token *** and *** and abc"


def test_secrets_include_derived_tokens() -> None:
    args = parse("--login", "admin", "--password", "daktela")
    env = {"DAKTELA_TOKEN": "from-env-token", "DAKTELA_LOGIN": "x", "DAKTELA_PASSWORD": "pass"}
    found = secrets_of(args, env)
    assert {"daktela", sha1("admindaktela"), "from-env-token", "pass", sha1("xpass")} <= set(found)


def test_open_client_turns_bad_settings_into_usage_errors() -> None:
    with pytest.raises(CLIError, match="refusing plain http://") as info:
        open_client(Connection(url="http://pbx.example.com", token="t0ken"))
    assert info.value.exit_code == 2


def test_open_client_allows_insecure_http_when_asked() -> None:
    client = open_client(Connection(url="http://pbx.example.com", token="t", insecure_http=True))
    assert client.base_url == "http://pbx.example.com"


def test_split_csv_flattens_and_deduplicates() -> None:
    assert split_csv(["a,b", " c ", "a", ""]) == ["a", "b", "c"]
    assert split_csv(None) == []
