"""The import direction drawn in ``docs/architecture.md``: a lower layer never imports a higher one.

Every module under ``daktela_async/`` is parsed with :mod:`ast` (nothing is imported), mapped
to its layer by :data:`LAYERS`, and each of its imports of the package is checked against
:data:`SITS_ON`: a layer may import its own modules and, through the arrows, every layer
below it. Three kinds of import are told apart:

- at module level: always checked;
- inside a function (deferred, run on first call): checked too; the few that go upward
  on purpose are listed one by one in :data:`DEFERRED_UPWARD`, each with its reason;
- under ``if TYPE_CHECKING:``: never run, so they add no dependency (a component that is
  handed a ``DaktelaClient`` names it in its annotations); they may still not import the
  programs (``cli``, ``sim``).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Final, Literal

import attrs
import pytest

ROOT: Final = Path(__file__).resolve().parents[1]
PACKAGE: Final = "daktela_async"

#: Module (or package, for every module under it) -> layer; the longest match wins.
LAYERS: Final[dict[str, str]] = {
    "daktela_async._errors": "base",
    "daktela_async._hints": "base",
    "daktela_async._config": "base",
    "daktela_async._envelope": "envelope",
    "daktela_async._spec": "catalogue",
    "daktela_async._actions": "catalogue",
    "daktela_async._transport": "transport",
    "daktela_async._models": "models",
    "daktela_async._client": "client",
    "daktela_async._env": "client",
    "daktela_async._prepare": "client",
    "daktela_async._retry": "client",
    "daktela_async.endpoints": "client",
    "daktela_async._event": "hub",
    "daktela_async._hub": "hub",
    "daktela_async.realtime": "realtime",
    "daktela_async.webhooks": "webhooks",
    "daktela_async.redis": "redis",
    "daktela_async._metrics": "metrics",
    "daktela_async.metrics": "metrics",
    # The command-line plumbing the three programs share (daktela-async, the simulator's
    # and the webhooks' servers): standard library and anyio only.
    "daktela_async._cmdline": "cmdline",
    "daktela_async.sim": "sim",
    "daktela_async.models": "facade",
    "daktela_async.transports": "facade",
    "daktela_async.cli": "cli",
    "daktela_async.__main__": "cli",
}
#: The package itself (``daktela_async/__init__.py``) re-exports the public surface.
ROOT_LAYER: Final = "facade"

#: The arrows of the diagram: each layer and the layers right below it.
SITS_ON: Final[dict[str, frozenset[str]]] = {
    "base": frozenset(),
    "envelope": frozenset({"base"}),
    "catalogue": frozenset({"base"}),
    "transport": frozenset({"envelope", "catalogue"}),
    "models": frozenset({"envelope"}),
    "client": frozenset({"transport", "models"}),
    "hub": frozenset({"models"}),
    "realtime": frozenset({"hub", "transport"}),
    "webhooks": frozenset({"hub", "cmdline"}),
    "redis": frozenset({"realtime", "webhooks"}),
    "metrics": frozenset({"realtime"}),
    "cmdline": frozenset(),
    "sim": frozenset({"transport", "models", "cmdline"}),
    "facade": frozenset({"client", "realtime", "metrics"}),
    "cli": frozenset({"facade", "redis", "sim"}),
}

#: Layers nothing else imports, not even for annotations: they are programs.
PROGRAMS: Final = frozenset({"cli", "sim"})

#: Deferred imports that go upward on purpose: (importing module, imported module) -> why.
DEFERRED_UPWARD: Final[dict[tuple[str, str], str]] = {
    # DaktelaClient.watch() builds a Watcher; the engine is built on the client core, so
    # the core reaches the engine only when asked to.
    ("daktela_async._client", "daktela_async.realtime"): "DaktelaClient.watch",
    # Event.from_dict() of a webhook kind ("incoming_call") decodes without the caller
    # having imported the webhooks: their events are loaded on demand, when installed.
    ("daktela_async._event", "daktela_async.webhooks._events"): "the kinds of the webhooks",
}

Where = Literal["module", "deferred", "typing"]


@attrs.frozen
class Import:
    """One import of a module of the package by another."""

    importer: str
    imported: str
    line: int
    where: Where


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_modules(root: Path = ROOT) -> dict[str, Path]:
    return {module_name(p, root): p for p in sorted((root / PACKAGE).rglob("*.py"))}


def layer_of(module: str) -> str | None:
    if module == PACKAGE:
        return ROOT_LAYER
    matches = [p for p in LAYERS if module == p or module.startswith(p + ".")]
    return LAYERS[max(matches, key=len)] if matches else None


def below(layer: str) -> frozenset[str]:
    """Every layer *layer* may import: those under its arrows, and theirs."""
    found: set[str] = set()
    pending = list(SITS_ON[layer])
    while pending:
        lower = pending.pop()
        if lower not in found:
            found.add(lower)
            pending.extend(SITS_ON[lower])
    return frozenset(found)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(module: str, source: str, modules: dict[str, Path]) -> Iterator[Import]:
    """Every import of the package in *source* (the text of *module*), resolved.

    ``from . import x`` names the module ``x`` when there is one, else the package.
    """
    path = modules.get(module)
    is_package = path is not None and path.name == "__init__.py"
    package = module.split(".") if is_package else module.split(".")[:-1]

    def visit(node: ast.AST, where: Where) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                yield from visit(child, "typing" if where == "typing" else "deferred")
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                for sub in child.body:
                    yield from visit_one(sub, "typing")
                for sub in child.orelse:
                    yield from visit_one(sub, where)
            else:
                yield from visit_one(child, where)

    def visit_one(node: ast.AST, where: Where) -> Iterator[Import]:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, node.lineno, where)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                yield Import(module, sub if sub in modules else target, node.lineno, where)
        else:
            yield from visit(node, where)

    for found in visit(ast.parse(source), "module"):
        if found.imported == PACKAGE or found.imported.startswith(PACKAGE + "."):
            yield found


def package_graph(root: Path = ROOT) -> list[Import]:
    modules = package_modules(root)
    return [
        found
        for name, path in modules.items()
        for found in imports_of(name, path.read_text(encoding="utf-8"), modules)
    ]


def violations(graph: list[Import]) -> list[str]:
    """What breaks the direction, one line each (empty when none does)."""
    found = []
    for imp in graph:
        mine, theirs = layer_of(imp.importer), layer_of(imp.imported)
        if mine is None or theirs is None:
            continue  # reported by test_every_module_has_a_layer
        where = f"{imp.importer}:{imp.line} ({mine}) imports {imp.imported} ({theirs})"
        upward_on_purpose = (imp.importer, imp.imported) in DEFERRED_UPWARD
        if theirs == mine:
            continue
        if theirs in PROGRAMS and mine != "cli":
            found.append(f"{where}: nothing but cli imports a program")
        elif not (
            theirs in below(mine)
            or imp.where == "typing"
            or (imp.where == "deferred" and upward_on_purpose)
        ):
            found.append(f"{where}{' in a function' if imp.where == 'deferred' else ''}")
    return found


# --- the package ----------------------------------------------------------------------------


def test_every_module_has_a_layer() -> None:
    # A new top-level module or package is placed in LAYERS (and on the page) first.
    assert [name for name in package_modules() if layer_of(name) is None] == []


def test_no_lower_layer_imports_a_higher_one() -> None:
    assert violations(package_graph()) == []


def test_every_deferred_upward_import_is_still_there() -> None:
    # An entry whose import went away is removed, so the list stays the truth.
    deferred = {(i.importer, i.imported) for i in package_graph() if i.where == "deferred"}
    assert set(DEFERRED_UPWARD) <= deferred


def test_the_layers_form_no_cycle() -> None:
    for layer in SITS_ON:
        assert layer not in below(layer), layer
    assert set(LAYERS.values()) | {ROOT_LAYER} == set(SITS_ON)


def test_inside_the_package_imports_are_relative() -> None:
    absolute = []
    for name, path in package_modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                targets = [node.module or ""]
            else:
                continue
            if any(t == PACKAGE or t.startswith(PACKAGE + ".") for t in targets):
                absolute.append(f"{name}:{node.lineno}")
    assert absolute == []


def test_the_architecture_page_draws_the_same_arrows() -> None:
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    [diagram] = re.findall(r"```mermaid\n(.*?)```", page, re.DOTALL)
    arrows = set(re.findall(r"^\s*(\w+)\s*-->\s*(\w+)\s*$", diagram, re.MULTILINE))
    assert arrows == {(upper, lower) for upper, lowers in SITS_ON.items() for lower in lowers}


# --- the checker itself ---------------------------------------------------------------------


def _graph_of(module: str, source: str) -> list[Import]:
    return list(imports_of(module, source, package_modules()))


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("daktela_async.realtime._core", "from ..redis import RedisSink\n"),
        (
            "daktela_async.realtime._core",
            "def f() -> None:\n    from ..webhooks import WebhookApp\n",
        ),
        ("daktela_async._models._calls", "from .._client import DaktelaClient\n"),
        ("daktela_async._transport._pool", "from .._models import structure\n"),
        ("daktela_async.sim._app", "from daktela_async.redis import RedisSink\n"),
        ("daktela_async.sim._app", "from ..cli import main\n"),
        ("daktela_async.webhooks._app", "from ..realtime import Watcher\n"),
        ("daktela_async.redis._sink", "if TYPE_CHECKING:\n    from ..cli import main\n"),
        ("daktela_async._hub", "import daktela_async.realtime._watcher\n"),
    ],
)
def test_a_forbidden_import_is_reported(module: str, source: str) -> None:
    assert len(violations(_graph_of(module, source))) == 1


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("daktela_async.redis._sink", "from ..realtime._events import Event\n"),
        ("daktela_async.realtime._core", "if TYPE_CHECKING:\n    from .._client import X\n"),
        ("daktela_async.cli._watch", "def f() -> None:\n    from ..redis import RedisSink\n"),
        ("daktela_async._client", "def watch() -> None:\n    from .realtime import Watcher\n"),
        ("daktela_async.sim._cli", "from .._cmdline._usage import UsageParser\n"),
    ],
)
def test_an_allowed_import_passes(module: str, source: str) -> None:
    assert violations(_graph_of(module, source)) == []
