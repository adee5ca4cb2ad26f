"""SAFMN++ (NTIRE 2024 efficient SR, authors' `team23_safmnpp.py`) and light SAFMN++ (AIS 2024 real-time 4K SR).

Both replace the multi-level SAFM by a single-level `SimpleSAFM`: a 3x3 projection, a channel split, one
branch max-pooled by 8, depthwise 3x3'd, bilinearly upsampled and used as a GELU gate on itself. The two are one
network (`SAFMNPP`) with three hyper-parameters apart: the share of channels pooled, the block form and where
the global residual is taken; `SAFMNPP_VARIANT` and `LIGHT_VARIANT` hold the two published settings.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

from vsr.models.layers import channel_mixer, max_pool_by, pixel_shuffle_head, upsample_residual
from vsr.models.registry import GITHUB_RAW, ArchSpec, Family, ModelEntry, register_family, register_model


class SimpleSAFM(nn.Module):
    """Single-level SAFM; `chunk_dim` channels go through the pooled branch, the rest pass unchanged."""

    def __init__(self, dim: int, chunk_dim: int, pool: int = 8) -> None:
        super().__init__()
        self.dim = dim
        self.chunk_dim = chunk_dim
        self.pool = pool
        self.proj = nn.Conv2d(dim, dim, 3, 1, 1, bias=False)
        self.dwconv = nn.Conv2d(chunk_dim, chunk_dim, 3, 1, 1, groups=chunk_dim, bias=False)
        self.out = nn.Conv2d(dim, dim, 1, 1, 0, bias=False)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        x0, x1 = self.proj(x).split([self.chunk_dim, self.dim - self.chunk_dim], dim=1)
        x2 = max_pool_by(x0, self.pool)
        x2 = self.dwconv(x2)
        x2 = F.interpolate(x2, size=(h, w), mode="bilinear", align_corners=False)
        x2 = self.act(x2) * x0
        return self.out(self.act(torch.cat([x1, x2], dim=1)))


class CCM(nn.Module):
    """SAFMN++'s channel mixer (keys conv1/conv2): 3x3 expand, GELU, 1x1 back, bias-free."""

    def __init__(self, dim: int, ffn_scale: float = 1.5) -> None:
        super().__init__()
        hidden_dim = int(dim * ffn_scale)
        self.conv1 = nn.Conv2d(dim, hidden_dim, 3, 1, 1, bias=False)
        self.conv2 = nn.Conv2d(hidden_dim, dim, 1, 1, 0, bias=False)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.act(self.conv1(x)))


class LightCCM(nn.Module):
    """Light SAFMN++'s channel mixer: the same layers as `CCM`, stored as a Sequential (keys conv.0/conv.2)."""

    def __init__(self, dim: int, ffn_scale: float = 1.5) -> None:
        super().__init__()
        self.conv = channel_mixer(dim, ffn_scale, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class SimpleFMM(nn.Module):
    """SAFMN++'s feature mixing block: SimpleSAFM then a CCM, in sequence.

    The SAFMN++ block adds its input back (`residual`); the light block has none and stores its mixer as
    `LightCCM`. The attribute names (conv1, conv2) are the authors'.
    """

    def __init__(self, dim: int, ffn_scale: float, chunk_dim: int, light: bool) -> None:
        super().__init__()
        self.residual = not light
        self.conv1 = SimpleSAFM(dim, chunk_dim)
        self.conv2 = LightCCM(dim, ffn_scale) if light else CCM(dim, ffn_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.conv1(x))
        return out + x if self.residual else out




class SAFMNPP(nn.Module):
    """3x3 conv, `n_blocks` SimpleFMMs, 3x3 conv + PixelShuffle, with one global residual.

    `pooled_share`: 1/pooled_share of the channels go through each SimpleSAFM's pooled branch. `light_blocks`:
    the light block (no block residual). `image_residual`: add the bilinearly upsampled input to the output;
    otherwise the features before the blocks are added to the features after them.
    """

    def __init__(self, dim: int = 36, n_blocks: int = 6, ffn_scale: float = 1.5, upscaling_factor: int = 4,
                 pooled_share: int = 3, light_blocks: bool = False, image_residual: bool = True) -> None:
        super().__init__()
        self.scale = upscaling_factor
        self.image_residual = image_residual
        self.to_feat = nn.Conv2d(3, dim, 3, 1, 1, bias=False)
        self.feats = nn.Sequential(
            *[SimpleFMM(dim, ffn_scale, dim // pooled_share, light=light_blocks) for _ in range(n_blocks)]
        )
        self.to_img = pixel_shuffle_head(dim, upscaling_factor, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.image_residual:
            residual = upsample_residual(x, self.scale)
            return self.to_img(self.feats(self.to_feat(x))) + residual
        feat = self.to_feat(x)
        return self.to_img(self.feats(feat) + feat)


# -- the two variants, their checkpoint signatures and published models --------------------------------------------
SAFMNPP_VARIANT = {"pooled_share": 3, "light_blocks": False, "image_residual": True}
LIGHT_VARIANT = {"pooled_share": 2, "light_blocks": True, "image_residual": False}

# Both have SimpleSAFM blocks (`conv1.proj`); the mixer's keys tell them apart (conv1/conv2 or a Sequential).
register_family(Family("safmnpp", functools.partial(SAFMNPP, **SAFMNPP_VARIANT),
                       signature=("feats.0.conv1.proj.weight", "feats.0.conv2.conv1.weight"),
                       ffn_key="feats.0.conv2.conv1.weight"))
register_family(Family("safmnpp-light", functools.partial(SAFMNPP, **LIGHT_VARIANT),
                       signature=("feats.0.conv1.proj.weight", "feats.0.conv2.conv.0.weight"),
                       ffn_key="feats.0.conv2.conv.0.weight"))

register_model(ModelEntry(
    "safmnpp-x4",
    ArchSpec("safmnpp", 36, 6, 1.5, 4),
    f"{GITHUB_RAW}/NTIRE2024_ESR/model_zoo/team23_safmnpp.pth",
    "03bf96b5a50f43123d22c3a257341d536118250f7157f12d2832915be4f52685",
    "SAFMN++ (NTIRE 2024 efficient SR), x4",
))
register_model(ModelEntry(
    "safmnpp-light-x4",
    ArchSpec("safmnpp-light", 32, 2, 1.5, 4),
    f"{GITHUB_RAW}/AIS2024-RTSR/pretrained_model/light_safmnpp.pth",
    "a542c92072cb25adab1f9cc5209d4f4f4ca8549db084e6703d2e032357cd50a7",
    "light SAFMN++ (AIS 2024 real-time 4K SR, compressed inputs), x4",
))
