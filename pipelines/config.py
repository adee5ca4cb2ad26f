"""Settings for any command: a YAML preset, then command-line flags on top, into one dataclass tree.

Usage in a command:
    cfg = load_config(UpscaleConfig, args.config, overrides_from_args(args, {"batch": "engine.batch", ...}))

A preset is a YAML mapping whose keys mirror the dataclass fields (nested mappings for nested dataclasses).
Flags override only when given: commands give their overridable flags the default None.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from vsr.errors import VSRError

T = TypeVar("T")
PRESET_DIR = Path(__file__).resolve().parents[1] / "configs"


def find_preset(name: str | Path) -> Path:
    """A path as given, else a preset shipped in configs/ (`quality` or `quality.yaml`)."""
    path = Path(name)
    if path.is_file():
        return path
    for candidate in (PRESET_DIR / path.name, PRESET_DIR / f"{path.name}.yaml"):
        if candidate.is_file():
            return candidate
    shipped = ", ".join(sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))) or "none"
    raise VSRError(f"config {name}: no such file (shipped presets: {shipped})")


def read_preset(name: str | Path) -> dict[str, Any]:
    path = find_preset(name)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise VSRError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise VSRError(f"{path}: must be a mapping of settings, not {type(data).__name__}")
    return data


def overrides_from_args(args: Any, mapping: dict[str, str]) -> dict[str, Any]:
    """{dotted.setting: value} for each flag in `mapping` that was given (is not None)."""
    return {dotted: getattr(args, flag) for flag, dotted in mapping.items() if getattr(args, flag, None) is not None}


def _nest(dotted: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in dotted.items():
        node = out
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


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
            except VSRError as exc:
                errors.append(exc)
        raise errors[0]
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise VSRError(f"setting {where}: expected a mapping, got {value!r}")
        return _build(tp, value, where + ".")
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
    raise VSRError(f"setting {where}: expected {getattr(tp, '__name__', tp)}, got {value!r}")


def _build(cls: type[T], data: dict[str, Any], prefix: str = "") -> T:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise VSRError(f"unknown setting {prefix}{unknown[0]}; known under {prefix or 'the top level'}: "
                       f"{', '.join(sorted(names))}")
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            kwargs[f.name] = _coerce(data[f.name], hints[f.name], prefix + f.name)
        elif dataclasses.is_dataclass(hints[f.name]):
            kwargs[f.name] = _build(hints[f.name], {}, prefix + f.name + ".")
    return cls(**kwargs)


def load_config(cls: type[T], preset: str | Path | None = None, overrides: dict[str, Any] | None = None) -> T:
    """Defaults of `cls` <- the preset file <- `overrides` ({"engine.batch": 4} or nested dicts)."""
    data = read_preset(preset) if preset else {}
    try:
        return _build(cls, _merge(data, _nest(overrides or {})))
    except VSRError as exc:
        if preset:
            raise VSRError(f"{preset}: {exc}") from None
        raise


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)
