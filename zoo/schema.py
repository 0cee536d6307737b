"""Strict conversion of JSON objects into typed dataclasses.

Unknown keys, missing keys and wrong types are refused with a message that names the path of the
offending key (``recipe.early_stopping.patience``), so a registry error points at its line.
Semantic checks (positive sizes, known names) live in each dataclass's ``__post_init__`` and raise
``ValueError``; they are re-raised here with the path of the object.
"""
from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from typing import Any, Literal, Union

from .errors import did_you_mean


class SchemaError(ValueError):
    """A JSON value does not fit its dataclass; ``path`` names the key."""

    def __init__(self, path: str, message: str):
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}" if path else message)


def _describe(value: Any) -> str:
    text = json.dumps(value) if _jsonable(value) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
        return True
    except (TypeError, ValueError):
        return False


def key_text(key: str) -> str:
    """A key as it appears in an error path: plain names as they are, anything else JSON-quoted,
    so a key holding a newline or a dot cannot break or fake the one-line message."""
    return key if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", key) else json.dumps(key)


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if tp is type(None):
        return "null"
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is Literal:
        return "one of " + ", ".join(json.dumps(a) for a in typing.get_args(tp))
    if origin in (list, tuple):
        return f"a list of {_type_name(typing.get_args(tp)[0])}"
    if origin is dict or tp is dict:
        return "an object"
    if dataclasses.is_dataclass(tp):
        return "an object"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def convert(value: Any, tp: Any, path: str) -> Any:
    """Check ``value`` (parsed JSON) against annotation ``tp`` and return it converted."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if tp is type(None):
        if value is None:
            return None
        raise SchemaError(path, f"expected null, got {_describe(value)}")
    if origin in (Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None and len(options) < len(typing.get_args(tp)):
            return None
        if len(options) == 1:  # Optional[X]: X's own message says more than "X or null"
            return convert(value, options[0], path)
        for arg in options:
            try:
                return convert(value, arg, path)
            except SchemaError:
                continue
        raise SchemaError(path, f"expected {_type_name(tp)}, got {_describe(value)}")
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value in allowed and type(value) is type(allowed[0]):
            return value
        hint = did_you_mean(value, allowed) if isinstance(value, str) else ""
        raise SchemaError(path, f"expected {_type_name(tp)}, got {_describe(value)}.{hint}".rstrip("."))
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise SchemaError(path, f"expected {_type_name(tp)}, got {_describe(value)}")
        (item_tp, *rest) = typing.get_args(tp)
        items = [convert(v, item_tp, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise SchemaError(path, f"expected an object, got {_describe(value)}")
        args = typing.get_args(tp)
        if args:
            return {k: convert(v, args[1], f"{path}.{key_text(k)}") for k, v in value.items()}
        return dict(value)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, path)
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    else:  # pragma: no cover - a programming error in a dataclass annotation
        raise TypeError(f"unsupported annotation {tp!r} at {path}")
    raise SchemaError(path, f"expected {_type_name(tp)}, got {_describe(value)}")


def from_dict(cls: type, data: Any, path: str = "") -> Any:
    """Build dataclass ``cls`` from a JSON object, refusing unknown/missing keys and bad types."""
    if not isinstance(data, dict):
        raise SchemaError(path, f"expected an object, got {_describe(data)}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    hints = typing.get_type_hints(cls)
    prefix = f"{path}." if path else ""
    for key in data:
        if key not in fields:
            hint = did_you_mean(key, fields)
            known = ", ".join(sorted(fields))
            raise SchemaError(f"{prefix}{key_text(key)}", f"unknown key.{hint or ' Known keys: ' + known}")
    kwargs = {}
    for name, field in fields.items():
        if name not in data:
            if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                raise SchemaError(f"{prefix}{name}", "missing required key")
            continue
        kwargs[name] = convert(data[name], hints[name], f"{prefix}{name}")
    try:
        return cls(**kwargs)
    except SchemaError as exc:
        raise SchemaError(f"{prefix}{exc.path}" if exc.path else path, exc.message) from None
    except ValueError as exc:
        raise SchemaError(path, str(exc)) from None


def to_dict(obj: Any) -> Any:
    """The JSON form of a dataclass built by :func:`from_dict` (tuples become lists)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def require(condition: bool, key: str, message: str) -> None:
    """Semantic check inside ``__post_init__``: raise a SchemaError naming ``key``."""
    if not condition:
        raise SchemaError(key, message)
