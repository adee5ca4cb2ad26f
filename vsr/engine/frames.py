"""The one conversion between video frames and model tensors, the same on every device and in every job.

Frames are integer RGB, (N, H, W, 3) uint8 or uint16 (16-bit full scale for deep inputs); the model sees float
(N, 3, H, W) in [0, 1]. Frames go to the device as integers (a quarter of float32's bytes for 8-bit) and come back
as integers, so both conversions run where the model runs. The NCHW view of an NHWC tensor is already
channels_last, so the layout change is free. Quantisation clamps to [0, 1], scales by the peak and rounds half to
even (torch.round), in float32 whatever precision the model computed in.
"""

from __future__ import annotations

import numpy as np
import torch

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


def frames_to_float(frames: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(N, H, W, 3) integer frames -> (N, 3, H, W) `dtype` in [0, 1], channels_last (on the frames' device)."""
    peak = peak_of(frames.dtype)
    return frames.permute(0, 3, 1, 2).to(torch.float32).div_(peak).to(dtype)


def float_to_frames(y: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(N, 3, H, W) float -> (N, H, W, 3) contiguous `dtype` frames: clamp, scale, round half to even."""
    peak = peak_of(dtype)
    q = y.float().clamp(0.0, 1.0).mul_(peak).round_()
    return q.permute(0, 2, 3, 1).to(dtype).contiguous()

