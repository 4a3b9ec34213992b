"""``daktela-async call``: parameter syntax, output, and errors against the simulator."""

from __future__ import annotations

import hashlib
import json

import pytest

from daktela_async.cli._call import parse_params
from daktela_async.cli._settings import CLIError
from daktela_async.sim import Simulator
from tests.cli.support import Run, connection

#: The mandatory period of the statistics actions.
SPAN = ("datetime_from=2024-01-01 00:00:00", "datetime_to=2024-01-02 00:00:00")


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


def test_api_version_forces_the_version_of_the_call(sim: Simulator, run: Run) -> None:
    # GetPauses answers in one shape at 3.0 and in another from 3.3 on.
    old = run("call", "GetPauses", "--api-version", "3.0", *connection(sim))
    assert old.code == 0, old.err
    assert all("pcode_id" in pause for pause in json.loads(old.out).values())
    new = run("call", "GetPauses", *connection(sim))
    assert new.code == 0, new.err
    assert all("pcode_id" not in pause for pause in json.loads(new.out).values())


@pytest.mark.parametrize("argv", [["--version", "3.0"], ["--version"], ["--version=3.0"]])
def test_the_former_version_option_points_to_api_version(
    sim: Simulator, run: Run, argv: list[str]
) -> None:
    before = sim.traffic()["requests"]
    result = run("call", "GetQueues", *argv, *connection(sim))
    assert result.code == 2
    assert result.out == ""
    assert result.err.count("\n") == 1
    assert "--api-version" in result.err
    assert "Traceback" not in result.text
    assert sim.traffic()["requests"] == before


def test_the_program_version_is_still_the_program_version(run: Run) -> None:
    result = run("--version")
    assert result.code == 0
    assert result.out.startswith("daktela-async ")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["GetAttempts", *SPAN, "take=ten"], "GetAttempts: parameter 'take' must be an integer"),
        (["GetAttempts", *SPAN, "take=5000"], "'take' must be between 0 and 1000, not 5000"),
        (["StatsCalls", *SPAN, "skip=-1"], "'skip' must be at least 0, not -1"),
        (
            ["StatsCalls", "datetime_from=2024-01-01", "datetime_to=2024-01-02 00:00:00"],
            "'datetime_from' must be a datetime or text in the form YYYY-MM-DD HH:MM:SS",
        ),
        (
            ["StatsCalls", "datetime_from=2024-02-30 00:00:00", "datetime_to=2024-03-01 00:00:00"],
            "'datetime_from' is not a real date and time",
        ),
        (
            ["CreateCall", "user=hajek", "number=800123456", "autoanswer=true"],
            "'autoanswer' must be True or False (sent as 'yes'/'no'), or the text 'yes'/'no'",
        ),
        (["LoginQueue", "user=hajek", "queue=1", "priority=5"], "between 0 and 2, not 5"),
        (["CreateQueue", "number=9", "title=X", "direction=up"], "must be one of 'in', 'out'"),
        (["PauseOn", "user=hajek"], "PauseOn: missing mandatory parameter 'pause'"),
        (["PauseOn", "pause=7"], "PauseOn: needs one of 'user', 'extension'"),
        (["PauseOn", "user=hajek", "extension=100", "pause=7"], "takes only one of"),
        (["RTUserState", "usr=hajek"], "unknown parameter 'usr'; did you mean 'user'?"),
        (["DeleteUser"], "DeleteUser: missing the record id"),
        (["GetQueues", "id=3"], "the record id goes in the URL"),
        (["RTUserState", "3", "user=hajek"], "the URL takes no record id"),
        (["MoveRecords", "9", "dst_queue=1"], "pass it as id=..."),
        (["StatsCalls", *SPAN, "--api-version", "4.0"], "StatsCalls needs API version 4.1"),
        (
            ["CreateCall", "extension=100", "number=1", "--api-version", "3.1"],
            "parameter 'extension' belongs to the 3.0 form of the action",
        ),
    ],
)
def test_the_catalogue_checks_run_before_anything_is_sent(
    sim: Simulator, run: Run, argv: list[str], expected: str
) -> None:
    before = sim.traffic()["requests"]
    result = run("call", *argv, *connection(sim))
    assert result.code == 2, result.err
    assert result.out == ""
    assert result.err.startswith("daktela-async: error: ")
    assert result.err.count("\n") == 1
    assert expected in result.err
    assert "Traceback" not in result.text
    assert sim.traffic()["requests"] == before


def test_the_checks_need_no_connection(run: Run) -> None:
    """A bad value is reported before the missing address or token is."""
    result = run("call", "GetAttempts", *SPAN, "take=ten")
    assert result.code == 2
    assert "'take' must be an integer" in result.err


def test_values_in_the_document_form_are_sent(sim: Simulator, run: Run) -> None:
    result = run("call", "StatsCalls", *SPAN, "take=1000", "skip=0", *connection(sim))
    assert result.code == 0, result.err
    assert "data" in json.loads(result.out)


def test_an_action_outside_the_document_is_not_checked(sim: Simulator, run: Run) -> None:
    result = run("call", "GetQueus", "take=ten", *connection(sim))
    assert result.code == 1  # the PBX's answer, not a usage error
    assert "did you mean GetQueues?" in result.err


def test_a_refusal_is_one_line_in_czech_and_english(sim: Simulator, run: Run) -> None:
    result = run("call", "PauseOn", "user=hajek", "pause=999", "force=yes", *connection(sim))
    assert result.code == 1
    assert result.err == (
        "daktela-async: error: PauseOn: Tato pauza nebyla nalezena "
        "(English: This pause was not found.)\n"
    )


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
    assert "wrong or revoked access token" in result.err
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
