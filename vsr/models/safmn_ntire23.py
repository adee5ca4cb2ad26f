"""SAFMN as entered in the NTIRE 2023 efficient SR challenge (authors' `team15_SAFMN.py`).

Differences from the paper: a GRN after the first conv instead of LayerNorms in the blocks, bias-free SAFM and
CCM convs, SAFM levels pooled one octave coarser, no feature residual, and a bilinear image residual.
"""

from __future__ import annotations

import torch
from torch import nn

from vsr.models.layers import GRN, upsample_residual
from vsr.models.safmn import CCM, SAFM


class AttBlock(nn.Module):
    """SAFM and CCM, each with a residual, without normalisation."""

    def __init__(self, dim: int, ffn_scale: float = 2.0) -> None:
        super().__init__()
        self.safm = SAFM(dim, bias=False, pool_offset=1)
        self.ccm = CCM(dim, ffn_scale, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.safm(x) + x
        return self.ccm(x) + x


class SAFMNNtire23(nn.Module):
    def __init__(self, dim: int = 36, n_blocks: int = 8, ffn_scale: float = 2.0, upscaling_factor: int = 4) -> None:
        super().__init__()
        self.scale = upscaling_factor
        self.norm = GRN(dim)
        self.to_feat = nn.Conv2d(3, dim, 3, 1, 1)
        self.feats = nn.Sequential(*[AttBlock(dim, ffn_scale) for _ in range(n_blocks)])
        self.to_img = nn.Sequential(
            nn.Conv2d(dim, 3 * upscaling_factor**2, 3, 1, 1),
            nn.PixelShuffle(upscaling_factor),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = upsample_residual(x, self.scale)
        feat = self.feats(self.norm(self.to_feat(x)))
        return self.to_img(feat) + residual
