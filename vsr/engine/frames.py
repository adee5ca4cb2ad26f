"""The one conversion between video frames and model tensors, the same on every device and in every job.

Frames are integer RGB, (N, H, W, 3) uint8 or uint16 (16-bit full scale for deep inputs); the model sees float
(N, 3, H, W) in [0, 1]. Frames go to the device as integers (a quarter of float32's bytes for 8-bit) and come back
as integers, so both conversions run where the model runs. The NCHW view of an NHWC tensor is already
channels_last, so the layout change is free. Quantisation clamps to [0, 1], scales by the peak and rounds half to
even (torch.round), in float32 whatever precision the model computed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import torch

from vsr.engine.colour import (
    pack_frames,
    pack_planes,
    plane_dtype,
    rgb_to_yuv,
    unpack_frames,
    unpack_planes,
    yuv_to_rgb,
)
from vsr.errors import InputError
from vsr.io.picture import Picture, RgbPicture, YuvFormat, YuvPicture

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


def float_to_frames(y: torch.Tensor, dtype: torch.dtype, in_place: bool = False) -> torch.Tensor:
    """(N, 3, H, W) float -> (N, H, W, 3) contiguous `dtype` frames: clamp, scale, round half to even.

    `in_place`: `y` (the model's fp32 output, the engine's own) is clamped and scaled where it lies; a clamped copy
    would cost 2.25x the output's memory on top of it. (A reduced-precision `y` is copied by the float32
    conversion either way.)"""
    peak = peak_of(dtype)
    q = y.float()
    if not in_place and q.data_ptr() == y.data_ptr():
        q = q.clone()
    q.clamp_(0.0, 1.0).mul_(peak).round_()
    return q.permute(0, 2, 3, 1).to(dtype).contiguous()


# ---- what a batch is: each kind stages itself, converts to the model's float tensor and back, and unpacks ----


class EngineBatch(Protocol):
    """A batch as every engine takes it. On the host it is `shape`/`dtype` and packs itself (`fill`, into a pinned
    buffer say, or `host()`); on the model's device it becomes the model's float (N, 3, H, W) in [0, 1]
    (`to_float`) and comes back packed (`from_float`); `result` unpacks the packed host result into what the
    caller handed in (numpy for numpy, tensors for tensors, pictures for pictures)."""

    @property
    def shape(self) -> torch.Size: ...

    @property
    def dtype(self) -> torch.dtype: ...

    def fill(self, out: torch.Tensor) -> torch.Tensor: ...

    def host(self) -> torch.Tensor: ...

    def to_float(self, x: torch.Tensor) -> torch.Tensor: ...

    def from_float(self, y: torch.Tensor) -> torch.Tensor: ...

    def result(self, out: torch.Tensor) -> object: ...


class _Tensor:
    """A batch held as one tensor (its own packed form)."""

    def __init__(self, x: torch.Tensor) -> None:
        self.x = x

    @property
    def shape(self) -> torch.Size:
        return self.x.shape

    @property
    def dtype(self) -> torch.dtype:
        return self.x.dtype

    def fill(self, out: torch.Tensor) -> torch.Tensor:
        return out.copy_(self.x)

    def host(self) -> torch.Tensor:
        return self.x


class RgbFrames(_Tensor):
    """Integer RGB frames (N, H, W, 3) uint8/uint16 in and out; numpy out for numpy in."""

    def __init__(self, x: torch.Tensor, as_numpy: bool = False) -> None:
        super().__init__(x)
        self.as_numpy = as_numpy

    def to_float(self, x: torch.Tensor) -> torch.Tensor:
        return frames_to_float(x)

    def from_float(self, y: torch.Tensor) -> torch.Tensor:
        return float_to_frames(y, self.x.dtype, in_place=True)  # the model's output, used once

    def result(self, out: torch.Tensor) -> np.ndarray | torch.Tensor:
        return out.numpy() if self.as_numpy else out


class FloatImages(_Tensor):
    """Float (N, 3, H, W) in [0, 1] in and out (images, tests)."""

    def to_float(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def from_float(self, y: torch.Tensor) -> torch.Tensor:
        return torch.clamp(y, 0.0, 1.0)  # not in place: under CUDA graphs `y` is a buffer the next replay reuses

    def result(self, out: torch.Tensor) -> torch.Tensor:
        return out


class RgbPictures(RgbFrames):
    """`RgbPicture`s of one size and dtype, stacked; they come back as `RgbPicture`s."""

    def __init__(self, pictures: Sequence[RgbPicture]) -> None:
        super().__init__(torch.from_numpy(np.stack([p.rgb for p in pictures])))

    def result(self, out: torch.Tensor) -> list[RgbPicture]:
        return [RgbPicture(rgb) for rgb in out.numpy()]


class YuvPictures:
    """`YuvPicture`s of one format, converted to RGB beside the model and back to `target` after it: 1.5 bytes a
    pixel cross PCIe each way for 8-bit 4:2:0, against 3 for RGB. They come back as `YuvPicture`s in `target`,
    views of the engine's result buffer."""

    def __init__(self, pictures: Sequence[YuvPicture], target: YuvFormat) -> None:
        self.planes = [p.planes for p in pictures]
        self.source, self.target = pictures[0].format, target

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self.planes), self.source.elements_per_frame))

    @property
    def dtype(self) -> torch.dtype:
        return plane_dtype(self.source)

    def fill(self, out: torch.Tensor) -> torch.Tensor:
        """Pack the planes into `out` (a pinned staging buffer, say): the batch's one host-side copy."""
        return pack_frames(self.planes, self.source, out)

    def host(self) -> torch.Tensor:
        return self.fill(torch.empty(self.shape, dtype=self.dtype))

    def to_float(self, x: torch.Tensor) -> torch.Tensor:
        s = self.source
        y, u, v = unpack_planes(x, s)
        return yuv_to_rgb(y, u, v, matrix=s.matrix, full_range=s.full_range, bits=s.bits, chroma_loc=s.chroma_loc)

    def from_float(self, y: torch.Tensor) -> torch.Tensor:
        t = self.target
        planes = rgb_to_yuv(y, matrix=t.matrix, full_range=t.full_range, bits=t.bits,
                            chroma_shift=(t.shift_w, t.shift_h), chroma_loc=t.chroma_loc)
        return pack_planes(planes)

    def result(self, out: torch.Tensor) -> list[YuvPicture]:
        return [YuvPicture(planes, self.target) for planes in unpack_frames(out, self.target)]


