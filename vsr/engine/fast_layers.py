"""Inference-time equivalents of model layers that compute the same function faster.

The models in vsr/models read like the paper (and match the authors' outputs to 1e-5); the engine swaps in these
equivalents on its own copy of the module. Each one is checked against the original in
tests/engine/test_engine_runner.py and tests/engine/test_engine_fused.py.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from vsr.engine import fused_blocks
from vsr.models.layers import LayerNorm


class FusedLayerNorm(nn.Module):
    """Channels-first LayerNorm through torch's fused kernel (one pass over the data instead of five).

    The channel axis is moved last by a permute, which for a channels_last tensor is a free view. Statistics are
    taken in fp32 as in the original.
    """

    def __init__(self, ln: LayerNorm) -> None:
        super().__init__()
        self.weight = ln.weight
        self.bias = ln.bias
        self.eps = ln.eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        y = F.layer_norm(x.float().permute(0, 2, 3, 1), (x.shape[1],), self.weight.float(), self.bias.float(), self.eps)
        return y.permute(0, 3, 1, 2).to(dtype)


def with_fast_layers(module: nn.Module, fuse_blocks: bool = True) -> nn.Module:
    """A copy of `module` with every replaceable layer swapped for its fast equivalent (the original is untouched).

    `fuse_blocks` also swaps the SAFMN blocks for their forms with oneDNN's fused conv + GELU / conv + add
    (vsr/engine/fused_blocks.py; they run the ordinary layers wherever the fused kernel does not apply).
    """
    module = copy.deepcopy(module)
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, LayerNorm):
                setattr(parent, name, FusedLayerNorm(child))
    if fuse_blocks:
        fused_blocks.fuse_blocks(module)
    return module
