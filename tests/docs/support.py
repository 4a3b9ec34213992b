"""The fenced code blocks of the documentation pages and the README, and their markers.

Every fenced ``python`` block of ``docs/**/*.md`` and ``README.md`` is an example. An HTML
comment on the line right before the fence says how a block is treated:

- no marker: run as a script (``__name__ == "__main__"``) in a fresh namespace, and
  type-checked. Examples are complete programs: they start their own ``Simulator`` and
  call ``anyio.run`` (or ``trio.run``) themselves, so a reader can copy them as they are;
- ``<!-- pytest -->``: a test module; it is written to a file and run by pytest in a child
  process (with the anyio plugin, as a reader's project would), and type-checked;
- ``<!-- requires: MODULE -->``: run and type-checked, skipped when MODULE is not installed;
- ``<!-- no-run -->``: compiled and type-checked but not run. Only for code that needs a
  real PBX;
- ``<!-- no-check -->``: compiled only. Only for a fragment that goes on from an earlier
  block (it uses that block's names), so it can neither run nor be type-checked alone.
  Keep these rare: a complete example is what a reader can copy.

Type-checked means ``mypy --strict`` with the project's configuration
(``tests/docs/test_docs_typecheck.py``).
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from types import CodeType
from typing import Final

import attrs

ROOT: Final = Path(__file__).resolve().parents[2]
DOCS: Final = ROOT / "docs"
MARKERS: Final = ("no-run", "no-check", "pytest", "requires")
#: Markers of blocks that are not type-checked.
UNCHECKED: Final = ("no-check",)
#: Markers of blocks that are not run as scripts.
NOT_RUN: Final = ("no-run", "no-check", "pytest")

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)$")
_MARKER = re.compile(r"^\s*<!--\s*(?P<name>[\w-]+)(?::\s*(?P<arg>[\w.]+))?\s*-->\s*$")


@attrs.frozen
class Block:
    """One fenced code block of a page."""

    path: Path
    line: int
    language: str
    code: str
    marker: str | None
    argument: str | None

    @property
    def id(self) -> str:
        """``page:line`` of the opening fence, relative to the checkout."""
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    @property
    def module(self) -> str:
        """A module name unique to this block (``docs_guides_trio_md_L8``)."""
        page = re.sub(r"\W", "_", str(self.path.relative_to(ROOT)))
        return f"{page}_L{self.line}"

    def compiled(self) -> CodeType:
        """The code, compiled so that tracebacks point at the page's own lines."""
        return compile("\n" * self.line + self.code, str(self.path), "exec")


def pages() -> list[Path]:
    """Every page whose Python blocks are examples: the docs and the README."""
    found = sorted(p for p in DOCS.rglob("*.md") if "_ext" not in p.relative_to(DOCS).parts)
    return [ROOT / "README.md", *found]


def blocks_of(path: Path) -> list[Block]:
    """The fenced blocks of *path*, with the marker comment right before each."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if match is None:
            i += 1
            continue
        indent, fence = match["indent"], match["fence"]
        language = match["info"].split()[0].lower() if match["info"].strip() else ""
        marker = _MARKER.match(lines[i - 1]) if i > 0 else None
        body: list[str] = []
        j = i + 1
        closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        while j < len(lines) and not closing.match(lines[j]):
            line = lines[j]
            body.append(line[len(indent) :] if line.startswith(indent) else line.lstrip())
            j += 1
        found.append(
            Block(
                path=path,
                line=i + 1,
                language=language,
                code=textwrap.dedent("\n".join(body)) + "\n",
                marker=marker["name"] if marker else None,
                argument=marker["arg"] if marker else None,
            )
        )
        i = j + 1
    return found


def python_blocks() -> list[Block]:
    """Every fenced ``python`` block of every page, in page order."""
    return [b for page in pages() for b in blocks_of(page) if b.language in ("python", "py")]