def picture_batch(pictures: Sequence[Picture], target: YuvFormat | None = None) -> RgbPictures | YuvPictures:
    """The batch of decoded pictures of one kind and size (`target`: the YUV format the result is wanted in)."""
    if isinstance(pictures[0], YuvPicture):
        if target is None:
            raise ValueError("YUV pictures need the target format of the result")
        return YuvPictures(pictures, target)  # type: ignore[arg-type]
    return RgbPictures(pictures)  # type: ignore[arg-type]


Batch = np.ndarray | torch.Tensor | RgbFrames | FloatImages | RgbPictures | YuvPictures


def as_batch(x: Batch) -> EngineBatch:
    """What `x` is as a batch: every engine's check of its input, a one-line InputError for anything else."""
    if isinstance(x, RgbFrames | FloatImages | YuvPictures):
        return x
    if isinstance(x, np.ndarray | torch.Tensor) and is_frames(x):
        t = as_frame_tensor(x)
        if t.dim() != 4 or t.shape[3] != 3:
            raise InputError(f"engine input frames must be (N, H, W, 3); got {tuple(t.shape)}")
        return RgbFrames(t, isinstance(x, np.ndarray))
    if not isinstance(x, torch.Tensor):
        raise InputError(f"engine input must be uint8/uint16 frames or a float tensor; got {getattr(x, 'dtype', x)}")
    if x.dim() != 4 or x.shape[1] != 3:
        raise InputError("engine input must be a float tensor (N, 3, H, W) or uint8/uint16 frames; "
                         f"got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise InputError(f"engine input must be a float tensor in [0, 1] or uint8/uint16 frames; got {x.dtype}")
    return FloatImages(x)
