"""Compare JSON answers by shape: keys, JSON types, id-keyed maps versus lists."""

from __future__ import annotations

import json
import re
from typing import Any, Final

#: A key that is a record id ("3", "1332333840.98"): such dicts are maps, not records.
_ID_KEY: Final = re.compile(r"^\d[\w.]*$")

#: Configuration objects whose keys vary per queue type in the document itself.
FREE_FORM: Final = frozenset({"options"})


def loads_lenient(text: str) -> Any:
    """Parse a recorded answer; the document has one with a stray closing brace."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        trimmed = text.rstrip()
        while trimmed.endswith("}"):
            trimmed = trimmed[:-1]
            try:
                return json.loads(trimmed)
            except json.JSONDecodeError:
                continue
        raise


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "map" if value and all(_ID_KEY.match(k) for k in value) else "object"
    return "null"


def _count(problems: list[str]) -> int:
    return len(problems)


def shape_diff(doc: Any, ours: Any, path: str = "$") -> list[str]:
    """Every difference of shape between the document's *doc* and our *ours*.

    ``null`` matches any scalar (the document itself mixes ``null`` and values for one
    field), and a ``null`` in the document matches anything; our ``null`` where the
    document has a collection does not. Dicts keyed by ids are compared value by value against the
    document's values; lists element by element against any of the document's
    elements; a non-empty collection in the document needs a non-empty one here.
    """
    doc_kind, our_kind = _kind(doc), _kind(ours)
    if our_kind == "null" and doc_kind in ("list", "map", "object"):
        return [f"{path}: null where the document has a {doc_kind}"]
    if "null" in (doc_kind, our_kind):
        return []
    if doc_kind == "map" and our_kind == "object" and not ours:
        return [f"{path}: empty object where the document has entries"]
    if doc_kind != our_kind:
        if {doc_kind, our_kind} == {"map", "object"} and isinstance(ours, dict) and not ours:
            return [f"{path}: empty where the document has entries"]
        return [f"{path}: {our_kind} where the document has {doc_kind}"]
    if doc_kind == "list":
        if doc and not ours:
            return [f"{path}: empty list where the document has items"]
        problems: list[str] = []
        for i, item in enumerate(ours):
            options: list[list[str]] = (
                [shape_diff(d, item, f"{path}[{i}]") for d in doc] if doc else [[]]
            )
            if all(options):
                problems.extend(sorted(options, key=_count)[0])
        return problems
    if doc_kind == "map":
        problems = []
        for key, item in ours.items():
            options = [shape_diff(d, item, f"{path}.{key}") for d in doc.values()]
            if all(options):
                problems.extend(sorted(options, key=_count)[0])
        return problems
    if doc_kind == "object":
        problems = []
        missing, extra = doc.keys() - ours.keys(), ours.keys() - doc.keys()
        if missing:
            problems.append(f"{path}: missing keys {sorted(missing)}")
        if extra:
            problems.append(f"{path}: extra keys {sorted(extra)}")
        for key in doc.keys() & ours.keys():
            if key in FREE_FORM:
                if (
                    _kind(doc[key]) != _kind(ours[key])
                    and "null"
                    not in (
                        _kind(doc[key]),
                        _kind(ours[key]),
                    )
                    and {_kind(doc[key]), _kind(ours[key])} != {"map", "object"}
                ):
                    problems.append(f"{path}.{key}: {_kind(ours[key])} vs {_kind(doc[key])}")
                continue
            problems.extend(shape_diff(doc[key], ours[key], f"{path}.{key}"))
        return problems
    return []
