"""Temporal blending for a per-frame model: less flicker where the picture does not move.

A per-frame SR model invents detail anew in every frame, so still areas shimmer. `TemporalBlend` mixes each
output frame with the previous (blended) output where the *input* did not change between the two frames:

    still = clip(1 - |lr_t - lr_{t-1}| / threshold, 0, 1)   (max over channels, per LR pixel, resized to HR)
    out_t = sr_t + strength * still * (out_{t-1} - sr_t)

Where anything moves (an input change of `threshold` or more, on 0..255) the model's frame passes unchanged, so
motion never ghosts beyond the threshold; in still areas the output is a running average of the model's frames.
With `strength` 0 it is not applied at all: outputs stay exactly the model's. docs/evaluation.md gives its
PSNR / tOF trade-off on Vid4 city.
"""

from __future__ import annotations

import cv2
import numpy as np


class TemporalBlend:
    def __init__(self, strength: float, threshold: float = 6.0) -> None:
        if not 0.0 <= strength < 1.0:
            raise ValueError(f"temporal blend strength must be in [0, 1), got {strength}")
        if threshold <= 0:
            raise ValueError(f"temporal blend threshold must be above 0, got {threshold}")
        self.strength, self.threshold = strength, threshold
        self._prev_lr: np.ndarray | None = None
        self._prev_out: np.ndarray | None = None

    def describe(self) -> str:
        return f"temporal blend {self.strength:g} (still below {self.threshold:g}/255)"

    def reset(self) -> None:
        """A new sequence (or a scene cut): the next frame passes unchanged."""
        self._prev_lr = self._prev_out = None

    def __call__(self, lr: np.ndarray, sr: np.ndarray) -> np.ndarray:
        """The next frame: its input `lr` (h, w, 3) and the model's output `sr` (H, W, 3), same dtype."""
        out = sr
        if self._prev_lr is not None and self._prev_lr.shape == lr.shape:
            diff = np.abs(lr.astype(np.float32) - self._prev_lr.astype(np.float32)).max(axis=2)
            still = np.clip(1.0 - diff / self.threshold, 0.0, 1.0)
            weight = self.strength * cv2.resize(still, (sr.shape[1], sr.shape[0]), interpolation=cv2.INTER_LINEAR)
            mixed = sr + weight[..., None] * (self._prev_out.astype(np.float32) - sr)
            out = np.clip(np.rint(mixed), 0, np.iinfo(sr.dtype).max).astype(sr.dtype)
        self._prev_lr, self._prev_out = lr, out
        return out
