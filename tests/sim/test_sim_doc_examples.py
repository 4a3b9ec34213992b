"""Every recorded example of the API document, replayed against the simulator.

For each example of ``tests/data/doc_examples.json`` a fresh simulated PBX is set up so
that the example makes sense (the user has a call to hang up, the queue exists, ...),
the example's URL is sent (with the simulator's token), and the answer must have the
recorded answer's shape: same envelope keys, the same keys at each level, the same JSON
types, maps keyed by id where the document has them, and for errors the same Czech text.

Adjustments to the recorded inputs, each a defect of the document:

- the page turned ``&para`` into ``¶`` (``CreateEvent``): it is turned back;
- a few examples carry an older URL version than the entry they illustrate
  (``RTUserState`` 4.0's example says ``/3.9/``): they are replayed at the entry's
  version, since the server answers by the URL version;
- two examples have no token (``StatsUsersSessions``): it is sent as a cookie, which the
  document allows;
- ``xml`` examples are recorded as JSON: they are compared as ``json`` and the ``xml``
  answer is checked to be well-formed XML.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from daktela_async.sim import SimClock, SimState, create_app, token_for
from daktela_async.sim._clock import parse_dt
from tests.sim._shapes import loads_lenient, shape_diff

DATA = Path(__file__).parent.parent / "data" / "doc_examples.json"
EXAMPLES: list[dict[str, Any]] = json.loads(DATA.read_text()) if DATA.exists() else []
TOKEN = token_for("admin", "daktela")
WRONG_TOKEN = "0" * 40

Setup = Callable[[SimState], dict[str, Any] | None]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# --- helpers that put the PBX into the state an example describes ---------------------------


def at(state: SimState, when: str) -> None:
    state.set_time(parse_dt(when))


def speaking(state: SimState, login: str, clid: str = "226211245", **kw: Any) -> str:
    call = state.ring_agent(login, clid, **kw)
    state.answer_call(call)
    return call.id


def past_call(
    state: SimState, login: str, clid: str, *, when: str, talk: float = 60, **kw: Any
) -> str:
    at(state, when)
    call_id = speaking(state, login, clid, **kw)
    state.advance(talk)
    state.hangup_agent(state.agent(login))
    return call_id


def extension_call(state: SimState, exten: str, number: str, *, answered: bool = True) -> str:
    call = state.create_extension_call(exten, number)
    if answered:
        state.answer_call(call)
    return call.id


def queue_type(state: SimState, number: str, kind: str) -> None:
    """Reconfigure a queue's type (what the PBX's administration would do)."""
    queue = state.queue(number)
    queue.type = kind
    state._catalog_changed()


def logout_everywhere(state: SimState, login: str) -> None:
    agent = state.agent(login)
    for queue_id in list(agent.queues):
        state.logout_queue(login, state.queues[queue_id].number)


def s_logout_queue_calling(state: SimState) -> None:
    state.login_queue("michalhajek", "5000")
    state.create_agent_call("michalhajek", "468008585", queue_number="5000")


def s_create_call_ok(state: SimState) -> None:
    state.login_queue("michalhajek", "5000")


def s_answer(state: SimState) -> None:
    state.ring_agent("hajek", "226211245", queue_number="2000")


def s_playback(state: SimState) -> None:
    extension_call(state, "500", "226211245")


def s_playback_pause(state: SimState) -> None:
    call_id = extension_call(state, "500", "226211245")
    state.playback(state.calls[call_id], "play", recording="Upozorneni.wav")


def s_hangup_user(state: SimState) -> None:
    speaking(state, "michalhajek")


def s_hangup_extension(state: SimState) -> None:
    extension_call(state, "300", "800123456")


def s_login_at_100(state: SimState) -> None:
    state.logout("klatil")


def s_monitoring_user(state: SimState) -> None:
    at(state, "2012-06-01 10:00:00")
    state.login_queue("hajekhu", "5000")
    call = state.create_agent_call("hajekhu", "468008585")
    state.advance(2)
    state.answer_call(call)
    state.advance(177)


def s_monitoring_exten(state: SimState) -> None:
    speaking(state, "klatil")


def s_pickup(state: SimState) -> None:
    state.incoming_call("2000", "226211245", call_id="1404828279.15208")


def s_update_user(state: SimState) -> None:
    state.create_user(
        "operator1",
        "Pepa Novák",
        "tajneheslo",
        "role_52f22ad1ba23e",
        "profile_530ca64179669",
        None,
        None,
    )


def s_about_call(state: SimState) -> None:
    past_call(
        state,
        "michalhajek",
        "468008580",
        when="2011-10-19 15:24:46",
        call_id="1350478005.0",
        talk=29,
    )


def s_click_to_call(state: SimState) -> None:
    state.add_queue("2006", "Click2Call", "ctc")


def s_attempts(state: SimState) -> None:
    state.create_queue(
        "1006",
        "ObycOdchozi",
        "out",
        queue_id="1",
        outboundcid=None,
        description=None,
        wrapuptime=None,
        outbounder=False,
    )
    at(state, "2015-09-23 13:29:59")
    state.login_queue("michalhajek", "1006")
    for _ in range(2):
        call = state.create_agent_call("michalhajek", "468008585")
        state.advance(5)
        state.answer_call(call)
        state.advance(15)
        state.hangup_agent(state.agent("michalhajek"))
        state.advance(30)


def s_cdr(state: SimState) -> None:
    at(state, "2012-03-05 13:05:20")
    call_id = extension_call(state, "500", "603927227")
    state.advance(321)
    state.hangup(state.calls[call_id])


def s_last_call_number(state: SimState) -> None:
    past_call(state, "hajek", "226211245", when="2012-12-05 14:50:24", queue_number="2000")
    state.advance(3600)


def s_last_call(state: SimState) -> None:
    at(state, "2012-11-15 14:33:06")
    call_id = extension_call(state, "500", "468008585")
    state.advance(30)
    state.hangup(state.calls[call_id])


def s_queue_presence(state: SimState) -> None:
    state.add_queue("2005", "Prichozi s Formularem", "in", form="1")
    state.login_queue("hajek", "2005")


def s_rt_calls(state: SimState) -> None:
    speaking(state, "hajekhu", "100")


def s_rt_pauses(state: SimState) -> None:
    state.pause_on(state.agent("hajekhu"), "4")


def s_user_state_39(state: SimState) -> None:
    state.login_queue("demouser", "5001")
    speaking(state, "demouser", state.records[1].number, queue_number="5001")


def s_repeated(state: SimState) -> None:
    for day in ("2012-10-02 10:00:00", "2012-10-03 11:00:00"):
        past_call(state, "hajek", "226211245", when=day)


def s_stats_calls(state: SimState) -> None:
    past_call(state, "hajek", "468008585", when="2014-08-15 13:21:27", queue_number="2001")


def s_trace(state: SimState) -> None:
    at(state, "2012-05-18 12:33:23")
    state.logout("hajek")
    state.login("hajek")
    state.login_queue("hajek", "5000")
    call = state.create_agent_call("hajek", "468008585")
    state.advance(6)
    state.answer_call(call)
    state.advance(49)
    state.hangup_agent(state.agent("hajek"))
    state.advance(11)


def s_users_pauses(state: SimState) -> None:
    at(state, "2014-08-05 13:21:33")
    state.login_queue("admin", "2000")
    state.pause_on(state.agent("admin"), "2")
    state.advance(10)
    state.pause_off(state.agent("admin"))


def s_users_queues(state: SimState) -> None:
    at(state, "2012-09-01 13:35:07")
    state.login_queue("admin", "2000")
    state.advance(600)
    state.logout_queue("admin", "2000")


def s_users_sessions(state: SimState) -> None:
    at(state, "2013-01-08 10:51:04")
    state.logout("hajekhu")
    state.login("hajekhu")
    state.advance(38)
    state.logout("hajekhu")


def s_get_sms(state: SimState) -> None:
    state.send_sms(
        "603927227",
        "Ahoj toto je jen na ukazku",
        confirmation=True,
        unicode=False,
        email=None,
        accountcode=None,
        gw=None,
        slot=None,
        port=None,
        priority=10,
        scheduled=None,
    )
    state.advance(10)


def s_group_waiting(state: SimState) -> None:
    group = state.new_sms_group("1")
    for number in ("123456789", "987654321"):
        state.send_sms(
            number,
            "Ahoj",
            confirmation=False,
            unicode=False,
            email=None,
            accountcode="1",
            gw=None,
            slot=None,
            port=None,
            priority=10,
            scheduled=None,
            group=group,
        )


def s_sms_connect(state: SimState) -> None:
    state.send_sms_connect(
        "00420123456789",
        "Ahoj",
        confirmation=False,
        unicode=True,
        sender=None,
        accountcode=None,
        scheduled=None,
    )
    state.advance(5)


def _script_call(state: SimState, login: str, call_id: str) -> None:
    state.login_queue(login, "5001")
    logout_everywhere(state, login)
    state.login_queue(login, "5001")
    speaking(state, login, "226211245", queue_number="5001", call_id=call_id)
    state.hangup_agent(state.agent(login))


def s_script_close(state: SimState) -> None:
    _script_call(state, "novak", "1367484976.46040WS")


def s_script_close_replan(state: SimState) -> None:
    _script_call(state, "novak", "1367484976.4601WS")


def s_script_close_no_queue(state: SimState) -> None:
    _script_call(state, "novak", "1367484976.46040WS")
    logout_everywhere(state, "novak")


def s_script_opened(state: SimState) -> None:
    state.login_queue("daktelatester", "5001")
    speaking(state, "daktelatester", state.records[1].number, queue_number="5001")


def s_campaigns(state: SimState) -> None:
    state.add_queue("2003", "Kampan", "outbounder", form="1")
    state.add_queue("2009", "Kampan 2", "outbounder", form="1")
    at(state, "2013-01-12 10:00:00")
    filled = {"1": ["Michal"], "4": ["Nemcice"], "5": ["12345"]}
    state.create_record("2003", "226211245", filled, user="1")
    state.create_record("2003", "226211246", filled, user="2")


def s_search_contact(state: SimState) -> None:
    state.add_queue("1002", "Outbounder", "outbounder", form="1")
    state.create_record("1002", "226211245", {"1": ["Michal"], "2": ["Hajek"]}, user="3")


def s_email_ok(state: SimState) -> None:
    queue_type(state, "2000", "email")


def s_email_wrong_type(state: SimState) -> None:
    state.add_queue("6666", "Prichozi", "in")


def s_wrong_token(state: SimState) -> dict[str, Any]:
    return {"token": WRONG_TOKEN}


CREATE_CALL_OK = (
    "Outgoing call from user michalhajek to public number 800123456 and auto answer enabled"
)

#: (action, start of the example's description) -> setup. The longest matching start wins.
SETUPS: dict[tuple[str, str], Setup] = {
    (
        "LogoutQueue",
        "Sign out user michalhajek from queue number 5001, when",
    ): s_logout_queue_calling,
    ("CreateCall", CREATE_CALL_OK): s_create_call_ok,
    # "... auto answer enabled. But user is not logged to outgoing queue": the default state.
    ("CreateCall", CREATE_CALL_OK + ". But"): lambda s: None,
    ("Answer", "Answer ringing call"): s_answer,
    ("ControlPlayback", "The ongoing call at line 500"): s_playback,
    ("ControlPlayback", "Stop playing message"): s_playback_pause,
    ("GetUser", "Error state when access tokenu is wrong"): s_wrong_token,
    ("Hangup", "Hangup realtime call at user"): s_hangup_user,
    ("Hangup", "Hangup realtime call at extension"): s_hangup_extension,
    ("Login", "Sign in the michalhajek agent"): s_login_at_100,
    ("Monitoring", "Monitoring call"): s_monitoring_user,
    ("Monitoring", "Spying realtime call"): s_monitoring_exten,
    ("PickupFromQueue", ""): s_pickup,
    ("Transfer", ""): s_hangup_user,
    ("UpdateUser", ""): s_update_user,
    ("AboutCall", ""): s_about_call,
    ("ClickToCall", ""): s_click_to_call,
    ("GetAttempts", ""): s_attempts,
    ("CDR", ""): s_cdr,
    ("LastCallNumber", ""): s_last_call_number,
    ("LastCall", ""): s_last_call,
    ("RTQueuePresence", ""): s_queue_presence,
    ("RTStatsCalls", ""): s_rt_calls,
    ("RTStatsPauses", ""): s_rt_pauses,
    ("RTUserState", "The importance"): s_user_state_39,
    ("StatsCallsRepeated", ""): s_repeated,
    ("StatsCalls", ""): s_stats_calls,
    ("StatsTrace", ""): s_trace,
    ("StatsUsersPauses", ""): s_users_pauses,
    ("StatsUsersQueues", ""): s_users_queues,
    ("StatsUsersSessions", ""): s_users_sessions,
    ("GetSMS", ""): s_get_sms,
    ("StatusGroupSMS", ""): s_group_waiting,
    ("GetSMSConnect", ""): s_sms_connect,
    ("CallScriptClose", "Operator wit login"): s_script_close,
    ("CallScriptClose", "operator with login name"): s_script_close_replan,
    ("CallScriptClose", "Returned values are"): s_script_close_no_queue,
    ("CallScriptOpened", "Information about open call script"): s_script_opened,
    ("CopyRecords", ""): s_campaigns,
    ("MoveRecords", ""): s_campaigns,
    ("CreateRecord", ""): s_campaigns,
    ("ExportData", ""): s_campaigns,
    ("SimpleSearchContact", ""): s_search_contact,
    ("EmailCreate", "Create email"): s_email_ok,
    ("EmailCreate", "Error state when queue type is wrong"): s_email_wrong_type,
}


def setup_for(example: dict[str, Any]) -> Setup | None:
    matches = [
        (len(prefix), setup)
        for (action, prefix), setup in SETUPS.items()
        if action == example["action"] and example["description"].startswith(prefix)
    ]
    return max(matches, key=lambda m: m[0])[1] if matches else None


def _version_key(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


def replay_path(example: dict[str, Any], token: str) -> tuple[str, bool]:
    """The example's path and query as sent to the simulator; and whether it had a token."""
    url = example["input"].replace("¶", "&para")
    path = "/api/" + url.split("/api/", 1)[1]
    had_token = "access_token=" in path
    path = re.sub(r"access_token=[0-9a-f]*", f"access_token={token}", path)
    version = path.split("/")[2]
    wanted = max(version, example["entry_version"], key=_version_key)
    path = path.replace(f"/api/{version}/", f"/api/{wanted}/", 1)
    return path.replace(" ", "%20"), had_token


