"""The documentation's code runs and its generated facts match the code, so the docs cannot rot.

Every fenced ``python`` block of ``docs/**/*.md`` and ``README.md`` is collected; the
marker comment before a block says whether it runs as a script, as a pytest module, or
not at all (``tests/docs/support.py`` lists the markers). ``test_docs_typecheck.py``
type-checks them.

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
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

import daktela_async
from daktela_async import _errors
from daktela_async._actions import ACTIONS
from tests.docs.support import DOCS, MARKERS, ROOT, Block, blocks_of, python_blocks

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


def test_fragments_are_rare() -> None:
    fragments = [b.id for b in BLOCKS if b.marker == "no-check"]
    assert len(fragments) <= 3, f"make these complete examples: {fragments}"


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


def test_ci_runs_the_readmes_test_command() -> None:
    [quickstart] = [b for b in blocks_of(ROOT / "README.md") if b.language == "bash"][:1]
    commands = [ln for ln in quickstart.code.splitlines() if ln and not ln.startswith("#")]
    assert len(commands) == 2, "the Quickstart is two commands: the demo, then the tests"
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert script[-1] == commands[1]
    # Debian's and Ubuntu's python3 refuse `pip install` outside a virtual environment.
    for command in commands:
        assert command.startswith("python3 -m venv .venv && .venv/bin/pip install ")
        assert "python3 -m pip" not in command


@pytest.mark.usefixtures("isolated_logging")
def test_readme_first_call_prints_what_the_readme_shows(capsys: pytest.CaptureFixture[str]) -> None:
    blocks = blocks_of(ROOT / "README.md")
    [first_call] = [b for b in blocks if b.language == "python"][:1]
    shown = blocks[blocks.index(first_call) + 1]
    assert shown.language == "text"
    exec(first_call.compiled(), {"__name__": "__main__"})  # noqa: S102 - the README's own example
    assert capsys.readouterr().out == shown.code


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
