"""Export forms of operations that have no dynamic-shape ONNX export, and the switch the exporter turns them on with.

SAFM pools to a size that depends on the frame (h // 2**i). `F.adaptive_max_pool2d` with such a size cannot be
exported with dynamic height/width, so while exporting the same pooling is written with ordinary tensor ops:
for an output size o along an axis of length n, PyTorch's window i is [floor(i*n/o), ceil((i+1)*n/o)). We gather
every window padded to a common length L by repeating its last element (which cannot change a max) and reduce.
Sizes are computed from `torch._shape_as_tensor`, so the exported graph keeps them symbolic.

The models never choose between the forms: they call `vsr.models.layers.max_pool_by`, and the exporter records
its graph inside `export_forms()`, which puts the gather form in its place for the duration.
"""

from __future__ import annotations

import torch
from torch.overrides import TorchFunctionMode

from vsr.models.layers import max_pool_by


def _pool_axis(x: torch.Tensor, dim: int, n: torch.Tensor, o: torch.Tensor) -> torch.Tensor:
    """Adaptive max pool of `x` along `dim` (length n) to o windows, exactly as PyTorch places them."""
    i = torch.arange(o, dtype=torch.int64)
    start = torch.div(i * n, o, rounding_mode="floor")
    end = torch.div((i + 1) * n + o - 1, o, rounding_mode="floor")
    length = torch.div(n + o - 1, o, rounding_mode="floor") + 1  # longest window, with room to spare
    k = torch.arange(length, dtype=torch.int64)
    idx = torch.minimum(start[:, None] + k[None, :], end[:, None] - 1)  # (o, L), windows padded by repetition
    g = x.index_select(dim, idx.reshape(-1))
    g = g.reshape([*g.shape[:dim], o, length, *g.shape[dim + 1:]])  # (..., o, L, ...)
    return g.amax(dim + 1)


def adaptive_max_pool_gather(x: torch.Tensor, factor: int) -> torch.Tensor:
    """The gather form of `max_pool_by` (used while exporting; equal to it in eager mode too)."""
    shape = torch._shape_as_tensor(x)
    n_h, n_w = shape[2], shape[3]
    o_h = torch.clamp(torch.div(n_h, factor, rounding_mode="floor"), min=1)
    o_w = torch.clamp(torch.div(n_w, factor, rounding_mode="floor"), min=1)
    return _pool_axis(_pool_axis(x, 2, n_h, o_h), 3, n_w, o_w)


class export_forms(TorchFunctionMode):  # noqa: N801 (used as a context manager, named like one)
    """`with export_forms(): torch.onnx.export(model, ...)`: every layer with an export form uses it inside the
    block; every other torch function runs unchanged."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is max_pool_by:
            return adaptive_max_pool_gather(*args, **kwargs)
        return func(*args, **kwargs)

