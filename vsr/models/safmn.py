"""SAFMN as defined in the paper (Sun et al., ICCV 2023): efficient (dim 36, 8 blocks) and large (dim 128, 16 blocks).

Parameter names follow the authors' `safmn_arch.py`, so their checkpoints load with strict=True. This file holds
the blocks (SAFM, CCM, FMM), the network, its checkpoint signature and the paper's published models.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vsr.models.layers import LayerNorm, channel_mixer, max_pool_by, pixel_shuffle_head
from vsr.models.registry import GITHUB_RELEASE, HF_REPO, ArchSpec, Family, ModelEntry, register_family, register_model


class SAFM(nn.Module):
    """Spatially-adaptive feature modulation.

    Channels are split into `n_levels` chunks; chunk 0 gets a depthwise 3x3 at full resolution, chunk i>0 is
    adaptive-max-pooled to (h / 2**i, w / 2**i), depthwise 3x3'd and nearest-upsampled back. A 1x1 conv
    aggregates the levels and its GELU modulates the input.
    """

    def __init__(self, dim: int, n_levels: int = 4, bias: bool = True, pool_offset: int = 0) -> None:
        super().__init__()
        self.n_levels = n_levels
        # The NTIRE 2023 variant pools one level coarser (h // 2**(i+1)); the paper uses h // 2**i.
        self.pool_offset = pool_offset
        chunk_dim = dim // n_levels
        self.mfr = nn.ModuleList(
            [nn.Conv2d(chunk_dim, chunk_dim, 3, 1, 1, groups=chunk_dim, bias=bias) for _ in range(n_levels)]
        )
        self.aggr = nn.Conv2d(dim, dim, 1, 1, 0, bias=bias)
        self.act = nn.GELU()

    def multi_scale(self, x: torch.Tensor) -> torch.Tensor:
        """The levels, each back at full resolution, concatenated: the input of the 1x1 aggregation."""
        h, w = x.shape[-2:]
        chunks = x.chunk(self.n_levels, dim=1)
        levels = [self.mfr[0](chunks[0])]
        for i in range(1, self.n_levels):
            s = max_pool_by(chunks[i], 2 ** (i + self.pool_offset))
            s = self.mfr[i](s)
            levels.append(F.interpolate(s, size=(h, w), mode="nearest"))
        return torch.cat(levels, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.aggr(self.multi_scale(x))
        return self.act(out) * x


class CCM(nn.Module):
    """Convolutional channel mixer: 3x3 conv expanding by `ffn_scale`, GELU, 1x1 conv back."""

    def __init__(self, dim: int, ffn_scale: float = 2.0, bias: bool = True) -> None:
        super().__init__()
        self.ccm = channel_mixer(dim, ffn_scale, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ccm(x)


class FMM(nn.Module):
    """Feature mixing module (the authors' `AttBlock`): LayerNorm -> SAFM and LayerNorm -> CCM, each residual."""

    def __init__(self, dim: int, ffn_scale: float = 2.0) -> None:
        super().__init__()
        self.norm1 = LayerNorm(dim)
        self.norm2 = LayerNorm(dim)
        self.safm = SAFM(dim)
        self.ccm = CCM(dim, ffn_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.safm(self.norm1(x)) + x
        return self.ccm(self.norm2(x)) + x


class SAFMN(nn.Module):
    """3x3 conv to features, `n_blocks` FMMs with a global feature residual, 3x3 conv + PixelShuffle."""

    def __init__(self, dim: int = 36, n_blocks: int = 8, ffn_scale: float = 2.0, upscaling_factor: int = 4) -> None:
        super().__init__()
        self.scale = upscaling_factor
        self.to_feat = nn.Conv2d(3, dim, 3, 1, 1)
        self.feats = nn.Sequential(*[FMM(dim, ffn_scale) for _ in range(n_blocks)])
        self.to_img = pixel_shuffle_head(dim, upscaling_factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.to_feat(x)
        feat = self.feats(feat) + feat
        return self.to_img(feat)


# -- checkpoint signature and published models ---------------------------------------------------------------------
# Only the paper's blocks have LayerNorms (`norm1`).
register_family(Family("safmn", SAFMN, signature=("feats.0.norm1.weight",), ffn_key="feats.0.ccm.ccm.0.weight"))

EFFICIENT = {"dim": 36, "n_blocks": 8, "ffn_scale": 2.0}
LARGE = {"dim": 128, "n_blocks": 16, "ffn_scale": 2.0}


def _paper(name: str, scale: int, size: dict, url: str, note: str) -> None:
    register_model(ModelEntry(name, ArchSpec("safmn", scale=scale, **size), url, None, note))


for _s in (2, 3, 4):
    _paper(f"safmn-x{_s}", _s, EFFICIENT, f"{HF_REPO}/SAFMN_DF2K_x{_s}.pth", f"paper SAFMN (efficient), DF2K, x{_s}")
for _s in (2, 3, 4):
    _paper(f"safmn-l-x{_s}", _s, LARGE, f"{HF_REPO}/SAFMN_L_DF2K_x{_s}.pth", f"paper SAFMN-L (large), DF2K, x{_s}")
for _s in (2, 4):
    _paper(f"safmn-real-x{_s}", _s, LARGE, f"{GITHUB_RELEASE}/SAFMN_L_Real_LSDIR_x{_s}-v2.pth",
           f"SAFMN-L for real-world degradations, LSDIR, x{_s}")
