"""Griffe extension of the documentation build: make the package's docstrings render in Markdown.

The docstrings are Google style with two reStructuredText habits that Markdown does not
know. This extension rewrites them while the API reference is built (the package itself
is untouched):

- Sphinx roles (``:class:`Timeouts```, ``:meth:`~daktela_async.realtime.Hub.subscribe```)
  become optional cross-references: a link when the target is on a reference page,
  plain code otherwise (never a broken link, so ``mkdocs build --strict`` stays green).
  Names are resolved in the scope of the documented object, as Python would.
- A paragraph ending in ``::`` followed by an indented block becomes the paragraph
  ending in ``:`` followed by a fenced Python block.

Constants and type aliases are documented with Sphinx's ``#:`` comments above the
assignment, which griffe does not read; those comments become their docstrings.

It also shows the endpoint namespaces' methods: the generated classes
(``daktela_async.endpoints.Queues`` ...) bind module functions of
``daktela_async.endpoints._methods`` as class attributes (``get_queues =
_methods.get_queues``), which static analysis sees as plain attributes. They are
replaced by aliases of the functions, without their leading ``self`` parameter.
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

import griffe

_ROLE = re.compile(
    r":(?:py:)?(?P<role>class|meth|func|data|attr|mod|exc|obj|const)"
    r":`(?P<tilde>~?)(?P<target>[^`<>]+)`"
)
_CALLABLE_ROLES = frozenset({"meth", "func"})
_NAMESPACES_MODULE = "daktela_async.endpoints"


def _absolute(obj: griffe.Object, target: str) -> str:
    """The full path of *target* as seen from *obj*'s scope (unchanged when unknown)."""
    head, _, rest = target.partition(".")
    if head == obj.package.name:
        return target
    try:
        resolved = obj.resolve(head)
    except (griffe.NameResolutionError, griffe.AliasResolutionError, KeyError):
        return target
    return f"{resolved}.{rest}" if rest else resolved


def _roles(obj: griffe.Object, text: str) -> str:
    def link(match: re.Match[str]) -> str:
        target = match["target"].strip()
        shown = target.rsplit(".", 1)[-1] if match["tilde"] else target
        if match["role"] in _CALLABLE_ROLES:
            shown += "()"
        identifier = _absolute(obj, target)
        return f'<autoref identifier="{identifier}" optional><code>{shown}</code></autoref>'

    return _ROLE.sub(link, text)


def _literal_blocks(text: str) -> str:
    """Turn reST ``::`` literal blocks into fenced Python blocks."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.rstrip().endswith("::"):
            out.append(line)
            i += 1
            continue
        indent = len(line) - len(line.lstrip())
        stripped = line.rstrip()[:-2].rstrip()
        if stripped:
            out.append(f"{stripped}:")
        j = i + 1
        while j < len(lines) and not lines[j].strip():
            j += 1
        block: list[str] = []
        while j < len(lines) and (
            not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip()) > indent
        ):
            block.append(lines[j])
            j += 1
        while block and not block[-1].strip():
            block.pop()
        if not block:
            i += 1
            continue
        pad = " " * indent
        out.append("")
        out.append(f"{pad}```python")
        code = textwrap.dedent("\n".join(block)).split("\n")
        out.extend(f"{pad}{line}" if line.strip() else "" for line in code)
        out.append(f"{pad}```")
        out.append("")
        i = j
    return "\n".join(out)


def _final(obj: griffe.Object | griffe.Alias) -> griffe.Object:
    return obj.final_target if isinstance(obj, griffe.Alias) else obj


def _comment_docstring(attr: griffe.Attribute) -> str | None:
    """The ``#:`` comment lines right above *attr*'s assignment, as one text."""
    if attr.lineno is None:
        return None
    lines = attr.module.lines
    found: list[str] = []
    index = attr.lineno - 2  # the line above, 0-based
    while index >= 0 and lines[index].lstrip().startswith("#:"):
        found.append(lines[index].lstrip()[2:].removeprefix(" "))
        index -= 1
    return "\n".join(reversed(found)) or None


def _bind_namespace_methods(pkg: griffe.Module) -> None:
    try:
        namespaces = pkg.get_member(_NAMESPACES_MODULE.removeprefix(f"{pkg.name}."))
    except (KeyError, ValueError):
        return
    for module in namespaces.modules.values():
        for cls in module.classes.values():
            for name, member in list(cls.members.items()):
                if member.is_alias or not member.is_attribute or member.value is None:
                    continue
                value = str(member.value)
                source, _, function = value.partition(".")
                if not source.startswith("_") or not function:
                    continue
                try:
                    target = _final(_final(module.get_member(source)).get_member(function))
                except (KeyError, ValueError, griffe.AliasResolutionError):
                    continue
                if not isinstance(target, griffe.Function):
                    continue
                params = target.parameters
                if len(params) and params[0].name == "self":
                    target.parameters = griffe.Parameters(*list(params)[1:])
                cls.set_member(name, griffe.Alias(name, target, parent=cls))


class DaktelaDocs(griffe.Extension):
    """Rewrite docstrings for Markdown and bind the namespaces' methods (see the module)."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """Run once the whole package is loaded, so every name can be resolved."""
        _bind_namespace_methods(pkg)
        seen: set[int] = set()
        stack: list[griffe.Object] = [pkg]
        while stack:
            obj = stack.pop()
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            if obj.docstring is None and isinstance(obj, griffe.Attribute):
                comment = _comment_docstring(obj)
                if comment is not None:
                    obj.docstring = griffe.Docstring(comment, parent=obj)
            if obj.docstring is not None:
                obj.docstring.value = _roles(obj, _literal_blocks(obj.docstring.value))
            stack.extend(m for m in obj.members.values() if isinstance(m, griffe.Object))
