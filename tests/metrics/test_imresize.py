"""MATLAB-compatible bicubic imresize, checked against weights derived by hand from the kernel definition."""

from __future__ import annotations

import numpy as np
import pytest

from vsr.metrics.imresize import cubic, imresize, imresize_uint8, resize_matrix, to_uint8

# Keys' cubic (a = -0.5) at the tap distances that scale 2 (up and down) uses, worked out by hand:
# |x|<=1: 1.5|x|^3 - 2.5|x|^2 + 1;  1<|x|<=2: -0.5|x|^3 + 2.5|x|^2 - 4|x| + 2.
C025, C075, C125, C175 = 0.8671875, 0.2265625, -0.0703125, -0.0234375


def test_kernel_values_by_hand():
    got = cubic(np.array([0.0, 0.25, 0.75, 1.0, 1.25, 1.75, 2.0, 2.5, -0.25]))
    np.testing.assert_allclose(got, [1, C025, C075, 0, C125, C175, 0, 0, C025], atol=1e-15)


def test_upscale_by_2_first_sample_mirrors_the_border():
    # Output 1 sits at input coordinate u = 1/2 + (1 - 1/2)/2 = 0.75; taps at -1, 0, 1, 2 (1-based) at distances
    # 1.75, 0.75, 0.25, 1.25. Symmetric padding maps 0 -> 1 and -1 -> 2, so
    # out[1] = (C075 + C025) * x1 + (C175 + C125) * x2 = 1.09375 x1 - 0.09375 x2.
    m = resize_matrix(6, 12, 2.0)
    np.testing.assert_allclose(m[0], [1.09375, -0.09375, 0, 0, 0, 0], atol=1e-15)
    # Output 4 at u = 2.25: taps 1..4 at distances 1.25, 0.25, 0.75, 1.75, all inside.
    np.testing.assert_allclose(m[3], [C125, C025, C075, C175, 0, 0], atol=1e-15)
    x = np.array([10.0, 20, 40, 80, 160, 250])
    out = imresize(x[:, None], 2.0)[:, 0]
    assert out.shape == (12,)
    assert out[0] == pytest.approx(1.09375 * 10 - 0.09375 * 20)
    assert out[3] == pytest.approx(C125 * 10 + C025 * 20 + C075 * 40 + C175 * 80)


def test_downscale_by_2_is_the_stretched_antialiasing_kernel():
    # Shrinking by 2 stretches the kernel: h(x) = cubic(x / 2) / 2, width 8. Output i sits at u = 2i - 0.5, taps
    # at distances +-0.5, +-1.5, +-2.5, +-3.5 -> the well-known MATLAB taps below (sum 1 without renormalising).
    taps = np.array([C175, C125, C075, C025, C025, C075, C125, C175]) / 2
    assert taps.sum() == pytest.approx(1.0)
    m = resize_matrix(20, 10, 0.5)
    # Output 5 (1-based) at u = 9.5: taps on inputs 6..13.
    expected = np.zeros(20)
    expected[5:13] = taps
    np.testing.assert_allclose(m[4], expected, atol=1e-15)
    # Without antialiasing it is plain cubic sampling: taps at distances 1.5, 0.5, 0.5, 1.5 around 9.5.
    plain = resize_matrix(20, 10, 0.5, antialias=False)
    expected = np.zeros(20)
    expected[7:11] = [-0.0625, 0.5625, 0.5625, -0.0625]  # cubic(1.5), cubic(0.5) by hand
    np.testing.assert_allclose(plain[4], expected, atol=1e-15)


def test_downscale_of_a_linear_ramp_samples_it_at_the_pixel_centres():
    # Symmetric taps that sum to one reproduce a linear function exactly, away from the mirrored borders:
    # for x_j = 3j + 1 (1-based j), output i is the ramp at u = 2i - 0.5.
    w = 32
    ramp = 3.0 * np.arange(1, w + 1) + 1
    img = np.tile(ramp, (8, 1))
    out = imresize(img, 0.5)
    assert out.shape == (4, 16)
    i = np.arange(1, 17)
    interior = slice(2, 14)  # taps reach 3.5 pixels: outputs 3..14 never touch the border
    np.testing.assert_allclose(out[0, interior], 3.0 * (2 * i[interior] - 0.5) + 1, atol=1e-9)


def test_constant_image_stays_constant_in_any_direction_and_size():
    img = np.full((13, 7, 3), 117.0)
    for scale in (0.25, 1 / 3, 0.5, 2, 3, 4):
        out = imresize(img, scale)
        assert out.shape == (int(np.ceil(13 * scale)), int(np.ceil(7 * scale)), 3)
        np.testing.assert_allclose(out, 117.0, atol=1e-9)


def test_output_size_is_ceil_and_gray_works():
    out = imresize(np.zeros((45, 37)), 0.25)
    assert out.shape == (12, 10)
    assert imresize(np.zeros((5, 7), np.float32), 3).dtype == np.float32


def test_separable_and_matches_the_two_1d_passes():
    rng = np.random.default_rng(0)
    img = rng.uniform(0, 255, (17, 23, 3))
    out = imresize(img, 0.5)
    rows, cols = resize_matrix(17, 9, 0.5), resize_matrix(23, 12, 0.5)
    for c in range(3):
        np.testing.assert_allclose(out[..., c], rows @ img[..., c] @ cols.T, atol=1e-9)


def test_uint8_rounds_half_away_from_zero_like_matlab():
    assert to_uint8(np.array([0.5, 1.5, 2.5, -3.0, 254.5, 300.0])).tolist() == [1, 2, 3, 0, 255, 255]
    img = np.array([[0, 255], [255, 0]], dtype=np.uint8)
    up = imresize_uint8(img, 2)
    assert up.dtype == np.uint8 and up.shape == (4, 4)
    # out[0, 0] = 1.09375 * (-0.09375 * 255) - 0.09375 * (1.09375 * 255) < 0: clipped, not wrapped around.
    assert up[0, 0] == 0
    # out[1, 0]: row taps (u = 1.25) give x1 0.796875, x2 0.203125; column taps 1.09375, -0.09375:
    # 0.796875 * (-0.09375 * 255) + 0.203125 * (1.09375 * 255) = 37.60 -> 38.
    assert up[1, 0] == 38
