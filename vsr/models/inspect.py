"""Read checkpoints in the authors' formats and infer the architecture from the state dict alone."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from vsr.errors import VSRError
from vsr.models.safmn import SAFMN
from vsr.models.safmn_ntire23 import SAFMNNtire23
from vsr.models.safmnpp import SAFMNPP, LightSAFMNPP

FAMILIES: dict[str, type[nn.Module]] = {
    "safmn": SAFMN,
    "ntire23-safmn": SAFMNNtire23,
    "safmnpp": SAFMNPP,
    "safmnpp-light": LightSAFMNPP,
}


@dataclass(frozen=True)
class ArchSpec:
    """Everything needed to build an (untrained) model of one of the SAFMN families."""

    family: str
    dim: int
    n_blocks: int
    ffn_scale: float
    scale: int

    def build(self) -> nn.Module:
        cls = FAMILIES[self.family]
        return cls(dim=self.dim, n_blocks=self.n_blocks, ffn_scale=self.ffn_scale, upscaling_factor=self.scale)

    def describe(self) -> str:
        return f"{self.family} x{self.scale} (dim {self.dim}, {self.n_blocks} blocks, ffn {self.ffn_scale:g})"


def read_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a checkpoint file and return its state dict (params_ema over params, `module.` stripped)."""
    path = Path(path)
    if not path.is_file():
        raise VSRError(f"weights file not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for bad zips, bad pickles and truncation
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise VSRError(f"{path}: not a readable PyTorch checkpoint ({reason[:160]})") from None
    return extract_state_dict(obj, source=str(path))


def extract_state_dict(obj: object, source: str = "checkpoint") -> dict[str, torch.Tensor]:
    if isinstance(obj, dict):
        for key in ("params_ema", "params", "state_dict", "model"):
            if isinstance(obj.get(key), dict) and obj[key]:
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise VSRError(
            f"{source}: holds no state dict of tensors (expected `params_ema`, `params` or a bare state dict)"
        )
    return {k.removeprefix("module."): v for k, v in obj.items()}


def _shape(sd: dict[str, torch.Tensor], key: str, source: str) -> tuple[int, ...]:
    if key not in sd:
        raise VSRError(f"{source}: does not match any SAFMN architecture (missing `{key}`)")
    return tuple(sd[key].shape)


def infer_arch(sd: dict[str, torch.Tensor], source: str = "checkpoint") -> ArchSpec:
    """Infer family, width, depth, ffn scale and upscale factor from parameter names and shapes."""
    if "feats.0.norm1.weight" in sd:
        family, ffn_key = "safmn", "feats.0.ccm.ccm.0.weight"
    elif "norm.gamma" in sd and "feats.0.safm.aggr.weight" in sd:
        family, ffn_key = "ntire23-safmn", "feats.0.ccm.ccm.0.weight"
    elif "feats.0.conv1.proj.weight" in sd and "feats.0.conv2.conv1.weight" in sd:
        family, ffn_key = "safmnpp", "feats.0.conv2.conv1.weight"
    elif "feats.0.conv1.proj.weight" in sd and "feats.0.conv2.conv.0.weight" in sd:
        family, ffn_key = "safmnpp-light", "feats.0.conv2.conv.0.weight"
    else:
        sample = ", ".join(list(sd)[:3])
        raise VSRError(f"{source}: does not match any SAFMN architecture (unrecognised keys: {sample}, ...)")
    dim = _shape(sd, "to_feat.weight", source)[0]
    blocks = {int(m.group(1)) for k in sd if (m := re.match(r"feats\.(\d+)\.", k))}
    n_blocks = max(blocks) + 1
    hidden = _shape(sd, ffn_key, source)[0]
    out_ch = _shape(sd, "to_img.0.weight", source)[0]
    scale = math.isqrt(out_ch // 3)
    if scale * scale * 3 != out_ch:
        raise VSRError(f"{source}: to_img has {out_ch} output channels, not 3 * scale**2")
    return ArchSpec(family=family, dim=dim, n_blocks=n_blocks, ffn_scale=hidden / dim, scale=scale)


def load_model(path: str | Path, expect: ArchSpec | None = None) -> tuple[nn.Module, ArchSpec]:
    """Build the model a checkpoint describes and load it strictly; `expect` checks it is the model named."""
    sd = read_checkpoint(path)
    spec = infer_arch(sd, source=str(path))
    if expect is not None and spec != expect:
        raise VSRError(f"{path}: holds {spec.describe()}, expected {expect.describe()}")
    model = spec.build()
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())
        raise VSRError(f"{path}: does not fit {spec.describe()}: {detail[:200]}") from None
    return model.eval(), spec
