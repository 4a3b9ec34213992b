"""The default catalogue a new :class:`~.SimState` is populated with, and call prices."""

from __future__ import annotations

from typing import Final

#: The first users, named as in the document's examples: (login, title, extension).
NAMED_AGENTS: Final = (
    ("hajek", "Hajek 1", "1001"),
    ("hajekhu", "Hajek Hugo", "1002"),
    ("demouser", "Demo User", "6666"),
    ("michalhajek", "Michal Hájek", "1004"),
    ("novak", "Pepa Novák", "1005"),
    ("pavelmoravec", "Pavel Moravec", "1006"),
    ("daktelatester", "Daktela Tester", "1007"),
    ("klatil", "Zvonimír Klátil", "100"),
)

#: Inbound queue titles, in order (queue ``i`` is number ``2000 + i``).
INBOUND_TITLES: Final = ("Support", "Obchod", "Technicka podpora", "Reklamace", "VIP")

#: (id, code, title, type, paid): the document's pause catalogue (7 = Obed exists,
#: 100 does not).
PAUSES: Final = (
    ("1", "1", "Porada", "", "1"),
    ("2", "20", "Wrap", "wrap", "1"),
    ("3", "666", "Lajdak", "lajdak", "0"),
    ("4", "13", "Backoffice", None, "1"),
    ("5", "12", "Email", "", "1"),
    ("6", "11", "Prestavka", None, "0"),
    ("7", "10", "Obed", "", "0"),
    ("8", "667", "Skoleni", "", "1"),
    ("9", "668", "Obed22", "", "0"),
)

#: The document's status catalogue (``GetStatuses``): (id, code, description).
STATUSES: Final = (
    ("4", "nechce_nabidku", "Nechce slyset nabidku"),
    ("5", "nebere", "Nebere"),
    ("7", "nevolat", "Nema zajem s nami hovorit"),
    ("8", "nezajem", "Nema zajem"),
    ("9", "objednavka", "Objednavka"),
    ("12", "nema_cas", "Volat pozdeji - nema cas"),
    ("14", "rozmysli_se", "Volat pozdeji - rozmysli se"),
    ("15", "neopravnena_osoba", "Volat pozdeji - neopravnena osoba"),
    ("16", "prevolavka", "Prevolavka"),
    ("17", "zavolat_pozdeji_rozmysli", "Zavolat pozdeji - rozmysli se"),
)

#: The autodialer's number-check results (``GetStatuses`` 4.0, ``CheckNumber``).
CHECK_STATUSES: Final = (
    ("1", "Volany ucastnik je docasne nedostupny", "2"),
    ("2", "Schranka", "2"),
    ("3", "Nedostupny", "2"),
)

#: The call-script form every form-enabled queue uses: (id, type, name, title, options).
FORM_FIELDS: Final = (
    ("1", "text", "field_jmeno", "Jméno", None),
    ("2", "text", "field_prijmeni", "Příjmení", None),
    ("3", "text", "field_poznamka", "Poznámka", None),
    ("4", "text", "field_adresa", "Adresa", None),
    ("5", "text", "field_psc", "PSČ", None),
    ("6", "text", "field_email", "Email", None),
    ("7", "selectbox", "field_vyber", "Vyber", ["ANO", "NE"]),
)

_FIRST_NAMES: Final = ("Jan", "Petr", "Eva", "Jana", "Tomas", "Lucie", "Martin", "Anna", "Karel")
_LAST_NAMES: Final = ("Novak", "Svoboda", "Dvorak", "Cerna", "Prochazka", "Kucera", "Vesela")

#: Price per minute by destination: (prefixes, type, description, price).
_DESTINATIONS: Final = (
    (("6", "7"), "Mobilni_Hovory", "Ceska republika - mobil", "4.5000"),
    (("8",), "Specialni_Cisla", "Bila linka ", "1.9150"),
    (("",), "Pevna_Linka", "Ceska republika", "0.9000"),
)


def destination_of(number: str) -> tuple[str, str, str]:
    """(type, description, price per minute) of a dialled number."""
    digits = number.lstrip("+0").removeprefix("420") if number.startswith(("+", "00")) else number
    for prefixes, kind, description, price in _DESTINATIONS:
        if digits.startswith(prefixes):
            return kind, description, price
    return _DESTINATIONS[-1][1], _DESTINATIONS[-1][2], _DESTINATIONS[-1][3]
