"""The numeric guard: frames whose output cannot be trusted are recomputed at a wider precision.

Natural images give outputs within about [-0.5, 1.5]; synthetic test charts (saturated primaries, sharp edges) up
to about +-20 (the shipped light x4 on FFmpeg's testsrc2: -18.3..17.2, and its bf16 output 39.4 dB from fp32's).
The NTIRE/AIS models have no normalisation inside their blocks and their multiplicative gates roughly square the
features in every block, so on pathological inputs (a one-pixel full-contrast checkerboard) the exact output
reaches 1e12..1e41: beyond fp16 (and for SAFMN++ even fp32), and so ill-conditioned that bf16 rounding changes it
completely.

The check is a per-frame flag computed on the device next to the output (`untrusted`), so that it costs no host
synchronisation: the engine reads the flags together with the output, where it waits for the output anyway, and
recomputes only the flagged frames (`recompute`). Natural frames never trigger it: one reduction per frame.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn

# Beyond this (in fp16/bf16) a frame is recomputed: well above what real and synthetic pictures give (a limit of 8
# flagged every testsrc2 frame of the light x4 model, and live x4 ran at 24.5 of 30 frames/s recomputing them in
# fp32), far below the 1e12.. of an exploding model. Outputs beyond [0, 1] are clamped anyway.
OUTPUT_LIMIT = 64.0


def wider(dtype: torch.dtype) -> list[torch.dtype]:
    """The precisions a flagged frame is recomputed in, in turn, until its output is finite: fp32 then fp64 for
    fp16/bf16 (SAFMN++'s exact activations on a one-pixel checkerboard pass fp32's range too), fp64 for fp32."""
    return [torch.float64] if dtype == torch.float32 else [torch.float32, torch.float64]


def untrusted(y: torch.Tensor, reduced: bool) -> torch.Tensor:
    """(N,) bool on y's device: the frames of raw model output `y` (N, C, H, W) to recompute.

    Reduced precision: not finite or beyond +-OUTPUT_LIMIT; fp32: not finite. Per-frame amax and amin read the
    output in place (no |y| copy the size of the output) and propagate NaN, and NaN <= limit is False, so two
    reductions find all three. In fp32 the limit is the largest float: only non-finite frames are flagged.
    """
    limit = OUTPUT_LIMIT if reduced else torch.finfo(y.dtype).max
    dims = (1, 2, 3)
    return ~((y.amax(dim=dims) <= limit) & (y.amin(dim=dims) >= -limit))


class WiderModels:
    """Copies of the plain (paper) module in the wider precisions, made on first use on `device`."""

    def __init__(self, module: nn.Module, device: torch.device) -> None:
        self._module = module
        self.device = device
        self._copies: dict[torch.dtype, nn.Module] = {}

    def __call__(self, x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """The model on float `x` (moved to the device) computed in `dtype`, clamped to +-OUTPUT_LIMIT (NaN
        stays NaN: the caller escalates)."""
        model = self._copies.get(dtype)
        if model is None:
            model = copy.deepcopy(self._module).to(self.device, dtype).eval()
            self._copies[dtype] = model
        with torch.inference_mode(), torch.autocast(self.device.type, enabled=False):
            y = model(x.to(self.device, dtype))
        return y.clamp(-OUTPUT_LIMIT, OUTPUT_LIMIT).float()

    def escalate(self, x: torch.Tensor, dtypes: list[torch.dtype]) -> torch.Tensor:
        """The model on one frame `x` in each of `dtypes` in turn until the output is finite. A value still not
        finite in the widest (none seen) becomes 0 or +-OUTPUT_LIMIT: a non-finite value is never quantised."""
        for dtype in dtypes:
            y = self(x, dtype)
            if bool(torch.isfinite(y).all()):
                return y
        return torch.nan_to_num(y, nan=0.0, posinf=OUTPUT_LIMIT, neginf=-OUTPUT_LIMIT)


def recompute(models: WiderModels, x: torch.Tensor, out: torch.Tensor, flags: torch.Tensor,
              dtypes: list[torch.dtype], to_float: Callable[[torch.Tensor], torch.Tensor] = lambda t: t,
              from_float: Callable[[torch.Tensor], torch.Tensor] = lambda t: t) -> int:
    """Replace, in place, the frames of `out` that `flags` marks with the model recomputed in the wider `dtypes`
    from input `x` (`to_float`/`from_float`: the batch's conversions to and from the model's float tensor);
    returns how many."""
    index = torch.nonzero(flags.cpu()).flatten().tolist()
    for i in index:
        y = models.escalate(to_float(x[i:i + 1].to(models.device)), dtypes)
        out[i:i + 1] = from_float(y).to(out.device, out.dtype)
    return len(index)


def guarded(models: WiderModels, x: torch.Tensor, y: torch.Tensor, reduced: bool) -> torch.Tensor:
    """Raw float output `y` of float input `x`, with its untrusted frames recomputed (in place) by `models`."""
    recompute(models, x, y, untrusted(y, reduced), wider(torch.float16 if reduced else torch.float32))
    return y
