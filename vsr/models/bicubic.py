"""Bicubic interpolation as an upscaler with the same interface as the SAFMN models (baseline, no weights)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vsr.models.registry import ModelEntry, register_model


class Bicubic(nn.Module):
    def __init__(self, upscaling_factor: int) -> None:
        super().__init__()
        self.scale = upscaling_factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)


register_model(ModelEntry("bicubic", None, None, None, "bicubic interpolation, any scale (baseline, no weights)"))
