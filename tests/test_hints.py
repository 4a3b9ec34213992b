"""English hints for the PBX's Czech error messages: complete, exact, never a guess.

The messages are read from their sources, not listed here: every ``"error"`` text of the
API document (and of ``tests/data/doc_examples.json``, which is always present) and every
message the simulator can send (its ``ERR_*`` constants, and what it passes to
``SimError`` or ``_error_envelope``). A new message without a hint fails
:func:`test_every_message_of_the_simulator_has_a_hint`.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import daktela_async.sim
from daktela_async import DaktelaAPIError
from daktela_async._hints import hint_for
from tests.conftest import MakeClient
from tests.support import TOKEN, FakePBX

DATA = Path(__file__).parent / "data"
DOCUMENT = Path(__file__).parents[2] / "shared" / "daktela-api-v3-v4.txt"
SIM_SOURCES = sorted(Path(daktela_async.sim.__file__).parent.rglob("*.py"))

#: What stands in for a variable part of a simulator message; a hint must carry it over.
SAMPLE = "zz9"

#: ``"error":"..."`` in the document's answers (a JSON string, escapes and all).
_ERROR_FIELD = re.compile(r'"error":("(?:[^"\\]|\\.)*")')

#: Letters of Czech that English has not: a hint's own words must not use them.
_CZECH = re.compile(r"[áčďéěíňóřšťúůýžÁČĎÉĚÍŇÓŘŠŤÚŮÝŽ]")


# --- the messages, from their sources ----------------------------------------------------


def _errors_in(value: Any) -> Iterator[str]:
    """Every string under an ``"error"`` key of a decoded answer, at any depth."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "error" and isinstance(item, str):
                yield item
            else:
                yield from _errors_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from _errors_in(item)


def document_messages() -> set[str]:
    """The error texts of the document's examples (the document itself when present)."""
    found: set[str] = set()
    for example in json.loads((DATA / "doc_examples.json").read_text(encoding="utf-8")):
        if example["output_json_ok"]:
            found.update(_errors_in(json.loads(example["output"])))
    if DOCUMENT.is_file():
        for quoted in _ERROR_FIELD.findall(DOCUMENT.read_text(encoding="utf-8")):
            found.add(json.loads(quoted))
    return found


