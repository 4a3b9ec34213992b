"""English explanations of the PBX's error messages, which are in Czech.

The server answers a refused request with ``{"status": 0, "error": "..."}`` in Czech
(``"Tato pauza nebyla nalezena"``). :class:`~daktela_async.DaktelaAPIError` keeps that text
verbatim as ``.message`` and offers the English of this table as ``.hint``.

Two kinds of entry:

- exact texts (:data:`_EXACT`), compared after surrounding white space is dropped;
- patterns (:data:`_PATTERNS`) for messages with a variable part (a parameter name, a
  phone number, a count), which the English text carries over (``"Chybí povinný parametr
  pause"`` -> ``"The mandatory parameter 'pause' is missing."``).

A message in neither gets no hint (``None``): a guess could be wrong, and a wrong
explanation is worse than none. Every message the API document shows and every message
the simulator (:mod:`daktela_async.sim`) sends is here; ``tests/test_hints.py`` reads
both and fails on one without a hint. Messages the simulator words "in the server's
style" (not recorded in the document) may be worded differently by a real PBX, which
then gets no hint rather than a wrong one.

The variable part comes from ``.message``, which the client has already cleared of the
access token (:func:`daktela_async._envelope.scrub`), so a hint cannot show it either.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

__all__ = ["hint_for"]

#: Messages without a variable part, by their exact Czech text.
_EXACT: Final[Mapping[str, str]] = {
    # --- recorded in the API document -------------------------------------------------
    "Uživatel neexistuje": (
        "The user does not exist. The PBX gives the same answer to a wrong or revoked access token."
    ),
    "Tato pauza nebyla nalezena": "This pause was not found.",
    "Agent není přihlášen do odchozí kampaně/fronty": (
        "The agent is not logged in to an outbound campaign or queue."
    ),
    "Agent není přihlášen do žádné z front, tedy není možné ho dát na pauzu": (
        "The agent is not logged in to any queue, so the agent cannot be put on a pause."
    ),
    "Stav neexistuje": "The status does not exist.",
    "Zadana fronta neni typu email": "The given queue is not an email queue.",
    # --- sent by the simulator, worded in the server's style ---------------------------
    "Fronta neexistuje": "The queue does not exist.",
    "Zadana fronta neni typu Click to Call": "The given queue is not a Click to Call queue.",
    "Agent není přihlášen do Call Centra": "The agent is not logged in to the call centre.",
    "Agent nemá přístup do této fronty": "The agent has no access to this queue.",
    "Agent nemá žádný probíhající hovor": "The agent has no call in progress.",
    "Na lince nezvoní žádný hovor": "No call is ringing on the line.",
    "Agent má probíhající hovor": "The agent has a call in progress.",
    "Klapka neexistuje": "The extension does not exist.",
    "Klapka je obsazena jiným agentem": "The extension is taken by another agent.",
    "Agent nemá přiřazenou klapku": "The agent has no extension assigned.",
    "Hovor nebyl nalezen": "The call was not found.",
    "Záznam neexistuje": "The record does not exist.",
    "Aktivita neexistuje": "The activity does not exist.",
    "Uživatel s tímto přihlašovacím jménem již existuje": (
        "A user with this login name already exists."
    ),
    "Nahrávka neexistuje": "The recording does not exist.",
    "Název události musí začínat prefixem Custom_": (
        "The event name must begin with the prefix Custom_."
    ),
    "Zpráva je příliš dlouhá": "The message is too long.",
    "Žádná zpráva se nepřehrává": "No message is playing.",
    "Chybí cíl přepojení (number, dst_queue nebo dst_user)": (
        "The transfer target is missing (number, dst_queue or dst_user)."
    ),
    "Interní chyba simulátoru": "Internal error of the simulator.",
}

#: Messages with a variable part: a full-match pattern and the English, which names the
#: pattern's groups as ``str.format`` fields.
_PATTERNS: Final[tuple[tuple[re.Pattern[str], str], ...]] = tuple(
    (re.compile(pattern, re.DOTALL), english)
    for pattern, english in (
        # Recorded in the document ("... s číslem 468008585").
        (
            r"Nelze se odhlasit z fronty/kampaně, ve které probíhá hovor s číslem (?P<number>.+)",
            "The agent cannot log out of the queue or campaign: a call with number "
            "{number} is in progress in it.",
        ),
        # The simulator's wording; the parameter name is the variable part.
        (
            r"Chybí povinný parametr (?P<name>.+)",
            "The mandatory parameter '{name}' is missing.",
        ),
        (
            r"Neplatná hodnota parametru (?P<name>.+)",
            "The value of the parameter '{name}' is invalid.",
        ),
        (r"Neplatný režim odposlechu (?P<value>.+)", "'{value}' is not a monitoring mode."),
        (r"Neplatný příkaz (?P<value>.+)", "'{value}' is not a playback command."),
        (r"Neplatný směr fronty (?P<value>.+)", "'{value}' is not a queue direction."),
        (r"Neplatný typ pauzy (?P<value>.+)", "'{value}' is not a pause type."),
        (r"Neznámá akce (?P<value>.+)", "The PBX does not know the action '{value}'."),
        # The limits are numbers a server may configure: carried over, not assumed.
        (
            r"Překročen maximální počet (?P<count>[0-9]+) záznamů",
            "The maximum of {count} records was exceeded.",
        ),
        (
            r"Překročen maximální počet (?P<count>[0-9]+) zpráv",
            "The maximum of {count} messages was exceeded.",
        ),
    )
)


def hint_for(message: str) -> str | None:
    """The English explanation of the server's error *message*, or ``None`` if unknown.

    >>> hint_for("Chybí povinný parametr pause")
    "The mandatory parameter 'pause' is missing."
    >>> hint_for("Something else") is None
    True
    """
    text = message.strip()
    exact = _EXACT.get(text)
    if exact is not None:
        return exact
    for pattern, english in _PATTERNS:
        match = pattern.fullmatch(text)
        if match is not None:
            # format_map with the groups only: a "{" in the variable part is data, and
            # str.format does not interpret the replacement values themselves.
            return english.format_map(match.groupdict())
    return None
