"""Settings for any command: a YAML preset, then command-line flags on top, into one dataclass tree.

Usage in a command:
    cfg = load_config(UpscaleConfig, args.config, overrides_from_args(args, {"batch": "engine.batch", ...}))

A preset is a YAML mapping whose keys mirror the dataclass fields (nested mappings for nested dataclasses).
Flags override only when given: commands give their overridable flags the default None.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, TypeVar

import yaml

from vsr.errors import ConfigError, VSRError
from vsr.settings import build_settings

T = TypeVar("T")
PRESET_DIR = Path(__file__).resolve().parents[1] / "configs"  # package data: installed with the tool


def shipped_presets() -> list[str]:
    """The presets' names as `--config` takes them: `quality`, ..., `train/safmn_x2`."""
    return sorted(p.relative_to(PRESET_DIR).with_suffix("").as_posix() for p in PRESET_DIR.rglob("*.yaml"))


def find_preset(name: str | Path) -> Path:
    """A path as given, else a shipped preset by its name (`quality`, `quality.yaml`, `train/safmn_x2`; also as
    `configs/quality.yaml`, where the presets were in the checkout before they moved into the package)."""
    path = Path(name)
    if path.is_file():
        return path
    if not path.is_absolute():
        relative = Path(*path.parts[1:]) if path.parts[:1] == ("configs",) else path
        for candidate in (PRESET_DIR / relative, PRESET_DIR / f"{relative}.yaml"):
            if candidate.is_file():
                return candidate
    raise ConfigError(f"config {name}: no such file (shipped presets: {', '.join(shipped_presets()) or 'none'})")


def read_preset(name: str | Path) -> dict[str, Any]:
    path = find_preset(name)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must be a mapping of settings, not {type(data).__name__}")
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


def load_config(cls: type[T], preset: str | Path | None = None, overrides: dict[str, Any] | None = None) -> T:
    """Defaults of `cls` <- the preset file <- `overrides` ({"engine.batch": 4} or nested dicts)."""
    data = read_preset(preset) if preset else {}
    try:
        return build_settings(cls, _merge(data, _nest(overrides or {})))
    except VSRError as exc:
        if preset:
            raise ConfigError(f"{preset}: {exc}") from None
        raise


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)
