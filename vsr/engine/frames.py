"""The one conversion between video frames and model tensors, the same on every device and in every job.

Frames are integer RGB, (N, H, W, 3) uint8 or uint16 (16-bit full scale for deep inputs); the model sees float
(N, 3, H, W) in [0, 1]. Frames go to the device as integers (a quarter of float32's bytes for 8-bit) and come back
as integers, so both conversions run where the model runs. The NCHW view of an NHWC tensor is already
channels_last, so the layout change is free. Quantisation clamps to [0, 1], scales by the peak and rounds half to
even (torch.round), in float32 whatever precision the model computed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from vsr.engine.colour import YuvFormat, pack_frames, pack_planes, rgb_to_yuv, unpack_planes, yuv_to_rgb
from vsr.errors import InputError

FRAME_DTYPES = {torch.uint8: 255.0, torch.uint16: 65535.0}


def is_frames(x: np.ndarray | torch.Tensor) -> bool:
    """True for integer frames (N, H, W, 3) uint8/uint16; False for a float tensor (N, 3, H, W)."""
    return x.dtype in (np.uint8, np.uint16, torch.uint8, torch.uint16)


def as_frame_tensor(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """A CPU (or device) tensor view of integer frames; numpy arrays are shared, not copied."""
    return torch.from_numpy(np.ascontiguousarray(frames)) if isinstance(frames, np.ndarray) else frames


def peak_of(dtype: torch.dtype) -> float:
    try:
        return FRAME_DTYPES[dtype]
    except KeyError:
        raise TypeError(f"frames must be uint8 or uint16, not {dtype}") from None


def frames_to_float(frames: torch.Tensor) -> torch.Tensor:
    """(N, H, W, 3) integer frames -> (N, 3, H, W) float32 in [0, 1], channels_last (on the frames' device)."""
    return frames.permute(0, 3, 1, 2).to(torch.float32).div_(peak_of(frames.dtype))


def float_to_frames(y: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(N, 3, H, W) float -> (N, H, W, 3) contiguous `dtype` frames: clamp, scale, round half to even."""
    peak = peak_of(dtype)
    q = y.float().clamp(0.0, 1.0).mul_(peak).round_()
    return q.permute(0, 2, 3, 1).to(dtype).contiguous()


# ---- what a batch is: each kind knows its way to the model's float tensor and back ------------------------------


class RgbFrames:
    """Integer RGB frames (N, H, W, 3) uint8/uint16 in and out."""

    def __init__(self, dtype: torch.dtype) -> None:
        self.dtype = dtype

    def to_float(self, x: torch.Tensor) -> torch.Tensor:
        return frames_to_float(x)

    def from_float(self, y: torch.Tensor) -> torch.Tensor:
        return float_to_frames(y, self.dtype)


class FloatImages:
    """Float (N, 3, H, W) in [0, 1] in and out (images, tests)."""

    def to_float(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def from_float(self, y: torch.Tensor) -> torch.Tensor:
        return torch.clamp(y, 0.0, 1.0)  # not in place: under CUDA graphs `y` is a buffer the next replay reuses


@dataclass
class YuvBatch:
    """Decoded YUV frames as their planes ([Y, U, V] numpy arrays per frame, views of the decoder's buffers), in
    `source`'s format, to come back as one packed integer tensor (N, target.elements_per_frame) in `target`'s:
    the output's size, subsampling, depth, matrix and range (`vsr.engine.colour.unpack_frames` splits it)."""

    planes: list[Sequence[np.ndarray]]
    source: YuvFormat
    target: YuvFormat

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self.planes), self.source.elements_per_frame))

    @property
    def dtype(self) -> torch.dtype:
        return self.source.dtype

    def fill(self, out: torch.Tensor) -> torch.Tensor:
        """Pack the planes into `out` (a pinned staging buffer, say): the batch's one host-side copy."""
        return pack_frames(self.planes, self.source, out)


class YuvPlanes:
    """A packed YUV batch in (vsr/engine/colour.py), converted to RGB beside the model and back to the target's
    YUV after it: 1.5 bytes a pixel cross PCIe each way for 8-bit 4:2:0, against 3 for RGB."""

    def __init__(self, source: YuvFormat, target: YuvFormat) -> None:
        self.source, self.target = source, target

    def to_float(self, x: torch.Tensor) -> torch.Tensor:
        s = self.source
        y, u, v = unpack_planes(x, s)
        return yuv_to_rgb(y, u, v, matrix=s.matrix, full_range=s.full_range, bits=s.bits, chroma_loc=s.chroma_loc)

    def from_float(self, y: torch.Tensor) -> torch.Tensor:
        t = self.target
        planes = rgb_to_yuv(y, matrix=t.matrix, full_range=t.full_range, bits=t.bits,
                            chroma_shift=(t.shift_w, t.shift_h), chroma_loc=t.chroma_loc)
        return pack_planes(planes)


Representation = RgbFrames | FloatImages | YuvPlanes


Batch = np.ndarray | torch.Tensor | YuvBatch


def checked_batch(x: Batch) -> tuple[torch.Tensor | YuvBatch, Representation, bool]:
    """(the batch on the host, what it represents, whether the result goes back as numpy): every engine's check
    of its input, a one-line InputError for anything else."""
    if isinstance(x, YuvBatch):
        return x, YuvPlanes(x.source, x.target), False
    if is_frames(x):
        t = as_frame_tensor(x)
        if t.dim() != 4 or t.shape[3] != 3:
            raise InputError(f"engine input frames must be (N, H, W, 3); got {tuple(t.shape)}")
        return t, RgbFrames(t.dtype), isinstance(x, np.ndarray)
    if not isinstance(x, torch.Tensor):
        raise InputError(f"engine input must be uint8/uint16 frames or a float tensor; got {getattr(x, 'dtype', x)}")
    if x.dim() != 4 or x.shape[1] != 3:
        raise InputError("engine input must be a float tensor (N, 3, H, W) or uint8/uint16 frames; "
                         f"got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise InputError(f"engine input must be a float tensor in [0, 1] or uint8/uint16 frames; got {x.dtype}")
    return x, FloatImages(), False
