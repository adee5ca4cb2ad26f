"""What a video frame's picture is, from the decoder to the encoder: RGB pixels or YUV planes with their format.

A `Frame` carries one `Picture`: an `RgbPicture` where colour is converted on the host (swscale), a `YuvPicture`
where it is converted beside the model. The engine takes a batch of either and gives back the same kind
(vsr/engine/frames.py); the sink writes either (`VideoSink.write`). `YuvFormat` says everything a plane's samples
need to become colour, and `yuv_format` is the one place that decides it from a pix_fmt and a colour description.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# AVChromaLocation -> (x, y) of a chroma sample in luma pixels from its block's top-left sample.
# 0 (unspecified) is centred, as swscale takes it.
SITING = {0: (0.5, 0.5), 1: (0.0, 0.5), 2: (0.5, 0.5), 3: (0.0, 0.0), 4: (0.5, 0.0), 5: (0.0, 1.0), 6: (0.5, 1.0)}
# AVColorSpace codes whose matrix the device conversion knows (vsr/engine/colour.py has their coefficients).
MATRICES = frozenset({1, 4, 5, 6, 7, 9, 10})


@dataclass(frozen=True)
class YuvFormat:
    """A YUV picture's format: size, subsampling (log2 shifts), bits, matrix (AVColorSpace), range, chroma siting
    (AVChromaLocation) and the pix_fmt the planes are written as."""

    width: int
    height: int
    shift_w: int  # log2 of the horizontal chroma subsampling (1 for 4:2:0 and 4:2:2)
    shift_h: int  # log2 of the vertical chroma subsampling (1 for 4:2:0)
    bits: int
    matrix: int  # AVColorSpace code
    full_range: bool
    chroma_loc: int = 0  # AVChromaLocation code
    pix_fmt: str = ""  # the planar/semi-planar format the planes come from or go to ("" where none is named)

    def __post_init__(self) -> None:
        if self.matrix not in MATRICES:
            raise ValueError(f"unsupported matrix {self.matrix}; known: {sorted(MATRICES)}")
        if self.chroma_loc not in SITING:
            raise ValueError(f"unknown chroma location {self.chroma_loc}")
        if not 8 <= self.bits <= 15 or self.shift_w not in (0, 1) or self.shift_h not in (0, 1):
            raise ValueError(f"unsupported layout: {self.bits} bits, chroma shifts {self.shift_w}, {self.shift_h}")

    @property
    def chroma_size(self) -> tuple[int, int]:
        """(width, height) of a chroma plane: odd sizes round up, as FFmpeg's AV_CEIL_RSHIFT does."""
        return -(-self.width >> self.shift_w), -(-self.height >> self.shift_h)

    @property
    def plane_shapes(self) -> tuple[tuple[int, int], ...]:
        cw, ch = self.chroma_size
        return (self.height, self.width), (ch, cw), (ch, cw)

    @property
    def sample_dtype(self) -> type[np.unsignedinteger]:
        return np.uint8 if self.bits <= 8 else np.uint16

    @property
    def elements_per_frame(self) -> int:
        return sum(h * w for h, w in self.plane_shapes)

    @property
    def bytes_per_frame(self) -> int:
        return self.elements_per_frame * (1 if self.bits <= 8 else 2)


@dataclass(frozen=True)
class RgbPicture:
    """RGB pixels (H, W, 3) uint8, or uint16 (16-bit full scale) for deep inputs."""

    rgb: np.ndarray

    @property
    def batch_key(self) -> tuple:
        """Pictures with equal keys can share a batch: the same kind, size and sample type."""
        return ("rgb", self.rgb.shape, self.rgb.dtype)


@dataclass(frozen=True)
class YuvPicture:
    """Y, U, V planes (2-D uint8, or uint16 holding the sample values; views of a decoder's or the engine's buffers)
    in `format`."""

    planes: Sequence[np.ndarray]
    format: YuvFormat

    @property
    def batch_key(self) -> tuple:
        return ("yuv", self.format)


Picture = RgbPicture | YuvPicture
