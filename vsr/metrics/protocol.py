"""Which pixels and frames of a video a score counts: ours (the SR protocol) or COMISR's.

- `standard`: every frame; `scale` pixels cropped from every border (BasicSR's crop_border, as image eval).
- `comisr`: COMISR's evaluation code (google-research/comisr, inference_and_eval.py and metrics.py): the first and
  last 2 frames of each sequence left out (`cutfr = 2`), and each frame cut to its centred crop whose sides are
  the largest multiples of 32 that leave at least 8 pixels on each side (`crop_8x8`; city 704x576 -> 672x544).
  PSNR on that region is the same Y PSNR as ours (BT.601 studio-range Y in float, of uint8 frames), so COMISR,
  FTVSR and CAVSR tables (which use this code) can be set beside ours. SSIM is theirs too: scikit-image's
  defaults (7x7 uniform window) with the data range of the output's Y.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vsr.errors import InputError
from vsr.metrics.quality import rgb_to_y, ssim_uniform, ssim_y

PROTOCOLS = ("standard", "comisr")


def comisr_window(height: int, width: int) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of COMISR's `crop_8x8`: centred, sides multiples of 32, >= 8 px margins."""
    def side(n: int) -> tuple[int, int]:
        k = n // 32 * 32
        while k > n - 16:
            k -= 32
        start = (n - k) // 2
        return start, start + k

    (top, bottom), (left, right) = side(height), side(width)
    if bottom <= top or right <= left:
        raise InputError(f"the comisr protocol scores a centred crop of multiples of 32 with 8-pixel margins: a "
                         f"{width}x{height} frame has none (at least 48x48)")
    return top, bottom, left, right


@dataclass(frozen=True)
class ScoringProtocol:
    name: str = "standard"

    def __post_init__(self) -> None:
        if self.name not in PROTOCOLS:
            raise InputError(f"protocol {self.name!r}: expected one of {', '.join(PROTOCOLS)}")

    @property
    def edge_frames(self) -> int:
        """Frames left out at each end of a sequence."""
        return 2 if self.name == "comisr" else 0

    def region(self, img: np.ndarray, scale: int) -> np.ndarray:
        """The part of an HR-sized frame that is scored."""
        h, w = img.shape[:2]
        if self.name == "comisr":
            top, bottom, left, right = comisr_window(h, w)
            return img[top:bottom, left:right]
        return img[scale:h - scale, scale:w - scale]

    def ssim(self, sr: np.ndarray, hr: np.ndarray) -> float:
        """SSIM of two scored regions (`region`'s): ours (Gaussian 11x11), or COMISR's (scikit-image's defaults,
        `data_range` = max - min of the output's Y, as their metrics.py passes it)."""
        if self.name == "comisr":
            y_sr = rgb_to_y(sr)
            return ssim_uniform(rgb_to_y(hr), y_sr, float(y_sr.max() - y_sr.min()))
        return ssim_y(sr, hr, 0)

    def kept(self, frames: int) -> slice:
        """The frames scored, of a sequence of `frames` (pairs k, k+1 are scored where both frames are)."""
        edge = self.edge_frames
        if frames - 2 * edge < 1:
            raise InputError(f"the {self.name} protocol leaves out the first and last {edge} frames: a sequence of "
                             f"{frames} has none left")
        return slice(edge, frames - edge)

    def describe(self) -> str:
        if self.name == "comisr":
            return "comisr (first and last 2 frames dropped; centred multiple-of-32 crop, >= 8 px margins; " \
                "scikit-image SSIM)"
        return "standard (every frame; scale-pixel border)"


STANDARD = ScoringProtocol()
