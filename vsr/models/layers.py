"""Layers shared by the SAFMN families, written to stay finite in fp16 and bf16."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LayerNorm(nn.Module):
    """Channels-first LayerNorm (normalises over C of an N, C, H, W tensor), as in the authors' code.

    The authors' formulation squares activations, which overflows fp16 for values above ~256; the
    statistics are therefore always computed in fp32 and the result cast back to the input dtype.
    In fp32 this is the authors' arithmetic, operation for operation.
    """

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = x.float()
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        x = (x - u) / torch.sqrt(s + self.eps)
        x = self.weight.float()[:, None, None] * x + self.bias.float()[:, None, None]
        return x.to(dtype)


class GRN(nn.Module):
    """Global Response Normalisation (ConvNeXt V2), used by the NTIRE 2023 SAFMN after its first conv.

    The spatial L2 norm sums H*W squares and overflows fp16 at any realistic frame size, so it is
    computed in fp32.
    """

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, dim, 1, 1))
        self.beta = nn.Parameter(torch.zeros(1, dim, 1, 1))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = x.float()
        gx = torch.norm(x, p=2, dim=(2, 3), keepdim=True)
        nx = gx / (gx.mean(dim=1, keepdim=True) + self.eps)
        x = self.gamma.float() * (x * nx) + self.beta.float() + x
        return x.to(dtype)


def pooled_size(h: int, w: int, factor: int) -> tuple[int, int]:
    """Output size of SAFM's adaptive max pooling by `factor`.

    The authors' code pools to (h // factor, w // factor), which is 0 (and crashes) for frames smaller
    than the factor. We clamp to at least 1: identical wherever the authors' code runs, and for tiny
    inputs the level becomes a global max pool, the natural limit of the operation.
    """
    return max(1, h // factor), max(1, w // factor)


def upsample_residual(x: torch.Tensor, scale: int) -> torch.Tensor:
    """The image-level residual of the NTIRE variants: bilinear upsampling, align_corners=False.

    Computed on a contiguous (NCHW) copy: with 3 channels, channels_last bilinear upsampling is 3x slower on the
    CPU, and the result is the same.
    """
    return F.interpolate(x.contiguous(), scale_factor=scale, mode="bilinear", align_corners=False)