def _template(node: ast.expr, constants: dict[str, str]) -> str | None:
    """The text of a message expression, with SAMPLE for each variable part."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    if isinstance(node, ast.JoinedStr):
        parts: list[str] = []
        for part in node.values:
            if isinstance(part, ast.Constant):
                parts.append(str(part.value))
            else:
                parts.append(SAMPLE)
        return "".join(parts)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
    ):
        return _template(node.func.value, constants)
    return None


def simulator_messages() -> set[str]:
    """Every message the simulator sends, variable parts filled with SAMPLE."""
    trees = [ast.parse(path.read_text(encoding="utf-8")) for path in SIM_SOURCES]
    constants: dict[str, str] = {}
    for tree in trees:
        for node in ast.walk(tree):
            target: ast.expr | None = None
            value: ast.expr | None = None
            if isinstance(node, ast.AnnAssign):
                target, value = node.target, node.value
            elif isinstance(node, ast.Assign) and len(node.targets) == 1:
                target, value = node.targets[0], node.value
            if (
                isinstance(target, ast.Name)
                and target.id.startswith("ERR_")
                and isinstance(value, ast.Constant)
                and isinstance(value.value, str)
            ):
                constants[target.id] = value.value
    found = {text.replace("{}", SAMPLE) for text in constants.values()}
    for tree in trees:
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("SimError", "_error_envelope")
                and node.args
            ):
                text = _template(node.args[0], constants)
                # An expression this reader cannot follow (str(exc) re-raised) is not a
                # new message: the one it carries was counted where it was made.
                if text is not None:
                    found.add(text.replace("{}", SAMPLE))
    return found


DOCUMENT_MESSAGES = sorted(document_messages())
SIMULATOR_MESSAGES = sorted(simulator_messages())


# --- completeness ------------------------------------------------------------------------


def test_the_sources_are_read() -> None:
    """The readers find the messages (an empty list would pass every check below)."""
    assert {
        "Uživatel neexistuje",
        "Tato pauza nebyla nalezena",
        "Zadana fronta neni typu email",
        "Agent není přihlášen do žádné z front, tedy není možné ho dát na pauzu",
    } <= set(DOCUMENT_MESSAGES)
    assert len(DOCUMENT_MESSAGES) >= 7
    assert {
        "Agent má probíhající hovor",
        f"Chybí povinný parametr {SAMPLE}",
        f"Nelze se odhlasit z fronty/kampaně, ve které probíhá hovor s číslem {SAMPLE}",
        f"Neznámá akce {SAMPLE}",
        "Interní chyba simulátoru",
    } <= set(SIMULATOR_MESSAGES)
    assert len(SIMULATOR_MESSAGES) >= 35


@pytest.mark.parametrize("message", DOCUMENT_MESSAGES)
def test_every_message_of_the_document_has_a_hint(message: str) -> None:
    hint = hint_for(message)
    assert hint is not None, f"no English hint for {message!r} (add it to _hints.py)"


@pytest.mark.parametrize("message", SIMULATOR_MESSAGES)
def test_every_message_of_the_simulator_has_a_hint(message: str) -> None:
    hint = hint_for(message)
    assert hint is not None, f"no English hint for {message!r} (add it to _hints.py)"
    if SAMPLE in message:
        assert SAMPLE in hint, "the variable part must be carried into the English"


@pytest.mark.parametrize("message", sorted({*DOCUMENT_MESSAGES, *SIMULATOR_MESSAGES}))
def test_hints_are_one_line_of_english(message: str) -> None:
    hint = hint_for(message)
    assert hint is not None
    own_words = hint.replace(SAMPLE, "")
    assert "\n" not in hint
    assert not _CZECH.search(own_words), hint
    assert hint[0].isupper() or hint[0] == "'"
    assert hint.endswith(".")


# --- exactness ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "hint"),
    [
        ("Chybí povinný parametr pause", "The mandatory parameter 'pause' is missing."),
        ("Neplatná hodnota parametru take", "The value of the parameter 'take' is invalid."),
        (
            "Nelze se odhlasit z fronty/kampaně, ve které probíhá hovor s číslem 468008585",
            "The agent cannot log out of the queue or campaign: a call with number 468008585 "
            "is in progress in it.",
        ),
        ("Překročen maximální počet 500 záznamů", "The maximum of 500 records was exceeded."),
        ("Neplatný typ pauzy {x}", "'{x}' is not a pause type."),
        ("  Agent má probíhající hovor\n", "The agent has a call in progress."),
        ("Tato pauza nebyla nalezena", "This pause was not found."),
    ],
)
def test_known_messages_get_their_hint(message: str, hint: str) -> None:
    assert hint_for(message) == hint


@pytest.mark.parametrize(
    "message",
    [
        "",
        "Something went wrong",
        "Chybí povinný parametr",  # the variable part is missing: not the known message
        "Chybí povinný parametr ",
        "Uživatel neexistuje, nebo je smazán",  # longer than the known one
        "Ein Fehler",
        "Překročen maximální počet mnoho záznamů",  # a count that is not a number
        "Tato pauza nebyla nalezena.\nUživatel neexistuje",
    ],
)
def test_unknown_messages_get_no_hint(message: str) -> None:
    assert hint_for(message) is None


# --- on the error ------------------------------------------------------------------------


def test_the_error_keeps_the_czech_and_shows_the_english() -> None:
    error = DaktelaAPIError("Tato pauza nebyla nalezena", action="PauseOn")
    assert error.message == "Tato pauza nebyla nalezena"
    assert error.hint == "This pause was not found."
    assert str(error) == "PauseOn: Tato pauza nebyla nalezena (English: This pause was not found.)"
    bare = DaktelaAPIError("Stav neexistuje")
    assert str(bare) == "Stav neexistuje (English: The status does not exist.)"


def test_an_unknown_message_is_shown_alone() -> None:
    error = DaktelaAPIError("Něco se pokazilo", action="GetQueues")
    assert error.hint is None
    assert str(error) == "GetQueues: Něco se pokazilo"


def test_hint_for_explains_texts_inside_results() -> None:
    text = "Agent není přihlášen do žádné z front, tedy není možné ho dát na pauzu"
    assert DaktelaAPIError.hint_for(text) == hint_for(text) is not None


@pytest.mark.anyio
async def test_a_server_error_arrives_with_its_hint(pbx: FakePBX, make_client: MakeClient) -> None:
    pbx.answer(httpx.Response(200, json={"status": 0, "error": "Chybí povinný parametr pause"}))
    async with make_client() as client:
        with pytest.raises(DaktelaAPIError) as info:
            await client.call("PauseOn", user="hajek")
    assert info.value.message == "Chybí povinný parametr pause"
    assert info.value.hint == "The mandatory parameter 'pause' is missing."
    assert str(info.value) == (
        "PauseOn: Chybí povinný parametr pause (English: The mandatory parameter 'pause' is "
        "missing.)"
    )


@pytest.mark.anyio
async def test_a_token_echoed_in_a_variable_part_stays_hidden(
    pbx: FakePBX, make_client: MakeClient
) -> None:
    pbx.answer(httpx.Response(200, json={"status": 0, "error": f"Neznámá akce {TOKEN}"}))
    async with make_client() as client:
        with pytest.raises(DaktelaAPIError) as info:
            await client.call("GetQueues")
    error = info.value
    assert error.hint is not None
    assert "***" in error.hint
    for text in (error.message, error.hint, str(error), repr(error)):
        assert TOKEN not in text
