"""Every Python example of the docs and the README passes ``mypy --strict``.

A reader who copies an example into a project checked by ``mypy --strict`` must not meet
an error. Each block is written to a module of its own (named after its page and line)
and one mypy run, in a child process, checks them all with the project's configuration
(``[tool.mypy]`` of ``pyproject.toml``: its plugins and overrides), ``--strict`` on top.
Errors are reported at the page's own lines. Blocks marked ``<!-- no-check -->`` are
fragments and are left out; ``<!-- requires: MODULE -->`` blocks are left out when
MODULE is not installed (their imports would be untyped).
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from typing import Final

import attrs
import pytest

from tests.docs.support import ROOT, UNCHECKED, Block, python_blocks

BLOCKS: Final = python_blocks()

_LOCATION = re.compile(r"^(?P<path>[^:\n]+\.py):(?P<line>\d+):(?P<rest>.*)$")


@attrs.frozen
class Report:
    """What the one mypy run said: its exit status and, per block, its lines."""

    status: int
    by_block: dict[str, list[str]]
    other: list[str]


def checked(block: Block) -> bool:
    """Whether *block* takes part in the mypy run."""
    if block.marker in UNCHECKED:
        return False
    return block.argument is None or importlib.util.find_spec(block.argument) is not None


def run_mypy(blocks: list[Block], where: Path) -> Report:
    """Type-check *blocks* in one mypy run; errors are mapped back to the pages' lines."""
    files: dict[str, Block] = {}
    for block in blocks:
        path = where / f"{block.module}.py"
        path.write_text(block.code, encoding="utf-8")
        files[str(path)] = block
    # A child process: a mypy run in this one would keep its ~300 MB for the rest of the tests.
    done = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--strict",
            # A fresh check every time; nothing is written into the checkout.
            "--cache-dir",
            "/dev/null",
            "--no-error-summary",
            "--show-error-codes",
            *files,
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    stdout, stderr, status = done.stdout, done.stderr, done.returncode
    by_block: dict[str, list[str]] = {block.id: [] for block in blocks}
    other: list[str] = [line for line in stderr.splitlines() if line.strip()]
    for line in stdout.splitlines():
        match = _LOCATION.match(line)
        owner = files.get(match["path"]) if match else None
        if match is None or owner is None:
            other.append(line)
            continue
        page_line = owner.line + int(match["line"])
        by_block[owner.id].append(f"{owner.path.relative_to(ROOT)}:{page_line}:{match['rest']}")
    return Report(status, by_block, other)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    return run_mypy([b for b in BLOCKS if checked(b)], tmp_path_factory.mktemp("examples"))


def test_mypy_ran_cleanly(report: Report) -> None:
    # 0: no errors; 1: errors, reported per block below; 2: mypy itself failed.
    assert report.status in (0, 1), "\n".join(report.other)
    assert not [line for line in report.other if ": error:" in line], "\n".join(report.other)


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_example_passes_mypy_strict(block: Block, report: Report) -> None:
    if block.marker in UNCHECKED:
        pytest.skip("a fragment of an earlier example (<!-- no-check -->)")
    if not checked(block):
        pytest.skip(f"needs {block.argument}")
    errors = [line for line in report.by_block[block.id] if ": error:" in line]
    assert not errors, "mypy --strict:\n" + "\n".join(report.by_block[block.id])


def test_errors_point_at_the_pages_lines(tmp_path: Path) -> None:
    # Fence on line 3 of docs/page.md, the bad line two below it.
    code = "x: int = 1\ny: str = x\n"
    block = Block(ROOT / "docs" / "page.md", 3, "python", code, marker=None, argument=None)
    found = run_mypy([block], tmp_path)
    assert found.status == 1
    [error] = found.by_block[block.id]
    assert error.startswith("docs/page.md:5: error: Incompatible types in assignment")
    assert error.endswith("[assignment]")