def example_id(example: dict[str, Any]) -> str:
    words = re.sub(r"\W+", "-", example["description"][:40]).strip("-")
    return f"{example['section']}-{example['action']}-{words}"


JSON_EXAMPLES = [e for e in EXAMPLES if e["action"] != "GetRecording"]


def fresh_state() -> SimState:
    # Early start: the setups then move the clock forward to the document's dates.
    return SimState(
        agents=12, queues=3, seed=1, clock=SimClock(parse_dt("2011-01-03 08:00:00"), speed=0)
    )


async def replay(example: dict[str, Any]) -> tuple[Any, Any, str]:
    state = fresh_state()
    setup = setup_for(example)
    options = (setup(state) if setup else None) or {}
    token = options.get("token", TOKEN)
    path, had_token = replay_path(example, token)
    json_path = re.sub(r"/xml(\?|$)", r"/json\1", path)
    cookies = {} if had_token else {"access_token": token}
    app = create_app(state, hold=0.1)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sim", cookies=cookies
    ) as client:
        answer = await client.get(json_path)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("application/json")
        xml_text = ""
        if json_path != path:
            xml_answer = await client.get(path)
            xml_text = xml_answer.text
    assert not state.check_invariants()
    return loads_lenient(example["output"]), answer.json(), xml_text


