"""Inference forms of the SAFMN blocks: GELU fused into the conv before it, gate and residual in one pass.

On the CPU each GELU is a separate pass over a full-resolution feature map, and the exact (erf) GELU is costly:
in NTIRE 2023 SAFMN at 320x180 the GELUs took ~70 ms of a ~450 ms frame. oneDNN applies the GELU as a post-op
while the convolution's output is still in cache (`torch.ops.mkldnn._convolution_pointwise`, the kernel that
torch.compile emits for the same pattern), and SAFM's `gelu(aggr) * x + residual` becomes one `addcmul`. The
arithmetic is the same operation for operation; the results differ from the unfused model by rounding only
(<= 1e-6 on the golden cases).

The fused kernel is used only where it applies: float32 CPU tensors outside autocast, zero-padded convs. Anywhere
else (CUDA, bf16 autocast, tracing/export) the blocks run the ordinary layers, so a module with these blocks is
correct on every device. Each block shares the parameters of the block it replaces.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vsr.models import safmn, safmn_ntire23, safmnpp

# torch's own CPU builds have it; a build without oneDNN runs the ordinary layers
_KERNEL_AVAILABLE = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_convolution_pointwise")


def _fusable(conv: nn.Conv2d, x: torch.Tensor) -> bool:
    return (
        _KERNEL_AVAILABLE
        and x.device.type == "cpu"
        and x.dtype == torch.float32
        and conv.weight.dtype == torch.float32
        and conv.padding_mode == "zeros"
        and not isinstance(conv.padding, str)
        and not torch.is_autocast_enabled("cpu")
        and not torch.jit.is_tracing()
        and not torch.onnx.is_in_onnx_export()
    )


def _onednn_conv(conv: nn.Conv2d, x: torch.Tensor, post_op: str) -> torch.Tensor:
    """conv(x) by oneDNN directly, with `post_op` ("none" or "gelu", the exact erf GELU) applied in the kernel."""
    algorithm = "none" if post_op == "gelu" else ""
    return torch.ops.mkldnn._convolution_pointwise(
        x, conv.weight, conv.bias, list(conv.padding), list(conv.stride), list(conv.dilation), conv.groups,
        post_op, [], algorithm)


def conv_gelu(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """gelu(conv(x)), exact (erf) GELU."""
    return _onednn_conv(conv, x, "gelu") if _fusable(conv, x) else F.gelu(conv(x))


class OneDNNConv2d(nn.Conv2d):
    """An nn.Conv2d that calls oneDNN directly where the fused kernel applies (else the ordinary conv).

    PyTorch sends 1x1 convs to its own im2col kernel when the calling thread runs single-threaded, as each CPU
    frame worker does; oneDNN is faster there: 5.6 ms against 7.4 ms for the 72 -> 36 1x1 conv at 320x180.
    """

    @classmethod
    def from_conv(cls, conv: nn.Conv2d) -> OneDNNConv2d:
        new = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                  conv.groups, conv.bias is not None, conv.padding_mode, device="meta")
        new.weight = conv.weight
        new.bias = conv.bias
        return new

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _onednn_conv(self, x, "none") if _fusable(self, x) else super().forward(x)


def conv_add(conv: nn.Conv2d, x: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """conv(x) + other, added into the conv's fresh output.

    (oneDNN's binary "add" post-op is slower than this here: 5.3 ms against 4.4 ms for the 72 -> 36 1x1 conv of
    a 320x180 frame on an AVX2 CPU.)
    """
    return conv(x).add_(other)


def safm_residual(safm: safmn.SAFM, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
    """safm(x) + residual: the GELU gate fused into the aggregation conv, gate * x + residual in one pass."""
    gate = conv_gelu(safm.aggr, safm.multi_scale(x))
    return torch.addcmul(residual, gate, x)


class FusedFMM(nn.Module):
    """The paper's FMM: LayerNorm -> SAFM and LayerNorm -> CCM, each with its residual."""

    def __init__(self, block: safmn.FMM) -> None:
        super().__init__()
        self.norm1, self.norm2, self.safm = block.norm1, block.norm2, block.safm
        self.ccm = block.ccm.ccm  # 3x3 expand, GELU, 1x1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = safm_residual(self.safm, self.norm1(x), x)
        return conv_add(self.ccm[2], conv_gelu(self.ccm[0], self.norm2(x)), x)


class FusedNtireBlock(nn.Module):
    """The NTIRE 2023 block: SAFM and CCM, each with its residual, no normalisation."""

    def __init__(self, block: safmn_ntire23.NormFreeFMM) -> None:
        super().__init__()
        self.safm = block.safm
        self.ccm = block.ccm.ccm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = safm_residual(self.safm, x, x)
        return conv_add(self.ccm[2], conv_gelu(self.ccm[0], x), x)


class FusedSAFMNPPBlock(nn.Module):
    """SAFMN++ / light SAFMN++ block: SimpleSAFM, then the CCM with its GELU (and the block residual) fused."""

    def __init__(self, block: safmnpp.SimpleFMM) -> None:
        super().__init__()
        self.safm = block.conv1
        mixer = block.conv2
        self.expand, self.reduce = (mixer.conv[0], mixer.conv[2]) if isinstance(mixer, safmnpp.LightCCM) else (
            mixer.conv1, mixer.conv2)
        self.residual = block.residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = conv_gelu(self.expand, self.safm(x))
        return conv_add(self.reduce, hidden, x) if self.residual else self.reduce(hidden)


_FUSED = {safmn.FMM: FusedFMM, safmn_ntire23.NormFreeFMM: FusedNtireBlock, safmnpp.SimpleFMM: FusedSAFMNPPBlock}


def fuse_blocks(module: nn.Module) -> int:
    """Replace every known block of `module` (in place) by its fused form, and every conv by `OneDNNConv2d`;
    returns how many blocks were replaced."""
    count = 0
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            fused = _FUSED.get(type(child))
            if fused is not None:
                setattr(parent, name, fused(child))
                count += 1
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.Conv2d:
                setattr(parent, name, OneDNNConv2d.from_conv(child))
    return count
