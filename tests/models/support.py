"""Shared helpers of the model tests: the document's examples and two oracles.

The oracles are written from the API document's rules, not from the converter's
code, so that a converter bug cannot hide behind itself:

- :func:`assert_kept` checks that an unstructured model still holds every key and
  every value of the server's JSON, up to the documented conversions;
- :func:`assert_conforms` checks that every value of a model has its annotated type
  (ints are ints, not numeric strings; datetimes are naive datetimes...).
"""

from __future__ import annotations

import datetime as dt
import json
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypedDict, TypeVar, Union

import attrs

from daktela_async._models import QueueOptions

EXAMPLES_FILE = Path(__file__).resolve().parent.parent / "data" / "doc_examples.json"
ZERO_DATETIME = "0000-00-00 00:00:00"
FLAGS: dict[object, bool] = {"1": True, "0": False, "true": True, "false": False}


class Example(TypedDict):
    """One Description/Input/Output triple of the API document."""

    section: str
    action: str
    entry_version: str
    description: str
    input: str
    output: str
    output_json_ok: bool


def load_examples() -> list[Example]:
    """Return every example of the document, as extracted into ``doc_examples.json``."""
    examples: list[Example] = json.loads(EXAMPLES_FILE.read_text(encoding="utf-8"))
    return examples


def decode_output(example: Example) -> dict[str, Any] | None:
    """Return the example's decoded envelope, or ``None`` when it is not JSON.

    One example (``CreateCall`` 3.1) has a stray closing brace after the envelope;
    the envelope before it is used.
    """
    try:
        envelope, _ = json.JSONDecoder().raw_decode(example["output"])
    except ValueError:
        return None
    assert isinstance(envelope, dict)
    return envelope


def successful_results() -> list[tuple[str, str, Any]]:
    """Return ``(id, action, result)`` for every successful example answer."""
    cases: list[tuple[str, str, Any]] = []
    for index, example in enumerate(load_examples()):
        envelope = decode_output(example)
        if envelope is None or envelope.get("status") != 1:
            continue
        case_id = f"{index:03d}-{example['section']}-{example['action']}"
        cases.append((case_id, example["action"], envelope.get("result")))
    return cases


def _same_scalar(raw: Any, out: Any) -> bool:
    if type(raw) is type(out) and raw == out:
        return True
    if raw is None or raw == "" or raw == ZERO_DATETIME:
        return out is None or out == raw
    if type(out) is bool:
        return raw in FLAGS and FLAGS[raw] is out if isinstance(raw, str) else raw == out
    if type(out) is int:
        return type(raw) in (str, int) and int(raw) == out
    if type(out) is float:
        return type(raw) in (str, int, float) and float(raw) == out
    if isinstance(out, str):
        return type(raw) in (int, float) and str(raw) == out
    return False


def assert_kept(raw: Any, out: Any, path: str = "$") -> None:
    """Assert that *out* (an unstructured model) keeps every key and value of *raw*.

    Values may differ only by the documented conversions: numeric strings and
    numbers, flags and booleans, empty values and ``None``, a JSON-encoded object and
    the object, ``[]``/``{}`` for an empty list or object. Keys *out* has and *raw*
    lacks must hold an empty default.
    """
    if isinstance(raw, str) and isinstance(out, dict) and raw.startswith("{"):
        assert_kept(json.loads(raw), out, path)
        return
    if isinstance(raw, dict) and isinstance(out, list):
        raw = list(raw.values())  # PHP's array with keys, read as a list
    if isinstance(raw, dict):
        if not raw and out in ({}, [], None):
            return
        assert isinstance(out, dict), f"{path}: object became {out!r}"
        for key, value in raw.items():
            assert key in out, f"{path}.{key} was dropped"
            assert_kept(value, out[key], f"{path}.{key}")
        for key in out.keys() - raw.keys():
            assert out[key] in (None, {}, []), f"{path}.{key} appeared as {out[key]!r}"
        return
    if isinstance(raw, list):
        if not raw and out in ({}, [], None):
            return
        assert isinstance(out, list), f"{path}: array became {out!r}"
        assert len(out) == len(raw), f"{path}: {len(raw)} items became {len(out)}"
        for index, (item, item_out) in enumerate(zip(raw, out, strict=True)):
            assert_kept(item, item_out, f"{path}[{index}]")
        return
    assert _same_scalar(raw, out), f"{path}: {raw!r} became {out!r}"


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (Union, types.UnionType)


def assert_conforms(value: Any, tp: Any, path: str = "$") -> None:
    """Assert that *value* has the type *tp*, recursively through models and containers."""
    if tp is Any:
        return
    if tp is None or tp is type(None):
        assert value is None, f"{path}: {value!r} is not None"
        return
    if tp is QueueOptions:
        assert isinstance(value, Mapping), f"{path}: {value!r} is not a mapping"
        return
    if _is_union(tp):
        errors: list[str] = []
        for member in typing.get_args(tp):
            try:
                assert_conforms(value, member, path)
            except AssertionError as exc:
                errors.append(str(exc))
            else:
                return
        raise AssertionError(" / ".join(errors))
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is tuple:
        assert type(value) is tuple, f"{path}: {value!r} is not a tuple"
        for index, item in enumerate(value):
            assert_conforms(item, args[0], f"{path}[{index}]")
        return
    if origin in (Mapping, dict):
        assert isinstance(value, Mapping), f"{path}: {value!r} is not a mapping"
        for key, item in value.items():
            assert type(key) is str, f"{path}: key {key!r}"
            assert_conforms(item, args[1], f"{path}[{key!r}]")
        return
    cls = origin or tp
    if attrs.has(cls):
        assert type(value) is cls, f"{path}: {value!r} is not a {cls.__name__}"
        params: tuple[Any, ...] = getattr(cls, "__parameters__", ())
        mapping: dict[Any, Any] = dict(zip(params, args, strict=True)) if args else {}
        hints = typing.get_type_hints(cls)
        for field in attrs.fields(cls):
            hint = hints[field.name]
            hint = mapping.get(hint, hint)
            if typing.get_origin(hint) is tuple and isinstance(typing.get_args(hint)[0], TypeVar):
                hint = tuple[mapping[typing.get_args(hint)[0]], ...]  # type: ignore[misc]
            assert_conforms(getattr(value, field.name), hint, f"{path}.{field.name}")
        return
    if cls is dt.datetime:
        assert type(value) is dt.datetime, f"{path}: {value!r} is not a datetime"
        assert value.tzinfo is None, f"{path}: {value!r} is not naive"
        return
    if cls in (bool, int, float):
        assert type(value) is cls, f"{path}: {value!r} is not a {cls.__name__}"
        return
    assert isinstance(value, cls), f"{path}: {value!r} is not a {cls.__name__}"
