"""The documentation's code runs and its generated facts match the code, so the docs cannot rot.

Every fenced ``python`` block of ``docs/**/*.md`` and ``README.md`` is collected. An HTML
comment on the line right before the fence says how a block is treated:

- no marker: run as a script (``__name__ == "__main__"``) in a fresh namespace. Examples
  are complete programs: they start their own ``Simulator`` and call ``anyio.run`` (or
  ``trio.run``) themselves, so a reader can copy them as they are;
- ``<!-- pytest -->``: a test module; it is written to a file and run by pytest in a child
  process (with the anyio plugin, as a reader's project would);
- ``<!-- requires: MODULE -->``: run as a script, skipped when MODULE is not installed;
- ``<!-- no-run -->``: compiled but not run. Only for code that needs a real PBX.

The other tests check what the pages state about the code: the error tree is the one
drawn in ``daktela_async/_errors.py``, the list of actions that are never retried is the
catalogue's, every public name has a reference page, and the navigation lists every page.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import CodeType
from typing import Final

import attrs
import pytest

import daktela_async
from daktela_async import _errors
from daktela_async._actions import ACTIONS

ROOT: Final = Path(__file__).resolve().parents[2]
DOCS: Final = ROOT / "docs"
MARKERS: Final = ("no-run", "pytest", "requires")

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
        return f"{self.path.relative_to(ROOT)}:{self.line}"

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
    return [b for page in pages() for b in blocks_of(page) if b.language in ("python", "py")]


BLOCKS: Final = python_blocks()


def test_there_are_examples() -> None:
    assert len([b for b in BLOCKS if b.marker is None]) >= 10


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_markers_are_known(block: Block) -> None:
    assert block.marker in (None, *MARKERS), f"unknown marker <!-- {block.marker} -->"
    assert (block.marker == "requires") == (block.argument is not None)


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_example_compiles(block: Block) -> None:
    block.compiled()


RUNNABLE: Final = [b for b in BLOCKS if b.marker in (None, "requires")]


@pytest.fixture
def isolated_logging() -> Iterator[None]:
    """Undo what an example does to the root logger (``logging.basicConfig``)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.parametrize("block", RUNNABLE, ids=[b.id for b in RUNNABLE])
@pytest.mark.usefixtures("isolated_logging")
def test_example_runs(block: Block) -> None:
    if block.argument is not None and importlib.util.find_spec(block.argument) is None:
        pytest.skip(f"needs {block.argument}")
    exec(block.compiled(), {"__name__": "__main__"})  # noqa: S102 - running the docs' own examples is the point


TEST_MODULES: Final = [b for b in BLOCKS if b.marker == "pytest"]


@pytest.mark.parametrize("block", TEST_MODULES, ids=[b.id for b in TEST_MODULES])
def test_example_test_module_passes(block: Block, tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (tmp_path / "test_example.py").write_text(block.code, encoding="utf-8")
    result = subprocess.run(
        # Only the anyio plugin runs async tests, as in a project that does not use
        # pytest-asyncio (which is installed here for the package's own tests).
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:asyncio"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout


# --- facts the pages state --------------------------------------------------------------


def _between(path: Path, name: str) -> str:
    text = path.read_text(encoding="utf-8")
    match = re.search(rf"<!-- {name}:start -->\n(.*?)<!-- {name}:end -->", text, re.DOTALL)
    assert match is not None, f"{path.name} has no {name}:start/end section"
    return match[1]


def test_error_tree_is_the_one_in_the_errors_module() -> None:
    drawn = _between(DOCS / "concepts" / "errors.md", "error-tree")
    assert _errors.__doc__ is not None
    tree = re.search(r"```\n(DaktelaError\n.*?)```", _errors.__doc__, re.DOTALL)
    assert tree is not None
    assert tree[1] in drawn


def test_never_retried_actions_are_the_catalogues_writes() -> None:
    listed = re.findall(r"`(\w+)`", _between(DOCS / "concepts" / "retries.md", "writes"))
    writes = [name for name, spec in ACTIONS.items() if not spec.idempotent]
    assert sorted(listed) == sorted(writes)
    assert len(listed) == len(set(listed))


def _documented_names() -> set[str]:
    """Names covered by the ``::: path`` directives of the reference pages."""
    names: set[str] = set()
    for page in sorted((DOCS / "reference").glob("*.md")):
        text = page.read_text(encoding="utf-8")
        for match in re.finditer(r"^::: ([\w.]+)\n((?:[ ]{4}.*\n)*)", text, re.MULTILINE):
            path, options = match[1], match[2]
            members = re.findall(r"^\s+- (\w+)$", options, re.MULTILINE)
            try:
                module = importlib.import_module(path)
            except ImportError:
                names.add(path.rsplit(".", 1)[-1])
                continue
            exported: list[str] = getattr(module, "__all__", [])
            names.update(members or exported)
    return names


def test_every_public_name_has_a_reference_entry() -> None:
    missing = set(daktela_async.__all__) - {"__version__"} - _documented_names()
    assert not missing, f"add these to docs/reference/: {sorted(missing)}"


def test_navigation_lists_every_page() -> None:
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    nav = config[config.index("\nnav:") :]
    listed = set(re.findall(r":\s+([\w/.-]+\.md)\s*$", nav, re.MULTILINE))
    on_disk = {
        str(p.relative_to(DOCS))
        for p in DOCS.rglob("*.md")
        if "_ext" not in p.relative_to(DOCS).parts
    }
    assert listed <= on_disk, f"in the navigation but missing: {sorted(listed - on_disk)}"
    assert on_disk <= listed, f"pages missing from the navigation: {sorted(on_disk - listed)}"
