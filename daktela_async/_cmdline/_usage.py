"""Usage errors that name the arguments but never repeat what was typed into them.

``argparse`` quotes the command line back in its errors: ``unrecognized arguments:
--access-token 0123abcd...``, ``invalid choice: '0123abcd...'``, ``invalid int value:
'...'``. A token passed to a misspelt flag then lands on the terminal, in CI logs and
in shell scrollback. :func:`scrub_usage_error` rewrites those messages to name the
flags only; :class:`UsageParser` is an ``ArgumentParser`` that does so for itself
and every subcommand parser it creates.

This module imports nothing but the standard library: the ``sim`` and ``webhooks``
commands use it when they run on their own too.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Final, NoReturn

__all__ = ["UsageParser", "scrub_usage_error"]

_UNRECOGNIZED: Final = "unrecognized arguments:"
#: ``invalid int value: '...'``, ``ignored explicit argument '...'`` and the like:
#: the name of the problem, then the value typed.
_VALUE_AFTER: Final = re.compile(
    r"(?:invalid \S+ value|ignored explicit argument):? ?(?P<value>['\"].*)$", re.DOTALL
)
_INVALID_CHOICE: Final = "invalid choice:"
_CHOOSE_FROM: Final = " (choose from "
_AMBIGUOUS: Final = "ambiguous option:"
_COULD_MATCH: Final = " could match "
#: A quoted value, for messages of a shape not known here (a newer Python's wording).
_QUOTED: Final = re.compile(r"'[^']*'|\"[^\"]*\"")


def _flag(arg: str) -> str:
    """The option name of a typed argument, without any value attached to it.

    ``--token=abc`` is ``--token``; ``-tabc`` (a short option with its value glued
    on) is ``-t``.
    """
    if arg.startswith("--"):
        return arg.partition("=")[0]
    return arg[:2]


def _unrecognized(rest: str) -> str:
    # argparse joins the leftovers with spaces: a value with spaces in it comes back
    # as several words, so only words that start with "-" are taken for flags.
    words = rest.split()
    typed = [w for w in words if w.startswith("-") and len(w) > 1]
    flags = list(dict.fromkeys(_flag(w) for w in typed))
    # Values: words of their own, or glued to a flag (--key=T, -tT).
    values = len(typed) < len(words) or any(_flag(w) != w for w in typed)
    if not flags:
        return "unrecognized arguments (values not shown)"
    tail = " (and values, not shown)" if values else ""
    return f"unrecognized arguments: {', '.join(flags)}{tail}"


def scrub_usage_error(message: str) -> str:
    """*message*, an ``argparse`` error, without any argument value in it.

    Flags and the choices on offer stay; whatever was typed as a value goes, so a
    token given to a misspelt flag (``--access-token T``, ``-t T``, ``--key T``) is
    never echoed.
    """
    prefix, colon, rest = message.partition(_UNRECOGNIZED)
    if colon:
        return prefix + _unrecognized(rest)
    if _INVALID_CHOICE in message:
        head, _, rest = message.partition(_INVALID_CHOICE)
        _, choose, choices = rest.rpartition(_CHOOSE_FROM)
        return f"{head}invalid choice{choose}{choices}" if choose else f"{head}invalid choice"
    if _AMBIGUOUS in message:
        head, _, rest = message.partition(_AMBIGUOUS)
        option, could, matches = rest.rpartition(_COULD_MATCH)
        if could:
            return f"{head}{_AMBIGUOUS} {_flag(option.strip())}{could}{matches}"
        return f"{head}ambiguous option"
    found = _VALUE_AFTER.search(message)
    if found is not None:
        return message[: found.start("value")].rstrip(": ")
    # Any other message: keep the words, drop whatever is quoted.
    return _QUOTED.sub("'...'", message)


class UsageParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors never repeat an argument's value.

    Subcommand parsers made with ``add_subparsers().add_parser()`` are of the same
    class, so they scrub their errors too. The error is printed the usual way (the
    usage line, then ``prog: error: ...``) and the exit status is 2.
    """

    def error(self, message: str) -> NoReturn:
        """Print the usage and the scrubbed *message* to stderr; exit with status 2."""
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {scrub_usage_error(message)}\n")
