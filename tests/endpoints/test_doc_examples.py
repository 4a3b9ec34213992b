"""Every example of the API document, replayed through the typed methods.

For each Description/Input/Output triple: the method of the action is called with the
example's parameters (as the strings the URL carries), the request it sends is checked
(action, id, format, PHP-decoded query, token), and the recorded output is served back:
a success must decode keeping every value; a ``status: 0`` must raise the server's words.
"""

from __future__ import annotations

import keyword
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from daktela_async import DaktelaAPIError, DaktelaClient
from daktela_async._actions import ACTIONS, SECTION_FORMS
from daktela_async._models import unstructure
from daktela_async._transport._query import parse_php_query
from daktela_async._transport._request import version_key
from tests.models.support import Example, assert_kept, decode_output, load_examples
from tests.support import TOKEN, FakePBX
from tools.generate_endpoints import SECTIONS, snake

pytestmark = pytest.mark.anyio


#: Query names in examples that are not parameters of the action (each recorded in
#: docs/api-document-notes.md): fragments of an unencoded callback URL in SetSMSSettings'
#: own value, and CreateEvent's "&params" mangled to "¶ms" by the document's HTML.
def not_a_parameter(action: str, name: str) -> bool:
    return (action == "SetSMSSettings" and name.startswith("own_")) or (
        action == "CreateEvent" and name.startswith("¶")
    )


EXAMPLES = load_examples()


def example_id(index: int, example: Example) -> str:
    return f"{index:03d}-{example['action']}"


def split_input(example: Example) -> tuple[str, str | None, str, dict[str, Any]]:
    """(version, path id, format, query without the token) of the example's URL."""
    url = urlsplit(example["input"])
    parts = url.path.split("/")
    api = parts.index("api")
    # Two examples name another action in their URL (ActivityUpdate's calls TicketUpdate,
    # SendGroupSMSConnect's calls SendGroupSMS: docs/api-document-notes.md); the entry wins.
    version, _action, *rest = parts[api + 1 :]
    path_id = rest[0] if len(rest) == 2 else None
    query = parse_php_query(url.query)
    query.pop("access_token", None)
    return version, path_id, rest[-1], query


def expected_query(action: str, query: dict[str, Any]) -> dict[str, Any]:
    spec = ACTIONS[action]
    out: dict[str, Any] = {}
    for name, value in query.items():
        if not_a_parameter(action, name):
            continue
        param = spec.param(name)
        if param is not None and param.type == "list" and isinstance(value, str):
            value = [value]  # "dst_channels=SIP/gsm": a lone value is a one-element array
        out[name] = value
    return out


@pytest.mark.parametrize(
    "example",
    [pytest.param(e, id=example_id(i, e)) for i, e in enumerate(EXAMPLES)],
)
async def test_example_round_trip(example: Example) -> None:
    action = example["action"]
    spec = ACTIONS[action]
    _, path_id, _, query = split_input(example)
    wanted = expected_query(action, query)
    kwargs = {(f"{k}_" if keyword.iskeyword(k) else k): v for k, v in wanted.items()}

    pbx = FakePBX()
    if spec.binary:
        audio = b"RIFF\x24\x00\x00\x00WAVEfmt "
        pbx.answer(httpx.Response(200, content=audio, headers={"content-type": "audio/x-wav"}))
    else:
        pbx.answer(httpx.Response(200, content=example["output"].encode()))
    section = SECTIONS[example["section"]][0]
    async with DaktelaClient(
        "https://mojevu.daktela.com", TOKEN, transport_factory=pbx.factory
    ) as client:
        namespace = getattr(client, section)
        method = getattr(namespace, snake(action))
        args = (path_id,) if spec.id == "path" and path_id is not None else ()
        envelope = decode_output(example)
        if envelope is not None and envelope.get("status") == 0:
            with pytest.raises(DaktelaAPIError) as info:
                await method(*args, **kwargs)
            assert info.value.message == envelope["error"]
            assert info.value.action == action
            result = None
        else:
            result = await method(*args, **kwargs)

    [request] = pbx.requests
    segments = request.url.path.split("/")
    assert segments[1] == "api"
    sent_version, sent_action = segments[2], segments[3]
    assert sent_action == action
    assert version_key(spec.version) <= version_key(sent_version) <= version_key("4.1")
    form = SECTION_FORMS.get((example["section"], action))
    if form is not None:
        # A section with its own form of the action sends that form (Autodialer 4.0).
        assert sent_version == form.version == example["entry_version"]
    assert segments[-1] == "json"
    assert (segments[4] if len(segments) == 6 else None) == (path_id if spec.id == "path" else None)
    sent = parse_php_query(request.url.query.decode())
    assert sent.pop("access_token") == TOKEN
    assert sent == wanted

    if spec.binary:
        assert result == b"RIFF\x24\x00\x00\x00WAVEfmt "
    elif envelope is not None and envelope.get("status") == 1 and result is not None:
        assert_kept(envelope.get("result"), unstructure(result))