@pytest.mark.skipif(not EXAMPLES, reason="tests/data/doc_examples.json is not there")
@pytest.mark.anyio
@pytest.mark.parametrize("example", JSON_EXAMPLES, ids=[example_id(e) for e in JSON_EXAMPLES])
async def test_example_answer_has_the_documented_shape(example: dict[str, Any]) -> None:
    doc, ours, xml_text = await replay(example)
    assert list(ours) == list(doc) or set(ours) == set(doc), (ours, doc)
    assert ours["status"] == doc["status"], ours
    if doc["status"] == 0:
        assert ours["error"] == doc["error"]
        return
    if "result" in doc:
        if doc["result"] is not None:
            assert ours["result"] is not None, "null where the document has a value"
        problems = shape_diff(doc["result"], ours["result"])
        assert not problems, problems
    if xml_text:
        root = ET.fromstring(xml_text)  # noqa: S314 (our own output)
        assert root.tag == "response"
        assert root.findtext("status") == "1"


@pytest.mark.skipif(not EXAMPLES, reason="tests/data/doc_examples.json is not there")
def test_every_documented_action_is_served() -> None:
    from daktela_async.sim.handlers import HANDLERS

    documented = {e["action"] for e in EXAMPLES}
    urls = {e["input"].split("/api/", 1)[1].split("/")[1] for e in EXAMPLES}
    assert documented | urls <= set(HANDLERS)


