"""Y conversion, PSNR and SSIM against values derived from their definitions; image reading and writing."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vsr.errors import VSRError
from vsr.metrics.image_io import read_image, write_image
from vsr.metrics.quality import gaussian_window, psnr_y, rgb_to_y, ssim, ssim_y


def test_y_of_primaries_is_bt601_studio_range():
    px = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255]]], dtype=np.uint8)
    np.testing.assert_allclose(rgb_to_y(px)[0], [16, 235, 16 + 65.481, 16 + 128.553, 16 + 24.966], atol=1e-9)
    # gray is the RGB image (g, g, g), as BasicSR reads it: Y = 16 + 219/255 g, not g itself
    gray = np.arange(0, 256, 20, dtype=np.uint8).reshape(1, 13)
    np.testing.assert_allclose(rgb_to_y(gray), 16 + gray / 255.0 * 219, atol=1e-12)
    np.testing.assert_array_equal(rgb_to_y(gray), rgb_to_y(np.repeat(gray[..., None], 3, axis=2)))
    np.testing.assert_array_equal(rgb_to_y(gray[..., None]), rgb_to_y(gray))
    with pytest.raises(ValueError, match="shape"):
        rgb_to_y(np.zeros((2, 2, 4)))


def test_psnr_of_a_known_error_and_the_crop():
    hr = np.full((20, 20), 100, np.uint8)
    sr = hr.copy()
    sr[5:15, 5:15] += 2  # 100 of the 144 cropped pixels off by 2 in gray, 2 * 219/255 in Y
    mse = (2 * 219 / 255) ** 2 * 100 / 144
    assert psnr_y(sr, hr, crop=4) == pytest.approx(10 * np.log10(255**2 / mse))
    sr[0, :] = 0  # a border row: the crop hides it
    assert psnr_y(sr, hr, crop=4) == pytest.approx(10 * np.log10(255**2 / mse))
    assert psnr_y(hr, hr, crop=4) == float("inf")
    # RGB: a uniform error of 1 in every channel moves Y by 219/255 exactly
    rgb = np.full((16, 16, 3), 50, np.uint8)
    assert psnr_y(rgb + 1, rgb, 2) == pytest.approx(20 * np.log10(255 / (219 / 255)))


def test_ssim_of_constant_images_is_the_luminance_term():
    c1 = (0.01 * 255) ** 2
    a, b = np.full((30, 30), 80.0), np.full((30, 30), 120.0)
    assert ssim(a, b) == pytest.approx((2 * 80 * 120 + c1) / (80**2 + 120**2 + c1))
    assert ssim(a, a) == pytest.approx(1.0)


def test_ssim_matches_a_direct_windowed_computation():
    rng = np.random.default_rng(1)
    a = rng.uniform(0, 255, (16, 19))
    b = np.clip(a + rng.normal(0, 20, a.shape), 0, 255)
    w = np.outer(gaussian_window(), gaussian_window())
    assert gaussian_window()[5] == pytest.approx(1 / np.exp(-(np.arange(-5, 6) ** 2) / 4.5).sum())
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    vals = []
    for i in range(16 - 10):
        for j in range(19 - 10):
            pa, pb = a[i:i + 11, j:j + 11], b[i:i + 11, j:j + 11]
            ma, mb = (w * pa).sum(), (w * pb).sum()
            va, vb = (w * (pa - ma) ** 2).sum(), (w * (pb - mb) ** 2).sum()
            cov = (w * (pa - ma) * (pb - mb)).sum()
            vals.append((2 * ma * mb + c1) * (2 * cov + c2) / ((ma**2 + mb**2 + c1) * (va + vb + c2)))
    assert ssim(a, b) == pytest.approx(np.mean(vals), abs=1e-12)
    assert 0 < ssim(a, b) < 1


def test_ssim_y_uses_luma_and_crop():
    rng = np.random.default_rng(2)
    hr = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    sr = hr.copy()
    sr[:4] = 0
    assert ssim_y(sr, hr, 4) == pytest.approx(1.0)
    assert ssim_y(sr, hr, 0) < 0.99


def test_image_round_trip_rgb_order_16_bit_and_gray(tmp_path):
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[..., 0] = 200  # red
    write_image(tmp_path / "red.png", rgb)
    assert cv2.imread(str(tmp_path / "red.png"))[0, 0].tolist() == [0, 0, 200]  # BGR on disk
    np.testing.assert_array_equal(read_image(tmp_path / "red.png"), rgb)
    deep = (np.arange(60, dtype=np.uint16) * 1000).reshape(4, 5, 3)
    write_image(tmp_path / "deep.png", deep)
    back = read_image(tmp_path / "deep.png")
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, deep)
    gray = np.arange(20, dtype=np.uint8).reshape(4, 5)
    write_image(tmp_path / "gray.png", gray)
    np.testing.assert_array_equal(read_image(tmp_path / "gray.png"), gray)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep.png", "gray.png", "red.png"]


def test_unreadable_images_give_one_line_errors(tmp_path):
    (tmp_path / "junk.png").write_bytes(b"not a png at all")
    (tmp_path / "empty.png").write_bytes(b"")
    for name, words in [("junk.png", "not a readable image"), ("empty.png", "not a readable image"),
                        ("missing.png", "not found")]:
        with pytest.raises(VSRError, match=words) as exc:
            read_image(tmp_path / name)
        assert "\n" not in str(exc.value)
    with pytest.raises(VSRError, match="does not exist"):
        write_image(tmp_path / "no" / "x.png", np.zeros((2, 2), np.uint8))
    with pytest.raises(VSRError, match="unknown image type"):
        write_image(tmp_path / "x.txt", np.zeros((2, 2), np.uint8))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.png", "junk.png"]
