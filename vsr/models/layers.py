"""Layers shared by the SAFMN families, written to stay finite in fp16 and bf16."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import handle_torch_function, has_torch_function_unary


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


def max_pool_by(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Max pool an (N, C, H, W) tensor to (max(1, H // factor), max(1, W // factor)), as SAFM does.

    Overridable like a torch function: whoever needs another form of the same pooling (the ONNX exporter, whose
    graph must keep the frame-dependent size symbolic) replaces it with a `TorchFunctionMode`
    (`vsr.models.export_ops.export_forms`); the model itself only ever asks for the pooling.
    """
    if has_torch_function_unary(x):
        return handle_torch_function(max_pool_by, (x,), x, factor)
    h, w = x.shape[-2:]
    return F.adaptive_max_pool2d(x, pooled_size(h, w, factor))


def channel_mixer(dim: int, ffn_scale: float, bias: bool) -> nn.Sequential:
    """The convolutional channel mixer of every family: 3x3 conv expanding by `ffn_scale`, GELU, 1x1 conv back.

    A Sequential, so the state-dict keys are `<name>.0.*` and `<name>.2.*` as in the authors' checkpoints.
    """
    hidden_dim = int(dim * ffn_scale)
    return nn.Sequential(
        nn.Conv2d(dim, hidden_dim, 3, 1, 1, bias=bias),
        nn.GELU(),
        nn.Conv2d(hidden_dim, dim, 1, 1, 0, bias=bias),
    )


def pixel_shuffle_head(dim: int, scale: int, bias: bool = True) -> nn.Sequential:
    """The reconstruction of every family (`to_img`): 3x3 conv to 3 * scale**2 channels, then PixelShuffle."""
    return nn.Sequential(
        nn.Conv2d(dim, 3 * scale**2, 3, 1, 1, bias=bias),
        nn.PixelShuffle(scale),
    )


def upsample_residual(x: torch.Tensor, scale: int) -> torch.Tensor:
    """The image-level residual of the NTIRE variants: bilinear upsampling, align_corners=False.

    Computed on a contiguous (NCHW) copy: with 3 channels, channels_last bilinear upsampling is 3x slower on the
    CPU, and the result is the same.
    """
    return F.interpolate(x.contiguous(), scale_factor=scale, mode="bilinear", align_corners=False)
