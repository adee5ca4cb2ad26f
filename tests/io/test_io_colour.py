"""vsr.io.colour: reading a frame's colour description and converting with it."""

from __future__ import annotations

import av
import numpy as np
import pytest

from vsr.io.colour import describe_frame, from_rgb, to_rgb

COLOURS = [(200, 60, 40), (40, 170, 90), (50, 70, 190), (16, 16, 16), (250, 240, 10), (128, 128, 128)]


def _yuv_frame(width: int, height: int, pix_fmt: str = "yuv420p", matrix: int = 2, rng: int = 0) -> av.VideoFrame:
    frame = av.VideoFrame(width, height, pix_fmt)
    frame.colorspace, frame.color_range = matrix, rng
    return frame


def test_unspecified_matrix_is_guessed_like_players_and_marked() -> None:
    sd, hd = describe_frame(_yuv_frame(720, 576)), describe_frame(_yuv_frame(1280, 720))
    assert (sd.matrix, hd.matrix) == (6, 1) and sd.matrix_guessed and hd.matrix_guessed
    assert sd.range == 1 and sd.range_guessed
    assert describe_frame(_yuv_frame(64, 64, "yuvj420p")).range == 2  # yuvj = full range
    tagged = describe_frame(_yuv_frame(64, 64, matrix=1, rng=2))
    assert (tagged.matrix, tagged.range, tagged.matrix_guessed, tagged.range_guessed) == (1, 2, False, False)


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv420p10le", "yuv444p"])
@pytest.mark.parametrize("matrix", [1, 5, 6, 9])
@pytest.mark.parametrize("rng", [1, 2])
def test_rgb_yuv_rgb_round_trip_within_two_levels(pix_fmt: str, matrix: int, rng: int) -> None:
    deep = "10" in pix_fmt
    band = 16  # swscale's chroma filters reach about 3 rows across a colour boundary
    rgb = np.zeros((band * len(COLOURS), 16, 3), np.uint8)
    for i, c in enumerate(COLOURS):
        rgb[band * i: band * i + band] = c
    src = rgb.astype(np.uint16) * 257 if deep else rgb
    desc = describe_frame(_yuv_frame(16, 16, matrix=matrix, rng=rng))
    frame = from_rgb(src, desc, pix_fmt)
    assert frame.format.name == pix_fmt and int(frame.colorspace) == matrix and int(frame.color_range) == rng
    back = to_rgb(frame, desc, deep)
    assert back.dtype == (np.uint16 if deep else np.uint8)
    back8 = back / 257.0 if deep else back.astype(np.float64)
    # the middle rows of each band, away from the boundaries
    rows = np.concatenate([np.arange(band * i + 5, band * i + 11) for i in range(len(COLOURS))])
    assert np.abs(back8[rows] - rgb[rows]).max() <= 2.0
