"""``daktela-async call``: parameter syntax, output, and errors against the simulator."""

from __future__ import annotations

import hashlib
import json

import pytest

from daktela_async.cli._call import parse_params
from daktela_async.cli._settings import CLIError
from daktela_async.sim import Simulator
from tests.cli.support import Run, connection


def test_plain_values_stay_strings() -> None:
    assert parse_params(["user=hajek", "number=800123456", "empty="]) == (
        None,
        {"user": "hajek", "number": "800123456", "empty": ""},
    )


def test_values_may_contain_equals_signs() -> None:
    assert parse_params(["filter=a=b"]) == (None, {"filter": "a=b"})


def test_repeated_keys_and_brackets_make_arrays() -> None:
    _, params = parse_params(["queues=1", "queues=2", "users[]=3", "users[]=4", "one[]=5"])
    assert params == {"queues": ["1", "2"], "users": ["3", "4"], "one": ["5"]}


def test_keys_in_brackets_make_keyed_arrays_and_nest() -> None:
    _, params = parse_params(["data[title]=Novak", "data[phone]=123", "a[b][c]=v", "a[b][d][]=w"])
    assert params == {
        "data": {"title": "Novak", "phone": "123"},
        "a": {"b": {"c": "v", "d": ["w"]}},
    }


def test_the_bare_argument_is_the_id() -> None:
    assert parse_params(["3", "format=x"]) == ("3", {"format": "x"})


@pytest.mark.parametrize(
    "tokens",
    [
        ["3", "4"],
        ["data[k]=1", "data=2"],
        ["data=2", "data[k]=1"],
        ["data[k]=1", "data[]=2"],
        ["a[][b]=1"],
        ["=value"],
        ["a]b=1"],
    ],
)
def test_malformed_parameters_are_usage_errors(tokens: list[str]) -> None:
    with pytest.raises(CLIError) as info:
        parse_params(tokens)
    assert info.value.exit_code == 2


def test_call_prints_the_result_as_pretty_json(sim: Simulator, run: Run) -> None:
    result = run("call", "GetQueues", *connection(sim))
    assert result.code == 0, result.err
    queues = json.loads(result.out)
    assert {q["title"] for q in queues.values()} >= {"Support"}
    assert result.out.startswith("{\n  ")
    assert sim.token not in result.text


def test_call_sends_the_id_in_the_path(sim: Simulator, run: Run) -> None:
    result = run("call", "GetUsers", "2", *connection(sim))
    assert result.code == 0, result.err
    assert json.loads(result.out)["name"] == "hajek"


def test_call_sends_arrays(sim: Simulator, run: Run) -> None:
    ids = sim.run(lambda s: [s.user(login).id for login in ("hajek", "hajekhu")])
    one = run("call", "RTStatsQueuesSummary", f"users[]={ids[0]}", *connection(sim))
    two = run(
        "call", "RTStatsQueuesSummary", f"users={ids[0]}", f"users={ids[1]}", *connection(sim)
    )
    assert one.code == two.code == 0, one.err + two.err
    assert json.loads(one.out)["users_total"] == 1
    assert json.loads(two.out)["users_total"] == 2


def test_call_reads_the_connection_from_the_environment(
    sim: Simulator, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAKTELA_URL", sim.url)
    monkeypatch.setenv("DAKTELA_LOGIN", "admin")
    monkeypatch.setenv("DAKTELA_PASSWORD", "daktela")
    result = run("call", "RTUserState", "user=hajek")
    assert result.code == 0, result.err
    assert json.loads(result.out)["agent_name"] == "hajek"


def test_call_raw_prints_the_body_as_it_came(sim: Simulator, run: Run) -> None:
    result = run("call", "GetQueues", "--raw", *connection(sim))
    assert result.code == 0, result.err
    envelope = json.loads(result.out)
    assert envelope["status"] == 1
    xml = run("call", "GetQueues", "--format", "xml", *connection(sim))
    assert xml.code == 0, xml.err
    assert xml.out.lstrip().startswith("<")


def test_call_with_a_forced_version(sim: Simulator, run: Run) -> None:
    result = run("call", "GetQueues", "--version", "3.0", *connection(sim))
    assert result.code == 0, result.err


def test_an_unknown_action_is_one_line_with_a_suggestion(sim: Simulator, run: Run) -> None:
    result = run("call", "GetQueus", *connection(sim))
    assert result.code == 1
    assert result.out == ""
    assert result.err.count("\n") == 1
    assert result.err.startswith("daktela-async: error: GetQueus: ")
    assert "did you mean GetQueues?" in result.err


def test_an_invalid_action_name_is_a_usage_error(sim: Simulator, run: Run) -> None:
    result = run("call", "Get/Queues", *connection(sim))
    assert result.code == 2
    assert "invalid action name" in result.err


def test_a_bad_token_is_one_line_and_never_printed(sim: Simulator, run: Run) -> None:
    token = hashlib.sha1(b"not the token", usedforsecurity=False).hexdigest()
    result = run("call", "GetQueues", "--url", sim.url, "--token", token)
    assert result.code == 1
    assert result.err.count("\n") == 1
    assert "Uživatel neexistuje" in result.err
    assert token not in result.text


def test_a_bad_url_is_one_line(run: Run) -> None:
    result = run(
        "call",
        "GetQueues",
        "--url",
        "http://127.0.0.1:9",
        "--token",
        "s3cret-token",
        "--retries",
        "0",
    )
    assert result.code == 1
    assert result.err.count("\n") == 1
    assert "ConnectError" in result.err or "connect" in result.err.lower()
    assert "s3cret-token" not in result.text
    assert "Traceback" not in result.text


def test_a_token_in_the_cookie_works(sim: Simulator, run: Run) -> None:
    result = run("call", "GetQueues", "--token-in", "cookie", *connection(sim))
    assert result.code == 0, result.err
