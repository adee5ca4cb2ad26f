"""SAFMN++ (NTIRE 2024 efficient SR, authors' `team23_safmnpp.py`) and light SAFMN++ (AIS 2024 real-time 4K SR).

Both replace the multi-level SAFM by a single-level `SimpleSAFM`: a 3x3 projection, a channel split, one
branch max-pooled by 8, depthwise 3x3'd, bilinearly upsampled and used as a GELU gate on itself.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vsr.models.export_ops import adaptive_max_pool_by
from vsr.models.layers import upsample_residual


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
        x2 = adaptive_max_pool_by(x0, self.pool)
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
        hidden_dim = int(dim * ffn_scale)
        self.conv = nn.Sequential(
            nn.Conv2d(dim, hidden_dim, 3, 1, 1, bias=False),
            nn.GELU(),
            nn.Conv2d(hidden_dim, dim, 1, 1, 0, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class AttBlock(nn.Module):
    """SimpleSAFM then CCM, in sequence; SAFMN++ adds a block residual, light SAFMN++ does not."""

    def __init__(self, dim: int, ffn_scale: float, chunk_dim: int, light: bool) -> None:
        super().__init__()
        self.residual = not light
        self.conv1 = SimpleSAFM(dim, chunk_dim)
        self.conv2 = LightCCM(dim, ffn_scale) if light else CCM(dim, ffn_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.conv1(x))
        return out + x if self.residual else out


class SAFMNPP(nn.Module):
    """SAFMN++: 1/3 of the channels pooled, block residuals, bilinear image residual."""

    def __init__(self, dim: int = 36, n_blocks: int = 6, ffn_scale: float = 1.5, upscaling_factor: int = 4) -> None:
        super().__init__()
        self.scale = upscaling_factor
        self.to_feat = nn.Conv2d(3, dim, 3, 1, 1, bias=False)
        self.feats = nn.Sequential(*[AttBlock(dim, ffn_scale, dim // 3, light=False) for _ in range(n_blocks)])
        self.to_img = nn.Sequential(
            nn.Conv2d(dim, 3 * upscaling_factor**2, 3, 1, 1, bias=False),
            nn.PixelShuffle(upscaling_factor),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = upsample_residual(x, self.scale)
        feat = self.feats(self.to_feat(x))
        return self.to_img(feat) + residual


class LightSAFMNPP(nn.Module):
    """Light SAFMN++: half of the channels pooled, no block residual, a feature residual, no image residual."""

    def __init__(self, dim: int = 32, n_blocks: int = 2, ffn_scale: float = 1.5, upscaling_factor: int = 4) -> None:
        super().__init__()
        self.scale = upscaling_factor
        self.to_feat = nn.Conv2d(3, dim, 3, 1, 1, bias=False)
        self.feats = nn.Sequential(*[AttBlock(dim, ffn_scale, dim // 2, light=True) for _ in range(n_blocks)])
        self.to_img = nn.Sequential(
            nn.Conv2d(dim, 3 * upscaling_factor**2, 3, 1, 1, bias=False),
            nn.PixelShuffle(upscaling_factor),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.to_feat(x)
        feat = self.feats(feat) + feat
        return self.to_img(feat)
