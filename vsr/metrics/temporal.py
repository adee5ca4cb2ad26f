"""Temporal consistency of an upscaled video: TecoGAN's tOF (Chu et al. 2020).

For consecutive frames t-1, t, the dense optical flow of the output pair is compared with that of the ground-truth
pair: tOF_t = mean |OF(out_{t-1}, out_t) - OF(gt_{t-1}, gt_t)| over pixels and both flow components, in pixels
of the HR frame. A sequence's tOF is the mean over its frame pairs; lower is better (0: the output moves exactly
as the ground truth does). Flicker and temporally unstable detail show up as flow the ground truth does not have.

The flow is OpenCV's Farneback on the luma (the same BT.601 Y as PSNR), with TecoGAN's parameters, on the frames
with the same `scale`-pixel border crop as PSNR/SSIM. A sequence of one frame has no pair: its tOF is None.
"""

from __future__ import annotations

import cv2
import numpy as np

from vsr.metrics.quality import rgb_to_y

# pyr_scale, levels, winsize, iterations, poly_n, poly_sigma, flags: as TecoGAN's metrics script
_FARNEBACK = (0.5, 3, 15, 3, 5, 1.2, 0)


def luma_u8(img: np.ndarray, crop: int) -> np.ndarray:
    """The frame's Y (rounded to uint8, as the flow wants 8-bit images) with `crop` border pixels removed."""
    y = np.clip(np.rint(rgb_to_y(img)), 0, 255).astype(np.uint8)
    return y[crop:-crop, crop:-crop] if crop > 0 else y


def optical_flow(prev: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """Dense Farneback flow (H, W, 2) from one uint8 luma frame to the next."""
    return cv2.calcOpticalFlowFarneback(prev, cur, None, *_FARNEBACK)


def tof_pair(out_flow: np.ndarray, gt_flow: np.ndarray) -> float:
    """One frame pair's tOF from the two flows."""
    return float(np.mean(np.abs(out_flow - gt_flow)))


class TofMeter:
    """tOF of one or more outputs against the ground truth, fed frame by frame (only the previous frame is kept)."""

    def __init__(self, names: list[str], crop: int) -> None:
        self.names, self.crop = names, crop
        self._prev: dict[str, np.ndarray] = {}
        self.values: dict[str, list[float]] = {n: [] for n in names}  # per pair (k, k+1), in order
        self.pairs = 0

    def add(self, gt: np.ndarray, outputs: dict[str, np.ndarray]) -> None:
        """The next frame: the ground truth and each named output (RGB, 0..255)."""
        lumas = {"gt": luma_u8(gt, self.crop), **{n: luma_u8(outputs[n], self.crop) for n in self.names}}
        if self._prev:
            gt_flow = optical_flow(self._prev["gt"], lumas["gt"])
            for n in self.names:
                self.values[n].append(tof_pair(optical_flow(self._prev[n], lumas[n]), gt_flow))
            self.pairs += 1
        self._prev = lumas

    def result(self, name: str, frames: slice | None = None) -> float | None:
        """The mean tOF of `name` over the pairs seen (of `frames` only: the pairs whose two frames are both in
        the slice); None without a pair."""
        values = self.values[name]
        if frames is not None:
            values = values[frames.start:max(frames.start, frames.stop - 1)]
        return sum(values) / len(values) if values else None
