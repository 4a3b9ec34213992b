"""The PBX's refusals: :class:`SimError` and the server's (Czech) error texts."""

from __future__ import annotations

from typing import Final

# Recorded in the document (exact server text):
ERR_USER_UNKNOWN: Final = "Uživatel neexistuje"
ERR_PAUSE_UNKNOWN: Final = "Tato pauza nebyla nalezena"
ERR_LOGOUT_CALLING: Final = "Nelze se odhlasit z fronty/kampaně, ve které probíhá hovor s číslem {}"
ERR_NOT_IN_OUT_QUEUE: Final = "Agent není přihlášen do odchozí kampaně/fronty"
ERR_NOT_IN_ANY_QUEUE: Final = (
    "Agent není přihlášen do žádné z front, tedy není možné ho dát na pauzu"
)
ERR_STATUS_UNKNOWN: Final = "Stav neexistuje"
ERR_NOT_EMAIL_QUEUE: Final = "Zadana fronta neni typu email"
# Not recorded in the document; worded in the server's style:
ERR_QUEUE_UNKNOWN: Final = "Fronta neexistuje"
ERR_NOT_CTC_QUEUE: Final = "Zadana fronta neni typu Click to Call"
ERR_NOT_LOGGED: Final = "Agent není přihlášen do Call Centra"
ERR_NOT_MEMBER: Final = "Agent nemá přístup do této fronty"
ERR_NO_CALL: Final = "Agent nemá žádný probíhající hovor"
ERR_NO_RINGING: Final = "Na lince nezvoní žádný hovor"
ERR_BUSY: Final = "Agent má probíhající hovor"
ERR_EXTENSION_UNKNOWN: Final = "Klapka neexistuje"
ERR_EXTENSION_TAKEN: Final = "Klapka je obsazena jiným agentem"
ERR_NO_EXTENSION: Final = "Agent nemá přiřazenou klapku"
ERR_CALL_UNKNOWN: Final = "Hovor nebyl nalezen"
ERR_RECORD_UNKNOWN: Final = "Záznam neexistuje"
ERR_ACTIVITY_UNKNOWN: Final = "Aktivita neexistuje"
ERR_USER_EXISTS: Final = "Uživatel s tímto přihlašovacím jménem již existuje"
ERR_RECORDING_UNKNOWN: Final = "Nahrávka neexistuje"
ERR_LIMIT: Final = "Překročen maximální počet 1000 záznamů"
ERR_EVENT_PREFIX: Final = "Název události musí začínat prefixem Custom_"
ERR_MESSAGE_TOO_LONG: Final = "Zpráva je příliš dlouhá"
ERR_TOO_MANY_SMS: Final = "Překročen maximální počet 20000 zpráv"
ERR_NO_PLAYBACK: Final = "Žádná zpráva se nepřehrává"

#: The most rows a statistics listing returns (the document: "The maximum limit of
#: returned calls is 1000, after exceeding returns an error").
MAX_TAKE: Final = 1000


class SimError(Exception):
    """A request the PBX refuses; ``str(exc)`` is the server's error text."""
