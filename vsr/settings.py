"""Typed settings from plain data: a mapping (YAML, JSON, nested dicts) into a tree of dataclasses, checking every
key and value against the fields' types. The one builder behind every job's config (pipelines/common/config.py
adds presets and command-line overrides on top)."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar

from vsr.errors import ConfigError

T = TypeVar("T")


def _coerce(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, where)
            except ConfigError as exc:
                errors.append(exc)
        raise errors[0]
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"setting {where}: expected a mapping, got {value!r}")
        return build_settings(tp, value, where + ".")
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
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
    elif tp is Any:
        return value
    else:
        return value  # containers and other types: taken as given
    raise ConfigError(f"setting {where}: expected {getattr(tp, '__name__', tp)}, got {value!r}")


def build_settings(cls: type[T], data: dict[str, Any], prefix: str = "") -> T:
    """`cls` from `data`; fields not in `data` keep their defaults. `prefix` names where `data` sits."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"unknown setting {prefix}{unknown[0]}; known under {prefix or 'the top level'}: "
                          f"{', '.join(sorted(names))}")
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            kwargs[f.name] = _coerce(data[f.name], hints[f.name], prefix + f.name)
        elif dataclasses.is_dataclass(hints[f.name]):
            kwargs[f.name] = build_settings(hints[f.name], {}, prefix + f.name + ".")
    return cls(**kwargs)
