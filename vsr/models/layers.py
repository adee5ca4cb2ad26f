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


# Natural images give outputs within about [-0.5, 1.5]. The NTIRE/AIS models have no normalisation inside their
# blocks and their multiplicative gates roughly square the features in every block, so on pathological inputs
# (a one-pixel full-contrast checkerboard) the exact output reaches 1e12..1e41: beyond fp16 (and for SAFMN++
# even fp32), and so ill-conditioned that bf16 rounding changes it completely. Such outputs are recomputed.
OUTPUT_LIMIT = 8.0


def _reduced_precision(x: torch.Tensor) -> bool:
    return x.dtype in (torch.float16, torch.bfloat16) or torch.is_autocast_enabled(x.device.type)


def guard_output(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Return `y`, or the model recomputed at a wider precision where `y` cannot be trusted.

    In fp16/bf16 (weights or autocast) an output that is not finite or exceeds OUTPUT_LIMIT is recomputed in
    fp32; in fp32 a non-finite output is recomputed in fp64. Recomputed outputs are clamped to the limit (the
    caller clamps to [0, 1] anyway). Natural images never trigger this, so they cost one reduction and no
    recomputation, and the fp32 arithmetic of normal inputs is untouched. Only in eval mode: training sees
    the model as it is.
    """
    if (model.training or y.device.type == "meta" or torch.jit.is_tracing() or torch.compiler.is_compiling()
            or torch.onnx.is_in_onnx_export()):
        return y  # shapes only, or a traced/compiled/exported graph (no data-dependent branch there)
    if _reduced_precision(x):
        # amax propagates NaN, and NaN <= limit is False: one reduction finds NaN, inf and out-of-range values
        wider, bad = torch.float32, not bool(y.abs().amax() <= OUTPUT_LIMIT)
    elif x.dtype == torch.float32:
        # The sum is finite exactly when every element is (a finite sum overflowing needs values ~1e32, which
        # deserve the fp64 recomputation anyway); one cheap reduction instead of isfinite's two full passes.
        wider, bad = torch.float64, not bool(torch.isfinite(y.sum()))
    else:
        return y
    if not bad:
        return y
    state = {k: v.to(wider) if v.is_floating_point() else v for k, v in model.state_dict().items()}
    with torch.autocast(x.device.type, enabled=False):
        exact = torch.func.functional_call(model, state, (x.to(wider),))
    return exact.clamp(-OUTPUT_LIMIT, OUTPUT_LIMIT).to(y.dtype)
