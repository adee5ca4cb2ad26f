"""SAFMN as entered in the NTIRE 2023 efficient SR challenge (authors' `team15_SAFMN.py`).

Differences from the paper: a GRN after the first conv instead of LayerNorms in the blocks, bias-free SAFM and
CCM convs, SAFM levels pooled one octave coarser, no feature residual, and a bilinear image residual.
"""

from __future__ import annotations

import torch
from torch import nn

from vsr.models.layers import GRN, pixel_shuffle_head, upsample_residual
from vsr.models.registry import GITHUB_RAW, ArchSpec, Family, ModelEntry, register_family, register_model
from vsr.models.safmn import CCM, SAFM


class NormFreeFMM(nn.Module):
    """The paper's FMM without its LayerNorms: SAFM (pooled one octave coarser) and CCM, each with a residual."""

    def __init__(self, dim: int, ffn_scale: float = 2.0) -> None:
        super().__init__()
        self.safm = SAFM(dim, bias=False, pool_offset=1)
        self.ccm = CCM(dim, ffn_scale, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.safm(x) + x
        return self.ccm(x) + x




class SAFMNNtire23(nn.Module):
    """3x3 conv, GRN, `n_blocks` norm-free FMMs, 3x3 conv + PixelShuffle, plus the bilinearly upsampled input."""

    def __init__(self, dim: int = 36, n_blocks: int = 8, ffn_scale: float = 2.0, upscaling_factor: int = 4) -> None:
        super().__init__()
        self.scale = upscaling_factor
        self.norm = GRN(dim)
        self.to_feat = nn.Conv2d(3, dim, 3, 1, 1)
        self.feats = nn.Sequential(*[NormFreeFMM(dim, ffn_scale) for _ in range(n_blocks)])
        self.to_img = pixel_shuffle_head(dim, upscaling_factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = upsample_residual(x, self.scale)
        feat = self.feats(self.norm(self.to_feat(x)))
        return self.to_img(feat) + residual


# -- checkpoint signature and published model ----------------------------------------------------------------------
# The GRN (`norm.gamma`) and multi-level SAFM blocks (`safm.aggr`) together are this family's alone.
register_family(Family("ntire23-safmn", SAFMNNtire23, signature=("norm.gamma", "feats.0.safm.aggr.weight"),
                       ffn_key="feats.0.ccm.ccm.0.weight"))

register_model(ModelEntry(
    "ntire23-safmn-x4",
    ArchSpec("ntire23-safmn", 36, 8, 2.0, 4),
    f"{GITHUB_RAW}/NTIRE2023_ESR/model_zoo/team15_SAFMN.pth",
    "93fe3d7175ef1446cfcb3a884ddf8bbb4391f31190e9d1bf6c6c1cb768f8b565",
    "SAFMN for the NTIRE 2023 efficient SR challenge, x4",
))
