"""The book record's typed schema, checked before ``Book.from_dict`` ever sees a dict.

Types come from the dataclasses in ``studio/book.py`` (one source of truth), so a new field is
checked as soon as it exists. Two strengths:

* ``check_stored`` (every record read from a library): types only, unknown keys ignored, so an
  older or newer record still loads but a title that is a list is reported, never crashes a list.
* ``check_import`` (an archive from outside): types, *and* limits (pages, text lengths, list sizes,
  nesting depth of free-form dicts), *and* no unknown fields. The error names the field.
"""
from __future__ import annotations

import dataclasses
import json
import math
from typing import Any, get_args, get_origin

from studio.book import CONTROL_KINDS, LANGUAGES, MAX_PAGES, TONES, Book, Record, _hints
from studio.storage import StoreError

MAX_DEPTH = 12  # nesting inside free-form dicts (generation parameters, a pose, a voice profile)
MAX_FREE_DICT_CHARS = 256 * 1024  # one free-form dict, as JSON
DEFAULT_TEXT_MAX = 20_000
TEXT_MAX = {"title": 200, "dedicated_to": 300, "name": 200, "text": 10_000}
DEFAULT_LIST_MAX = 200
LIST_MAX = {"pages": MAX_PAGES, "characters": 64, "voices": 32, "loras": 16, "clips": 2_000,
            "rejected": 2_000}
CHOICES = {("Book", "language"): LANGUAGES, ("Voice", "language"): LANGUAGES,
           ("ControlSpec", "kind"): CONTROL_KINDS, ("ImageSpec", "tone"): TONES}
TRANSIENT = {"damaged"}  # fields never read from a record


class BookSchemaError(StoreError):
    """A book record that does not fit the schema; ``field`` is where (``pages[3].text``)."""

    def __init__(self, key: str, field: str = "", **values: Any) -> None:
        super().__init__(key, field=field or "book", **values)
        self.field = field or "book"


def check_import(doc: Any) -> None:
    _check_record(Book, doc, "", strict=True)


def check_stored(doc: Any) -> None:
    _check_record(Book, doc, "", strict=False)


def _check_record(cls: type, doc: Any, where: str, strict: bool) -> None:
    if not isinstance(doc, dict):
        raise BookSchemaError("store.schema_object", where)
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls)} - TRANSIENT
    if strict:
        unknown = sorted(str(k) for k in doc if k not in names)
        if unknown:
            raise BookSchemaError("store.schema_unknown", _join(where, unknown[0][:60]))
    for name in names:
        if name not in doc:
            continue
        at = _join(where, name)
        value = doc[name]
        _check_value(hints[name], value, at, name, strict)
        choices = CHOICES.get((cls.__name__, name))
        if strict and choices and value is not None and value not in choices:
            raise BookSchemaError("store.schema_choice", at, allowed=", ".join(choices))


def _check_value(hint: Any, value: Any, at: str, name: str, strict: bool) -> None:
    origin = get_origin(hint)
    args = [a for a in get_args(hint) if a is not type(None)]
    optional = type(None) in get_args(hint)
    if value is None:
        if optional:
            return
        raise BookSchemaError(f"store.schema_{_describe(hint)}", at)
    if origin is list:
        if not isinstance(value, list):
            raise BookSchemaError("store.schema_list", at)
        limit = LIST_MAX.get(name, DEFAULT_LIST_MAX)
        if strict and len(value) > limit:
            raise BookSchemaError("store.schema_too_many", at, limit=limit, count=len(value))
        for i, item in enumerate(value):
            _check_value(args[0], item, f"{at}[{i}]", name, strict)
        return
    if origin is dict:
        if not isinstance(value, dict):
            raise BookSchemaError("store.schema_object", at)
        if strict:
            _check_free(value, at, 1)
        if args and len(args) == 2 and args[1] is str:
            for key, item in value.items():
                if not isinstance(item, str):
                    raise BookSchemaError("store.schema_text", f"{at}.{str(key)[:40]}")
        return
    if args and origin is not None:  # Optional[X] / X | None
        _check_value(args[0], value, at, name, strict)
        return
    if isinstance(hint, type) and issubclass(hint, Record):
        _check_record(hint, value, at, strict)
        return
    _check_scalar(hint, value, at, name, strict)


def _check_scalar(hint: Any, value: Any, at: str, name: str, strict: bool) -> None:
    if hint is str:
        if not isinstance(value, str):
            raise BookSchemaError("store.schema_text", at)
        limit = TEXT_MAX.get(name, DEFAULT_TEXT_MAX)
        if strict and len(value) > limit:
            raise BookSchemaError("store.schema_too_long", at, limit=limit)
    elif hint is bool:
        if not isinstance(value, bool):
            raise BookSchemaError("store.schema_bool", at)
    elif hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise BookSchemaError("store.schema_whole", at)
        if strict and abs(value) > 2**53:
            raise BookSchemaError("store.schema_whole", at)
    elif hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise BookSchemaError("store.schema_number", at)
    # Any: free-form, checked by _check_free where it sits inside a dict


def _check_free(value: Any, at: str, depth: int) -> None:
    """Free-form JSON (generation parameters ...): bounded depth and size."""
    if depth > MAX_DEPTH:
        raise BookSchemaError("store.schema_too_deep", at, limit=MAX_DEPTH)
    if isinstance(value, dict):
        for key, item in value.items():
            _check_free(item, f"{at}.{str(key)[:40]}", depth + 1)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_free(item, f"{at}[{i}]", depth + 1)
    elif isinstance(value, float) and not math.isfinite(value):
        raise BookSchemaError("store.schema_number", at)
    if depth == 1 and len(json.dumps(value, ensure_ascii=False)) > MAX_FREE_DICT_CHARS:
        raise BookSchemaError("store.schema_too_long", at, limit=MAX_FREE_DICT_CHARS)


def _describe(hint: Any) -> str:
    """Which ``store.schema_<kind>`` message fits a field that must have a value."""
    if get_origin(hint) is list:
        return "list"
    return {str: "text", bool: "bool", int: "whole", float: "number"}.get(hint, "object")


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name
