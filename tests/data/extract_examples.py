"""Extract every example of the Daktela legacy API document into ``doc_examples.json``.

Usage::

    python tests/data/extract_examples.py ../shared/daktela-api-v3-v4.txt [OUTPUT]

The document is a plain-text dump: section headings on their own line, then entries of
the form ``Requirement version: X`` / ``Action:`` / ``- Name`` / description / parameter
lists / ``Example:`` followed by one or more ``Description:`` / ``Input:`` / ``Output:``
triples. The first section (``Webhooks``) describes dialplan hooks, not API actions, and
is skipped. Every example is written out with its text exactly as in the document; the
output is written next to this script unless OUTPUT is given.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import TypedDict

_HEADING = re.compile(r"^[A-Z][A-Za-z]*$")
_VERSION = "Requirement version: "
_SKIPPED_SECTIONS = frozenset({"Webhooks"})


class Example(TypedDict):
    """One Description/Input/Output triple of one entry of the document."""

    section: str
    action: str
    entry_version: str
    description: str
    input: str
    output: str
    output_json_ok: bool


def _is_heading(lines: list[str], i: int) -> bool:
    """Whether line *i* is a section heading: one bare word before an entry."""
    if not _HEADING.match(lines[i]) or i + 1 >= len(lines):
        return False
    following = lines[i + 1]
    return following.startswith(_VERSION) or following == "Description:"


def _json_ok(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def extract(text: str) -> list[Example]:
    """Return every example of every API entry of the document *text*, in order."""
    lines = text.splitlines()
    examples: list[Example] = []
    section = ""
    action = ""
    version = ""
    in_example = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if _is_heading(lines, i):
            section = line
            action = version = ""
            in_example = False
            i += 1
            continue
        if section in _SKIPPED_SECTIONS or not section:
            i += 1
            continue
        if line.startswith(_VERSION):
            version = line[len(_VERSION) :].strip()
            if lines[i + 1] != "Action:" or not lines[i + 2].startswith("- "):
                raise ValueError(f"line {i + 1}: malformed entry header")
            action = lines[i + 2][2:].strip()
            in_example = False
            i += 3
            continue
        if line == "Example:":
            in_example = True
            i += 1
            continue
        if in_example and line == "Description:":
            i += 1
            description: list[str] = []
            while i < len(lines) and lines[i] != "Input:":
                description.append(lines[i])
                i += 1
            if i + 2 >= len(lines) or lines[i + 2] != "Output:":
                raise ValueError(f"line {i + 1}: Input: not followed by one line and Output:")
            url = lines[i + 1]
            output = lines[i + 3] if i + 3 < len(lines) else ""
            after = i + 4
            if after < len(lines) and not (
                lines[after] in ("Description:", "Example:")
                or lines[after].startswith(_VERSION)
                or _is_heading(lines, after)
            ):
                raise ValueError(f"line {after + 1}: output of more than one line")
            examples.append(
                Example(
                    section=section,
                    action=action,
                    entry_version=version,
                    description="\n".join(description),
                    input=url,
                    output=output,
                    output_json_ok=_json_ok(output),
                )
            )
            i += 4
            continue
        i += 1
    return examples


def main(argv: list[str]) -> int:
    """Read the document named in *argv* and write the examples as JSON."""
    if len(argv) not in (2, 3):
        print(f"usage: {argv[0]} DOCUMENT [OUTPUT]", file=sys.stderr)
        return 2
    source = Path(argv[1])
    target = Path(argv[2]) if len(argv) == 3 else Path(__file__).with_name("doc_examples.json")
    examples = extract(source.read_text(encoding="utf-8"))
    target.write_text(json.dumps(examples, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{len(examples)} examples written to {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
