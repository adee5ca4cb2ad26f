"""Colour description of a video stream and YUV <-> RGB conversion that honours it.

The numbers are FFmpeg's: AVColorSpace (matrix), AVColorPrimaries, AVColorTransferCharacteristic and
AVColorRange (1 = limited/MPEG, 2 = full/JPEG). Unspecified values are resolved the way players guess them
(BT.601 for SD, BT.709 for HD), and the output is then tagged explicitly: an upscaled SD clip would otherwise
be guessed as BT.709 by players and its colours would shift.
"""

from __future__ import annotations

from dataclasses import dataclass

import av
import numpy as np
from av.video.reformatter import Interpolation

# Accurate rounding and full-resolution chroma in both directions: a flat colour survives YUV -> RGB -> YUV
# within 2 levels (swscale's fast default drifts by 3 or more), at about twice the conversion time.
ACCURATE = Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT | \
    Interpolation.FULL_CHR_H_INP
# swscale's full-chroma interpolation turns high-bit-depth YUV -> rgb48 into garbage (red/green lost): not for deep.
ACCURATE_DEEP_IN = Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INP

UNSPECIFIED = 2  # the "unspecified" code of the matrix, primaries and transfer enums
RANGE_LIMITED, RANGE_FULL = 1, 2
BT709, BT470BG, SMPTE170M = 1, 5, 6

# AVColorSpace -> the swscale matrix constant (SWS_CS_*) that PyAV's reformatter takes.
_SWS_MATRIX = {1: 1, 4: 4, 5: 5, 6: 5, 7: 7, 9: 9, 10: 9}
_NAMES = {1: "BT.709", 4: "FCC", 5: "BT.601 (BT.470BG)", 6: "BT.601 (SMPTE 170M)", 7: "SMPTE 240M",
          9: "BT.2020", 10: "BT.2020 CL"}


def is_hd(width: int, height: int) -> bool:
    """The size rule players use to guess an unspecified matrix (mpv, VLC): HD is BT.709, SD is BT.601."""
    return width >= 1280 or height > 576


@dataclass(frozen=True)
class ColourDescription:
    matrix: int
    primaries: int
    trc: int
    range: int
    matrix_guessed: bool = False
    range_guessed: bool = False

    @property
    def sws_matrix(self) -> int:
        return _SWS_MATRIX.get(self.matrix, 5)

    @property
    def full_range(self) -> bool:
        return self.range == RANGE_FULL

    def describe(self) -> str:
        m = _NAMES.get(self.matrix, f"matrix {self.matrix}")
        m += " (guessed from the size)" if self.matrix_guessed else ""
        r = "full range" if self.full_range else "limited range"
        return f"{m}, {r}" + (" (unspecified, assumed)" if self.range_guessed else "")


def describe_frame(frame: av.VideoFrame) -> ColourDescription:
    """The colour description of a decoded frame, with unspecified values resolved."""
    matrix, primaries, trc = int(frame.colorspace), int(frame.color_primaries), int(frame.color_trc)
    rng = int(frame.color_range)
    matrix_guessed = matrix in (0, UNSPECIFIED, 3) or matrix not in _SWS_MATRIX
    if matrix_guessed:
        # RGB input (matrix 0) and unknown matrices get the matrix players would assume for this size.
        matrix = BT709 if is_hd(frame.width, frame.height) else SMPTE170M
    range_guessed = rng not in (RANGE_LIMITED, RANGE_FULL)
    if range_guessed:
        # yuvj* formats are full range by definition; anything else unspecified is limited.
        rng = RANGE_FULL if frame.format.name.startswith("yuvj") else RANGE_LIMITED
    return ColourDescription(matrix, primaries, trc, rng, matrix_guessed, range_guessed)


def bit_depth(frame: av.VideoFrame) -> int:
    return max(c.bits for c in frame.format.components)


def to_rgb(frame: av.VideoFrame, colour: ColourDescription, deep: bool) -> np.ndarray:
    """(H, W, 3) RGB: uint8, or uint16 (full 16-bit scale) when `deep` (inputs of more than 8 bits)."""
    return frame.to_ndarray(
        format="rgb48le" if deep else "rgb24",
        src_colorspace=colour.sws_matrix, src_color_range=colour.range,
        dst_colorspace=colour.sws_matrix, dst_color_range=RANGE_FULL,
        interpolation=ACCURATE_DEEP_IN if deep else ACCURATE,
    )


def from_rgb(rgb: np.ndarray, colour: ColourDescription, pix_fmt: str) -> av.VideoFrame:
    """An encoder-ready frame in `pix_fmt`, converted with the output's matrix and range and tagged with them."""
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb48le" if rgb.dtype == np.uint16 else "rgb24")
    out = frame.reformat(
        format=pix_fmt,
        src_colorspace=colour.sws_matrix, src_color_range=RANGE_FULL,
        dst_colorspace=colour.sws_matrix, dst_color_range=colour.range, interpolation=ACCURATE,
    )
    out.colorspace = colour.matrix
    out.color_range = colour.range
    out.color_primaries = colour.primaries
    out.color_trc = colour.trc
    return out