@pytest.mark.skipif(not EXAMPLES, reason="tests/data/doc_examples.json is not there")
@pytest.mark.anyio
async def test_recording_example_answers_wav_with_documented_content_types() -> None:
    example = next(e for e in EXAMPLES if e["action"] == "GetRecording")
    state = fresh_state()
    call_id = past_call(state, "michalhajek", "468008580", when="2011-10-19 15:24:46")
    digest = state.ended_calls[call_id].recording_hash
    path, _ = replay_path(example, TOKEN)
    path = re.sub(r"recording_hash=[^&]*", f"recording_hash={digest}", path)
    app = create_app(state)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sim"
    ) as client:
        wav = await client.get(path)
        octets = await client.get(path + "&octetstream=true")
        unknown = await client.get(re.sub(r"recording_hash=[^&]*", "recording_hash=nope", path))
    assert wav.headers["content-type"] == "audio/x-wav"
    assert wav.content[:4] == b"RIFF"
    assert wav.content[8:12] == b"WAVE"
    assert octets.headers["content-type"] == "application/octet-stream"
    assert octets.content == wav.content
    assert unknown.json()["status"] == 0


def test_shape_diff_catches_differences() -> None:
    doc = {"a": "1", "b": [{"x": 1}], "m": {"3": {"k": "v"}}}
    assert shape_diff(doc, {"a": "2", "b": [{"x": 5}], "m": {"7": {"k": "w"}}}) == []
    assert shape_diff(doc, {"a": 1, "b": [{"x": 5}], "m": {"7": {"k": "w"}}})
    assert shape_diff(doc, {"a": "1", "b": [], "m": {"7": {"k": "w"}}})
    assert shape_diff(doc, {"a": "1", "b": [{"y": 1}], "m": {"7": {"k": "w"}}})
    assert shape_diff(doc, {"a": "1", "b": [{"x": 1}], "m": []})
    assert shape_diff(doc, {"a": "1", "b": [{"x": 1}], "m": {"7": {"k": "w", "z": 1}}})
