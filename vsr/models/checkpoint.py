"""Read checkpoints in the authors' formats and infer the architecture from the state dict alone.

Each family declares its checkpoint signature where it is defined (see registry.Family); inference asks every
registered family in turn, so a new family file is recognised without a change here.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vsr.errors import ModelError
from vsr.models.registry import FAMILIES, ArchSpec

__all__ = ["ArchSpec", "extract_state_dict", "infer_arch", "load_file", "load_model", "read_checkpoint"]


def load_file(path: str | Path, setting: str = "weights") -> Any:
    """`torch.load` of a checkpoint file (CPU, tensors only), with one-line errors about `setting`'s value."""
    path = Path(path)
    if not path.is_file():
        raise ModelError("file not found", setting=setting, value=path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for bad zips, bad pickles and truncation
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"not a readable PyTorch checkpoint ({reason[:160]})", setting=setting,
                         value=path) from None


def read_checkpoint(path: str | Path, setting: str = "weights") -> dict[str, torch.Tensor]:
    """Load a checkpoint file and return its state dict (params_ema over params, `module.` stripped)."""
    return extract_state_dict(load_file(path, setting), source=str(path))


def extract_state_dict(obj: object, source: str = "checkpoint") -> dict[str, torch.Tensor]:
    if isinstance(obj, dict):
        for key in ("params_ema", "params", "state_dict", "model"):
            if isinstance(obj.get(key), dict) and obj[key]:
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ModelError(
            f"{source}: holds no state dict of tensors (expected `params_ema`, `params` or a bare state dict)"
        )
    return {k.removeprefix("module."): v for k, v in obj.items()}


def _shape(sd: dict[str, torch.Tensor], key: str, source: str) -> tuple[int, ...]:
    if key not in sd:
        raise ModelError(f"{source}: does not match any SAFMN architecture (missing `{key}`)")
    return tuple(sd[key].shape)


def infer_arch(sd: dict[str, torch.Tensor], source: str = "checkpoint") -> ArchSpec:
    """Infer family, width, depth, ffn scale and upscale factor from parameter names and shapes."""
    family = next((f for f in FAMILIES.values() if f.matches(sd)), None)
    if family is None:
        sample = ", ".join(list(sd)[:3])
        raise ModelError(f"{source}: does not match any SAFMN architecture (unrecognised keys: {sample}, ...)")
    dim = _shape(sd, "to_feat.weight", source)[0]
    blocks = {int(m.group(1)) for k in sd if (m := re.match(r"feats\.(\d+)\.", k))}
    n_blocks = max(blocks) + 1
    hidden = _shape(sd, family.ffn_key, source)[0]
    out_ch = _shape(sd, "to_img.0.weight", source)[0]
    scale = math.isqrt(out_ch // 3)
    if scale * scale * 3 != out_ch:
        raise ModelError(f"{source}: to_img has {out_ch} output channels, not 3 * scale**2")
    return ArchSpec(family=family.name, dim=dim, n_blocks=n_blocks, ffn_scale=hidden / dim, scale=scale)


def load_model(path: str | Path, expect: ArchSpec | None = None) -> tuple[nn.Module, ArchSpec]:
    """Build the model a checkpoint describes and load it strictly; `expect` checks it is the model named."""
    sd = read_checkpoint(path)
    spec = infer_arch(sd, source=str(path))
    if expect is not None and spec != expect:
        raise ModelError(f"{path}: holds {spec.describe()}, expected {expect.describe()}")
    model = spec.build()
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())
        raise ModelError(f"{path}: does not fit {spec.describe()}: {detail[:200]}") from None
    return model.eval(), spec
