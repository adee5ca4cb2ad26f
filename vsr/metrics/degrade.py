"""How an evaluation makes the LR from the ground truth: a downscale, then optionally a real codec round trip.

- `bicubic`: the SR protocol's MATLAB bicubic imresize(1/scale) (vsr/metrics/evaluate.py `make_lr`).
- `blur:SIGMA`: the video SR papers' "BD" degradation as COMISR's data loader makes it: a Gaussian blur of
  standard deviation SIGMA (OpenCV's GaussianBlur on float, kernel side from SIGMA, reflected borders), then every
  `scale`-th pixel from the top-left one, rounded to uint8.

The codec (vsr/io/roundtrip.py, e.g. `libx264:crf=25`) then encodes the whole LR clip and decodes it back, as
COMISR/FTVSR/CAVSR make their compressed Vid4.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from vsr.errors import InputError
from vsr.io.roundtrip import CodecSpec, roundtrip
from vsr.metrics.evaluate import make_lr
from vsr.metrics.imresize import to_uint8

DOWNSCALES = ("bicubic", "blur")


def blur_downscale(hr: np.ndarray, scale: int, sigma: float) -> np.ndarray:
    """Gaussian blur (sigma in HR pixels) then every `scale`-th pixel: uint8 (H, W, 3) -> uint8 (H/s, W/s, 3)."""
    blurred = cv2.GaussianBlur(hr.astype(np.float32), (0, 0), sigmaX=sigma, sigmaY=sigma)
    return to_uint8(blurred[::scale, ::scale])


@dataclass(frozen=True)
class Downscale:
    kind: str = "bicubic"  # "bicubic" or "blur"
    sigma: float | None = None  # blur only: the Gaussian's standard deviation in HR pixels

    def __post_init__(self) -> None:
        if self.kind not in DOWNSCALES:
            raise InputError(f"downscale {self.kind!r}: expected bicubic or blur:SIGMA")
        if self.kind == "blur" and (self.sigma is None or not 0.1 <= self.sigma <= 10):
            raise InputError(f"downscale blur:{self.sigma}: expected a sigma from 0.1 to 10 (HR pixels)")
        if self.kind == "bicubic" and self.sigma is not None:
            raise InputError("downscale bicubic takes no sigma")

    @classmethod
    def parse(cls, text: str) -> Downscale:
        """`bicubic` or `blur:SIGMA` (e.g. blur:1.5)."""
        kind, sep, value = text.strip().partition(":")
        if kind == "blur":
            try:
                return cls("blur", float(value))
            except ValueError:
                raise InputError(f"downscale {text!r}: expected blur:SIGMA with SIGMA a number, e.g. blur:1.5") \
                    from None
        if sep:
            raise InputError(f"downscale {text!r}: expected bicubic or blur:SIGMA")
        return cls(kind)

    def describe(self) -> str:
        return f"blur:{self.sigma:g}" if self.kind == "blur" else self.kind

    def __call__(self, hr: np.ndarray, scale: int) -> np.ndarray:
        """The LR of one uint8 HR frame whose sides are multiples of `scale`."""
        return blur_downscale(hr, scale, self.sigma) if self.kind == "blur" else make_lr(hr, scale)


@dataclass(frozen=True)
class LrDegradation:
    """The whole LR recipe: a downscale, then a codec round trip of the clip (None: none)."""

    downscale: Downscale = Downscale()
    codec: CodecSpec | None = None

    @classmethod
    def parse(cls, downscale: str | None, codec: str | None) -> LrDegradation:
        """From the flag values (None: bicubic / no codec; codec `none` too)."""
        spec = None if codec is None or codec.strip() == "none" else CodecSpec.parse(codec)
        return cls(Downscale.parse(downscale) if downscale else Downscale(), spec)

    def describe(self) -> str:
        return self.downscale.describe() + (f" -> {self.codec.describe()}" if self.codec else "")

    def to_dict(self) -> dict:
        return {"downscale": self.downscale.kind, "sigma": self.downscale.sigma,
                "codec": self.codec.to_dict() if self.codec else None}

    def lr_frames(self, hr_frames: Iterable[np.ndarray], scale: int) -> Iterator[np.ndarray]:
        """The LR clip of `hr_frames` (each a multiple of `scale`), lazily, in order."""
        lows = (self.downscale(hr, scale) for hr in hr_frames)
        return roundtrip(lows, self.codec) if self.codec else lows
